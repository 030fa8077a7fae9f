package shop_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/qtest"
	"github.com/qunkit/qun/shop"
)

// 限购: one user's many concurrent buys never hold more than the limit;
// a refused buy changes nothing; cancelled and expired orders free their
// quantity; other users have their own allowance.
func TestPurchaseLimitPerUser(t *testing.T) {
	e := newEnv(t, func(c *shop.Config) { c.ReservationTTL = time.Minute })
	_, room := e.liveShop(t, "t1", 1, 1000)
	ctx := context.Background()
	host := ident("t1", "host")
	if _, err := e.svc.RemoveFromShelf(ctx, host, shop.ShelfProductInput{Room: room, Product: "p1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.AddToShelf(ctx, host, shop.ShelfProductInput{Room: room, Product: "p1", PerUser: 3}); err != nil {
		t.Fatal(err)
	}
	bob := ident("t1", "bob")
	const tries = 200
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[qun.Code]int{}
	var orders []*shop.Order
	start := make(chan struct{})
	for i := range tries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			o, err := e.svc.Buy(ctx, bob, shop.BuyInput{Room: room, Product: "p1", Qty: 1, Key: fmt.Sprint("k", i)})
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				orders = append(orders, o)
			} else {
				codes[qun.ErrorCode(err)]++
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(orders) != 3 || codes[qun.CodeExhausted] != tries-3 || len(codes) != 1 {
		t.Fatalf("%d orders, errors %v; want 3 and %d exhausted", len(orders), codes, tries-3)
	}
	stockIs := func(want int64) {
		t.Helper()
		if st, _ := e.svc.Stock(ctx, "t1", "p1"); st != want {
			t.Fatalf("stock %d, want %d", st, want)
		}
	}
	stockIs(997)
	if n := count(t, e.db, `SELECT COUNT(*) FROM shop_orders WHERE buyer='bob'`); n != 3 {
		t.Fatalf("%d orders stored for bob", n)
	}
	// Paying keeps counting; cancelling frees one unit, not two.
	if err := e.svc.UpdatePayment(ctx, shop.PaymentUpdate{Tenant: "t1", ID: string(orders[0].ID), Status: "paid"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CancelOrder(ctx, bob, orders[1].ID); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.Buy(ctx, bob, shop.BuyInput{Room: room, Product: "p1", Qty: 2, Key: "two"})
	wantCode(t, err, qun.CodeExhausted)
	stockIs(998)
	if _, err := e.svc.Buy(ctx, bob, shop.BuyInput{Room: room, Product: "p1", Qty: 1, Key: "one"}); err != nil {
		t.Fatal(err)
	}
	// Carol's allowance is her own.
	if _, err := e.svc.Buy(ctx, ident("t1", "carol"), shop.BuyInput{Room: room, Product: "p1", Qty: 3, Key: "c"}); err != nil {
		t.Fatal(err)
	}
	// Expired reservations free theirs (one paid unit remains held).
	e.clock.Advance(2 * time.Minute)
	eventually(t, "reservations expire", func() bool {
		return count(t, e.db, `SELECT COUNT(*) FROM shop_orders WHERE status='reserved'`) == 0
	})
	if _, err := e.svc.Buy(ctx, bob, shop.BuyInput{Room: room, Product: "p1", Qty: 2, Key: "again"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Buy(ctx, bob, shop.BuyInput{Room: room, Product: "p1", Qty: 1, Key: "over"})
	wantCode(t, err, qun.CodeExhausted)
}

// The limit set on shop.shelf.add shows on the shelf, and shop.buy refuses
// beyond it; a product's own limit applies when the shelf sets none.
func TestPurchaseLimitOverWebSocket(t *testing.T) {
	e := newEnv(t, nil)
	_, room := e.liveShop(t, "t1", 2, 100)
	ctx := context.Background()
	p2, err := e.svc.Catalog().Product(ctx, "t1", "p2")
	if err != nil {
		t.Fatal(err)
	}
	p2.PerUser = 1
	if err := e.cat.PutProduct(ctx, p2); err != nil {
		t.Fatal(err)
	}
	host := e.Connect(t, "t1", "host")
	bob := e.Connect(t, "t1", "bob")
	for _, p := range []string{"p1", "p2"} {
		qtest.Call(t, host, "shop.shelf.remove", map[string]any{"room": room, "product": p}, nil)
	}
	qtest.CallErr(t, host, "shop.shelf.add", map[string]any{"room": room, "product": "p1", "per_user": -1}, qun.CodeInvalid)
	qtest.Call(t, host, "shop.shelf.add", map[string]any{"room": room, "product": "p1", "per_user": 2}, nil)
	var sh shop.Shelf
	qtest.Call(t, host, "shop.shelf.add", map[string]any{"room": room, "product": "p2"}, &sh)
	if len(sh.Items) != 2 || sh.Items[0].PerUser != 2 || sh.Items[1].PerUser != 1 {
		t.Fatalf("shelf %+v", sh.Items)
	}
	qtest.CallErr(t, bob, "shop.buy", map[string]any{"room": room, "product": "p1", "qty": 3, "key": "a"}, qun.CodeExhausted)
	qtest.Call(t, bob, "shop.buy", map[string]any{"room": room, "product": "p1", "qty": 2, "key": "b"}, nil)
	qtest.CallErr(t, bob, "shop.buy", map[string]any{"room": room, "product": "p1", "qty": 1, "key": "c"}, qun.CodeExhausted)
	qtest.Call(t, bob, "shop.buy", map[string]any{"room": room, "product": "p2", "qty": 1, "key": "d"}, nil)
	qtest.CallErr(t, bob, "shop.buy", map[string]any{"room": room, "product": "p2", "qty": 1, "key": "e"}, qun.CodeExhausted)
	// The same key answers the first order, limit or not.
	qtest.Call(t, bob, "shop.buy", map[string]any{"room": room, "product": "p2", "qty": 1, "key": "d"}, nil)
	if st, _ := e.svc.Stock(ctx, "t1", "p1"); st != 98 {
		t.Fatalf("p1 stock %d", st)
	}
}
