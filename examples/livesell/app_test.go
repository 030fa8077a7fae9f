package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/chat"
	"github.com/qunkit/qun/live"
	"github.com/qunkit/qun/shop"
)

// The demo shop is seeded once: a restart finds the same shop and products.
func TestSeedIsIdempotent(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	var first shop.ShopID
	for i := range 2 {
		a, err := newApp(config{DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = a.shopID
		} else if a.shopID != first {
			t.Fatalf("second start made shop %s, first was %s", a.shopID, first)
		}
		sh, err := a.shop.Shop(ctx, tenant, a.shopID)
		if err != nil || !sh.Verified {
			t.Fatalf("shop %+v %v", sh, err)
		}
		ps, err := a.shop.Catalog().Products(ctx, tenant, a.shopID, 100)
		if err != nil || len(ps) != len(products) {
			t.Fatalf("products %d %v", len(ps), err)
		}
		if err := a.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func identity(u qun.UserID) *qun.Identity {
	for _, d := range users {
		if d.ID == u {
			return &qun.Identity{Tenant: tenant, User: d.ID, Name: d.Name, Grants: d.Grants}
		}
	}
	return nil
}

// The pretend cashier: an order's payment page is the buyer's alone; paying
// it marks the order paid through the shop; a paid red packet is listed
// for latecomers.
func TestCashier(t *testing.T) {
	a, base := startApp(t)
	ctx := context.Background()
	host, fan := identity("host"), identity("fan1")
	g, err := a.Chat.CreateGroup(ctx, host, chat.CreateGroup{Name: "fans"})
	if err != nil {
		t.Fatal(err)
	}
	info, err := a.Live.Start(ctx, host, live.StartInput{Group: g.ID, Title: "sale", Mode: live.ModeOpen})
	if err != nil {
		t.Fatal(err)
	}
	room := qun.RoomID(info.Room)
	if _, err := a.shop.OpenShelf(ctx, host, shop.OpenShelfInput{Room: room, Shop: a.shopID}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.shop.AddToShelf(ctx, host, shop.ShelfProductInput{Room: room, Product: "cup"}); err != nil {
		t.Fatal(err)
	}
	o, err := a.shop.Buy(ctx, fan, shop.BuyInput{Room: room, Product: "cup", Qty: 2, Key: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	if o.PayURL != "/pay.html?id="+string(o.ID) {
		t.Fatalf("pay url %q", o.PayURL)
	}

	do := func(method, path string, who *qun.Identity, body any) (int, map[string]any) {
		t.Helper()
		var rd bytes.Buffer
		if body != nil {
			json.NewEncoder(&rd).Encode(body)
		}
		req, _ := http.NewRequest(method, base+path, &rd)
		if who != nil {
			tok, _ := a.Tokens.Issue(*who, time.Hour)
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, out
	}
	pay := "/api/pay/" + string(o.ID)
	if code, _ := do("GET", pay, nil, nil); code != 401 {
		t.Fatalf("no token: %d", code)
	}
	if code, _ := do("GET", pay, identity("fan2"), nil); code != 404 {
		t.Fatalf("someone else's payment: %d", code)
	}
	code, p := do("GET", pay, fan, nil)
	if code != 200 || p["kind"] != "order" || p["title"] != products[2].Title || p["amount"].(map[string]any)["amount"].(float64) != 11800 {
		t.Fatalf("payment %d %v", code, p)
	}
	if code, _ := do("POST", pay, fan, map[string]string{"status": "refunded"}); code != 400 {
		t.Fatalf("bad status: %d", code)
	}
	if code, _ := do("POST", pay, fan, map[string]string{"status": "paid"}); code != 200 {
		t.Fatalf("pay: %d", code)
	}
	if o, err = a.shop.Order(ctx, fan, o.ID); err != nil || o.Status != shop.StatusPaid {
		t.Fatalf("order after paying: %+v %v", o, err)
	}
	if code, _ := do("POST", pay, fan, map[string]string{"status": "paid"}); code != 404 {
		t.Fatalf("paying twice: %d", code)
	}

	rp, err := a.shop.SendRedPacket(ctx, fan, shop.SendRedPacketInput{Room: room, Total: shop.Money{Amount: 500, Currency: shop.CNY}, Count: 3, Key: "rp1"})
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := do("POST", "/api/pay/"+string(rp.ID), fan, map[string]string{"status": "paid"}); code != 200 {
		t.Fatalf("pay red packet: %d", code)
	}
	// A viewer who was not there when it was sent finds it (shop.redpackets).
	ps, err := a.shop.OpenRedPackets(ctx, identity("guest"), shop.RoomInput{Room: room})
	if err != nil || len(ps) != 1 || ps[0].ID != rp.ID || ps[0].MyClaim != nil {
		t.Fatalf("red packets listed: %+v %v", ps, err)
	}
	if ps, err := a.shop.OpenRedPackets(ctx, &qun.Identity{Tenant: "other", User: "guest"}, shop.RoomInput{Room: room}); len(ps) != 0 || qun.ErrorCode(err) != qun.CodeNotFound {
		t.Fatalf("another tenant sees %v %v", ps, err)
	}
}
