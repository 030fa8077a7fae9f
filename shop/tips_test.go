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
