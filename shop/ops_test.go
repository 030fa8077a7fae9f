package shop_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/qclient"
	"github.com/qunkit/qun/internal/qtest"
	"github.com/qunkit/qun/shop"
)

func decode[T any](t *testing.T, raw json.RawMessage) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return v
}

// The whole live-selling flow over real WebSockets: what the host does,
// what viewers see, and what they may not do.
func TestOpsOverWebSocket(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	room := qun.RoomID("live:1")
	e.rooms.add("t1", room, "host")
	host := e.Connect(t, "t1", "host")
	bob := e.Connect(t, "t1", "bob")
	admin := e.Connect(t, "t1", "ops", qun.GrantAdmin)
	stranger := e.Connect(t, "t2", "bob")

	var sh shop.Shop
	qtest.Call(t, host, "shop.create", map[string]any{"kind": "individual", "name": "Ann's", "key": "s1"}, &sh)
	qtest.CallErr(t, host, "shop.create", map[string]any{"kind": "individual", "name": "Ann's", "key": "s1", "extra": 1}, qun.CodeInvalid)
	qtest.CallErr(t, host, "shop.shelf.open", map[string]any{"room": room, "shop": sh.ID}, qun.CodeForbidden) // not verified
	qtest.CallErr(t, host, "shop.verify", map[string]any{"shop": sh.ID, "verified": true}, qun.CodeForbidden)
	qtest.Call(t, admin, "shop.verify", map[string]any{"shop": sh.ID, "verified": true}, nil)
	qtest.CallErr(t, host, "shop.shelf.open", map[string]any{"room": room, "shop": sh.ID}, qun.CodeConflict) // no products
	for i, p := range []shop.ProductID{"p1", "p2", "p3"} {
		if err := e.cat.PutProduct(ctx, &shop.Product{ID: p, Tenant: "t1", Shop: sh.ID, Title: string(p), Price: cny(int64(100 * (i + 1))), Stock: 5}); err != nil {
			t.Fatal(err)
		}
	}
	qtest.CallErr(t, bob, "shop.shelf.open", map[string]any{"room": room, "shop": sh.ID}, qun.CodeForbidden) // a viewer
	qtest.Call(t, bob, "sub", map[string]any{"room": room}, nil)
	qtest.Call(t, host, "shop.shelf.open", map[string]any{"room": room, "shop": sh.ID}, nil)
	qtest.NextEvent(t, bob, "shop.shelf.opened")
	for _, p := range []string{"p1", "p2", "p3"} {
		qtest.Call(t, host, "shop.shelf.add", map[string]any{"room": room, "product": p}, nil)
		f := qtest.NextEvent(t, bob, "shop.item.added")
		if ev := decode[struct{ Item shop.ShelfItem }](t, f.D); string(ev.Item.Product) != p || ev.Item.Stock != 5 {
			t.Fatalf("item event %s", f.D)
		}
	}
	qtest.CallErr(t, host, "shop.shelf.add", map[string]any{"room": room, "product": "p1"}, qun.CodeConflict)
	qtest.CallErr(t, host, "shop.shelf.add", map[string]any{"room": room, "product": "nope"}, qun.CodeNotFound)
	qtest.CallErr(t, bob, "shop.shelf.add", map[string]any{"room": room, "product": "p1"}, qun.CodeForbidden)
	qtest.Call(t, host, "shop.shelf.reorder", map[string]any{"room": room, "products": []string{"p3", "p1", "p2"}}, nil)
	qtest.NextEvent(t, bob, "shop.shelf.reordered")
	qtest.CallErr(t, host, "shop.shelf.reorder", map[string]any{"room": room, "products": []string{"p3", "p1", "p1"}}, qun.CodeInvalid)
	qtest.Call(t, host, "shop.shelf.remove", map[string]any{"room": room, "product": "p3"}, nil)
	qtest.NextEvent(t, bob, "shop.item.removed")

	// Now explaining: one at a time; a second start replaces the first.
	qtest.Call(t, host, "shop.explain.start", map[string]any{"room": room, "product": "p1"}, nil)
	qtest.CallErr(t, bob, "shop.explain.start", map[string]any{"room": room, "product": "p2"}, qun.CodeForbidden)
	moderator := e.Connect(t, "t1", "mod1")
	qtest.Call(t, moderator, "shop.explain.start", map[string]any{"room": room, "product": "p2"}, nil)
	qtest.Call(t, host, "shop.explain.stop", map[string]any{"room": room}, nil)
	want := []struct{ typ, product, reason string }{
		{"shop.explain.start", "p1", ""}, {"shop.explain.stop", "p1", "replaced"},
		{"shop.explain.start", "p2", ""}, {"shop.explain.stop", "p2", "stopped"},
	}
	for _, w := range want {
		f := qtest.Next(t, bob, func(f qclient.Frame) bool { return f.T == "ev" && len(f.Type) > 12 && f.Type[:12] == "shop.explain" })
		ev := decode[struct{ Product, Reason string }](t, f.D)
		if f.Type != w.typ || ev.Product != w.product || ev.Reason != w.reason {
			t.Fatalf("got %s %s; want %+v", f.Type, f.D, w)
		}
	}
	// They are on the room's timeline for replays.
	evs, err := e.Hub.Log().Read(ctx, qun.RoomRef{Tenant: "t1", Room: room}, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		if ev.Type == "shop.explain.start" || ev.Type == "shop.explain.stop" {
			n++
		}
	}
	if n != 4 {
		t.Fatalf("%d explain events in the log", n)
	}

	// Viewers read the shelf, buy, and see stock move.
	var shelf shop.Shelf
	qtest.Call(t, bob, "shop.shelf", map[string]any{"room": room}, &shelf)
	if len(shelf.Items) != 2 || shelf.Items[0].Product != "p1" || shelf.Items[0].Stock != 5 || shelf.Explaining != "" {
		t.Fatalf("shelf %+v", shelf)
	}
	var o shop.Order
	qtest.Call(t, bob, "shop.buy", map[string]any{"room": room, "product": "p1", "qty": 2, "key": "b1"}, &o)
	if o.Status != shop.StatusReserved || o.PayURL == "" || o.Total != cny(200) {
		t.Fatalf("order %+v", o)
	}
	f := qtest.NextEvent(t, bob, "shop.stock")
	if st := decode[struct {
		Product string
		Stock   int64
	}](t, f.D); st.Product != "p1" || st.Stock != 3 || f.Seq != 0 {
		t.Fatalf("stock event %+v %s", f, f.D)
	}
	qtest.CallErr(t, bob, "shop.buy", map[string]any{"room": room, "product": "p1", "qty": 1e30, "key": "b2"}, qun.CodeInvalid)
	qtest.CallErr(t, bob, "shop.buy", map[string]any{"room": room, "product": "p1", "qty": 1, "key": "b1"}, qun.CodeConflict)
	qtest.Call(t, bob, "sub", map[string]any{"room": qun.UserRoom("bob")}, nil)
	if err := e.svc.UpdatePayment(ctx, shop.PaymentUpdate{Tenant: "t1", ID: string(o.ID), Status: "paid"}); err != nil {
		t.Fatal(err)
	}
	f = qtest.NextEvent(t, bob, "shop.order")
	if got := decode[shop.Order](t, f.D); got.ID != o.ID || got.Status != shop.StatusPaid {
		t.Fatalf("inbox %s", f.D)
	}
	var ship struct{ Results []shop.ShipResult }
	qtest.Call(t, host, "shop.orders.ship", map[string]any{"rows": []map[string]any{{"order": o.ID, "carrier": "SF", "tracking": "SF1"}}}, &ship)
	if len(ship.Results) != 1 || !ship.Results[0].OK {
		t.Fatalf("ship %+v", ship)
	}
	qtest.Call(t, bob, "shop.order", map[string]any{"order": o.ID}, &o)
	if o.Status != shop.StatusShipped {
		t.Fatalf("order %+v", o)
	}

	// Coupons, tips and red packets reach the room.
	var c shop.Coupon
	qtest.Call(t, host, "shop.coupon.issue", map[string]any{"room": room, "title": "1 off", "discount": cny(100), "total": 10, "per_user": 1,
		"ends_at": e.clock.Now().Add(time.Hour).UnixMilli(), "key": "c"}, &c)
	qtest.NextEvent(t, bob, "shop.coupon.issued")
	qtest.Call(t, bob, "shop.coupon.claim", map[string]any{"coupon": c.ID, "key": "c"}, nil)
	qtest.CallErr(t, bob, "shop.coupon.claim", map[string]any{"coupon": c.ID, "key": "c2"}, qun.CodeExhausted)
	var cs struct{ Coupons []shop.Coupon }
	qtest.Call(t, bob, "shop.coupons", map[string]any{"room": room}, &cs)
	if len(cs.Coupons) != 1 || cs.Coupons[0].Claimed != 1 {
		t.Fatalf("coupons %+v", cs)
	}
	e.pay.paid.Store(true)
	qtest.Call(t, bob, "shop.tip", map[string]any{"room": room, "amount": cny(666), "message": "666", "key": "t"}, nil)
	if f := qtest.NextEvent(t, bob, "shop.tip"); f.Actor != "bob" {
		t.Fatalf("tip event %+v", f)
	}
	qtest.CallErr(t, bob, "shop.tip", map[string]any{"room": room, "amount": cny(-1), "key": "t2"}, qun.CodeInvalid)
	var p shop.RedPacket
	qtest.Call(t, host, "shop.redpacket.send", map[string]any{"room": room, "total": cny(300), "count": 3, "key": "r"}, &p)
	qtest.NextEvent(t, bob, "shop.redpacket")
	var cl shop.RedPacketClaim
	qtest.Call(t, bob, "shop.redpacket.claim", map[string]any{"packet": p.ID, "key": "r"}, &cl)
	qtest.NextEvent(t, bob, "shop.redpacket.claimed")
	qtest.CallErr(t, bob, "shop.redpacket.claim", map[string]any{"packet": p.ID, "key": "r2"}, qun.CodeConflict)
	var got struct {
		Packet shop.RedPacket
		Claims []shop.RedPacketClaim
	}
	qtest.Call(t, bob, "shop.redpacket", map[string]any{"packet": p.ID}, &got)
	if len(got.Claims) != 1 || got.Claims[0].Amount != cl.Amount {
		t.Fatalf("packet %+v", got)
	}
	var lb shop.Leaderboard
	qtest.Call(t, bob, "shop.leaderboard", map[string]any{"room": room, "limit": 10}, &lb)
	if len(lb.Lines) != 2 || lb.Lines[0].User != "bob" || lb.Lines[0].Amount != 666 || lb.Lines[1].Amount != 300 {
		t.Fatalf("leaderboard %+v", lb)
	}

	// Share links over the protocol.
	var link shop.ShareLink
	qtest.Call(t, bob, "shop.share.link", map[string]any{"room": room}, &link)
	carol := e.Connect(t, "t1", "carol")
	var a shop.Attribution
	qtest.Call(t, carol, "shop.share.visit", map[string]any{"room": room, "token": link.Token}, &a)
	var st shop.ShareStats
	qtest.Call(t, bob, "shop.share.stats", map[string]any{"room": room}, &st)
	if a.Sharer != "bob" || st.Viewers != 1 {
		t.Fatalf("attribution %+v stats %+v", a, st)
	}

	// Another tenant sees none of it.
	qtest.CallErr(t, stranger, "shop.shelf", map[string]any{"room": room}, qun.CodeNotFound)
	qtest.CallErr(t, stranger, "shop.order", map[string]any{"order": o.ID}, qun.CodeNotFound)
	qtest.CallErr(t, stranger, "shop.get", map[string]any{"shop": sh.ID}, qun.CodeNotFound)
	qtest.CallErr(t, stranger, "shop.coupon.claim", map[string]any{"coupon": c.ID, "key": "x"}, qun.CodeNotFound)
	qtest.CallErr(t, stranger, "shop.redpacket.claim", map[string]any{"packet": p.ID, "key": "x"}, qun.CodeNotFound)
	qtest.Call(t, stranger, "shop.orders.ship", map[string]any{"rows": []map[string]any{{"order": o.ID, "carrier": "SF", "tracking": "X"}}}, &ship)
	if r := ship.Results[0]; r.OK || r.Error == nil || r.Error.Code != qun.CodeNotFound {
		t.Fatalf("another tenant shipped: %+v", r)
	}
	e.rooms.add("t2", room, "host")
	qtest.CallErr(t, stranger, "shop.shelf", map[string]any{"room": room}, qun.CodeNotFound)
	qtest.CallErr(t, stranger, "shop.buy", map[string]any{"room": room, "product": "p1", "qty": 1, "key": "x"}, qun.CodeNotFound)
	// Another user of the same tenant does not see bob's order either.
	qtest.CallErr(t, carol, "shop.order", map[string]any{"order": o.ID}, qun.CodeNotFound)
	var pub shop.Shop
	qtest.Call(t, carol, "shop.get", map[string]any{"shop": sh.ID}, &pub)
	if pub.Name != "Ann's" {
		t.Fatalf("shop %+v", pub)
	}
}
