package qun_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/qtest"
)

// TestStalledWritesDoNotStallOthers: clients that stop reading block the
// writes to them once their TCP windows are full; more of them than the
// write pool has writers must not delay a healthy subscriber, which gets
// every event promptly while the stalled ones wait for WriteTimeout.
func TestStalledWritesDoNotStallOthers(t *testing.T) {
	var hub *qun.Hub
	e := qtest.NewEnv(t, qun.Config{SendQueueFrames: 100_000, WriteTimeout: time.Minute},
		func(e *qtest.Env) { openRooms(e); hub = e.Hub })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const stalled = 24 // more than the pool's writers on any machine this runs on
	for i := range stalled {
		conn, _, err := websocket.Dial(ctx, e.URL, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {e.Server.URL}}})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.CloseNow()
		for _, m := range []string{
			`{"id":1,"op":"hello","d":{"v":1,"token":"` + e.Token(t, "t", "stuck"+string(rune('a'+i))) + `"}}`,
			`{"id":2,"op":"sub","d":{"room":"t:1"}}`,
		} {
			if err := conn.Write(ctx, websocket.MessageText, []byte(m)); err != nil {
				t.Fatal(err)
			}
		}
		// ... and never reads again.
	}
	healthy := e.Connect(t, "t", "healthy")
	qtest.Call(t, healthy, "sub", map[string]any{"room": "t:1"}, nil)
	time.Sleep(100 * time.Millisecond) // the stuck ones' subs are done

	ref := qun.RoomRef{Tenant: "t", Room: "t:1"}
	big := strings.Repeat("x", 60<<10)
	// Far more than loopback's socket buffers hold: every write to the stuck
	// clients blocks before this ends.
	const events = 400
	start := time.Now()
	for range events {
		if _, err := hub.Publish(ctx, ref, qun.Draft{Type: "test.big", Data: map[string]string{"x": big}}); err != nil {
			t.Fatal(err)
		}
	}
	for want := uint64(1); want <= events; want++ {
		if f := qtest.NextEvent(t, healthy, "test.big"); f.Seq != want {
			t.Fatalf("seq %d, want %d", f.Seq, want)
		}
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("the healthy subscriber took %v", d)
	}
}
