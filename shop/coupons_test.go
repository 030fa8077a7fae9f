package shop_test

import (
	"context"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/shop"
)

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
