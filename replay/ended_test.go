package replay

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/qtest"
	"github.com/qunkit/qun/live"
)

// waitState waits up to d for replay id to reach state.
func waitState(t *testing.T, store Store, id string, state State, d time.Duration) *Replay {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		got, err := store.Get(context.Background(), "ten1", id)
		if err != nil {
			t.Fatal(err)
		}
		if got.State == state {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("replay %s after %v, want %s", got.State, d, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// live tells the recording the live ended: it stops at once, without
// waiting for a heartbeat to find the end in the live's log, and its
// timeline ends with the live.ended event.
func TestRecordingStopsAtOnceWhenLiveEnds(t *testing.T) {
	le := newLiveEnv(t, func(c *Config) { c.Heartbeat = time.Hour })
	le.roles.set("ten1", "g:1", "host", qun.RoleMember)
	hostC := le.Connect(t, "ten1", "host")
	var info live.Info
	qtest.Call(t, hostC, "live.start", map[string]any{"group": "g:1", "title": "Short"}, &info)
	var r Replay
	qtest.Call(t, hostC, "replay.start", map[string]any{"live": info.Room}, &r)
	qtest.Call(t, hostC, "live.end", map[string]any{"live": info.ID}, nil)
	got := waitState(t, le.svc.store, r.ID, StatePending, time.Second)
	evs, err := le.svc.timeline(context.Background(), got)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 || evs[len(evs)-1].Type != "live.ended" {
		t.Fatalf("timeline %+v does not end with live.ended", evs)
	}
}

// Without word from live (a recorder of a Lives that does not tell), the
// heartbeat finds the end in the live room's log, however many events
// came before it since the last beat.
func TestRecordingFindsTheEndInABusyLiveLog(t *testing.T) {
	te := newTestEnv(t, func(c *Config) { c.Heartbeat = 100 * time.Millisecond })
	ctx := context.Background()
	r, err := te.svc.Start(ctx, StartOptions{Tenant: "ten1", Live: "live:l1", Group: "g:1", Host: "host"})
	if err != nil {
		t.Fatal(err)
	}
	ts := te.clock.Now().UnixMilli()
	var evs []*qun.Event
	for range 5000 {
		evs = append(evs, &qun.Event{Tenant: "ten1", Room: "live:l1", Type: "live.likes", TS: ts, Data: json.RawMessage(`{"delta":1}`)})
	}
	evs = append(evs, &qun.Event{Tenant: "ten1", Room: "live:l1", Type: "live.ended", TS: ts})
	if err := te.Hub.Log().Append(ctx, qun.RoomRef{Tenant: "ten1", Room: "live:l1"}, evs...); err != nil {
		t.Fatal(err)
	}
	// Found within a beat or two: the recording is claimed for finishing.
	start := time.Now()
	for {
		te.svc.mu.Lock()
		recording := te.svc.byID[activeKey{"ten1", r.ID}] != nil
		te.svc.mu.Unlock()
		if !recording {
			break
		}
		if time.Since(start) > 2*time.Second {
			t.Fatal("the end in the log was not found within 2 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("found %v after the end was logged", time.Since(start))
	waitState(t, te.svc.store, r.ID, StatePending, 10*time.Second)
}
