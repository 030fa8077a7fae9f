package replay

import (
	"testing"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/qtest"
)

func TestOps(t *testing.T) {
	te := newTestEnv(t, nil)
	setRoles(te)
	host, viewer, stranger := te.Connect(t, "ten1", "host"), te.Connect(t, "ten1", "v1"), te.Connect(t, "ten1", "stranger")
	other := te.Connect(t, "ten2", "host")

	qtest.CallErr(t, stranger, "replay.start", map[string]any{"live": "live:l1", "group": "g:1"}, qun.CodeForbidden)
	qtest.CallErr(t, host, "replay.start", map[string]any{"live": "live:l1", "group": "g:2"}, qun.CodeForbidden) // not a member there
	qtest.CallErr(t, host, "replay.start", map[string]any{}, qun.CodeInvalid)
	var r Replay
	qtest.Call(t, host, "replay.start", map[string]any{"live": "live:l1", "group": "g:1", "title": "Friday sale"}, &r)
	if r.ID == "" || r.State != StateRecording || r.Title != "Friday sale" || r.Host != "host" {
		t.Fatalf("started %+v", r)
	}
	qtest.CallErr(t, host, "replay.start", map[string]any{"live": "live:l1", "group": "g:1"}, qun.CodeConflict)
	qtest.CallErr(t, viewer, "replay.get", map[string]any{"id": r.ID}, qun.CodeForbidden)
	qtest.CallErr(t, viewer, "replay.stop", map[string]any{"id": r.ID}, qun.CodeForbidden)
	qtest.CallErr(t, other, "replay.stop", map[string]any{"id": r.ID}, qun.CodeNotFound)
	qtest.Call(t, host, "replay.stop", map[string]any{"id": r.ID}, &r)
	if r.State != StatePending {
		t.Fatalf("after stop: %s", r.State)
	}
	qtest.CallErr(t, viewer, "replay.keep", map[string]any{"id": r.ID}, qun.CodeForbidden)
	qtest.CallErr(t, host, "replay.keep", map[string]any{"id": r.ID, "bogus": 1}, qun.CodeInvalid)
	qtest.Call(t, host, "replay.keep", map[string]any{"id": r.ID}, &r)
	if r.State != StateKept || r.ExpiresAt.IsZero() {
		t.Fatalf("after keep: %+v", r)
	}
	var list struct{ Replays []Replay }
	qtest.Call(t, viewer, "replay.list", map[string]any{"group": "g:1"}, &list)
	if len(list.Replays) != 1 || list.Replays[0].ID != r.ID {
		t.Fatalf("list %+v", list)
	}
	qtest.Call(t, other, "replay.list", map[string]any{"group": "g:1"}, &list)
	if len(list.Replays) != 0 {
		t.Fatalf("another tenant lists %+v", list)
	}
	var page TimelinePage
	qtest.Call(t, viewer, "replay.timeline", map[string]any{"id": r.ID, "from": 0}, &page)
	qtest.CallErr(t, viewer, "replay.timeline", map[string]any{"id": r.ID, "from": -1}, qun.CodeInvalid)
	qtest.CallErr(t, viewer, "replay.get", map[string]any{}, qun.CodeInvalid)
	qtest.CallErr(t, viewer, "replay.get", map[string]any{"id": "nope"}, qun.CodeNotFound)
	qtest.CallErr(t, viewer, "replay.discard", map[string]any{"id": r.ID}, qun.CodeForbidden)
	qtest.Call(t, host, "replay.discard", map[string]any{"id": r.ID}, &r)
	qtest.CallErr(t, viewer, "replay.get", map[string]any{"id": r.ID}, qun.CodeNotFound)
}
