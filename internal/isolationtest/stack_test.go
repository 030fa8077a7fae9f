package isolationtest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/chat"
	"github.com/qunkit/qun/internal/qclient"
	"github.com/qunkit/qun/internal/qtest"
	"github.com/qunkit/qun/live"
	"github.com/qunkit/qun/postgres"
	"github.com/qunkit/qun/postgres/pgtest"
	"github.com/qunkit/qun/replay"
	"github.com/qunkit/qun/shop"
	"github.com/qunkit/qun/whiteboard"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// callbackSecret signs the vendor's calls to shop's CallbackHandler.
const callbackSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// stack is every feature package on one Hub, as a vendor wires them.
type stack struct {
	*qtest.Env
	log    qun.LogStore
	chat   *chat.Service
	live   *live.Service
	wb     *whiteboard.Service
	shop   *shop.Service
	replay *replay.Service
}

// newStack wires the packages on SQLite ("sqlite") or PostgreSQL
// ("postgres": every store and the room log; shop's catalogue, the
// vendor's, stays in SQLite).
func newStack(t *testing.T, backend string) *stack {
	t.Helper()
	ctx := context.Background()
	db := qtest.SQLite(t)
	st := &stack{}
	var (
		chatStore   chat.Store
		liveStore   live.Store
		boardStore  whiteboard.Store
		shopStore   shop.Store
		replayStore replay.Store
		err         error
	)
	switch backend {
	case "sqlite":
		st.log, err = qun.NewSQLiteLogStore(db, qun.SQLiteLogStoreConfig{})
		check(t, err)
		t.Cleanup(func() { st.log.(io.Closer).Close() }) // after the Hub's shutdown: cleanups run last first
		chatStore, err = chat.NewSQLiteStore(db)
		check(t, err)
		liveStore, err = live.NewSQLiteStore(db)
		check(t, err)
		boardStore, err = whiteboard.NewSQLiteStore(db)
		check(t, err)
		replayStore, err = replay.NewSQLiteStore(db)
		check(t, err)
		ss, err := shop.NewSQLiteStore(db)
		check(t, err)
		t.Cleanup(func() { ss.Close() })
		shopStore = ss
	case "postgres":
		pool := pgtest.NewPool(t)
		pl, err := postgres.NewLogStore(ctx, pool, postgres.LogStoreConfig{})
		check(t, err)
		t.Cleanup(func() { pl.Close() })
		st.log = pl
		chatStore, err = postgres.NewChatStore(ctx, pool)
		check(t, err)
		liveStore, err = postgres.NewLiveStore(ctx, pool)
		check(t, err)
		boardStore, err = postgres.NewWhiteboardStore(ctx, pool)
		check(t, err)
		ps, err := postgres.NewShopStore(ctx, pool, postgres.ShopStoreConfig{})
		check(t, err)
		t.Cleanup(func() { ps.Close() })
		shopStore = ps
		replayStore, err = postgres.NewReplayStore(ctx, pool)
		check(t, err)
	}
	catalog, err := shop.NewSQLiteCatalog(db) // the vendor's, on either backend
	check(t, err)
	t.Cleanup(func() { catalog.Close() })
	st.Env = qtest.NewEnv(t, qun.Config{Log: st.log, OpsPerSecond: 10_000, OpBurst: 10_000}, func(e *qtest.Env) {
		var err error
		st.chat, err = chat.New(chat.Config{Hub: e.Hub, Store: chatStore, SendRate: 1000, SendBurst: 1000})
		check(t, err)
		t.Cleanup(func() { st.chat.Close() })
		st.live, err = live.New(live.Config{Hub: e.Hub, Store: liveStore})
		check(t, err)
		t.Cleanup(func() { st.live.Close() })
		st.wb, err = whiteboard.New(whiteboard.Config{Hub: e.Hub, Store: boardStore})
		check(t, err)
		t.Cleanup(func() { st.wb.Close() })
		st.shop, err = shop.New(shop.Config{Hub: e.Hub, Store: shopStore, Catalog: catalog,
			Checkout: func(context.Context, *shop.CheckoutRequest) (*shop.CheckoutResult, error) {
				return &shop.CheckoutResult{Paid: true}, nil
			},
			ShareSecret:     []byte("0123456789abcdef0123456789abcdef"),
			CallbackSecrets: []string{callbackSecret},
		})
		check(t, err)
		t.Cleanup(func() { st.shop.Close() })
		storage, err := replay.NewFSStorage(t.TempDir())
		check(t, err)
		st.replay, err = replay.New(replay.Config{Hub: e.Hub, Lives: st.live, Store: replayStore, Storage: storage})
		check(t, err)
		t.Cleanup(func() { st.replay.Close() })
		e.Mux.Handle("/wb/", http.StripPrefix("/wb", st.wb.HTTPHandler()))
		e.Mux.Handle("/shop/cb/", http.StripPrefix("/shop/cb", st.shop.CallbackHandler()))
		e.Mux.Handle("/replays/", http.StripPrefix("/replays", st.replay.Handler()))
	})
	return st
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// call runs op as cl and decodes the answer into out (if not nil).
func call(t *testing.T, cl *qclient.Client, op string, data, out any) {
	t.Helper()
	qtest.Call(t, cl, op, data, out)
}

// answer is one op's or request's outcome, as compared between a tenant
// B id and a made-up one.
type answer struct {
	Code  qun.Code        `json:"code,omitempty"`
	Msg   string          `json:"msg,omitempty"`
	Field string          `json:"field,omitempty"`
	OK    json.RawMessage `json:"ok,omitempty"`
}

func ask(cl *qclient.Client, op string, data []byte) answer {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out json.RawMessage
	err := cl.Call(ctx, op, json.RawMessage(data), &out)
	if err == nil {
		return answer{OK: out}
	}
	if qe := qun.AsError(err); qe != nil {
		return answer{Code: qe.Code, Msg: qe.Message, Field: qe.Field}
	}
	return answer{Code: "transport", Msg: err.Error()}
}

// httpAsk makes a request and returns its status and body.
func httpAsk(t *testing.T, method, url, token string, body io.Reader, hdr map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	check(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	check(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
