package shop_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/shop"
	"github.com/qunkit/qun/sqlite"
)

// A vendor wires the shop to its Hub, its database and its checkout; a host
// opens a shelf in a live, explains a product, a viewer buys it, the vendor
// reports the payment and ships it.
func Example() {
	must := func(err error) {
		if err != nil {
			log.Fatal(err)
		}
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "shop-example")
	must(err)
	defer os.RemoveAll(dir)
	db, err := sqlite.Open(filepath.Join(dir, "qun.db"))
	must(err)
	defer db.Close()
	tokens, err := qun.NewTokens(qun.TokenConfig{Secret: []byte("an example secret of 32 bytes!!!")})
	must(err)
	hub, err := qun.NewHub(qun.Config{Authenticator: tokens})
	must(err)
	defer hub.Close()
	// The live package owns "live:" rooms; this stand-in makes "host" the host.
	hub.RegisterRooms("live", qun.RoomAccessFunc(func(_ context.Context, id *qun.Identity, _ qun.RoomID) (qun.Role, error) {
		if id.User == "host" {
			return qun.RoleOwner, nil
		}
		return qun.RoleViewer, nil
	}))

	store, err := shop.NewSQLiteStore(db)
	must(err)
	defer store.Close() // after the Service (defers run last first)
	catalog, err := shop.NewSQLiteCatalog(db)
	must(err)
	defer catalog.Close()
	svc, err := shop.New(shop.Config{
		Hub:     hub,
		Store:   store,
		Catalog: catalog,
		// The vendor's cashier: qun never takes the money itself.
		Checkout: func(_ context.Context, req *shop.CheckoutRequest) (*shop.CheckoutResult, error) {
			return &shop.CheckoutResult{PaymentRef: "prepay-" + req.ID, URL: "https://pay.vendor.example/" + req.ID}, nil
		},
		ShareSecret: []byte("32 random bytes in a real deploy"),
	})
	must(err)
	defer svc.Close()

	host := &qun.Identity{Tenant: "t1", User: "host"}
	sh, err := svc.CreateShop(ctx, host, shop.CreateShopInput{Kind: shop.KindIndividual, Name: "Ann's Tea", Key: "open-1"})
	must(err)
	_, err = svc.VerifyShop(ctx, "t1", sh.ID, true) // after the vendor's own checks
	must(err)
	must(catalog.PutProduct(ctx, &shop.Product{
		ID: "tea", Tenant: "t1", Shop: sh.ID, Title: "Longjing 250g", Price: shop.Money{Amount: 2800, Currency: shop.CNY}, Stock: 100}))
	_, err = svc.OpenShelf(ctx, host, shop.OpenShelfInput{Room: "live:1", Shop: sh.ID})
	must(err)
	_, err = svc.AddToShelf(ctx, host, shop.ShelfProductInput{Room: "live:1", Product: "tea"})
	must(err)
	_, err = svc.StartExplaining(ctx, host, shop.ShelfProductInput{Room: "live:1", Product: "tea"})
	must(err)

	bob := &qun.Identity{Tenant: "t1", User: "bob"}
	o, err := svc.Buy(ctx, bob, shop.BuyInput{Room: "live:1", Product: "tea", Qty: 2, Key: "bob-order-1"})
	must(err)
	fmt.Println(o.Status, o.Total, o.PayURL != "")

	must(svc.UpdatePayment(ctx, shop.PaymentUpdate{Tenant: "t1", ID: string(o.ID), Status: "paid", PaymentRef: "wx-4200001"}))
	res, err := svc.Ship(ctx, "t1", []shop.ShipRow{{Order: o.ID, Carrier: "SF", Tracking: "SF1234567890"}})
	must(err)
	stock, err := svc.Stock(ctx, "t1", "tea")
	must(err)
	fmt.Println(res[0].OK, stock)
	// Output:
	// reserved 5600 CNY true
	// true 98
}
