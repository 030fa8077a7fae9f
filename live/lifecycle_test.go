package live_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/qclient"
	"github.com/qunkit/qun/internal/qtest"
	"github.com/qunkit/qun/live"
)

func TestScheduleRemindStart(t *testing.T) {
	var mu sync.Mutex
	var reminded []qun.UserID
	got := make(chan struct{}, 1)
	e := newEnv(t, live.Config{Notifier: live.NotifierFunc(func(_ context.Context, r live.Reminder) error {
		mu.Lock()
		reminded = append(reminded, r.Users...)
		mu.Unlock()
		got <- struct{}{}
		return nil
	})})
	e.groups.set("g:1", "host", qun.RoleMember)
	e.groups.set("g:1", "fan", qun.RoleMember)
	hostC := e.Connect(t, "t1", "host")
	fan := e.Connect(t, "t1", "fan")
	qtest.Call(t, fan, "sub", map[string]any{"room": "g:1"}, nil)
	qtest.Call(t, fan, "sub", map[string]any{"room": qun.UserRoom("fan")}, nil)

	at := time.Now().Add(time.Hour).UnixMilli()
	qtest.CallErr(t, hostC, "live.schedule", map[string]any{"group": "g:1", "title": "x", "at": time.Now().Add(-time.Hour).UnixMilli()}, qun.CodeInvalid)
	var rec live.Record
	qtest.Call(t, hostC, "live.schedule", map[string]any{"group": "g:1", "title": "Friday class", "at": at, "mode": "small"}, &rec)
	if rec.State != live.StateScheduled || rec.ScheduledAt.UnixMilli() != at || rec.StageLimit != 6 {
		t.Fatalf("scheduled %+v", rec)
	}
	qtest.NextEvent(t, fan, "live.scheduled")
	var lst struct{ Lives []live.Record }
	qtest.Call(t, fan, "live.list", map[string]any{"group": "g:1"}, &lst)
	if len(lst.Lives) != 1 {
		t.Fatalf("list %+v", lst)
	}
	qtest.CallErr(t, fan, "live.join", map[string]any{"live": rec.ID}, qun.CodeConflict)
	qtest.Call(t, fan, "live.remind", map[string]any{"live": rec.ID, "on": true}, nil)
	qtest.CallErr(t, fan, "live.start", map[string]any{"live": rec.ID}, qun.CodeForbidden)

	qtest.Call(t, hostC, "live.start", map[string]any{"live": rec.ID}, nil)
	// The reminder comes from a background goroutine: either order.
	seen := map[string]qclient.Frame{}
	for len(seen) < 2 {
		f := qtest.Next(t, fan, func(f qclient.Frame) bool { return f.Type == "live.started" || f.Type == "live.reminder" })
		seen[f.Type] = f
	}
	var d struct{ Live string }
	_ = json.Unmarshal(seen["live.reminder"].D, &d)
	if d.Live != rec.ID || seen["live.reminder"].Room != qun.UserRoom("fan") {
		t.Fatalf("reminder %+v", seen["live.reminder"])
	}
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("notifier not called")
	}
	mu.Lock()
	if len(reminded) != 1 || reminded[0] != "fan" {
		t.Fatalf("reminded %v", reminded)
	}
	mu.Unlock()
	qtest.CallErr(t, fan, "live.remind", map[string]any{"live": rec.ID, "on": true}, qun.CodeConflict)
	qtest.Call(t, fan, "live.join", map[string]any{"live": rec.ID}, nil)
	qtest.Call(t, hostC, "live.end", map[string]any{"live": rec.ID}, nil)
	qtest.NextEvent(t, fan, "live.ended")
	qtest.CallErr(t, hostC, "live.end", map[string]any{"live": rec.ID}, qun.CodeConflict)
}
