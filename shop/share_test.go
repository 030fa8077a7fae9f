package shop_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/shop"
)

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
