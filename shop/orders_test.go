package shop_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/shop"
)

// 10,000 buyers at once on 100 units: exactly 100 reservations, the rest
// sold out, stock at zero, never below.
func TestFlashSaleNeverOversells(t *testing.T) {
	e := newEnv(t, nil)
	_, room := e.liveShop(t, "t1", 1, 100)
	ctx := context.Background()
	const buyers = 10_000
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[qun.Code]int{}
	ok := 0
	start := make(chan struct{})
	for i := range buyers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := e.svc.Buy(ctx, ident("t1", fmt.Sprint("u", i)), shop.BuyInput{Room: room, Product: "p1", Qty: 1, Key: "k"})
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				ok++
			} else {
				codes[qun.ErrorCode(err)]++
			}
		}()
	}
	close(start)
	wg.Wait()
	if ok != 100 || codes[qun.CodeExhausted] != buyers-100 || len(codes) != 1 {
		t.Fatalf("ok=%d errors=%v; want 100 reservations and %d sold out", ok, codes, buyers-100)
	}
	if n := count(t, e.db, `SELECT COUNT(*) FROM shop_orders WHERE status='reserved'`); n != 100 {
		t.Fatalf("%d reserved orders in the store", n)
	}
	if st, _ := e.svc.Stock(ctx, "t1", "p1"); st != 0 {
		t.Fatalf("stock %d", st)
	}
	if n := e.pay.calls.Load(); n != 100 {
		t.Fatalf("checkout called %d times", n)
	}
	if n := count(t, e.db, `SELECT COUNT(*) FROM shop_outbox WHERE type='order.reserved'`); n != 100 {
		t.Fatalf("%d order.reserved messages", n)
	}
}

func TestReservationExpiryReturnsStock(t *testing.T) {
	e := newEnv(t, func(c *shop.Config) { c.ReservationTTL = time.Minute })
	_, room := e.liveShop(t, "t1", 1, 3)
	ctx := context.Background()
	buyer := ident("t1", "bob")
	o, err := e.svc.Buy(ctx, buyer, shop.BuyInput{Room: room, Product: "p1", Qty: 2, Key: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	if o.Status != shop.StatusReserved || o.PayURL == "" || o.PaymentRef == "" || o.Total != cny(200) {
		t.Fatalf("order %+v", o)
	}
	if st, _ := e.svc.Stock(ctx, "t1", "p1"); st != 1 {
		t.Fatalf("stock %d after reserving 2 of 3", st)
	}
	_, err = e.svc.Buy(ctx, ident("t1", "carol"), shop.BuyInput{Room: room, Product: "p1", Qty: 2, Key: "k1"})
	wantCode(t, err, qun.CodeExhausted)

	e.clock.Advance(2 * time.Minute)
	eventually(t, "expiry", func() bool {
		got, err := e.svc.Order(ctx, buyer, o.ID)
		return err == nil && got.Status == shop.StatusExpired
	})
	if st, _ := e.svc.Stock(ctx, "t1", "p1"); st != 3 {
		t.Fatalf("stock %d after expiry; want 3", st)
	}
	// A payment arriving after expiry is refused: the stock is gone.
	err = e.svc.UpdatePayment(ctx, shop.PaymentUpdate{Tenant: "t1", ID: string(o.ID), Status: "paid", PaymentRef: "tx1"})
	wantCode(t, err, qun.CodeExpired)
	if n := count(t, e.db, `SELECT COUNT(*) FROM shop_outbox WHERE type='order.expired'`); n != 1 {
		t.Fatalf("%d order.expired messages", n)
	}
	// The stock is buyable again.
	if _, err := e.svc.Buy(ctx, ident("t1", "carol"), shop.BuyInput{Room: room, Product: "p1", Qty: 3, Key: "k2"}); err != nil {
		t.Fatal(err)
	}
}

// signedPost calls the callback handler like the vendor's backend would.
func signedPost(t *testing.T, e *env, path string, secret string, body any) (int, []byte) {
	t.Helper()
	b, _ := json.Marshal(body)
	ts := time.Now().Unix()
	sig, err := shop.Sign([]string{secret}, "cb_"+qun.NewID(), ts, b)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, e.Server.URL+"/shop/cb"+path, bytes.NewReader(b))
	id := "cb_" + qun.NewID()
	sig, _ = shop.Sign([]string{secret}, id, ts, b)
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.Bytes()
}

func TestPaymentCallbacksAndBatchShipping(t *testing.T) {
	e := newEnv(t, nil)
	_, room := e.liveShop(t, "t1", 2, 10)
	ctx := context.Background()
	var orders []*shop.Order
	for i := range 4 {
		o, err := e.svc.Buy(ctx, ident("t1", fmt.Sprint("b", i)), shop.BuyInput{Room: room, Product: "p2", Qty: 1, Key: "k"})
		if err != nil {
			t.Fatal(err)
		}
		orders = append(orders, o)
	}
	// A forged callback is refused and changes nothing.
	code, _ := signedPost(t, e, "/payment", shop.NewSecret(), shop.PaymentUpdate{Tenant: "t1", ID: string(orders[0].ID), Status: "paid"})
	if code != http.StatusUnauthorized {
		t.Fatalf("forged callback: %d", code)
	}
	if o, _ := e.svc.Order(ctx, ident("t1", "b0"), orders[0].ID); o.Status != shop.StatusReserved {
		t.Fatalf("forged callback changed the order: %s", o.Status)
	}
	// Paid, twice (the vendor retries): idempotent.
	for range 2 {
		code, body := signedPost(t, e, "/payment", callbackSecret, shop.PaymentUpdate{Tenant: "t1", ID: string(orders[0].ID), Status: "paid", PaymentRef: "tx0"})
		if code != 200 {
			t.Fatalf("paid: %d %s", code, body)
		}
	}
	if err := e.svc.UpdatePayment(ctx, shop.PaymentUpdate{Tenant: "t1", ID: string(orders[1].ID), Status: "paid", PaymentRef: "tx1"}); err != nil {
		t.Fatal(err)
	}
	// Another tenant cannot touch t1's orders.
	err := e.svc.UpdatePayment(ctx, shop.PaymentUpdate{Tenant: "t2", ID: string(orders[2].ID), Status: "paid"})
	wantCode(t, err, qun.CodeNotFound)
	// The buyer cancels an unpaid order: stock returns.
	before, _ := e.svc.Stock(ctx, "t1", "p2")
	if o, err := e.svc.CancelOrder(ctx, ident("t1", "b3"), orders[3].ID); err != nil || o.Status != shop.StatusCancelled {
		t.Fatalf("cancel: %v %v", o, err)
	}
	if after, _ := e.svc.Stock(ctx, "t1", "p2"); after != before+1 {
		t.Fatalf("stock %d → %d after cancel", before, after)
	}
	_, err = e.svc.CancelOrder(ctx, ident("t1", "b0"), orders[0].ID)
	wantCode(t, err, qun.CodeConflict)
	_, err = e.svc.CancelOrder(ctx, ident("t1", "b1"), orders[0].ID) // someone else's order
	wantCode(t, err, qun.CodeNotFound)

	// Batch shipping over HTTP: one result per row.
	rows := []shop.ShipRow{
		{Order: orders[0].ID, Carrier: "SF", Tracking: "SF100"},
		{Order: orders[1].ID, Carrier: "SF", Tracking: "SF101"},
		{Order: orders[2].ID, Carrier: "SF", Tracking: "SF102"}, // not paid
		{Order: "o_nope", Carrier: "SF", Tracking: "SF103"},     // unknown
		{Order: orders[0].ID, Carrier: "SF", Tracking: ""},      // invalid row
	}
	code, body := signedPost(t, e, "/ship", callbackSecret, shop.ShipRequest{Tenant: "t1", Rows: rows})
	if code != 200 {
		t.Fatalf("ship: %d %s", code, body)
	}
	var res struct{ Results []shop.ShipResult }
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	want := []qun.Code{"", "", qun.CodeConflict, qun.CodeNotFound, qun.CodeInvalid}
	if len(res.Results) != len(want) {
		t.Fatalf("%d results", len(res.Results))
	}
	for i, r := range res.Results {
		got := qun.Code("")
		if r.Error != nil {
			got = r.Error.Code
		}
		if got != want[i] || r.OK != (want[i] == "") || r.Order != rows[i].Order {
			t.Fatalf("row %d: %+v; want %q", i, r, want[i])
		}
	}
	// Shipping again with the same tracking is fine; with another it is not.
	res2, err := e.svc.Ship(ctx, "t1", []shop.ShipRow{{Order: orders[0].ID, Carrier: "SF", Tracking: "SF100"}, {Order: orders[1].ID, Carrier: "YTO", Tracking: "Y1"}})
	if err != nil || !res2[0].OK || res2[1].Error == nil || res2[1].Error.Code != qun.CodeConflict {
		t.Fatalf("reship: %+v %v", res2, err)
	}
	o, _ := e.svc.Order(ctx, ident("t1", "host"), orders[0].ID)
	if o.Status != shop.StatusShipped || o.Tracking != "SF100" || o.PaidRef != "tx0" {
		t.Fatalf("order %+v", o)
	}
	if n := count(t, e.db, `SELECT COUNT(*) FROM shop_outbox WHERE type='order.shipped'`); n != 2 {
		t.Fatalf("%d order.shipped messages", n)
	}
	// A shop owner ships through the op's Go API; another user's rows fail.
	res3, err := e.svc.ShipAs(ctx, ident("t1", "mallory"), []shop.ShipRow{{Order: orders[1].ID, Carrier: "SF", Tracking: "SF101"}})
	if err != nil || res3[0].Error == nil || res3[0].Error.Code != qun.CodeNotFound {
		t.Fatalf("ship as stranger: %+v %v", res3, err)
	}
	// Paid orders reached the reward hook.
	got := map[string]bool{}
	for len(e.rewards) > 0 {
		r := <-e.rewards
		got[r.Kind+":"+r.Ref] = true
	}
	if !got["order:"+string(orders[0].ID)] || !got["order:"+string(orders[1].ID)] {
		t.Fatalf("rewards %v", got)
	}
}

func TestBuyIdempotency(t *testing.T) {
	e := newEnv(t, nil)
	_, room := e.liveShop(t, "t1", 2, 10)
	ctx := context.Background()
	bob := ident("t1", "bob")
	in := shop.BuyInput{Room: room, Product: "p1", Qty: 2, Key: "order-1"}
	a, err := e.svc.Buy(ctx, bob, in)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.svc.Buy(ctx, bob, in)
	if err != nil || b.ID != a.ID || b.PayURL != a.PayURL {
		t.Fatalf("replay: %+v %v; want order %s", b, err, a.ID)
	}
	if n := e.pay.calls.Load(); n != 1 {
		t.Fatalf("checkout called %d times", n)
	}
	if st, _ := e.svc.Stock(ctx, "t1", "p1"); st != 8 {
		t.Fatalf("stock %d; the replay must not reserve again", st)
	}
	// The same key with another body is a conflict and changes nothing.
	in2 := in
	in2.Qty = 3
	_, err = e.svc.Buy(ctx, bob, in2)
	wantCode(t, err, qun.CodeConflict)
	// Keys are per user: another buyer may use the same key.
	if c, err := e.svc.Buy(ctx, ident("t1", "carol"), in); err != nil || c.ID == a.ID {
		t.Fatalf("other user same key: %v %v", c, err)
	}
	// Once the product sells out, the repeated request still answers its
	// order, not "sold out".
	if _, err := e.svc.Buy(ctx, ident("t1", "dave"), shop.BuyInput{Room: room, Product: "p1", Qty: 6, Key: "all"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Buy(ctx, ident("t1", "erin"), shop.BuyInput{Room: room, Product: "p1", Qty: 1, Key: "late"})
	wantCode(t, err, qun.CodeExhausted)
	_, err = e.svc.Buy(ctx, ident("t1", "erin"), shop.BuyInput{Room: room, Product: "p1", Qty: 1, Key: "late2"})
	wantCode(t, err, qun.CodeExhausted)
	if b, err := e.svc.Buy(ctx, bob, in); err != nil || b.ID != a.ID {
		t.Fatalf("replay after sell-out: %+v %v", b, err)
	}
	// A restock clears the sold-out state at once.
	if err := e.svc.SetStock(ctx, "t1", "p1", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Buy(ctx, ident("t1", "erin"), shop.BuyInput{Room: room, Product: "p1", Qty: 1, Key: "late3"}); err != nil {
		t.Fatalf("buy after restock: %v", err)
	}
	// A checkout failure releases the stock and forgets the key, so the
	// retry buys afresh.
	e.pay.fail.Store(true)
	in3 := shop.BuyInput{Room: room, Product: "p2", Qty: 1, Key: "order-2"}
	_, err = e.svc.Buy(ctx, bob, in3)
	wantCode(t, err, qun.CodeUnavailable)
	if st, _ := e.svc.Stock(ctx, "t1", "p2"); st != 10 {
		t.Fatalf("stock %d after failed checkout", st)
	}
	e.pay.fail.Store(false)
	o, err := e.svc.Buy(ctx, bob, in3)
	if err != nil || o.Status != shop.StatusReserved {
		t.Fatalf("retry after failed checkout: %v %v", o, err)
	}
	// Checkout answering Paid settles the order at once.
	e.pay.paid.Store(true)
	o, err = e.svc.Buy(ctx, bob, shop.BuyInput{Room: room, Product: "p2", Qty: 1, Key: "order-3"})
	if err != nil || o.Status != shop.StatusPaid {
		t.Fatalf("instant pay: %v %v", o, err)
	}
}

// Bad input answers a clear error and changes nothing.
func TestBadInputChangesNothing(t *testing.T) {
	e := newEnv(t, nil)
	_, room := e.liveShop(t, "t1", 1, 10)
	ctx := context.Background()
	bob := ident("t1", "bob")
	snapshot := func() string {
		return fmt.Sprint(
			count(t, e.db, `SELECT COUNT(*) FROM shop_orders`), count(t, e.db, `SELECT COUNT(*) FROM shop_outbox`),
			count(t, e.db, `SELECT COUNT(*) FROM shop_tips`), count(t, e.db, `SELECT COUNT(*) FROM shop_coupons`),
			count(t, e.db, `SELECT COUNT(*) FROM shop_redpackets`), count(t, e.db, `SELECT COUNT(*) FROM shop_idem`),
			count(t, e.db, `SELECT qty FROM shop_stock WHERE product='p1'`))
	}
	before := snapshot()
	hour := e.clock.Now().Add(time.Hour).UnixMilli()
	cases := []struct {
		name string
		err  error
		code qun.Code
	}{}
	add := func(name string, code qun.Code, err error) {
		cases = append(cases, struct {
			name string
			err  error
			code qun.Code
		}{name, err, code})
	}
	_, err := e.svc.Buy(ctx, bob, shop.BuyInput{Room: room, Product: "p1", Qty: -1, Key: "a"})
	add("negative qty", qun.CodeInvalid, err)
	_, err = e.svc.Buy(ctx, bob, shop.BuyInput{Room: room, Product: "nope", Qty: 1, Key: "a"})
	add("unknown product", qun.CodeNotFound, err)
	_, err = e.svc.Buy(ctx, bob, shop.BuyInput{Room: room, Product: "p1", Qty: 1})
	add("no idempotency key", qun.CodeInvalid, err)
	_, err = e.svc.Buy(ctx, bob, shop.BuyInput{Room: "live:none", Product: "p1", Qty: 1, Key: "a"})
	add("unknown room", qun.CodeNotFound, err)
	_, err = e.svc.Tip(ctx, bob, shop.TipInput{Room: room, Amount: cny(-100), Key: "a"})
	add("negative tip", qun.CodeInvalid, err)
	_, err = e.svc.Tip(ctx, bob, shop.TipInput{Room: room, Amount: shop.Money{Amount: 100, Currency: "usd"}, Key: "a"})
	add("bad currency", qun.CodeInvalid, err)
	_, err = e.svc.Tip(ctx, bob, shop.TipInput{Room: room, Amount: cny(shop.MaxAmount + 1), Key: "a"})
	add("overflowing tip", qun.CodeInvalid, err)
	_, err = e.svc.SendRedPacket(ctx, bob, shop.SendRedPacketInput{Room: room, Total: cny(5), Count: 10, Key: "a"})
	add("red packet under 1 fen each", qun.CodeInvalid, err)
	_, err = e.svc.IssueCoupon(ctx, ident("t1", "host"), shop.IssueCouponInput{Room: room, Title: "x", Discount: cny(-5), Total: 1, PerUser: 1, EndsAt: hour, Key: "a"})
	add("negative coupon", qun.CodeInvalid, err)
	_, err = e.svc.IssueCoupon(ctx, ident("t1", "host"), shop.IssueCouponInput{Room: room, Title: "x", Discount: cny(5), Total: 1, PerUser: 1, EndsAt: e.clock.Now().Add(-time.Hour).UnixMilli(), Key: "a"})
	add("coupon ending in the past", qun.CodeInvalid, err)
	_, err = e.svc.IssueCoupon(ctx, bob, shop.IssueCouponInput{Room: room, Title: "x", Discount: cny(5), Total: 1, PerUser: 1, EndsAt: hour, Key: "a"})
	add("viewer issuing a coupon", qun.CodeForbidden, err)
	_, err = e.svc.CreateShop(ctx, bob, shop.CreateShopInput{Kind: shop.KindEnterprise, Name: "Co", Licence: "91350100M000100Y44", Key: "a"})
	add("licence check digit", qun.CodeInvalid, err)
	_, err = e.svc.CreateShop(ctx, bob, shop.CreateShopInput{Kind: shop.KindEnterprise, Name: "Co", Key: "a"})
	add("enterprise without licence", qun.CodeInvalid, err)
	_, err = e.svc.AddToShelf(ctx, bob, shop.ShelfProductInput{Room: room, Product: "p1"})
	add("viewer managing the shelf", qun.CodeForbidden, err)
	err = e.svc.UpdatePayment(ctx, shop.PaymentUpdate{Tenant: "t1", ID: "o_nope", Status: "paid"})
	add("payment for unknown order", qun.CodeNotFound, err)
	for _, c := range cases {
		if qun.ErrorCode(c.err) != c.code {
			t.Errorf("%s: got %v; want %s", c.name, c.err, c.code)
		}
	}
	if after := snapshot(); after != before {
		t.Fatalf("bad input changed the store: %s → %s", before, after)
	}
	// A price times a quantity beyond MaxAmount is refused before anything.
	if err := e.cat.PutProduct(ctx, &shop.Product{ID: "gold", Tenant: "t1", Shop: e.shopOf(t, room), Title: "Gold", Price: cny(shop.MaxAmount / 10), Stock: 100}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.AddToShelf(ctx, ident("t1", "host"), shop.ShelfProductInput{Room: room, Product: "gold"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Buy(ctx, bob, shop.BuyInput{Room: room, Product: "gold", Qty: 11, Key: "g"})
	wantCode(t, err, qun.CodeInvalid)
	if st, _ := e.svc.Stock(ctx, "t1", "gold"); st != 100 {
		t.Fatalf("overflowing order took stock: %d", st)
	}
}

func (e *env) shopOf(t testing.TB, room qun.RoomID) shop.ShopID {
	sh, err := e.svc.Shelf(context.Background(), ident("t1", "host"), room)
	if err != nil {
		t.Fatal(err)
	}
	return sh.Shop
}
