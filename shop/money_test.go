package shop_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/shop"
)

func TestCreditCode(t *testing.T) {
	for _, c := range []string{"91350100M000100Y43", "91110000600037341L", "92440300ma5fxt3k1w"} {
		if _, err := shop.ValidateCreditCode(c); err != nil && c != "92440300ma5fxt3k1w" {
			t.Errorf("%s: %v", c, err)
		}
	}
	// Build a code with a computed check character and tamper with it.
	check, ok := shop.CreditCodeCheck("92440300MA5FXT3K1")
	if !ok {
		t.Fatal("well-formed prefix rejected")
	}
	good := "92440300MA5FXT3K1" + string(check)
	if _, err := shop.ValidateCreditCode(good); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		"", "9135010", "91350100M000100Y4", "91350100M000100Y433", // length
		"91350100M000100Y44", // check character
		"01350100M000100Y43", // authority 0
		"913501O0M000100Y43", // O is not in the alphabet, and not a division digit
		"91350100I000100Y43", // I is not in the alphabet
	} {
		if _, err := shop.ValidateCreditCode(bad); qun.ErrorCode(err) != qun.CodeInvalid {
			t.Errorf("%q accepted (%v)", bad, err)
		}
	}
	// Shop kinds must match the code's entity type.
	e := newEnv(t, nil)
	ctx := context.Background()
	if _, err := e.svc.CreateShop(ctx, ident("t1", "a"), shop.CreateShopInput{Kind: shop.KindIndividualBusiness, Name: "x", Licence: good, Key: "1"}); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.CreateShop(ctx, ident("t1", "a"), shop.CreateShopInput{Kind: shop.KindIndividualBusiness, Name: "x", Licence: "91350100M000100Y43", Key: "2"})
	wantCode(t, err, qun.CodeInvalid)
	_, err = e.svc.CreateShop(ctx, ident("t1", "a"), shop.CreateShopInput{Kind: shop.KindEnterprise, Name: "x", Licence: good, Key: "3"})
	wantCode(t, err, qun.CodeInvalid)
	_, err = e.svc.CreateShop(ctx, ident("t1", "a"), shop.CreateShopInput{Kind: shop.KindIndividual, Name: "x", Licence: good, Key: "4"})
	wantCode(t, err, qun.CodeInvalid)
}

func TestCoupons(t *testing.T) {
	e := newEnv(t, nil)
	_, room := e.liveShop(t, "t1", 2, 10)
	ctx := context.Background()
	host, bob := ident("t1", "host"), ident("t1", "bob")
	now := e.clock.Now()
	issue := shop.IssueCouponInput{Room: room, Title: "5 off", Discount: cny(50), MinSpend: 150, Total: 3, PerUser: 2, EndsAt: now.Add(time.Hour).UnixMilli(), Key: "c1"}
	c, err := e.svc.IssueCoupon(ctx, ident("t1", "mod1"), issue)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := e.svc.IssueCoupon(ctx, ident("t1", "mod1"), issue); err != nil || again.ID != c.ID {
		t.Fatalf("issue replay: %v %v", again, err)
	}
	// Claims: idempotent per key, per-user limit, stock.
	c1, err := e.svc.ClaimCoupon(ctx, bob, shop.ClaimCouponInput{Coupon: c.ID, Key: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if again, err := e.svc.ClaimCoupon(ctx, bob, shop.ClaimCouponInput{Coupon: c.ID, Key: "x"}); err != nil || again.ID != c1.ID {
		t.Fatalf("claim replay: %v %v", again, err)
	}
	if _, err := e.svc.ClaimCoupon(ctx, bob, shop.ClaimCouponInput{Coupon: c.ID, Key: "y"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.ClaimCoupon(ctx, bob, shop.ClaimCouponInput{Coupon: c.ID, Key: "z"})
	wantCode(t, err, qun.CodeExhausted) // per user
	if _, err := e.svc.ClaimCoupon(ctx, ident("t1", "carol"), shop.ClaimCouponInput{Coupon: c.ID, Key: "x"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.ClaimCoupon(ctx, ident("t1", "dave"), shop.ClaimCouponInput{Coupon: c.ID, Key: "x"})
	wantCode(t, err, qun.CodeExhausted) // stock
	_, err = e.svc.ClaimCoupon(ctx, ident("t2", "bob"), shop.ClaimCouponInput{Coupon: c.ID, Key: "x"})
	wantCode(t, err, qun.CodeNotFound) // another tenant
	cs, err := e.svc.Coupons(ctx, bob, room)
	if err != nil || len(cs) != 1 || cs[0].Claimed != 3 {
		t.Fatalf("coupons %+v %v", cs, err)
	}

	// Using a claim: minimum spend, discount, single use, returned on expiry.
	_, err = e.svc.Buy(ctx, bob, shop.BuyInput{Room: room, Product: "p1", Qty: 1, Claim: c1.ID, Key: "b1"}) // 100 < 150
	wantCode(t, err, qun.CodeConflict)
	o, err := e.svc.Buy(ctx, bob, shop.BuyInput{Room: room, Product: "p2", Qty: 1, Claim: c1.ID, Key: "b2"})
	if err != nil || o.Total != cny(150) || o.Discount != 50 || o.Claim != c1.ID {
		t.Fatalf("discounted order %+v %v", o, err)
	}
	_, err = e.svc.Buy(ctx, bob, shop.BuyInput{Room: room, Product: "p2", Qty: 1, Claim: c1.ID, Key: "b3"})
	wantCode(t, err, qun.CodeConflict) // claim in use
	_, err = e.svc.Buy(ctx, ident("t1", "carol"), shop.BuyInput{Room: room, Product: "p2", Qty: 1, Claim: c1.ID, Key: "b4"})
	wantCode(t, err, qun.CodeNotFound) // not carol's
	if _, err := e.svc.CancelOrder(ctx, bob, o.ID); err != nil {
		t.Fatal(err)
	}
	if o2, err := e.svc.Buy(ctx, bob, shop.BuyInput{Room: room, Product: "p2", Qty: 1, Claim: c1.ID, Key: "b5"}); err != nil || o2.Discount != 50 {
		t.Fatalf("claim not returned by cancel: %v %v", o2, err)
	}

	// The window: not yet, and past.
	later := issue
	later.Key, later.StartsAt, later.EndsAt = "c2", now.Add(time.Hour).UnixMilli(), now.Add(2*time.Hour).UnixMilli()
	c2, err := e.svc.IssueCoupon(ctx, host, later)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.ClaimCoupon(ctx, bob, shop.ClaimCouponInput{Coupon: c2.ID, Key: "w"})
	wantCode(t, err, qun.CodeConflict)
	e.clock.Advance(3 * time.Hour)
	_, err = e.svc.ClaimCoupon(ctx, bob, shop.ClaimCouponInput{Coupon: c2.ID, Key: "w"})
	wantCode(t, err, qun.CodeExpired)
	// Coupons need an open shelf in the room.
	e.rooms.add("t1", "live:2", "host")
	_, err = e.svc.IssueCoupon(ctx, host, shop.IssueCouponInput{Room: "live:2", Title: "x", Discount: cny(1), Total: 1, PerUser: 1, EndsAt: e.clock.Now().Add(time.Hour).UnixMilli(), Key: "c3"})
	wantCode(t, err, qun.CodeNotFound)
}

func TestSplitShareProperties(t *testing.T) {
	for range 2000 {
		total := int64(1 + randN(10000))
		n := int64(1 + randN(min(int(total), 200)))
		sum := int64(0)
		remaining := total
		for left := n; left > 0; left-- {
			x := shop.SplitShareForTest(remaining, left)
			if x < 1 || x > remaining-(left-1) {
				t.Fatalf("share %d of %d with %d left", x, remaining, left)
			}
			sum += x
			remaining -= x
		}
		if sum != total || remaining != 0 {
			t.Fatalf("shares add to %d of %d", sum, total)
		}
	}
}

// Many claimers at once: exactly Count claims, each ≥ 1 fen, adding up to
// the total; nobody claims twice.
func TestRedPacketConcurrentClaims(t *testing.T) {
	e := newEnv(t, nil)
	e.pay.paid.Store(true)
	_, room := e.liveShop(t, "t1", 1, 1)
	ctx := context.Background()
	p, err := e.svc.SendRedPacket(ctx, ident("t1", "host"), shop.SendRedPacketInput{Room: room, Total: cny(10_000), Count: 100, Greeting: "恭喜发财", Key: "rp"})
	if err != nil || p.Status != shop.PacketActive {
		t.Fatalf("send: %+v %v", p, err)
	}
	const claimers = 300
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[qun.Code]int{}
	sum := int64(0)
	for i := range claimers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := e.svc.ClaimRedPacket(ctx, ident("t1", fmt.Sprint("v", i%250)), shop.ClaimRedPacketInput{Packet: p.ID, Key: fmt.Sprint("k", i)})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				codes[qun.ErrorCode(err)]++
				return
			}
			if c.Amount.Amount < 1 {
				t.Errorf("claim of %d", c.Amount.Amount)
			}
			sum += c.Amount.Amount
			codes[""]++
		}()
	}
	wg.Wait()
	if codes[""] != 100 || sum != 10_000 || codes[qun.CodeExhausted]+codes[qun.CodeConflict] != claimers-100 {
		t.Fatalf("outcomes %v, sum %d", codes, sum)
	}
	got, claims, err := e.svc.RedPacket(ctx, ident("t1", "v1"), p.ID)
	if err != nil || got.Status != shop.PacketFinished || got.Remaining != 0 || len(claims) != 100 {
		t.Fatalf("packet %+v, %d claims, %v", got, len(claims), err)
	}
	seen := map[qun.UserID]bool{}
	for _, c := range claims {
		if seen[c.User] {
			t.Fatalf("%s claimed twice", c.User)
		}
		seen[c.User] = true
	}
}

func TestRedPacketLifecycle(t *testing.T) {
	e := newEnv(t, func(c *shop.Config) { c.RedPacketTTL = time.Hour })
	_, room := e.liveShop(t, "t1", 1, 1)
	ctx := context.Background()
	p, err := e.svc.SendRedPacket(ctx, ident("t1", "host"), shop.SendRedPacketInput{Room: room, Total: cny(500), Count: 5, Key: "rp"})
	if err != nil || p.Status != shop.PacketPending || p.PayURL == "" {
		t.Fatalf("send: %+v %v", p, err)
	}
	_, err = e.svc.ClaimRedPacket(ctx, ident("t1", "bob"), shop.ClaimRedPacketInput{Packet: p.ID, Key: "k"})
	wantCode(t, err, qun.CodeConflict) // not paid yet
	if err := e.svc.UpdatePayment(ctx, shop.PaymentUpdate{Tenant: "t1", ID: string(p.ID), Status: "paid", PaymentRef: "tx"}); err != nil {
		t.Fatal(err)
	}
	c, err := e.svc.ClaimRedPacket(ctx, ident("t1", "bob"), shop.ClaimRedPacketInput{Packet: p.ID, Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if again, err := e.svc.ClaimRedPacket(ctx, ident("t1", "bob"), shop.ClaimRedPacketInput{Packet: p.ID, Key: "k"}); err != nil || again.Amount != c.Amount {
		t.Fatalf("claim replay: %v %v", again, err)
	}
	_, err = e.svc.ClaimRedPacket(ctx, ident("t1", "bob"), shop.ClaimRedPacketInput{Packet: p.ID, Key: "k2"})
	wantCode(t, err, qun.CodeConflict) // double claim
	_, err = e.svc.ClaimRedPacket(ctx, ident("t2", "bob"), shop.ClaimRedPacketInput{Packet: p.ID, Key: "k"})
	wantCode(t, err, qun.CodeNotFound)
	// Expiry refunds the remainder through the webhook.
	e.clock.Advance(2 * time.Hour)
	eventually(t, "red packet expiry", func() bool {
		return count(t, e.db, `SELECT COUNT(*) FROM shop_outbox WHERE type='red_packet.expired'`) == 1
	})
	var body []byte
	if err := e.db.QueryRow(`SELECT body FROM shop_outbox WHERE type='red_packet.expired'`).Scan(&body); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf(`"refund":{"amount":%d,"currency":"CNY"}`, 500-c.Amount.Amount); !contains(body, want) {
		t.Fatalf("expired message %s lacks %s", body, want)
	}
	_, err = e.svc.ClaimRedPacket(ctx, ident("t1", "carol"), shop.ClaimRedPacketInput{Packet: p.ID, Key: "k"})
	wantCode(t, err, qun.CodeExpired)
	// A packet never paid expires with its payment window; a payment
	// arriving later is refused so that the vendor refunds it.
	unpaid, err := e.svc.SendRedPacket(ctx, ident("t1", "host"), shop.SendRedPacketInput{Room: room, Total: cny(100), Count: 1, Key: "rp2"})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(20 * time.Minute)
	eventually(t, "unpaid packet expiry", func() bool {
		got, _, err := e.svc.RedPacket(ctx, ident("t1", "bob"), unpaid.ID)
		return err == nil && got.Status == shop.PacketExpired
	})
	err = e.svc.UpdatePayment(ctx, shop.PaymentUpdate{Tenant: "t1", ID: string(unpaid.ID), Status: "paid"})
	wantCode(t, err, qun.CodeExpired)
	if n := count(t, e.db, `SELECT COUNT(*) FROM shop_outbox WHERE type='red_packet.expired'`); n != 1 {
		t.Fatalf("an unpaid packet announced a refund (%d red_packet.expired)", n)
	}
}

func TestTipsAndLeaderboard(t *testing.T) {
	e := newEnv(t, nil)
	_, room := e.liveShop(t, "t1", 1, 1)
	ctx := context.Background()
	// Pending until the vendor reports the payment.
	tip, err := e.svc.Tip(ctx, ident("t1", "bob"), shop.TipInput{Room: room, Amount: cny(300), Message: "加油", Key: "t"})
	if err != nil || tip.Status != shop.PayPending {
		t.Fatalf("tip %+v %v", tip, err)
	}
	if err := e.svc.UpdatePayment(ctx, shop.PaymentUpdate{Tenant: "t1", ID: string(tip.ID), Status: "paid"}); err != nil {
		t.Fatal(err)
	}
	// Coin-balance payments settle at once.
	e.pay.paid.Store(true)
	for i, who := range []string{"carol", "carol", "dave"} {
		if _, err := e.svc.Tip(ctx, ident("t1", who), shop.TipInput{Room: room, Amount: cny(int64(100 * (i + 1))), Key: fmt.Sprint("t", i)}); err != nil {
			t.Fatal(err)
		}
	}
	// A cancelled payment never counts.
	e.pay.paid.Store(false)
	tip2, _ := e.svc.Tip(ctx, ident("t1", "erin"), shop.TipInput{Room: room, Amount: cny(10_000), Key: "t"})
	if err := e.svc.UpdatePayment(ctx, shop.PaymentUpdate{Tenant: "t1", ID: string(tip2.ID), Status: "cancelled"}); err != nil {
		t.Fatal(err)
	}
	err = e.svc.UpdatePayment(ctx, shop.PaymentUpdate{Tenant: "t1", ID: string(tip2.ID), Status: "paid"})
	wantCode(t, err, qun.CodeExpired)
	lb, err := e.svc.Leaderboard(ctx, ident("t1", "bob"), shop.LeaderboardInput{Room: room})
	if err != nil {
		t.Fatal(err)
	}
	// Paid tips only; ties by user id.
	if got := fmt.Sprint(lb.Lines); got != "[{bob 300 1} {carol 300 2} {dave 300 1}]" {
		t.Fatalf("leaderboard %s", got)
	}
	kinds := 0
	for len(e.rewards) > 0 {
		if r := <-e.rewards; r.Kind == "tip" {
			kinds++
		}
	}
	if kinds != 4 {
		t.Fatalf("%d tip rewards; want 4", kinds)
	}
}

func TestShareAttributionChain(t *testing.T) {
	e := newEnv(t, nil)
	_, room := e.liveShop(t, "t1", 1, 10)
	ctx := context.Background()
	ann, bob, carol := ident("t1", "ann"), ident("t1", "bob"), ident("t1", "carol")
	la, err := e.svc.NewShareLink(ctx, ann, shop.RoomInput{Room: room})
	if err != nil {
		t.Fatal(err)
	}
	a, err := e.svc.Visit(ctx, bob, shop.VisitInput{Room: room, Token: la.Token})
	if err != nil || a.Sharer != "ann" || fmt.Sprint(a.Chain) != "[ann]" {
		t.Fatalf("bob's attribution %+v %v", a, err)
	}
	lb, _ := e.svc.NewShareLink(ctx, bob, shop.RoomInput{Room: room})
	// Carol buys through bob's link directly: the order and carol are
	// credited to bob, with the chain bob ← ann.
	o, err := e.svc.Buy(ctx, carol, shop.BuyInput{Room: room, Product: "p1", Qty: 1, Share: lb.Token, Key: "o"})
	if err != nil || o.Sharer != "bob" || fmt.Sprint(o.Chain) != "[bob ann]" {
		t.Fatalf("order %+v %v", o, err)
	}
	// First touch: a later link changes nothing.
	if again, err := e.svc.Visit(ctx, carol, shop.VisitInput{Room: room, Token: la.Token}); err != nil || again.Sharer != "bob" {
		t.Fatalf("second visit %+v %v", again, err)
	}
	// Ann following bob's link cannot loop the chain.
	if back, err := e.svc.Visit(ctx, ann, shop.VisitInput{Room: room, Token: lb.Token}); err != nil || fmt.Sprint(back.Chain) != "[bob]" {
		t.Fatalf("loop %+v %v", back, err)
	}
	_, err = e.svc.Visit(ctx, ann, shop.VisitInput{Room: room, Token: la.Token})
	wantCode(t, err, qun.CodeConflict) // own link
	if err := e.svc.UpdatePayment(ctx, shop.PaymentUpdate{Tenant: "t1", ID: string(o.ID), Status: "paid"}); err != nil {
		t.Fatal(err)
	}
	st, err := e.svc.ShareStats(ctx, bob, shop.ShareStatsInput{Room: room})
	if err != nil || st.Viewers != 2 || st.Orders != 1 || st.Amount != 100 {
		t.Fatalf("bob's stats %+v %v", st, err)
	}
	_, err = e.svc.ShareStats(ctx, carol, shop.ShareStatsInput{Room: room, Sharer: "bob"})
	wantCode(t, err, qun.CodeForbidden)
	if st, err := e.svc.ShareStats(ctx, ident("t1", "host"), shop.ShareStatsInput{Room: room, Sharer: "ann"}); err != nil || st.Viewers != 1 {
		t.Fatalf("ann's stats %+v %v", st, err)
	}
	// Forged, foreign and expired links.
	for _, tok := range []string{la.Token + "x", "e30." + la.Token[len(la.Token)-43:], "nodot"} {
		_, err = e.svc.Visit(ctx, ident("t1", "dave"), shop.VisitInput{Room: room, Token: tok})
		wantCode(t, err, qun.CodeInvalid)
	}
	e.rooms.add("t2", room, "host")
	_, err = e.svc.Visit(ctx, ident("t2", "dave"), shop.VisitInput{Room: room, Token: la.Token})
	wantCode(t, err, qun.CodeInvalid)
	e.clock.Advance(31 * 24 * time.Hour)
	_, err = e.svc.Visit(ctx, ident("t1", "dave"), shop.VisitInput{Room: room, Token: la.Token})
	wantCode(t, err, qun.CodeExpired)
	got := map[string]qun.UserID{}
	for len(e.rewards) > 0 {
		r := <-e.rewards
		got[r.Kind] = r.User
	}
	if got["share_order"] != "bob" || got["order"] != "carol" {
		t.Fatalf("rewards %v", got)
	}
}
