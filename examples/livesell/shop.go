package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/sqlmigrate"
	"github.com/qunkit/qun/shop"
)

// products is the demo shop's catalogue, put in at every start.
var products = []shop.Product{
	{ID: "longjing", Title: "明前龙井 250g · Longjing green tea", Price: shop.Money{Amount: 12800, Currency: shop.CNY}, Image: "/img/longjing.svg", Stock: 50},
	{ID: "oolong", Title: "桂花乌龙 · Osmanthus oolong", Price: shop.Money{Amount: 8800, Currency: shop.CNY}, Image: "/img/oolong.svg", Stock: 40},
	{ID: "cup", Title: "手工陶瓷茶杯 · Handmade tea cup", Price: shop.Money{Amount: 5900, Currency: shop.CNY}, Image: "/img/cup.svg", Stock: 30},
	{ID: "tray", Title: "竹制茶盘（限量）· Bamboo tea tray, limited", Price: shop.Money{Amount: 19900, Currency: shop.CNY}, Image: "/img/tray.svg", Stock: 5},
}

// seed opens the host's verified shop with its products, once: the shop's
// id is kept in the example's own table so that a restart finds it again.
func (a *app) seed(ctx context.Context) error {
	if err := sqlmigrate.Apply(ctx, a.DB, "livesell.seed", []string{
		`CREATE TABLE livesell_seed (k TEXT PRIMARY KEY, v TEXT NOT NULL)`}); err != nil {
		return err
	}
	var id string
	err := a.DB.QueryRowContext(ctx, `SELECT v FROM livesell_seed WHERE k = 'shop'`).Scan(&id)
	if err != nil {
		host := &qun.Identity{Tenant: tenant, User: "host", Name: users[0].Name}
		sh, err := a.shop.CreateShop(ctx, host, shop.CreateShopInput{Kind: shop.KindIndividual, Name: "小美的茶铺 Mei's Tea Shop", Key: "demo-seed"})
		if err != nil {
			return err
		}
		// The vendor verifies shops after its own identity checks (S1).
		if _, err := a.shop.VerifyShop(ctx, tenant, sh.ID, true); err != nil {
			return err
		}
		id = string(sh.ID)
		if _, err := a.DB.ExecContext(ctx, `INSERT INTO livesell_seed (k, v) VALUES ('shop', ?)`, id); err != nil {
			return err
		}
	}
	a.shopID = shop.ShopID(id)
	for _, p := range products {
		p.Tenant, p.Shop = tenant, a.shopID
		if err := a.catalog.PutProduct(ctx, &p); err != nil {
			return err
		}
	}
	return nil
}

// serveShop tells the host's page which shop to open in a live.
func (a *app) serveShop(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, map[string]any{"shop": a.shopID})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// cashier is the vendor's pretend payment: shop's Checkout hook hands it
// orders, tips and red packets; it answers a payment page in this app
// (/pay.html?id=…), where the buyer confirms, and then reports the payment
// to the shop with UpdatePayment — what a real cashier's callback does.
// Payments wait in memory: after a restart, reservations simply expire.
type cashier struct {
	shop    *shop.Service
	mu      sync.Mutex
	pending map[string]*shop.CheckoutRequest // by order, tip or red packet id
}

func newCashier() *cashier { return &cashier{pending: map[string]*shop.CheckoutRequest{}} }

const maxPending = 10000

func (c *cashier) checkout(_ context.Context, req *shop.CheckoutRequest) (*shop.CheckoutResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) >= maxPending {
		return nil, qun.Errorf(qun.CodeUnavailable, "the cashier is busy; try again later")
	}
	c.pending[req.ID] = req
	return &shop.CheckoutResult{PaymentRef: "demo-" + req.ID, URL: "/pay.html?id=" + req.ID}, nil
}

// payment is what the payment page shows.
type payment struct {
	ID     string     `json:"id"`
	Kind   string     `json:"kind"`
	Title  string     `json:"title"`
	Amount shop.Money `json:"amount"`
	Room   qun.RoomID `json:"room"`
}

// handler serves GET /api/pay/{id} (the payment to confirm) and
// POST /api/pay/{id} {"status":"paid"|"cancelled"} for the payer.
func (c *cashier) handler(auth qun.Authenticator) http.Handler {
	mux := http.NewServeMux()
	find := func(w http.ResponseWriter, r *http.Request) *shop.CheckoutRequest {
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		id, err := auth.Authenticate(r.Context(), tok)
		if err != nil {
			qun.WriteError(w, qun.Errorf(qun.CodeUnauthenticated, "a bearer token is required"))
			return nil
		}
		c.mu.Lock()
		req := c.pending[r.PathValue("id")]
		c.mu.Unlock()
		if req == nil || req.Tenant != id.Tenant || req.User != id.User {
			qun.WriteError(w, qun.Errorf(qun.CodeNotFound, "no such payment (it may have been paid already)"))
			return nil
		}
		return req
	}
	mux.HandleFunc("GET /api/pay/{id}", func(w http.ResponseWriter, r *http.Request) {
		req := find(w, r)
		if req == nil {
			return
		}
		p := payment{ID: req.ID, Kind: req.Kind, Amount: req.Amount, Room: req.Room}
		switch req.Kind {
		case "order":
			p.Title = req.Order.Title
		case "tip":
			p.Title = "打赏主播 Tip the host"
		case "red_packet":
			p.Title = "直播间红包 Red packet"
		}
		writeJSON(w, p)
	})
	mux.HandleFunc("POST /api/pay/{id}", func(w http.ResponseWriter, r *http.Request) {
		req := find(w, r)
		if req == nil {
			return
		}
		var in struct {
			Status string `json:"status" validate:"required,oneof=paid cancelled"`
		}
		body := http.MaxBytesReader(w, r.Body, 1024)
		if err := json.NewDecoder(body).Decode(&in); err != nil || qun.Validate(&in) != nil {
			qun.WriteError(w, &qun.Error{Code: qun.CodeInvalid, Message: "status is paid or cancelled", Field: "status"})
			return
		}
		err := c.shop.UpdatePayment(r.Context(), shop.PaymentUpdate{Tenant: req.Tenant, ID: req.ID, Status: in.Status, PaymentRef: "demo-txn-" + req.ID})
		if err != nil {
			qun.WriteError(w, err)
			return
		}
		c.mu.Lock()
		delete(c.pending, req.ID)
		c.mu.Unlock()
		writeJSON(w, map[string]any{"id": req.ID, "status": in.Status})
	})
	return mux
}
