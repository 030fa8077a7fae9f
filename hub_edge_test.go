package qun_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/qclient"
	"github.com/qunkit/qun/internal/qtest"
)

func ctx5(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func dial(t *testing.T, e *qtest.Env) *qclient.Client {
	t.Helper()
	c, err := qclient.Dial(ctx5(t), e.URL, qclient.Options{Origin: e.Server.URL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func wantClosedWith(t *testing.T, c *qclient.Client, reason string) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("connection not closed")
	}
	if got := c.CloseReason(); got != reason {
		t.Fatalf("close reason %q (%v); want %q", got, c.Err(), reason)
	}
}

func TestHelloRequired(t *testing.T) {
	e := qtest.NewEnv(t, qun.Config{}, openRooms)
	c := dial(t, e)
	err := c.Call(ctx5(t), "test.say", map[string]any{"room": "t:1", "text": "x"}, nil)
	if qun.ErrorCode(err) != qun.CodeUnauthenticated {
		t.Fatalf("op before hello: %v", err)
	}
	wantClosedWith(t, c, "unauthenticated")
}

func TestHelloBadToken(t *testing.T) {
	e := qtest.NewEnv(t, qun.Config{}, openRooms)
	other, _ := qun.NewTokens(qun.TokenConfig{Secret: []byte("not-the-secret-not-the-secret-xx")})
	forged, _ := other.Issue(qun.Identity{Tenant: "t", User: "mallory"}, time.Hour)
	for name, tok := range map[string]string{"forged": forged, "empty": "", "garbage": "a.b.c"} {
		t.Run(name, func(t *testing.T) {
			c := dial(t, e)
			err := c.Call(ctx5(t), "hello", map[string]any{"v": 1, "token": tok}, nil)
			if qun.ErrorCode(err) != qun.CodeUnauthenticated && !(tok == "" && qun.ErrorCode(err) == qun.CodeInvalid) {
				t.Fatalf("hello: %v", err)
			}
			<-c.Done()
		})
	}
	c := dial(t, e)
	err := c.Call(ctx5(t), "hello", map[string]any{"v": 99, "token": e.Token(t, "t", "u")}, nil)
	if qun.ErrorCode(err) != qun.CodeUnsupportedVer {
		t.Fatalf("wrong version: %v", err)
	}
	wantClosedWith(t, c, "unsupported_version")
}

func TestHelloTimeout(t *testing.T) {
	e := qtest.NewEnv(t, qun.Config{HelloTimeout: 100 * time.Millisecond}, openRooms)
	c := dial(t, e)
	wantClosedWith(t, c, "unauthenticated")
}

func TestBadFrames(t *testing.T) {
	e := qtest.NewEnv(t, qun.Config{}, openRooms)
	if ops := e.Hub.Ops(); len(ops) != 1 || ops[0] != "test.say" {
		t.Fatalf("Ops() = %v", ops)
	}
	c := e.Connect(t, "t", "u")
	qtest.CallErr(t, c, "nope.nothing", nil, qun.CodeUnknownOp)
	qtest.CallErr(t, c, "hello", map[string]any{"v": 1, "token": "x"}, qun.CodeConflict)
	err := qtest.CallErr(t, c, "test.say", map[string]any{"room": "t:1", "text": "x", "extra": 1}, qun.CodeInvalid)
	if !strings.Contains(err.Message, "extra") {
		t.Fatalf("unknown field not named: %v", err)
	}
	err = qtest.CallErr(t, c, "test.say", map[string]any{"room": "t:1"}, qun.CodeInvalid)
	if err.Field != "text" {
		t.Fatalf("missing field not named: %+v", err)
	}
	err = qtest.CallErr(t, c, "test.say", map[string]any{"room": "t:1", "text": strings.Repeat("x", 101)}, qun.CodeInvalid)
	if err.Field != "text" {
		t.Fatalf("oversize field not named: %+v", err)
	}
	qtest.CallErr(t, c, "test.say", map[string]any{"room": 5, "text": "x"}, qun.CodeInvalid)

	for _, raw := range []string{`not json`, `{"id":1,"op":"test.say"} trailing`, `[]`, `{"id":"x"}`, `{"id":3}`} {
		if err := c.SendRaw(ctx5(t), []byte(raw)); err != nil {
			t.Fatal(err)
		}
		f := qtest.Next(t, c, func(f qclient.Frame) bool { return f.T == "res" })
		if f.Err == nil || f.Err.Code != qun.CodeInvalid {
			t.Fatalf("%s: got %+v", raw, f)
		}
	}
	// Nothing of the above reached the room.
	var res struct{ Head uint64 }
	qtest.Call(t, c, "sub", map[string]any{"room": "t:1", "after": 0}, &res)
	if res.Head != 0 {
		t.Fatalf("bad frames changed the room: head %d", res.Head)
	}
	// The connection still works.
	qtest.Call(t, c, "test.say", map[string]any{"room": "t:1", "text": "ok"}, nil)
}

func TestFrameSizeLimit(t *testing.T) {
	e := qtest.NewEnv(t, qun.Config{MaxFrameBytes: 1024}, openRooms)
	c := e.Connect(t, "t", "u")
	if err := c.SendRaw(ctx5(t), []byte(`{"id":1,"op":"test.say","d":{"room":"t:1","text":"`+strings.Repeat("x", 2000)+`"}}`)); err != nil {
		t.Fatal(err)
	}
	<-c.Done()
	var ce websocket.CloseError
	if !errors.As(c.Err(), &ce) || ce.Code != websocket.StatusMessageTooBig {
		t.Fatalf("want close 1009, got %v", c.Err())
	}
}

func TestRateLimit(t *testing.T) {
	e := qtest.NewEnv(t, qun.Config{OpsPerSecond: 1, OpBurst: 3}, openRooms)
	c := e.Connect(t, "t", "u") // hello used one token
	limited := 0
	for range 6 {
		err := c.Call(ctx5(t), "test.say", map[string]any{"room": "t:1", "text": "x"}, nil)
		if qun.ErrorCode(err) == qun.CodeRateLimited {
			limited++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if limited < 3 {
		t.Fatalf("only %d of 6 ops rate limited", limited)
	}
	// Rate-limited ops were not executed.
	var res struct{ Head uint64 }
	time.Sleep(1100 * time.Millisecond)
	qtest.Call(t, c, "sub", map[string]any{"room": "t:1", "after": 0}, &res)
	if res.Head != uint64(6-limited) {
		t.Fatalf("head %d, want %d executed ops", res.Head, 6-limited)
	}
}

func TestOriginCheck(t *testing.T) {
	e := qtest.NewEnv(t, qun.Config{}, openRooms)
	_, resp, err := websocket.Dial(ctx5(t), e.URL, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"https://evil.example"}}})
	if err == nil {
		t.Fatal("cross-origin WebSocket accepted")
	}
	if resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("want 403, got %v %v", resp, err)
	}
	e2 := qtest.NewEnv(t, qun.Config{OriginPatterns: []string{"*.vendor.example"}}, openRooms)
	c, _, err := websocket.Dial(ctx5(t), e2.URL, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"https://shop.vendor.example"}}})
	if err != nil {
		t.Fatalf("allowed origin refused: %v", err)
	}
	c.CloseNow()
}

func TestResumeTooOld(t *testing.T) {
	e := qtest.NewEnv(t, qun.Config{ResumeLimit: 5}, openRooms)
	a := e.Connect(t, "t", "a")
	for range 10 {
		qtest.Call(t, a, "test.say", map[string]any{"room": "t:1", "text": "x"}, nil)
	}
	b := e.Connect(t, "t", "b")
	qtest.CallErr(t, b, "sub", map[string]any{"room": "t:1", "after": 2}, qun.CodeTooOld)
	qtest.Call(t, b, "sub", map[string]any{"room": "t:1", "after": 6}, nil)
	for want := uint64(7); want <= 10; want++ {
		if f := qtest.NextEvent(t, b, "test.said"); f.Seq != want {
			t.Fatalf("seq %d want %d", f.Seq, want)
		}
	}
	// A log that trimmed the events also answers too_old.
	e2 := qtest.NewEnv(t, qun.Config{Log: qun.NewMemoryLogStore(qun.MemoryLogStoreConfig{MaxEventsPerRoom: 4})}, openRooms)
	a2 := e2.Connect(t, "t", "a")
	for range 12 {
		qtest.Call(t, a2, "test.say", map[string]any{"room": "t:1", "text": "x"}, nil)
	}
	b2 := e2.Connect(t, "t", "b")
	qtest.CallErr(t, b2, "sub", map[string]any{"room": "t:1", "after": 1}, qun.CodeTooOld)
}

func TestSubscriptionLimitsAndErrors(t *testing.T) {
	e := qtest.NewEnv(t, qun.Config{MaxSubscriptions: 2}, openRooms)
	c := e.Connect(t, "t", "u")
	qtest.Call(t, c, "sub", map[string]any{"room": "t:1"}, nil)
	qtest.CallErr(t, c, "sub", map[string]any{"room": "t:1"}, qun.CodeConflict)
	qtest.Call(t, c, "sub", map[string]any{"room": "t:2"}, nil)
	qtest.CallErr(t, c, "sub", map[string]any{"room": "t:3"}, qun.CodeExhausted)
	qtest.Call(t, c, "unsub", map[string]any{"room": "t:2"}, nil)
	qtest.CallErr(t, c, "unsub", map[string]any{"room": "t:2"}, qun.CodeNotFound)
	qtest.Call(t, c, "sub", map[string]any{"room": "t:3"}, nil)
	qtest.CallErr(t, c, "sub", map[string]any{"room": "zz:1"}, qun.CodeNotFound)
	qtest.CallErr(t, c, "sub", map[string]any{"room": "nokind"}, qun.CodeNotFound)
	// Inboxes are private.
	qtest.CallErr(t, c, "sub", map[string]any{"room": "u:someone"}, qun.CodeForbidden)
	qtest.Call(t, c, "unsub", map[string]any{"room": "t:1"}, nil)
	qtest.Call(t, c, "sub", map[string]any{"room": "u:u"}, nil)
}

func TestTenantIsolationInRooms(t *testing.T) {
	e := qtest.NewEnv(t, qun.Config{}, openRooms)
	a := e.Connect(t, "tenantA", "alice")
	b := e.Connect(t, "tenantB", "alice") // same user id, other tenant
	qtest.Call(t, a, "sub", map[string]any{"room": "t:1", "after": 0}, nil)
	qtest.Call(t, b, "test.say", map[string]any{"room": "t:1", "text": "secret of B"}, nil)
	qtest.Call(t, b, "sub", map[string]any{"room": "u:alice"}, nil)
	qtest.NoFrame(t, a, 200*time.Millisecond, func(f qclient.Frame) bool { return f.T == "ev" })
	var res struct{ Head uint64 }
	c := e.Connect(t, "tenantA", "carol")
	qtest.Call(t, c, "sub", map[string]any{"room": "t:1", "after": 0}, &res)
	if res.Head != 0 {
		t.Fatalf("tenant A sees tenant B's log: head %d", res.Head)
	}
}

func TestEndSubscriptions(t *testing.T) {
	var hub *qun.Hub
	e := qtest.NewEnv(t, qun.Config{}, func(e *qtest.Env) { openRooms(e); hub = e.Hub })
	a := e.Connect(t, "t", "a")
	b := e.Connect(t, "t", "b")
	qtest.Call(t, a, "sub", map[string]any{"room": "t:1"}, nil)
	qtest.Call(t, b, "sub", map[string]any{"room": "t:1"}, nil)
	if err := hub.EndSubscriptions(ctx5(t), qun.RoomRef{Tenant: "t", Room: "t:1"}, "b", qun.Errorf(qun.CodeForbidden, "kicked")); err != nil {
		t.Fatal(err)
	}
	f := qtest.Next(t, b, func(f qclient.Frame) bool { return f.T == "sub.end" })
	if f.Room != "t:1" || f.Err == nil || f.Err.Code != qun.CodeForbidden {
		t.Fatalf("sub.end %+v", f)
	}
	qtest.Call(t, a, "test.say", map[string]any{"room": "t:1", "text": "after kick"}, nil)
	qtest.NextEvent(t, a, "test.said")
	qtest.NoFrame(t, b, 150*time.Millisecond, func(f qclient.Frame) bool { return f.T == "ev" })
	qtest.CallErr(t, b, "unsub", map[string]any{"room": "t:1"}, qun.CodeNotFound)

	// EndRoom ends everyone's subscription.
	c := e.Connect(t, "t", "c")
	qtest.Call(t, c, "sub", map[string]any{"room": "t:1"}, nil)
	if err := hub.EndRoom(ctx5(t), qun.RoomRef{Tenant: "t", Room: "t:1"}, nil); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*qclient.Client{a, c} {
		f := qtest.Next(t, cl, func(f qclient.Frame) bool { return f.T == "sub.end" })
		if f.Err == nil || f.Err.Code != qun.CodeNotFound {
			t.Fatalf("EndRoom sub.end %+v", f)
		}
		qtest.CallErr(t, cl, "unsub", map[string]any{"room": "t:1"}, qun.CodeNotFound)
	}
}

func TestEphemeralNotStored(t *testing.T) {
	var hub *qun.Hub
	e := qtest.NewEnv(t, qun.Config{}, func(e *qtest.Env) { openRooms(e); hub = e.Hub })
	a := e.Connect(t, "t", "a")
	qtest.Call(t, a, "sub", map[string]any{"room": "t:1"}, nil)
	if err := hub.PublishEphemeral(ctx5(t), qun.RoomRef{Tenant: "t", Room: "t:1"}, qun.Draft{Type: "test.laser", Data: map[string]float64{"x": 0.5}}); err != nil {
		t.Fatal(err)
	}
	f := qtest.NextEvent(t, a, "test.laser")
	if f.Seq != 0 || string(f.D) != `{"x":0.5}` {
		t.Fatalf("ephemeral frame %+v", f)
	}
	if last, _ := hub.Log().Last(ctx5(t), qun.RoomRef{Tenant: "t", Room: "t:1"}); last != 0 {
		t.Fatalf("ephemeral event stored: last %d", last)
	}
	if _, err := hub.Publish(ctx5(t), qun.RoomRef{Tenant: "t", Room: "t:1"}, qun.Draft{Type: "_sub.end"}); qun.ErrorCode(err) != qun.CodeInvalid {
		t.Fatalf("reserved type accepted: %v", err)
	}
	if _, err := hub.Publish(ctx5(t), qun.RoomRef{Tenant: "", Room: "t:1"}, qun.Draft{Type: "x"}); qun.ErrorCode(err) != qun.CodeInvalid {
		t.Fatalf("no tenant accepted: %v", err)
	}
}

// TestOrderUnderConcurrentPublishers: many publishers into one room; every
// subscriber sees 1..N exactly once, in order.
func TestOrderUnderConcurrentPublishers(t *testing.T) {
	db := qtest.SQLite(t)
	log, err := qun.NewSQLiteLogStore(db, qun.SQLiteLogStoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	e := qtest.NewEnv(t, qun.Config{Log: log, OpsPerSecond: 10000, OpBurst: 10000}, openRooms)
	subs := make([]*qclient.Client, 3)
	for i := range subs {
		subs[i] = e.Connect(t, "t", fmt.Sprint("s", i))
		qtest.Call(t, subs[i], "sub", map[string]any{"room": "t:1"}, nil)
	}
	const pubs, each = 8, 25
	var wg sync.WaitGroup
	for p := range pubs {
		c := e.Connect(t, "t", fmt.Sprint("p", p))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if err := c.Call(context.Background(), "test.say", map[string]any{"room": "t:1", "text": "x"}, nil); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, s := range subs {
		for want := uint64(1); want <= pubs*each; want++ {
			if f := qtest.NextEvent(t, s, "test.said"); f.Seq != want {
				t.Fatalf("got seq %d, want %d", f.Seq, want)
			}
		}
	}
}

// lossyBroker drops every third durable event, as a cross-node broker may.
type lossyBroker struct {
	qun.Broker
	mu sync.Mutex
	n  int
}

func (b *lossyBroker) Publish(ctx context.Context, ev *qun.Event) error {
	b.mu.Lock()
	b.n++
	drop := ev.Seq != 0 && b.n%3 == 0
	b.mu.Unlock()
	if drop {
		return nil
	}
	return b.Broker.Publish(ctx, ev)
}

func TestGapsFilledFromLog(t *testing.T) {
	e := qtest.NewEnv(t, qun.Config{Broker: &lossyBroker{Broker: qun.NewMemoryBroker()}, GapWait: 10 * time.Millisecond}, openRooms)
	a := e.Connect(t, "t", "a")
	qtest.Call(t, a, "sub", map[string]any{"room": "t:1"}, nil)
	for range 10 {
		qtest.Call(t, a, "test.say", map[string]any{"room": "t:1", "text": "x"}, nil)
	}
	for want := uint64(1); want <= 10; want++ {
		if f := qtest.NextEvent(t, a, "test.said"); f.Seq != want {
			t.Fatalf("got seq %d, want %d", f.Seq, want)
		}
	}
}

func TestSlowConsumerDisconnectedThenResumes(t *testing.T) {
	var hub *qun.Hub
	e := qtest.NewEnv(t, qun.Config{SendQueueFrames: 16}, func(e *qtest.Env) { openRooms(e); hub = e.Hub })
	// A raw client that subscribes and then stops reading.
	conn, _, err := websocket.Dial(ctx5(t), e.URL, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {e.Server.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	ctx := ctx5(t)
	write := func(s string) {
		if err := conn.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"id":1,"op":"hello","d":{"v":1,"token":"` + e.Token(t, "t", "slow") + `"}}`)
	write(`{"id":2,"op":"sub","d":{"room":"t:1"}}`)
	ref := qun.RoomRef{Tenant: "t", Room: "t:1"}
	big := strings.Repeat("x", 16<<10)
	// Publish until the server gives up on the reader: its socket buffers
	// fill, then its queue.
	deadline := time.Now().Add(10 * time.Second)
	for n := 0; ; n++ {
		if _, err := hub.Publish(ctx, ref, qun.Draft{Type: "test.big", Data: map[string]string{"x": big}}); err != nil {
			t.Fatal(err)
		}
		if n%50 == 0 {
			// Closed? Then a read returns the close frame after the data.
			rctx, cancel := context.WithTimeout(ctx, time.Millisecond)
			_, _, err := conn.Read(rctx)
			cancel()
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				if ce.Code != 4000 || ce.Reason != "slow_consumer" {
					t.Fatalf("closed with %v", ce)
				}
				break
			}
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				break // the read deadline closed the conn; the server side closed too
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("slow consumer never disconnected")
		}
	}
	// It reconnects and resumes from the start with nothing missing.
	last, _ := hub.Log().Last(ctx, ref)
	c := e.Connect(t, "t", "slow")
	qtest.Call(t, c, "sub", map[string]any{"room": "t:1", "after": last - 5}, nil)
	for want := last - 4; want <= last; want++ {
		if f := qtest.NextEvent(t, c, "test.big"); f.Seq != want {
			t.Fatalf("resume seq %d want %d", f.Seq, want)
		}
	}
}

func TestShutdownClosesConnections(t *testing.T) {
	var hub *qun.Hub
	e := qtest.NewEnv(t, qun.Config{}, func(e *qtest.Env) { openRooms(e); hub = e.Hub })
	c := e.Connect(t, "t", "u")
	if err := hub.Shutdown(ctx5(t)); err != nil {
		t.Fatal(err)
	}
	wantClosedWith(t, c, "unavailable")
	req, _ := http.NewRequest("GET", e.Server.URL+"/ws", nil)
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("after shutdown: %d", resp.StatusCode)
	}
}

func TestPingTimeoutClosesDeadClient(t *testing.T) {
	e := qtest.NewEnv(t, qun.Config{PingInterval: 50 * time.Millisecond, PingTimeout: 100 * time.Millisecond}, openRooms)
	conn, _, err := websocket.Dial(ctx5(t), e.URL, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {e.Server.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	if err := conn.Write(ctx5(t), websocket.MessageText, []byte(`{"id":1,"op":"hello","d":{"v":1,"token":"`+e.Token(t, "t", "u")+`"}}`)); err != nil {
		t.Fatal(err)
	}
	// Never read: pongs are never sent, so the server must close us.
	time.Sleep(600 * time.Millisecond)
	_, _, err = conn.Read(ctx5(t)) // the hello reply
	if err == nil {
		_, _, err = conn.Read(ctx5(t))
	}
	if err == nil {
		t.Fatal("dead client not closed")
	}
}

func TestSDKServed(t *testing.T) {
	e := qtest.NewEnv(t, qun.Config{}, nil)
	e.Mux.Handle("/qun/", e.Hub)
	resp, err := http.Get(e.Server.URL + "/qun/qun.js")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 64<<10)
	n, _ := io.ReadFull(resp.Body, buf)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") ||
		!strings.Contains(string(buf[:n]), "export class Client") {
		t.Fatalf("sdk: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	resp2, _ := http.Get(e.Server.URL + "/qun/other")
	resp2.Body.Close()
	if resp2.StatusCode != 404 {
		t.Fatalf("non-upgrade request: %d", resp2.StatusCode)
	}
}

// failingBroker subscribes fine but fails every publish, as a broker that
// lost its server would.
type failingBroker struct{ qun.Broker }

func (failingBroker) Publish(context.Context, *qun.Event) error { return errors.New("broker down") }

// A durable event whose broker publish failed still reaches this node's
// subscribers at once, not only when a later event reveals the gap.
func TestBrokerFailureStillDeliversLocally(t *testing.T) {
	e := qtest.NewEnv(t, qun.Config{Broker: failingBroker{qun.NewMemoryBroker()}, GapWait: time.Hour}, openRooms)
	a := e.Connect(t, "t", "a")
	qtest.Call(t, a, "sub", map[string]any{"room": "t:1"}, nil)
	qtest.Call(t, a, "test.say", map[string]any{"room": "t:1", "text": "still here"}, nil)
	if f := qtest.NextEvent(t, a, "test.said"); f.Seq != 1 {
		t.Fatalf("seq %d", f.Seq)
	}
}
