// Package qtest builds real test environments for qun's packages: a Hub on
// a real loopback HTTP server, token issuing, connected protocol clients and
// a real SQLite database in the test's temp dir.
package qtest

import (
	"context"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/qclient"
	"github.com/qunkit/qun/sqlite"
)

// Secret is the HS256 key test environments use.
var Secret = []byte("qtest-secret-qtest-secret-qtest-secret!")

// Env is one running Hub.
type Env struct {
	Hub    *qun.Hub
	Tokens *qun.Tokens
	Server *httptest.Server
	Mux    *http.ServeMux
	URL    string // ws:// URL of the Hub
}

// NewEnv starts a Hub with cfg (Authenticator defaults to test tokens)
// mounted at /ws on a loopback server. setup, if not nil, runs before the
// server starts (register feature packages there). Everything is closed
// when the test ends.
func NewEnv(t testing.TB, cfg qun.Config, setup func(*Env)) *Env {
	t.Helper()
	tokens, err := qun.NewTokens(qun.TokenConfig{Secret: Secret})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Authenticator == nil {
		cfg.Authenticator = tokens
	}
	hub, err := qun.NewHub(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := &Env{Hub: hub, Tokens: tokens, Mux: http.NewServeMux()}
	e.Mux.Handle("/ws", hub)
	if setup != nil {
		setup(e)
	}
	e.Server = httptest.NewServer(e.Mux)
	e.URL = "ws" + strings.TrimPrefix(e.Server.URL, "http") + "/ws"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := hub.Shutdown(ctx); err != nil {
			t.Errorf("hub shutdown: %v", err)
		}
		e.Server.Close()
	})
	return e
}

// Token issues a one-hour token for user in tenant.
func (e *Env) Token(t testing.TB, tenant, user string, grants ...string) string {
	t.Helper()
	tok, err := e.Tokens.Issue(qun.Identity{Tenant: qun.TenantID(tenant), User: qun.UserID(user), Name: user, Grants: grants}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Connect opens an authenticated client; it is closed when the test ends.
func (e *Env) Connect(t testing.TB, tenant, user string, grants ...string) *qclient.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := qclient.Connect(ctx, e.URL, e.Token(t, tenant, user, grants...), qclient.Options{Origin: e.Server.URL})
	if err != nil {
		t.Fatalf("connect %s/%s: %v", tenant, user, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Call calls op and fails the test on error.
func Call(t testing.TB, c *qclient.Client, op string, data, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Call(ctx, op, data, out); err != nil {
		t.Fatalf("%s: %v", op, err)
	}
}

// CallErr calls op, expects it to fail with code, and returns the error.
func CallErr(t testing.TB, c *qclient.Client, op string, data any, code qun.Code) *qun.Error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := c.Call(ctx, op, data, nil)
	if err == nil {
		t.Fatalf("%s succeeded; want error %s", op, code)
	}
	e, ok := err.(*qun.Error)
	if !ok || e.Code != code {
		t.Fatalf("%s: got error %v; want code %s", op, err, code)
	}
	return e
}

// Next returns the next frame matching keep (nil keeps all), failing the
// test after timeout.
func Next(t testing.TB, c *qclient.Client, keep func(qclient.Frame) bool) qclient.Frame {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case f, ok := <-c.Frames():
			if !ok {
				t.Fatalf("connection ended while waiting for a frame: %v", c.Err())
			}
			if keep == nil || keep(f) {
				return f
			}
		case <-timeout:
			t.Fatalf("no matching frame within 5s")
		}
	}
}

// NextEvent returns the next event frame of type typ.
func NextEvent(t testing.TB, c *qclient.Client, typ string) qclient.Frame {
	t.Helper()
	return Next(t, c, func(f qclient.Frame) bool { return f.T == "ev" && f.Type == typ })
}

// NoFrame asserts that no frame matching keep arrives within d.
func NoFrame(t testing.TB, c *qclient.Client, d time.Duration, keep func(qclient.Frame) bool) {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case f, ok := <-c.Frames():
			if !ok {
				return
			}
			if keep == nil || keep(f) {
				t.Fatalf("unexpected frame: %+v", f)
			}
		case <-timeout:
			return
		}
	}
}

// SQLite opens a fresh SQLite database in the test's temp dir.
func SQLite(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "qun.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
