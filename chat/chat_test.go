package chat_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/chat"
	"github.com/qunkit/qun/internal/qclient"
	"github.com/qunkit/qun/internal/qtest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is a settable clock shared by the Hub and chat in tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2025, 11, 20, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// env is a Hub on a real loopback server with chat on a real SQLite
// database (room log and chat store alike).
type env struct {
	*qtest.Env
	chat  *chat.Service
	clock *clock
	db    *sql.DB
	log   qun.LogStore
}

func newEnv(t testing.TB, mod func(*chat.Config)) *env {
	t.Helper()
	db := qtest.SQLite(t)
	logStore, err := qun.NewSQLiteLogStore(db, qun.SQLiteLogStoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logStore.Close() })
	e := &env{clock: newClock(), db: db, log: logStore}
	store, err := chat.NewSQLiteStore(db)
	if err != nil {
		t.Fatal(err)
	}
	cfg := qun.Config{Log: logStore, Now: e.clock.Now, OpsPerSecond: 10_000, OpBurst: 10_000}
	e.Env = qtest.NewEnv(t, cfg, func(q *qtest.Env) {
		c := chat.Config{Hub: q.Hub, Store: store, Now: e.clock.Now, SendRate: 1000, SendBurst: 1000}
		if mod != nil {
			mod(&c)
		}
		if e.chat, err = chat.New(c); err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() { e.chat.Close() })
	return e
}

// owner connects a user who may create groups.
func (e *env) owner(t testing.TB, tenant, user string) *qclient.Client {
	return e.Connect(t, tenant, user, qun.GrantCreateGroup)
}

// call calls op and decodes its result into a T.
func call[T any](t testing.TB, c *qclient.Client, op string, data any) T {
	t.Helper()
	var out T
	qtest.Call(t, c, op, data, &out)
	return out
}

type obj = map[string]any

// createGroup creates a group with extra settings and returns its id.
func createGroup(t testing.TB, c *qclient.Client, name string, extra obj) qun.RoomID {
	t.Helper()
	d := obj{"name": name}
	for k, v := range extra {
		d[k] = v
	}
	return call[chat.Group](t, c, "chat.create", d).ID
}

// join makes c a member of group through an invite code made by admin.
func join(t testing.TB, admin, c *qclient.Client, group qun.RoomID) {
	t.Helper()
	code := call[chat.InviteCode](t, admin, "chat.code.create", obj{"group": group})
	res := call[chat.JoinResult](t, c, "chat.code.join", obj{"code": code.Code})
	if res.Status != "joined" {
		t.Fatalf("join: status %s", res.Status)
	}
}

func send(t testing.TB, c *qclient.Client, group qun.RoomID, text string) uint64 {
	t.Helper()
	return call[chat.Sent](t, c, "chat.send", obj{"group": group, "kind": "text", "text": text}).Seq
}

func sub(t testing.TB, c *qclient.Client, room qun.RoomID) uint64 {
	t.Helper()
	var res struct{ Head uint64 }
	qtest.Call(t, c, "sub", obj{"room": room}, &res)
	return res.Head
}

// nextMessage waits for the next chat.message event and decodes it.
func nextMessage(t testing.TB, c *qclient.Client) (qclient.Frame, chat.Message) {
	t.Helper()
	f := qtest.NextEvent(t, c, chat.EvMessage)
	var m chat.Message
	if err := json.Unmarshal(f.D, &m); err != nil {
		t.Fatal(err)
	}
	return f, m
}

func history(t testing.TB, c *qclient.Client, d obj) chat.HistoryPage {
	t.Helper()
	return call[chat.HistoryPage](t, c, "chat.history", d)
}

func ident(tenant, user string, grants ...string) *qun.Identity {
	return &qun.Identity{Tenant: qun.TenantID(tenant), User: qun.UserID(user), Name: user, Grants: grants}
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// wantCode fails unless err is an *qun.Error with code.
func wantCode(t testing.TB, err error, code qun.Code) {
	t.Helper()
	if got := qun.ErrorCode(err); got != code {
		t.Fatalf("got %v (%s); want %s", err, got, code)
	}
}

func isEvent(typ string) func(qclient.Frame) bool {
	return func(f qclient.Frame) bool { return f.T == "ev" && f.Type == typ }
}
