package shop_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/qtest"
	"github.com/qunkit/qun/shop"
	"github.com/qunkit/qun/sqlite"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is a test clock: real time plus an offset the test advances.
type clock struct{ off atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) Advance(d time.Duration) { c.off.Add(int64(d)) }

// rooms is a fake "live" room kind: the host owns a room, users named
// mod* moderate it, anyone else in the tenant views it. Rooms that were not
// added answer not_found.
type rooms struct {
	mu    sync.Mutex
	hosts map[qun.RoomRef]qun.UserID
}

func (r *rooms) add(tenant qun.TenantID, room qun.RoomID, host qun.UserID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hosts[qun.RoomRef{Tenant: tenant, Room: room}] = host
}

func (r *rooms) RoomRole(_ context.Context, id *qun.Identity, room qun.RoomID) (qun.Role, error) {
	r.mu.Lock()
	host, ok := r.hosts[qun.RoomRef{Tenant: id.Tenant, Room: room}]
	r.mu.Unlock()
	switch {
	case !ok:
		return qun.RoleNone, qun.Errorf(qun.CodeNotFound, "no such room")
	case id.User == host:
		return qun.RoleOwner, nil
	case strings.HasPrefix(string(id.User), "mod"):
		return qun.RoleModerator, nil
	}
	return qun.RoleViewer, nil
}

// checkout is a fake vendor checkout.
type checkout struct {
	calls atomic.Int64
	fail  atomic.Bool // answer an error
	paid  atomic.Bool // answer Paid: true
	mu    sync.Mutex
	reqs  []*shop.CheckoutRequest
}

func (c *checkout) Checkout(_ context.Context, req *shop.CheckoutRequest) (*shop.CheckoutResult, error) {
	c.calls.Add(1)
	c.mu.Lock()
	c.reqs = append(c.reqs, req)
	c.mu.Unlock()
	if c.fail.Load() {
		return nil, errors.New("payment provider down")
	}
	return &shop.CheckoutResult{PaymentRef: "prepay_" + req.ID, URL: "https://pay.example/" + req.ID, Paid: c.paid.Load()}, nil
}

type env struct {
	*qtest.Env
	svc     *shop.Service
	store   *shop.SQLiteStore
	cat     *shop.SQLiteCatalog
	db      *sql.DB
	path    string
	clock   *clock
	rooms   *rooms
	pay     *checkout
	rewards chan shop.Reward
}

var callbackSecret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // base64 of 24 bytes

// newEnv starts a Hub with a shop Service on a fresh SQLite file. mod may
// adjust the config.
func newEnv(t testing.TB, mod func(*shop.Config)) *env {
	t.Helper()
	path := filepath.Join(t.TempDir(), "shop.db")
	return openEnv(t, path, mod)
}

// openEnv is newEnv on a given database file (to test restarts).
func openEnv(t testing.TB, path string, mod func(*shop.Config)) *env {
	t.Helper()
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store, err := shop.NewSQLiteStore(db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() }) // after the Service's Close, registered later
	cat, err := shop.NewSQLiteCatalog(db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	e := &env{db: db, store: store, cat: cat, path: path, clock: &clock{}, rooms: &rooms{hosts: map[qun.RoomRef]qun.UserID{}}, pay: &checkout{}, rewards: make(chan shop.Reward, 1000)}
	e.Env = qtest.NewEnv(t, qun.Config{OpsPerSecond: 1000, OpBurst: 1000}, func(q *qtest.Env) {
		q.Hub.RegisterRooms("live", e.rooms)
		cfg := shop.Config{
			Hub:             q.Hub,
			Store:           store,
			Catalog:         cat,
			Checkout:        e.pay.Checkout,
			Reward:          func(_ context.Context, r shop.Reward) error { e.rewards <- r; return nil },
			Now:             e.clock.Now,
			SweepInterval:   20 * time.Millisecond,
			StockInterval:   10 * time.Millisecond,
			ShareSecret:     []byte("0123456789abcdef0123456789abcdef"),
			CallbackSecrets: []string{callbackSecret},
			Webhooks:        shop.WebhookConfig{BackoffBase: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond, PollInterval: 50 * time.Millisecond},
		}
		if mod != nil {
			mod(&cfg)
		}
		svc, err := shop.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := svc.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		})
		q.Mux.Handle("/shop/cb/", http.StripPrefix("/shop/cb", svc.CallbackHandler()))
		e.svc = svc
	})
	return e
}

func ident(tenant, user string, grants ...string) *qun.Identity {
	return &qun.Identity{Tenant: qun.TenantID(tenant), User: qun.UserID(user), Name: user, Grants: grants}
}

func cny(n int64) shop.Money { return shop.Money{Amount: n, Currency: shop.CNY} }

// liveShop sets up tenant's verified shop owned by host with products p1..pn
// (price 100·i fen, stock `stock`), a live room "live:1" hosted by host, and
// an open shelf holding every product.
func (e *env) liveShop(t testing.TB, tenant string, n int, stock int64) (shop.ShopID, qun.RoomID) {
	t.Helper()
	ctx := context.Background()
	host := ident(tenant, "host")
	sh, err := e.svc.CreateShop(ctx, host, shop.CreateShopInput{Kind: shop.KindIndividual, Name: "Ann's", Key: "k-shop"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.VerifyShop(ctx, host.Tenant, sh.ID, true); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		p := &shop.Product{ID: shop.ProductID(fmt.Sprint("p", i)), Tenant: host.Tenant, Shop: sh.ID, Title: fmt.Sprint("Product ", i), Price: cny(int64(100 * i)), Stock: stock}
		if err := e.cat.PutProduct(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	room := qun.RoomID("live:1")
	e.rooms.add(host.Tenant, room, host.User)
	if _, err := e.svc.OpenShelf(ctx, host, shop.OpenShelfInput{Room: room, Shop: sh.ID}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		if _, err := e.svc.AddToShelf(ctx, host, shop.ShelfProductInput{Room: room, Product: shop.ProductID(fmt.Sprint("p", i))}); err != nil {
			t.Fatal(err)
		}
	}
	return sh.ID, room
}

func count(t testing.TB, db *sql.DB, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// wantCode fails unless err is an *qun.Error with code.
func wantCode(t testing.TB, err error, code qun.Code) {
	t.Helper()
	if qun.ErrorCode(err) != code {
		t.Fatalf("got error %v; want code %s", err, code)
	}
	var qe *qun.Error
	if !errors.As(err, &qe) {
		t.Fatalf("error %v is not a *qun.Error", err)
	}
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func randN(n int) int { return rand.IntN(n) }

func contains(b []byte, s string) bool { return bytes.Contains(b, []byte(s)) }
