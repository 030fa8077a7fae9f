// Package shoptest is the conformance suite for shop.Store implementations.
// An adapter's test calls RunStoreTests with a constructor of fresh, empty
// stores; the embedded SQLite store runs it in the shop package's tests.
package shoptest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/shop"
)

// RunStoreTests runs the suite. newStore returns an empty store; the suite
// closes it.
func RunStoreTests(t *testing.T, newStore func(t *testing.T) shop.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s shop.Store)
	}{
		{"ObjectsRoundTripAndStayInTheirTenant", objects},
		{"ShelfIndex", shelfIndex},
		{"StockNeverNegative", stock},
		{"ConcurrentReservations", concurrentReservations},
		{"DueOrdersAndRedPackets", due},
		{"CouponsAndClaims", coupons},
		{"Leaderboard", leaderboard},
		{"RedPacketClaimsOncePerUser", redPacketClaims},
		{"OpenRedPacketsOfARoom", openRedPackets},
		{"CountBoughtForPurchaseLimits", countBought},
		{"AttributionFirstTouchAndStats", attribution},
		{"IdempotencyRecords", idem},
		{"OutboxAndCursor", outbox},
		{"Deliveries", deliveries},
		{"ClaimsAreExclusive", claims},
		{"UpdateIsAllOrNothing", atomicity},
		{"BatchedUpdatesAreIsolated", isolation},
		{"ViewIsReadOnly", readOnly},
		{"ClosedStoreRefuses", closed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			defer s.Close()
			tc.fn(t, s)
		})
	}
}

var ctx = context.Background()

func update(t *testing.T, s shop.Store, fn func(tx shop.Tx) error) {
	t.Helper()
	if err := s.Update(ctx, fn); err != nil {
		t.Fatal(err)
	}
}

func view(t *testing.T, s shop.Store, fn func(tx shop.Tx) error) {
	t.Helper()
	if err := s.View(ctx, fn); err != nil {
		t.Fatal(err)
	}
}

func code(err error) qun.Code { return qun.ErrorCode(err) }

func cny(n int64) shop.Money { return shop.Money{Amount: n, Currency: shop.CNY} }

func objects(t *testing.T, s shop.Store) {
	sh := &shop.Shop{ID: "s1", Tenant: "t1", Owner: "ann", Kind: shop.KindEnterprise, Name: "Ann", Licence: "91350100M000100Y43", Verified: true, Created: 1}
	o := &shop.Order{ID: "o1", Tenant: "t1", Room: "live:1", Shop: "s1", Product: "p1", Buyer: "bob", Qty: 2, Unit: cny(100), Total: cny(200),
		Status: shop.StatusReserved, ExpiresAt: 99, Sharer: "ann", Chain: []qun.UserID{"ann"}, Created: 1, Updated: 1}
	tip := &shop.Tip{ID: "t1", Tenant: "t1", Room: "live:1", From: "bob", Amount: cny(5), Status: shop.PayPending}
	p := &shop.RedPacket{ID: "rp1", Tenant: "t1", Room: "live:1", From: "bob", Total: cny(5), Count: 2, Remaining: 5, Status: shop.PacketActive, ExpiresAt: 10}
	c := &shop.Coupon{ID: "c1", Tenant: "t1", Room: "live:1", Shop: "s1", Discount: cny(1), Total: 5, PerUser: 1, EndsAt: 10}
	cl := &shop.Claim{ID: "cc1", Tenant: "t1", Coupon: "c1", User: "bob"}
	e := &shop.Endpoint{ID: "ep1", Tenant: "t1", URL: "https://x", Secrets: []string{"whsec_a"}, Types: []string{"order.paid"}}
	update(t, s, func(tx shop.Tx) error {
		return errors.Join(tx.PutShop(sh), tx.PutOrder(o), tx.PutTip(tip), tx.PutRedPacket(p), tx.PutCoupon(c), tx.PutClaim(cl), tx.PutEndpoint(e))
	})
	view(t, s, func(tx shop.Tx) error {
		gotShop, err := tx.Shop("t1", "s1")
		if err != nil || fmt.Sprint(*gotShop) != fmt.Sprint(*sh) {
			t.Errorf("shop %+v %v", gotShop, err)
		}
		gotOrder, err := tx.Order("t1", "o1")
		if err != nil || fmt.Sprint(*gotOrder) != fmt.Sprint(*o) {
			t.Errorf("order %+v %v", gotOrder, err)
		}
		if got, err := tx.Tip("t1", "t1"); err != nil || *got != *tip {
			t.Errorf("tip %+v %v", got, err)
		}
		if got, err := tx.RedPacket("t1", "rp1"); err != nil || *got != *p {
			t.Errorf("red packet %+v %v", got, err)
		}
		if got, err := tx.Coupon("t1", "c1"); err != nil || *got != *c {
			t.Errorf("coupon %+v %v", got, err)
		}
		if got, err := tx.Claim("t1", "cc1"); err != nil || *got != *cl {
			t.Errorf("claim %+v %v", got, err)
		}
		if got, err := tx.Endpoint("ep1"); err != nil || fmt.Sprint(*got) != fmt.Sprint(*e) {
			t.Errorf("endpoint %+v %v", got, err)
		}
		// Another tenant sees nothing.
		for name, err := range map[string]error{
			"shop":   second(tx.Shop("t2", "s1")),
			"order":  second(tx.Order("t2", "o1")),
			"tip":    second(tx.Tip("t2", "t1")),
			"packet": second(tx.RedPacket("t2", "rp1")),
			"coupon": second(tx.Coupon("t2", "c1")),
			"claim":  second(tx.Claim("t2", "cc1")),
			"shelf":  second(tx.Shelf("t1", "live:1")),
		} {
			if code(err) != qun.CodeNotFound {
				t.Errorf("%s: %v; want not_found", name, err)
			}
		}
		return nil
	})
	update(t, s, func(tx shop.Tx) error {
		ok, err := tx.AttachPayment("t1", "o1", "ref", "https://pay", 7)
		if !ok || err != nil {
			t.Errorf("attach payment: %v %v", ok, err)
		}
		got, err := tx.Order("t1", "o1")
		if err != nil || got.PaymentRef != "ref" || got.PayURL != "https://pay" || got.Updated != 7 || got.Buyer != "bob" || got.Total != cny(200) {
			t.Errorf("order after attach payment %+v %v", got, err)
		}
		return err
	})
	// Put replaces.
	o.Status = shop.StatusPaid
	update(t, s, func(tx shop.Tx) error { return tx.PutOrder(o) })
	view(t, s, func(tx shop.Tx) error {
		if got, _ := tx.Order("t1", "o1"); got.Status != shop.StatusPaid || got.PaymentRef != "" {
			t.Errorf("order not replaced: %+v", got)
		}
		return nil
	})
	update(t, s, func(tx shop.Tx) error {
		ok, err := tx.AttachPayment("t1", "o1", "late", "", 8)
		got, _ := tx.Order("t1", "o1")
		if ok || err != nil || got.PaymentRef != "" || got.Updated == 8 {
			t.Errorf("attach payment to a paid order changed it: %v %+v %v", ok, got, err)
		}
		if _, err := tx.AttachPayment("t2", "o1", "x", "", 8); qun.ErrorCode(err) != qun.CodeNotFound {
			t.Errorf("attach payment across tenants: %v", err)
		}
		return nil
	})
}

func second[T any](_ T, err error) error { return err }

func shelfIndex(t *testing.T, s shop.Store) {
	sh := &shop.Shelf{Tenant: "t1", Room: "live:1", Shop: "s1", Items: []shop.ShelfItem{{Product: "p1"}, {Product: "p2"}}}
	update(t, s, func(tx shop.Tx) error {
		return errors.Join(tx.PutShelf(sh), tx.PutShelf(&shop.Shelf{Tenant: "t1", Room: "live:2", Items: []shop.ShelfItem{{Product: "p1"}}}),
			tx.PutShelf(&shop.Shelf{Tenant: "t2", Room: "live:1", Items: []shop.ShelfItem{{Product: "p1"}}}))
	})
	rooms := func(p shop.ProductID) int {
		var n int
		view(t, s, func(tx shop.Tx) error { r, err := tx.ShelvesWith("t1", p, 10); n = len(r); return err })
		return n
	}
	if rooms("p1") != 2 || rooms("p2") != 1 {
		t.Fatalf("index: p1 in %d rooms, p2 in %d", rooms("p1"), rooms("p2"))
	}
	sh.Items = sh.Items[1:]
	update(t, s, func(tx shop.Tx) error { return tx.PutShelf(sh) })
	if rooms("p1") != 1 {
		t.Fatalf("removed item still indexed")
	}
	view(t, s, func(tx shop.Tx) error {
		got, err := tx.Shelf("t1", "live:1")
		if err != nil || len(got.Items) != 1 || got.Items[0].Product != "p2" {
			t.Errorf("shelf %+v %v", got, err)
		}
		return nil
	})
}

func stock(t *testing.T, s shop.Store) {
	view(t, s, func(tx shop.Tx) error {
		if _, ok, err := tx.Stock("t1", "p1"); ok || err != nil {
			t.Errorf("stock of a new product: ok=%v %v", ok, err)
		}
		return nil
	})
	err := s.Update(ctx, func(tx shop.Tx) error { _, err := tx.AddStock("t1", "p1", -1); return err })
	if code(err) != qun.CodeNotFound {
		t.Fatalf("add to unknown stock: %v", err)
	}
	update(t, s, func(tx shop.Tx) error { return tx.SetStock("t1", "p1", 3) })
	err = s.Update(ctx, func(tx shop.Tx) error { _, err := tx.AddStock("t1", "p1", -4); return err })
	if code(err) != qun.CodeExhausted {
		t.Fatalf("overdraw: %v", err)
	}
	update(t, s, func(tx shop.Tx) error {
		n, err := tx.AddStock("t1", "p1", -3)
		if n != 0 {
			t.Errorf("left %d", n)
		}
		return err
	})
	update(t, s, func(tx shop.Tx) error {
		n, err := tx.AddStock("t1", "p1", 2)
		if n != 2 {
			t.Errorf("after restock %d", n)
		}
		return err
	})
	if err := s.Update(ctx, func(tx shop.Tx) error { return tx.SetStock("t1", "p1", -1) }); code(err) != qun.CodeInvalid {
		t.Fatalf("negative stock: %v", err)
	}
	view(t, s, func(tx shop.Tx) error {
		if n, ok, _ := tx.Stock("t1", "p1"); n != 2 || !ok {
			t.Errorf("stock %d", n)
		}
		if _, ok, _ := tx.Stock("t2", "p1"); ok {
			t.Error("stock leaked to another tenant")
		}
		return nil
	})
}

func concurrentReservations(t *testing.T, s shop.Store) {
	update(t, s, func(tx shop.Tx) error { return tx.SetStock("t1", "hot", 50) })
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, sold := 0, 0
	for range 300 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Update(ctx, func(tx shop.Tx) error { _, err := tx.AddStock("t1", "hot", -1); return err })
			mu.Lock()
			defer mu.Unlock()
			switch code(err) {
			case "":
				ok++
			case qun.CodeExhausted:
				sold++
			default:
				t.Errorf("reserve: %v", err)
			}
		}()
	}
	wg.Wait()
	if ok != 50 || sold != 250 {
		t.Fatalf("%d reserved, %d sold out", ok, sold)
	}
}

func due(t *testing.T, s shop.Store) {
	update(t, s, func(tx shop.Tx) error {
		return errors.Join(
			tx.PutOrder(&shop.Order{ID: "o1", Tenant: "t1", Status: shop.StatusReserved, ExpiresAt: 10}),
			tx.PutOrder(&shop.Order{ID: "o2", Tenant: "t2", Status: shop.StatusReserved, ExpiresAt: 20}),
			tx.PutOrder(&shop.Order{ID: "o3", Tenant: "t1", Status: shop.StatusReserved, ExpiresAt: 30}),
			tx.PutOrder(&shop.Order{ID: "o4", Tenant: "t1", Status: shop.StatusPaid, ExpiresAt: 5}),
			tx.PutRedPacket(&shop.RedPacket{ID: "rp1", Tenant: "t1", Status: shop.PacketActive, ExpiresAt: 10}),
			tx.PutRedPacket(&shop.RedPacket{ID: "rp2", Tenant: "t1", Status: shop.PacketFinished, ExpiresAt: 10}),
			tx.PutRedPacket(&shop.RedPacket{ID: "rp3", Tenant: "t2", Status: shop.PacketPending, ExpiresAt: 15}),
		)
	})
	view(t, s, func(tx shop.Tx) error {
		orders, err := tx.DueOrders(25, 10)
		if err != nil || fmt.Sprint(orders) != "[{t1 o1} {t2 o2}]" {
			t.Errorf("due orders %v %v", orders, err)
		}
		if orders, _ := tx.DueOrders(25, 1); len(orders) != 1 {
			t.Errorf("limit ignored")
		}
		packets, err := tx.DueRedPackets(20, 10)
		if err != nil || fmt.Sprint(packets) != "[{t1 rp1} {t2 rp3}]" {
			t.Errorf("due packets %v %v", packets, err)
		}
		return nil
	})
}

func coupons(t *testing.T, s shop.Store) {
	update(t, s, func(tx shop.Tx) error {
		return errors.Join(
			tx.PutCoupon(&shop.Coupon{ID: "c1", Tenant: "t1", Room: "live:1", Created: 1}),
			tx.PutCoupon(&shop.Coupon{ID: "c2", Tenant: "t1", Room: "live:1", Created: 2}),
			tx.PutCoupon(&shop.Coupon{ID: "c3", Tenant: "t1", Room: "live:2", Created: 3}),
			tx.PutClaim(&shop.Claim{ID: "a", Tenant: "t1", Coupon: "c1", User: "bob"}),
			tx.PutClaim(&shop.Claim{ID: "b", Tenant: "t1", Coupon: "c1", User: "bob"}),
			tx.PutClaim(&shop.Claim{ID: "c", Tenant: "t1", Coupon: "c1", User: "carol"}),
		)
	})
	view(t, s, func(tx shop.Tx) error {
		cs, err := tx.Coupons("t1", "live:1", 10)
		if err != nil || len(cs) != 2 || cs[0].ID != "c2" {
			t.Errorf("coupons %v %v", cs, err)
		}
		if n, err := tx.CountClaims("t1", "c1", "bob"); n != 2 || err != nil {
			t.Errorf("bob's claims %d %v", n, err)
		}
		if n, _ := tx.CountClaims("t2", "c1", "bob"); n != 0 {
			t.Errorf("claims leaked across tenants")
		}
		return nil
	})
}

func leaderboard(t *testing.T, s shop.Store) {
	update(t, s, func(tx shop.Tx) error {
		return errors.Join(
			tx.AddContribution("t1", "live:1", "bob", 100),
			tx.AddContribution("t1", "live:1", "carol", 300),
			tx.AddContribution("t1", "live:1", "bob", 250),
			tx.AddContribution("t1", "live:2", "dave", 999),
			tx.AddContribution("t2", "live:1", "erin", 999),
		)
	})
	if err := s.Update(ctx, func(tx shop.Tx) error { return tx.AddContribution("t1", "live:1", "bob", -1) }); code(err) != qun.CodeInvalid {
		t.Fatalf("negative contribution: %v", err)
	}
	view(t, s, func(tx shop.Tx) error {
		lb, err := tx.Leaderboard("t1", "live:1", 10)
		if err != nil || fmt.Sprint(lb) != "[{bob 350 2} {carol 300 1}]" {
			t.Errorf("leaderboard %v %v", lb, err)
		}
		return nil
	})
}

func redPacketClaims(t *testing.T, s shop.Store) {
	for _, u := range []qun.UserID{"bob", "carol"} {
		update(t, s, func(tx shop.Tx) error {
			return tx.PutRedPacketClaim(&shop.RedPacketClaim{Packet: "rp1", Tenant: "t1", User: u, Amount: cny(3)})
		})
	}
	err := s.Update(ctx, func(tx shop.Tx) error {
		return tx.PutRedPacketClaim(&shop.RedPacketClaim{Packet: "rp1", Tenant: "t1", User: "bob", Amount: cny(1)})
	})
	if code(err) != qun.CodeConflict {
		t.Fatalf("second claim: %v", err)
	}
	view(t, s, func(tx shop.Tx) error {
		cs, err := tx.RedPacketClaims("t1", "rp1", 10)
		if err != nil || len(cs) != 2 || cs[0].User != "bob" || cs[1].User != "carol" || cs[0].Amount.Amount != 3 {
			t.Errorf("claims %v %v", cs, err)
		}
		if _, err := tx.RedPacketClaim("t2", "rp1", "bob"); code(err) != qun.CodeNotFound {
			t.Errorf("claim leaked across tenants: %v", err)
		}
		return nil
	})
}

func openRedPackets(t *testing.T, s shop.Store) {
	put := func(id shop.RedPacketID, tenant qun.TenantID, room qun.RoomID, st shop.RedPacketStatus, expires int64) error {
		return s.Update(ctx, func(tx shop.Tx) error {
			return tx.PutRedPacket(&shop.RedPacket{ID: id, Tenant: tenant, Room: room, Status: st, ExpiresAt: expires, Total: cny(9), Count: 3})
		})
	}
	err := errors.Join(
		put("old", "t1", "live:1", shop.PacketActive, 50),
		put("new", "t1", "live:1", shop.PacketActive, 90),
		put("gone", "t1", "live:1", shop.PacketActive, 20), // past its time, not swept yet
		put("unpaid", "t1", "live:1", shop.PacketPending, 80),
		put("done", "t1", "live:1", shop.PacketFinished, 80),
		put("lapsed", "t1", "live:1", shop.PacketExpired, 80),
		put("other-room", "t1", "live:2", shop.PacketActive, 80),
		put("other-tenant", "t2", "live:1", shop.PacketActive, 80),
		put("moved", "t1", "live:1", shop.PacketPending, 70),
		put("moved", "t1", "live:1", shop.PacketActive, 70), // paid: PutRedPacket replaces
		put("gone", "t1", "live:1", shop.PacketActive, 20),
	)
	if err != nil {
		t.Fatal(err)
	}
	view(t, s, func(tx shop.Tx) error {
		ps, err := tx.OpenRedPackets("t1", "live:1", 30, 10)
		var ids []shop.RedPacketID
		for _, p := range ps {
			ids = append(ids, p.ID)
		}
		if err != nil || fmt.Sprint(ids) != "[new moved old]" || ps[0].Total != cny(9) {
			t.Errorf("open packets %v %v", ids, err)
		}
		if ps, _ := tx.OpenRedPackets("t1", "live:1", 30, 1); len(ps) != 1 {
			t.Errorf("limit ignored: %d", len(ps))
		}
		if ps, _ := tx.OpenRedPackets("t3", "live:1", 30, 10); len(ps) != 0 {
			t.Errorf("packets leaked across tenants: %v", ps)
		}
		return nil
	})
	if err := put("new", "t1", "live:1", shop.PacketFinished, 90); err != nil {
		t.Fatal(err)
	}
	view(t, s, func(tx shop.Tx) error {
		if ps, _ := tx.OpenRedPackets("t1", "live:1", 30, 10); len(ps) != 2 {
			t.Errorf("a finished packet is still open: %d", len(ps))
		}
		return nil
	})
}

func countBought(t *testing.T, s shop.Store) {
	order := func(id shop.OrderID, tenant qun.TenantID, buyer qun.UserID, product shop.ProductID, qty int64, st shop.OrderStatus) *shop.Order {
		return &shop.Order{ID: id, Tenant: tenant, Room: "live:1", Buyer: buyer, Product: product, Qty: qty, Status: st, Total: cny(qty)}
	}
	update(t, s, func(tx shop.Tx) error {
		return errors.Join(
			tx.PutOrder(order("o1", "t1", "bob", "p1", 2, shop.StatusReserved)),
			tx.PutOrder(order("o2", "t1", "bob", "p1", 3, shop.StatusPaid)),
			tx.PutOrder(order("o3", "t1", "bob", "p1", 4, shop.StatusShipped)),
			tx.PutOrder(order("o4", "t1", "bob", "p1", 50, shop.StatusCancelled)),
			tx.PutOrder(order("o5", "t1", "bob", "p1", 60, shop.StatusExpired)),
			tx.PutOrder(order("o6", "t1", "bob", "p2", 70, shop.StatusPaid)),
			tx.PutOrder(order("o7", "t1", "carol", "p1", 80, shop.StatusPaid)),
			tx.PutOrder(order("o8", "t2", "bob", "p1", 90, shop.StatusPaid)),
		)
	})
	count := func(want int64) {
		t.Helper()
		view(t, s, func(tx shop.Tx) error {
			if n, err := tx.CountBought("t1", "p1", "bob"); n != want || err != nil {
				t.Errorf("bob bought %d of p1 (%v), want %d", n, err, want)
			}
			return nil
		})
	}
	count(9)
	update(t, s, func(tx shop.Tx) error { // cancelling frees the quantity again
		return tx.PutOrder(order("o1", "t1", "bob", "p1", 2, shop.StatusCancelled))
	})
	count(7)
	view(t, s, func(tx shop.Tx) error {
		if n, err := tx.CountBought("t3", "p1", "bob"); n != 0 || err != nil {
			t.Errorf("other tenant: %d %v", n, err)
		}
		return nil
	})
}

func attribution(t *testing.T, s shop.Store) {
	update(t, s, func(tx shop.Tx) error {
		return errors.Join(
			tx.PutAttribution(&shop.Attribution{Tenant: "t1", Room: "live:1", Viewer: "bob", Sharer: "ann", Chain: []qun.UserID{"ann"}}),
			tx.PutAttribution(&shop.Attribution{Tenant: "t1", Room: "live:1", Viewer: "carol", Sharer: "ann", Chain: []qun.UserID{"ann"}}),
			tx.PutOrder(&shop.Order{ID: "o1", Tenant: "t1", Room: "live:1", Sharer: "ann", Status: shop.StatusPaid, Total: cny(100)}),
			tx.PutOrder(&shop.Order{ID: "o2", Tenant: "t1", Room: "live:1", Sharer: "ann", Status: shop.StatusShipped, Total: cny(50)}),
			tx.PutOrder(&shop.Order{ID: "o3", Tenant: "t1", Room: "live:1", Sharer: "ann", Status: shop.StatusReserved, Total: cny(70)}),
		)
	})
	err := s.Update(ctx, func(tx shop.Tx) error {
		return tx.PutAttribution(&shop.Attribution{Tenant: "t1", Room: "live:1", Viewer: "bob", Sharer: "zed"})
	})
	if code(err) != qun.CodeConflict {
		t.Fatalf("second attribution: %v", err)
	}
	view(t, s, func(tx shop.Tx) error {
		a, err := tx.Attribution("t1", "live:1", "bob")
		if err != nil || a.Sharer != "ann" {
			t.Errorf("attribution %+v %v", a, err)
		}
		st, err := tx.ShareStats("t1", "live:1", "ann")
		if err != nil || st.Viewers != 2 || st.Orders != 2 || st.Amount != 150 {
			t.Errorf("stats %+v %v", st, err)
		}
		if st, _ := tx.ShareStats("t2", "live:1", "ann"); st.Viewers != 0 || st.Orders != 0 {
			t.Errorf("stats leaked across tenants")
		}
		return nil
	})
}

func idem(t *testing.T, s shop.Store) {
	r := &shop.IdemRecord{Tenant: "t1", User: "bob", Scope: "buy", Key: "k", Hash: []byte{1, 2}, Ref: "o1", TS: 100}
	update(t, s, func(tx shop.Tx) error { return tx.PutIdem(r) })
	view(t, s, func(tx shop.Tx) error {
		got, err := tx.Idem("t1", "bob", "buy", "k")
		if err != nil || got == nil || got.Ref != "o1" || string(got.Hash) != "\x01\x02" {
			t.Errorf("idem %+v %v", got, err)
		}
		for _, k := range [][4]string{{"t2", "bob", "buy", "k"}, {"t1", "carol", "buy", "k"}, {"t1", "bob", "tip", "k"}} {
			if got, err := tx.Idem(qun.TenantID(k[0]), qun.UserID(k[1]), k[2], k[3]); got != nil || err != nil {
				t.Errorf("%v: %+v %v", k, got, err)
			}
		}
		return nil
	})
	if err := s.Update(ctx, func(tx shop.Tx) error { return tx.PutIdem(r) }); err == nil {
		t.Fatal("a second record for the same key was accepted")
	}
	update(t, s, func(tx shop.Tx) error {
		return errors.Join(tx.PutIdem(&shop.IdemRecord{Tenant: "t1", User: "bob", Scope: "buy", Key: "k2", Hash: []byte{1}, Ref: "o2", TS: 300}),
			tx.DeleteIdem("t1", "bob", "buy", "k"))
	})
	update(t, s, func(tx shop.Tx) error {
		n, err := tx.PruneIdem(400)
		if n != 1 {
			t.Errorf("pruned %d", n)
		}
		return err
	})
	view(t, s, func(tx shop.Tx) error {
		if got, _ := tx.Idem("t1", "bob", "buy", "k2"); got != nil {
			t.Error("not pruned")
		}
		return nil
	})
}

func outbox(t *testing.T, s shop.Store) {
	var seqs []int64
	for i := range 5 {
		update(t, s, func(tx shop.Tx) error {
			m := &shop.Message{ID: fmt.Sprint("msg_", i), Tenant: "t1", Type: "x", TS: int64(i), Body: []byte(fmt.Sprint(i))}
			err := tx.Enqueue(m)
			seqs = append(seqs, m.Seq)
			return err
		})
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] {
			t.Fatalf("seqs not increasing: %v", seqs)
		}
	}
	view(t, s, func(tx shop.Tx) error {
		ms, err := tx.Messages(seqs[1], 2)
		if err != nil || len(ms) != 2 || ms[0].ID != "msg_2" || string(ms[1].Body) != "3" || ms[0].Seq != seqs[2] {
			t.Errorf("messages %v %v", ms, err)
		}
		if c, err := tx.Cursor("c"); c != 0 || err != nil {
			t.Errorf("new cursor %d %v", c, err)
		}
		return nil
	})
	update(t, s, func(tx shop.Tx) error { return tx.SetCursor("c", 7) })
	update(t, s, func(tx shop.Tx) error { return tx.SetCursor("c", 9) })
	view(t, s, func(tx shop.Tx) error {
		if c, _ := tx.Cursor("c"); c != 9 {
			t.Errorf("cursor %d", c)
		}
		return nil
	})
}

func deliveries(t *testing.T, s shop.Store) {
	var m1, m2 shop.Message
	m1 = shop.Message{ID: "msg_1", Tenant: "t1", Type: "a", TS: 1, Body: []byte("{}")}
	m2 = shop.Message{ID: "msg_2", Tenant: "t1", Type: "b", TS: 2, Body: []byte("{}")}
	update(t, s, func(tx shop.Tx) error {
		return errors.Join(tx.Enqueue(&m1), tx.Enqueue(&m2),
			tx.PutEndpoint(&shop.Endpoint{ID: "on", URL: "https://on", Secrets: []string{"whsec_x"}}),
			tx.PutEndpoint(&shop.Endpoint{ID: "off", URL: "https://off", Disabled: true}))
	})
	update(t, s, func(tx shop.Tx) error {
		return errors.Join(
			tx.PutDelivery(&shop.Delivery{Msg: m1.Seq, Endpoint: "on", NextAt: 50}),
			tx.PutDelivery(&shop.Delivery{Msg: m2.Seq, Endpoint: "on", NextAt: 10}),
			tx.PutDelivery(&shop.Delivery{Msg: m1.Seq, Endpoint: "off", NextAt: 0}),
		)
	})
	view(t, s, func(tx shop.Tx) error {
		ds, err := tx.DueDeliveries(40, 10)
		if err != nil || len(ds) != 1 || ds[0].Msg != m2.Seq || ds[0].URL != "https://on" || ds[0].Message.ID != "msg_2" || len(ds[0].Secrets) != 1 {
			t.Errorf("due %+v %v", ds, err)
		}
		if at, ok, err := tx.NextDelivery(); at != 10 || !ok || err != nil {
			t.Errorf("next %d %v %v", at, ok, err)
		}
		return nil
	})
	update(t, s, func(tx shop.Tx) error {
		return tx.PutDelivery(&shop.Delivery{Msg: m2.Seq, Endpoint: "on", State: shop.DeliveryDone, Attempts: 1, Updated: 100})
	})
	view(t, s, func(tx shop.Tx) error {
		if ds, _ := tx.DueDeliveries(1000, 10); len(ds) != 1 || ds[0].Msg != m1.Seq {
			t.Errorf("due after done: %+v", ds)
		}
		if ds, _ := tx.Deliveries("on", shop.DeliveryDone, 10); len(ds) != 1 || ds[0].Attempts != 1 {
			t.Errorf("done list %+v", ds)
		}
		d, err := tx.Delivery(m2.Seq, "on")
		if err != nil || d.State != shop.DeliveryDone {
			t.Errorf("delivery %+v %v", d, err)
		}
		return nil
	})
	update(t, s, func(tx shop.Tx) error {
		n, err := tx.PruneOutbox(200, m2.Seq)
		if n != 2 { // the done delivery and its message
			t.Errorf("pruned %d", n)
		}
		return err
	})
	view(t, s, func(tx shop.Tx) error {
		if ms, _ := tx.Messages(0, 10); len(ms) != 1 || ms[0].ID != "msg_1" {
			t.Errorf("messages after prune %+v", ms)
		}
		return nil
	})
	update(t, s, func(tx shop.Tx) error { return tx.DeleteEndpoint("on") })
	view(t, s, func(tx shop.Tx) error {
		if _, err := tx.Delivery(m1.Seq, "on"); code(err) != qun.CodeNotFound {
			t.Errorf("deleting an endpoint kept its deliveries: %v", err)
		}
		if eps, _ := tx.Endpoints("", true); len(eps) != 1 {
			t.Errorf("endpoints %v", eps)
		}
		return nil
	})
	if err := s.Update(ctx, func(tx shop.Tx) error { return tx.DeleteEndpoint("on") }); code(err) != qun.CodeNotFound {
		t.Fatalf("delete again: %v", err)
	}
}

// claims: a claimed delivery is not due again until its claim runs out,
// and concurrent claimers (deliverers of several nodes) never get the same
// delivery.
func claims(t *testing.T, s shop.Store) {
	const n = 60
	update(t, s, func(tx shop.Tx) error {
		if err := tx.PutEndpoint(&shop.Endpoint{ID: "ep", URL: "https://ep", Secrets: []string{"whsec_x"}}); err != nil {
			return err
		}
		for i := range n {
			m := &shop.Message{ID: fmt.Sprint("msg_", i), Tenant: "t1", Type: "a", TS: 1, Body: []byte("{}")}
			if err := tx.Enqueue(m); err != nil {
				return err
			}
			if err := tx.PutDelivery(&shop.Delivery{Msg: m.Seq, Endpoint: "ep", NextAt: int64(i)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err := s.View(ctx, func(tx shop.Tx) error { _, err := tx.ClaimDeliveries(100, 200, 1); return err }); err == nil {
		t.Errorf("ClaimDeliveries in a View succeeded")
	}
	var first []*shop.DueDelivery
	update(t, s, func(tx shop.Tx) (err error) { first, err = tx.ClaimDeliveries(100, 1000, 5); return err })
	if len(first) != 5 || first[0].NextAt != 1000 || first[0].URL != "https://ep" || first[0].Message.ID != "msg_0" || first[4].Message.ID != "msg_4" {
		t.Fatalf("first claim %+v", first)
	}
	view(t, s, func(tx shop.Tx) error {
		if d, err := tx.Delivery(first[0].Msg, "ep"); err != nil || d.NextAt != 1000 {
			t.Errorf("claimed delivery in the store: %+v %v", d, err)
		}
		if ds, _ := tx.DueDeliveries(100, n); len(ds) != n-5 {
			t.Errorf("%d due after claiming 5 of %d", len(ds), n)
		}
		return nil
	})
	// Claimers in parallel share the rest, each delivery once.
	var mu sync.Mutex
	got := map[int64]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				var ds []*shop.DueDelivery
				if err := s.Update(ctx, func(tx shop.Tx) (err error) { ds, err = tx.ClaimDeliveries(100, 1000, 3); return err }); err != nil {
					t.Error(err)
					return
				}
				if len(ds) == 0 {
					return
				}
				mu.Lock()
				for _, d := range ds {
					got[d.Msg]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(got) != n-5 {
		t.Errorf("parallel claimers got %d deliveries, want %d", len(got), n-5)
	}
	for msg, k := range got {
		if k != 1 {
			t.Errorf("delivery of message %d claimed %d times", msg, k)
		}
	}
	// Once the claim runs out, the delivery is due again.
	view(t, s, func(tx shop.Tx) error {
		if ds, _ := tx.DueDeliveries(1000, n); len(ds) != n {
			t.Errorf("%d due after the claims ran out, want %d", len(ds), n)
		}
		return nil
	})
}

func atomicity(t *testing.T, s shop.Store) {
	boom := errors.New("boom")
	err := s.Update(ctx, func(tx shop.Tx) error {
		_ = tx.PutShop(&shop.Shop{ID: "s1", Tenant: "t1"})
		_ = tx.Enqueue(&shop.Message{ID: "m", Tenant: "t1", Type: "x", Body: []byte("{}")})
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("update: %v", err)
	}
	err = s.Update(ctx, func(tx shop.Tx) error {
		_ = tx.PutShop(&shop.Shop{ID: "s2", Tenant: "t1"})
		panic("bug")
	})
	if err == nil {
		t.Fatal("a panicking update succeeded")
	}
	view(t, s, func(tx shop.Tx) error {
		if _, err := tx.Shop("t1", "s1"); code(err) != qun.CodeNotFound {
			t.Error("failed update kept its shop")
		}
		if _, err := tx.Shop("t1", "s2"); code(err) != qun.CodeNotFound {
			t.Error("panicking update kept its shop")
		}
		if ms, _ := tx.Messages(0, 10); len(ms) != 0 {
			t.Error("failed update kept its message")
		}
		return nil
	})
}

func isolation(t *testing.T, s shop.Store) {
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Update(ctx, func(tx shop.Tx) error {
				if err := tx.PutShop(&shop.Shop{ID: shop.ShopID(fmt.Sprint("s", i)), Tenant: "t1"}); err != nil {
					return err
				}
				if i%2 == 1 {
					return errors.New("odd")
				}
				return nil
			})
			if (err != nil) != (i%2 == 1) {
				t.Errorf("update %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	view(t, s, func(tx shop.Tx) error {
		for i := range 200 {
			_, err := tx.Shop("t1", shop.ShopID(fmt.Sprint("s", i)))
			if (err == nil) != (i%2 == 0) {
				t.Errorf("shop %d: %v", i, err)
			}
		}
		return nil
	})
}

func readOnly(t *testing.T, s shop.Store) {
	update(t, s, func(tx shop.Tx) error {
		return errors.Join(tx.SetStock("t1", "p1", 5), tx.PutOrder(&shop.Order{ID: "o1", Tenant: "t1", Status: shop.StatusReserved}))
	})
	writes := map[string]func(tx shop.Tx) error{
		"PutShop":       func(tx shop.Tx) error { return tx.PutShop(&shop.Shop{ID: "s1", Tenant: "t1"}) },
		"AddStock":      func(tx shop.Tx) error { _, err := tx.AddStock("t1", "p1", -1); return err },
		"AttachPayment": func(tx shop.Tx) error { _, err := tx.AttachPayment("t1", "o1", "r", "u", 1); return err },
		"Enqueue": func(tx shop.Tx) error {
			return tx.Enqueue(&shop.Message{ID: "m", Tenant: "t1", Type: "x", Body: []byte("{}")})
		},
	}
	for name, w := range writes {
		if err := s.View(ctx, w); err == nil {
			t.Errorf("%s through View succeeded", name)
		}
	}
	view(t, s, func(tx shop.Tx) error {
		if n, _, _ := tx.Stock("t1", "p1"); n != 5 {
			t.Errorf("stock %d after writes through View", n)
		}
		if o, _ := tx.Order("t1", "o1"); o.PaymentRef != "" {
			t.Error("View attached a payment")
		}
		if ms, _ := tx.Messages(0, 10); len(ms) != 0 {
			t.Error("View enqueued a message")
		}
		return nil
	})
}

func closed(t *testing.T, s shop.Store) {
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if err := s.Update(ctx, func(shop.Tx) error { return nil }); err == nil {
		t.Fatal("update after close succeeded")
	}
}

// CheckBackfilled checks a store opened on a database that an older schema
// wrote, holding red packet "rp1" (tenant t1, room live:1, active, expiring
// at 100) and order "o1" (tenant t1, paid, bob bought 3 of p1) as that
// schema stored them: the queries added since must find them.
func CheckBackfilled(t *testing.T, s shop.Store) {
	t.Helper()
	view(t, s, func(tx shop.Tx) error {
		if ps, err := tx.OpenRedPackets("t1", "live:1", 50, 10); err != nil || len(ps) != 1 || ps[0].ID != "rp1" {
			t.Errorf("open packets after upgrade: %v %v", ps, err)
		}
		if n, err := tx.CountBought("t1", "p1", "bob"); n != 3 || err != nil {
			t.Errorf("bought after upgrade: %d %v", n, err)
		}
		return nil
	})
}
