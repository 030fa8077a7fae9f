package main

import (
	"context"
	"embed"
	"io/fs"
	"net/http"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/examples/internal/demo"
	"github.com/qunkit/qun/live"
	"github.com/qunkit/qun/shop"
	"go.uber.org/zap"
)

//go:embed web
var web embed.FS

// tenant is the one merchant this demo deployment serves. A vendor's
// deployment serves many: the tenant comes from its login.
const tenant qun.TenantID = "demo-merchant"

var users = []demo.User{
	{ID: "host", Name: "主播小美 Mei (host)", Role: "店主 · 主播 Shop owner, host", Grants: []string{qun.GrantCreateGroup}},
	{ID: "guest", Name: "嘉宾阿林 Lin (co-host)", Role: "连麦嘉宾 Co-host"},
	{ID: "fan1", Name: "粉丝阿强 Qiang", Role: "粉丝 Fan"},
	{ID: "fan2", Name: "粉丝小红 Hong", Role: "粉丝 Fan"},
}

// config is what main's flags set.
type config struct {
	DataDir string
	BaseURL string // where users reach the app, for invitation links
	Network live.Network
	Logger  *zap.Logger
}

// app is the whole vendor server of this example: the shared qun stack
// (chat, live, replay), the shop with the vendor's pretend cashier, the
// demo login, and the pages.
type app struct {
	*demo.Stack
	shop    *shop.Service
	catalog *shop.SQLiteCatalog // the vendor's products (seeded at start)
	cashier *cashier
	shopID  shop.ShopID
	handler http.Handler
}

func newApp(cfg config) (*app, error) {
	st, err := demo.OpenStack(demo.StackConfig{DataDir: cfg.DataDir, BaseURL: cfg.BaseURL, Tenant: tenant, Users: users,
		Network: cfg.Network, Logger: cfg.Logger, InvitePage: "/room.html"})
	if err != nil {
		return nil, err
	}
	a := &app{Stack: st}
	if err := a.wire(); err != nil {
		st.Shutdown(context.Background())
		return nil, err
	}
	return a, nil
}

func (a *app) wire() error {
	shareKey, err := a.Secret("share-secret")
	if err != nil {
		return err
	}
	a.cashier = newCashier()
	// The store and catalogue are the app's: closed after the shop
	// (OnClose runs its closers last first).
	store, err := shop.NewSQLiteStore(a.DB)
	if err != nil {
		return err
	}
	a.OnClose(store.Close)
	a.catalog, err = shop.NewSQLiteCatalog(a.DB)
	if err != nil {
		return err
	}
	a.OnClose(a.catalog.Close)
	if a.shop, err = shop.New(shop.Config{
		Hub: a.Hub, Store: store, Catalog: a.catalog, Logger: a.Logger,
		Checkout:    a.cashier.checkout, // qun never takes the money: the vendor's cashier does
		ShareSecret: shareKey,
		// Reward would credit points or membership levels; the demo has none.
	}); err != nil {
		return err
	}
	a.cashier.shop = a.shop
	a.OnClose(a.shop.Close)
	if err := a.seed(context.Background()); err != nil {
		return err
	}
	pages, _ := fs.Sub(web, "web")
	a.Mux.HandleFunc("GET /api/shop", a.serveShop)
	a.Mux.Handle("/api/pay/", a.cashier.handler(a.Tokens))
	a.Mux.Handle("/", http.FileServer(http.FS(pages)))
	a.handler = a.Mux
	return nil
}
