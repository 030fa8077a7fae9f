package whiteboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/qclient"
	"github.com/qunkit/qun/internal/qtest"
	"github.com/qunkit/qun/whiteboard"
	"github.com/qunkit/qun/whiteboard/whiteboardtest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fast lets test clients send ops as fast as they like.
var fast = qun.Config{OpsPerSecond: 10_000, OpBurst: 10_000}

func TestSQLiteStore(t *testing.T) {
	whiteboardtest.RunStoreTests(t, func(t *testing.T) whiteboard.Store {
		s, err := whiteboard.NewSQLiteStore(qtest.SQLite(t))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// script runs ops for a goroutine that must not call t.Fatal: the first
// error stops it and is reported by the test goroutine.
type script struct{ err error }

func (s *script) do(c *qclient.Client, op string, d any) json.RawMessage {
	if s.err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out json.RawMessage
	if err := c.Call(ctx, op, d, &out); err != nil {
		s.err = fmt.Errorf("%s %v: %w", op, d, err)
	}
	return out
}

func (s *script) id(raw json.RawMessage) uint64 {
	var r struct {
		ID uint64 `json:"id"`
	}
	if s.err == nil {
		s.err = json.Unmarshal(raw, &r)
	}
	return r.ID
}

// activity is one round of a lesson: streamed strokes, shapes, text,
// erasing, undo and redo by two drawers, page turns, zoom and clear.
func activity(teacher, alice *qclient.Client, board whiteboard.BoardID, p1, p2 uint64, round int) error {
	s := &script{}
	b := board
	id := s.id(s.do(teacher, "wb.stroke.begin", m{"board": b, "page": p1, "tool": "pen", "c": "#FF0000", "w": 0.003, "pts": []float64{0.1, 0.1, 0.5, 0.12, 0.11, 0.6}}))
	for i := range 3 {
		f := float64(i) / 10
		s.do(teacher, "wb.stroke.append", m{"board": b, "id": id, "pts": []float64{0.2 + f, 0.2, 0.7, 0.21 + f, 0.22, 0.8}})
	}
	s.do(teacher, "wb.stroke.end", m{"board": b, "id": id, "pts": []float64{0.6, 0.3, 0.5}})
	a1 := s.id(s.do(alice, "wb.draw", m{"board": b, "page": p1, "item": m{"k": "shape", "shape": "rect", "c": "#00ff00", "w": 0.002, "pts": []float64{0.1, 0.5, 0.3, 0.7}}}))
	a2 := s.id(s.do(alice, "wb.draw", m{"board": b, "page": p1, "item": m{"k": "text", "c": "#000000", "size": 0.03, "text": fmt.Sprintf("第%d课 \"quotes\" <b>", round), "pts": []float64{0.4, 0.4}}}))
	a3 := s.id(s.do(alice, "wb.draw", m{"board": b, "page": p1, "item": m{"k": "shape", "shape": "ellipse", "c": "#0000ff", "fill": "#0000FF40", "w": 0.01, "pts": []float64{0.6, 0.6, 0.9, 0.95}}}))
	s.do(alice, "wb.draw", m{"board": b, "page": p1, "item": m{"k": "shape", "shape": "arrow", "c": "#0000ff", "w": 0.01, "pts": []float64{0, 0, 1, 1}}})
	s.do(alice, "wb.erase", m{"board": b, "page": p1, "ids": []uint64{a2}})
	s.do(teacher, "wb.erase", m{"board": b, "page": p1, "ids": []uint64{a3}})
	s.do(alice, "wb.undo", m{"board": b}) // brings a2 back
	s.do(alice, "wb.undo", m{"board": b}) // removes the arrow
	s.do(alice, "wb.redo", m{"board": b}) // restores it
	s.do(alice, "wb.laser", m{"board": b, "page": p1, "x": 0.5, "y": 0.5})
	s.do(teacher, "wb.page", m{"board": b, "page": p2})
	s.do(teacher, "wb.view", m{"board": b, "page": p2, "x": 0.25, "y": 0.5, "zoom": 2, "live": true})
	s.do(teacher, "wb.view", m{"board": b, "page": p2, "x": 0.25, "y": 0.5, "zoom": 2})
	s.do(teacher, "wb.draw", m{"board": b, "page": p2, "item": m{"k": "stroke", "tool": "highlighter", "c": "#ffff0080", "w": 0.02, "pts": []float64{0.1, 0.9, 1, 0.9, 0.9, 1}}})
	s.do(teacher, "wb.clear", m{"board": b, "page": p2})
	if round%2 == 0 {
		s.do(teacher, "wb.undo", m{"board": b})
		s.do(teacher, "wb.page", m{"board": b, "page": p1})
	}
	if round == 1 {
		s.do(teacher, "wb.page.add", m{"board": b, "after": p1})
		s.do(teacher, "wb.page.add", m{"board": b, "after": 0, "w": 900, "h": 1600})
	}
	_ = a1
	return s.err
}

func TestLateJoinerSeesExactBoard(t *testing.T) {
	db := qtest.SQLite(t)
	log1, err := qun.NewSQLiteLogStore(db, qun.SQLiteLogStoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log1.Close() })
	cfg := fast
	cfg.Log = log1
	e := newEnv(t, db, cfg, whiteboard.Config{SnapshotEvery: 7})
	board := e.create(t)
	teacher := e.Connect(t, "t1", "teacher")
	alice := e.Connect(t, "t1", "alice")
	call(t, teacher, "wb.rights", m{"board": board, "user": "alice", "draw": true})
	p1 := e.state(t, board).Pages[0].ID
	var added struct {
		Page whiteboard.PageInfo `json:"page"`
	}
	qtest.Call(t, teacher, "wb.page.add", m{"board": board}, &added)
	p2 := added.Page.ID

	for round := range 2 {
		if err := activity(teacher, alice, board, p1, p2, round); err != nil {
			t.Fatal(err)
		}
	}
	// A stroke in progress when eve joins.
	draft := idOf(t, call(t, alice, "wb.stroke.begin", m{"board": board, "page": p1, "tool": "pen", "c": "#123456", "w": 0.001, "pts": []float64{0.5, 0.5, 1}}))

	// eve joins late while the lesson goes on.
	done := make(chan error, 1)
	go func() { done <- activity(teacher, alice, board, p1, p2, 2) }()
	eve := e.Connect(t, "t1", "eve")
	v := newViewer(t, call(t, eve, "wb.open", m{"board": board}))
	if v.drafts[draft] == nil {
		t.Fatalf("wb.open has no draft %d: %+v", draft, v.drafts)
	}
	sub(t, eve, board, &v.seq)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	call(t, alice, "wb.stroke.end", m{"board": board, "id": draft})
	want := e.state(t, board)
	v.drain(t, eve, board, want.Seq)
	v.loadAll(t, eve, board)
	sameState(t, "late joiner's board", v.state(), want)
	if len(v.drafts) != 0 {
		t.Fatalf("drafts left: %+v", v.drafts)
	}
	// So is a client that replays the whole log.
	sameState(t, "whole-log replay", replayLog(t, e, board, want.Seq), want)

	// Replay seeks through snapshots: every past state matches the log.
	for _, at := range []uint64{1, 5, 7, 8, 20, want.Seq / 2, want.Seq - 1, want.Seq} {
		st, err := e.svc.StateAt(context.Background(), "t1", board, at)
		if err != nil {
			t.Fatal(err)
		}
		sameState(t, fmt.Sprintf("state at %d", at), st, replayLog(t, e, board, at))
	}
	if snap, err := e.store.LoadSnapshot(context.Background(), "t1", board, 0); err != nil || snap == nil || snap.Seq < 7 {
		t.Fatalf("no snapshot persisted: %v %v", snap, err)
	}

	// After a restart the board is rebuilt from its snapshot and the log.
	if err := e.svc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Hub.Close(); err != nil {
		t.Fatal(err)
	}
	log1.Close()
	log2, err := qun.NewSQLiteLogStore(db, qun.SQLiteLogStoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log2.Close() })
	cfg.Log = log2
	e2 := newEnv(t, db, cfg, whiteboard.Config{SnapshotEvery: 7})
	sameState(t, "board after restart", e2.state(t, board), want)
	// Undo histories survive too: alice's next undo removes her newest item.
	alice2 := e2.Connect(t, "t1", "alice")
	call(t, alice2, "wb.undo", m{"board": board})
	after := e2.state(t, board)
	if after.Seq != want.Seq+1 {
		t.Fatalf("undo after restart: seq %d, want %d", after.Seq, want.Seq+1)
	}
}

func itemIDs(t testing.TB, st *whiteboard.State, page uint64) []uint64 {
	t.Helper()
	for _, p := range st.Pages {
		if p.ID == page {
			ids := []uint64{}
			for _, raw := range p.Items {
				ids = append(ids, itemID(t, raw))
			}
			return ids
		}
	}
	t.Fatalf("no page %d", page)
	return nil
}

func TestUndoTouchesOnlyOwnOperations(t *testing.T) {
	e := newEnv(t, nil, fast, whiteboard.Config{})
	board := e.create(t)
	teacher := e.Connect(t, "t1", "teacher")
	alice := e.Connect(t, "t1", "alice")
	call(t, teacher, "wb.rights", m{"board": board, "user": "alice", "draw": true})
	p := e.state(t, board).Pages[0].ID
	t1 := draw(t, teacher, board, p, 0.1, 0.1, 1)
	a1 := draw(t, alice, board, p, 0.2, 0.2, 1)
	t2 := draw(t, teacher, board, p, 0.3, 0.3, 1)
	a2 := draw(t, alice, board, p, 0.4, 0.4, 1)
	ids := func(want ...uint64) {
		t.Helper()
		if got := itemIDs(t, e.state(t, board), p); !slices.Equal(got, want) {
			t.Fatalf("items %v, want %v", got, want)
		}
	}
	call(t, alice, "wb.undo", m{"board": board})
	ids(t1, a1, t2)
	call(t, teacher, "wb.undo", m{"board": board})
	ids(t1, a1)
	call(t, alice, "wb.undo", m{"board": board})
	ids(t1)
	qtest.CallErr(t, alice, "wb.undo", m{"board": board}, qun.CodeConflict)
	call(t, teacher, "wb.redo", m{"board": board})
	ids(t1, t2)
	call(t, alice, "wb.redo", m{"board": board})
	ids(t1, a1, t2)
	// A new operation clears the redo stack.
	a3 := draw(t, alice, board, p, 0.5, 0.5, 1)
	qtest.CallErr(t, alice, "wb.redo", m{"board": board}, qun.CodeConflict)
	// The teacher erases alice's stroke: alice's undo skips what is gone.
	call(t, teacher, "wb.erase", m{"board": board, "page": p, "ids": []uint64{a3}})
	ids(t1, a1, t2)
	call(t, alice, "wb.undo", m{"board": board}) // a3 is gone: undoes a1
	ids(t1, t2)
	// The teacher clears the page, then undoes the clear: everything is back.
	call(t, alice, "wb.redo", m{"board": board})
	call(t, teacher, "wb.clear", m{"board": board, "page": p})
	ids()
	qtest.CallErr(t, alice, "wb.undo", m{"board": board}, qun.CodeConflict)
	call(t, teacher, "wb.undo", m{"board": board}) // the clear
	ids(t1, a1, t2)
	call(t, teacher, "wb.undo", m{"board": board}) // the erase of a3
	ids(t1, a1, t2, a3)
	_ = a2
}

func TestPresentersAndDrawingRights(t *testing.T) {
	e := newEnv(t, nil, fast, whiteboard.Config{})
	board := e.create(t)
	teacher := e.Connect(t, "t1", "teacher")
	ta := e.Connect(t, "t1", "ta")
	alice := e.Connect(t, "t1", "alice")
	eve := e.Connect(t, "t1", "eve")
	p := e.state(t, board).Pages[0].ID

	// Both presenters draw, add and turn pages.
	draw(t, teacher, board, p, 0.1, 0.1, 1)
	tas := draw(t, ta, board, p, 0.2, 0.2, 1)
	var added struct {
		Page whiteboard.PageInfo `json:"page"`
	}
	qtest.Call(t, ta, "wb.page.add", m{"board": board}, &added)
	call(t, ta, "wb.page", m{"board": board, "page": added.Page.ID})
	call(t, teacher, "wb.page", m{"board": board, "page": p})
	var open openReply
	qtest.Call(t, ta, "wb.open", m{"board": board}, &open)
	if !open.Me.Present || !open.Me.Draw {
		t.Fatalf("ta: %+v", open.Me)
	}

	// A member watches but does not draw.
	qtest.Call(t, alice, "wb.open", m{"board": board}, &open)
	if open.Me.Present || open.Me.Draw {
		t.Fatalf("alice: %+v", open.Me)
	}
	for op, d := range map[string]m{
		"wb.draw":         {"board": board, "page": p, "item": pen(0.5, 0.5, 1)},
		"wb.stroke.begin": {"board": board, "page": p, "tool": "pen", "c": "#000000", "w": 0.01, "pts": []float64{0, 0, 0}},
		"wb.laser":        {"board": board, "page": p, "x": 0.1, "y": 0.1},
		"wb.undo":         {"board": board},
		"wb.erase":        {"board": board, "page": p, "ids": []uint64{tas}},
		"wb.rights":       {"board": board, "user": "alice", "draw": true},
		"wb.page":         {"board": board, "page": p},
		"wb.clear":        {"board": board, "page": p},
		"wb.page.add":     {"board": board},
		"wb.delete":       {"board": board},
	} {
		qtest.CallErr(t, alice, op, d, qun.CodeForbidden)
	}

	// Granted, alice draws.
	sub(t, eve, board, nil)
	call(t, teacher, "wb.rights", m{"board": board, "user": "alice", "draw": true})
	if f := nextEv(t, eve, board, whiteboard.EvRights); !strings.Contains(string(f.D), `"draw":true`) {
		t.Fatalf("rights event %s", f.D)
	}
	mine := draw(t, alice, board, p, 0.6, 0.6, 1)
	// She erases only her own items, and still presents nothing.
	qtest.CallErr(t, alice, "wb.erase", m{"board": board, "page": p, "ids": []uint64{tas}}, qun.CodeForbidden)
	qtest.CallErr(t, alice, "wb.clear", m{"board": board, "page": p}, qun.CodeForbidden)
	call(t, alice, "wb.erase", m{"board": board, "page": p, "ids": []uint64{mine}})

	// Revoked in the middle of a stroke: her very next op is refused and
	// everyone sees the stroke disappear.
	sid := idOf(t, call(t, alice, "wb.stroke.begin", m{"board": board, "page": p, "tool": "pen", "c": "#000000", "w": 0.01, "pts": []float64{0.3, 0.3, 0.5}}))
	call(t, alice, "wb.stroke.append", m{"board": board, "id": sid, "pts": []float64{0.31, 0.31, 0.5}})
	call(t, ta, "wb.rights", m{"board": board, "user": "alice", "draw": false})
	qtest.CallErr(t, alice, "wb.stroke.append", m{"board": board, "id": sid, "pts": []float64{0.32, 0.32, 0.5}}, qun.CodeForbidden)
	qtest.CallErr(t, alice, "wb.stroke.end", m{"board": board, "id": sid}, qun.CodeForbidden)
	qtest.CallErr(t, alice, "wb.draw", m{"board": board, "page": p, "item": pen(0.5, 0.5, 1)}, qun.CodeForbidden)
	qtest.CallErr(t, alice, "wb.undo", m{"board": board}, qun.CodeForbidden)
	nextEv(t, eve, board, whiteboard.EvRights)
	if f := nextEv(t, eve, board, whiteboard.EvStrokeCancel); !strings.Contains(string(f.D), fmt.Sprint(sid)) {
		t.Fatalf("cancel %s", f.D)
	}
	if st := e.state(t, board); len(st.Drawers) != 0 {
		t.Fatalf("drawers %v", st.Drawers)
	}

	// A viewer watches: open and items, nothing else.
	call(t, eve, "wb.items", m{"board": board, "page": p})
	qtest.CallErr(t, eve, "wb.draw", m{"board": board, "page": p, "item": pen(0.5, 0.5, 1)}, qun.CodeForbidden)
	// Someone not in the room cannot even watch.
	mallory := e.Connect(t, "t1", "mallory")
	qtest.CallErr(t, mallory, "wb.open", m{"board": board}, qun.CodeForbidden)
	qtest.CallErr(t, mallory, "sub", m{"room": whiteboard.Room(board)}, qun.CodeForbidden)

	// The presenter threshold is configurable: with owners only, the TA watches.
	e2 := newEnv(t, nil, fast, whiteboard.Config{PresenterRole: qun.RoleOwner})
	b2 := e2.create(t)
	ta2 := e2.Connect(t, "t1", "ta")
	qtest.CallErr(t, ta2, "wb.draw", m{"board": b2, "page": e2.state(t, b2).Pages[0].ID, "item": pen(0.5, 0.5, 1)}, qun.CodeForbidden)
	qtest.CallErr(t, ta2, "wb.create", m{"room": "t:1"}, qun.CodeForbidden)
}

func TestStrokesStreamToViewers(t *testing.T) {
	e := newEnv(t, nil, fast, whiteboard.Config{Limits: whiteboard.Limits{StrokePoints: 5}})
	board := e.create(t)
	teacher := e.Connect(t, "t1", "teacher")
	eve := e.Connect(t, "t1", "eve")
	p := e.state(t, board).Pages[0].ID
	sub(t, eve, board, nil)

	sid := idOf(t, call(t, teacher, "wb.stroke.begin", m{"board": board, "page": p, "tool": "highlighter", "c": "#ABCDEF", "w": 0.012345, "pts": []float64{0.1, 0.2, 0.3}}))
	f := nextEv(t, eve, board, whiteboard.EvStrokeBegin)
	if f.Seq != 0 || f.Actor != "teacher" || string(f.D) != fmt.Sprintf(`{"id":%d,"page":%d,"by":"teacher","tool":"highlighter","c":"#abcdef","w":0.0123,"pts":[0.1,0.2,0.3]}`, sid, p) {
		t.Fatalf("begin %+v %s", f, f.D)
	}
	call(t, teacher, "wb.stroke.append", m{"board": board, "id": sid, "pts": []float64{0.123456, 0.2, 0.3, 0.4, 0.5, 0.6}})
	f = nextEv(t, eve, board, whiteboard.EvStrokeAppend)
	if string(f.D) != fmt.Sprintf(`{"id":%d,"i":1,"pts":[0.1235,0.2,0.3,0.4,0.5,0.6]}`, sid) {
		t.Fatalf("append %s", f.D)
	}
	// A late joiner sees the stroke so far.
	bob := e.Connect(t, "t1", "bob")
	v := newViewer(t, call(t, bob, "wb.open", m{"board": board}))
	if d := v.drafts[sid]; d == nil || len(d.pts) != 9 {
		t.Fatalf("draft in wb.open: %+v", v.drafts)
	}
	// Too many points: refused, and the stroke is intact.
	qtest.CallErr(t, teacher, "wb.stroke.append", m{"board": board, "id": sid, "pts": []float64{0, 0, 0, 0, 0, 0, 0, 0, 0}}, qun.CodeTooLarge)
	seq := seqOf(t, call(t, teacher, "wb.stroke.end", m{"board": board, "id": sid, "pts": []float64{0.7, 0.8, 0.9}}))
	f = nextEv(t, eve, board, whiteboard.EvAdd)
	want := fmt.Sprintf(`{"page":%d,"items":[{"id":%d,"k":"stroke","by":"teacher","tool":"highlighter","c":"#abcdef","w":0.0123,"pts":[0.1,0.2,0.3,0.1235,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9]}]}`, p, sid)
	if f.Seq != seq || string(f.D) != want {
		t.Fatalf("end: seq %d (reply %d) %s\nwant %s", f.Seq, seq, f.D, want)
	}
	qtest.CallErr(t, teacher, "wb.stroke.append", m{"board": board, "id": sid, "pts": []float64{0.5, 0.5, 0.5}}, qun.CodeNotFound)

	// A stroke whose drawer disconnects is discarded for everyone.
	ta := e.Connect(t, "t1", "ta")
	sid2 := idOf(t, call(t, ta, "wb.stroke.begin", m{"board": board, "page": p, "tool": "pen", "c": "#000000", "w": 0.01, "pts": []float64{0.5, 0.5, 0.5}}))
	ta.Close()
	if f := nextEv(t, eve, board, whiteboard.EvStrokeCancel); string(f.D) != fmt.Sprintf(`{"id":%d}`, sid2) {
		t.Fatalf("cancel %s", f.D)
	}
	// The laser pointer is broadcast and never stored.
	call(t, teacher, "wb.laser", m{"board": board, "page": p, "x": 0.25, "y": 0.75})
	if f := nextEv(t, eve, board, whiteboard.EvLaser); f.Seq != 0 || string(f.D) != fmt.Sprintf(`{"page":%d,"x":0.25,"y":0.75}`, p) {
		t.Fatalf("laser %+v %s", f, f.D)
	}
	call(t, teacher, "wb.laser", m{"board": board, "off": true})
	nextEv(t, eve, board, whiteboard.EvLaser)
	if st := e.state(t, board); st.Seq != seq {
		t.Fatalf("ephemeral ops changed the board: seq %d, want %d", st.Seq, seq)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	e := newEnv(t, nil, fast, whiteboard.Config{Limits: whiteboard.Limits{StrokePoints: 50, OpBytes: 4096, TextRunes: 20}})
	board := e.create(t)
	teacher := e.Connect(t, "t1", "teacher")
	p := e.state(t, board).Pages[0].ID
	mine := draw(t, teacher, board, p, 0.5, 0.5, 0.5)
	sid := idOf(t, call(t, teacher, "wb.stroke.begin", m{"board": board, "page": p, "tool": "pen", "c": "#000000", "w": 0.01, "pts": []float64{0.5, 0.5, 0.5}}))
	before := e.state(t, board)

	item := func(kv ...any) m {
		d := m{"board": board, "page": p}
		it := m{}
		for i := 0; i < len(kv); i += 2 {
			it[kv[i].(string)] = kv[i+1]
		}
		d["item"] = it
		return d
	}
	many := make([]float64, 3*51)
	cases := []struct {
		name, op string
		d        any
		code     qun.Code
		field    string
	}{
		{"unknown kind", "wb.draw", item("k", "blob", "c", "#000000", "pts", []float64{0, 0}), qun.CodeInvalid, "item.k"},
		{"unknown field", "wb.draw", item("k", "stroke", "tool", "pen", "c", "#000000", "w", 0.1, "pts", []float64{0, 0, 0}, "zorder", 3), qun.CodeInvalid, ""},
		{"x beyond the page", "wb.draw", item("k", "stroke", "tool", "pen", "c", "#000000", "w", 0.01, "pts", []float64{1.5, 0, 0}), qun.CodeInvalid, "item.pts"},
		{"negative y", "wb.draw", item("k", "stroke", "tool", "pen", "c", "#000000", "w", 0.01, "pts", []float64{0.5, -0.1, 0}), qun.CodeInvalid, "item.pts"},
		{"pressure above 1", "wb.draw", item("k", "stroke", "tool", "pen", "c", "#000000", "w", 0.01, "pts", []float64{0.5, 0.1, 2}), qun.CodeInvalid, "item.pts"},
		{"ragged points", "wb.draw", item("k", "stroke", "tool", "pen", "c", "#000000", "w", 0.01, "pts", []float64{0.5, 0.1}), qun.CodeInvalid, "item.pts"},
		{"too many points", "wb.draw", item("k", "stroke", "tool", "pen", "c", "#000000", "w", 0.01, "pts", many), qun.CodeTooLarge, ""},
		{"op too large", "wb.draw", item("k", "text", "c", "#000000", "size", 0.1, "text", strings.Repeat("x", 5000), "pts", []float64{0, 0}), qun.CodeTooLarge, ""},
		{"text too long", "wb.draw", item("k", "text", "c", "#000000", "size", 0.1, "text", strings.Repeat("字", 21), "pts", []float64{0, 0}), qun.CodeTooLarge, ""},
		{"empty text", "wb.draw", item("k", "text", "c", "#000000", "size", 0.1, "text", "  ", "pts", []float64{0, 0}), qun.CodeInvalid, "item.text"},
		{"bad colour", "wb.draw", item("k", "stroke", "tool", "pen", "c", "red", "w", 0.01, "pts", []float64{0, 0, 0}), qun.CodeInvalid, "item.c"},
		{"zero width", "wb.draw", item("k", "stroke", "tool", "pen", "c", "#000000", "w", 0, "pts", []float64{0, 0, 0}), qun.CodeInvalid, "item.w"},
		{"no tool", "wb.draw", item("k", "stroke", "c", "#000000", "w", 0.01, "pts", []float64{0, 0, 0}), qun.CodeInvalid, "item.tool"},
		{"unknown tool", "wb.draw", item("k", "stroke", "tool", "spray", "c", "#000000", "w", 0.01, "pts", []float64{0, 0, 0}), qun.CodeInvalid, "item.tool"},
		{"unknown shape", "wb.draw", item("k", "shape", "shape", "star", "c", "#000000", "w", 0.01, "pts", []float64{0, 0, 1, 1}), qun.CodeInvalid, "item.shape"},
		{"filled line", "wb.draw", item("k", "shape", "shape", "line", "c", "#000000", "fill", "#ffffff", "w", 0.01, "pts", []float64{0, 0, 1, 1}), qun.CodeInvalid, "item.fill"},
		{"shape with 3 numbers", "wb.draw", item("k", "shape", "shape", "rect", "c", "#000000", "w", 0.01, "pts", []float64{0, 0, 1}), qun.CodeInvalid, "item.pts"},
		{"text with width", "wb.draw", item("k", "text", "c", "#000000", "size", 0.1, "w", 0.1, "text", "hi", "pts", []float64{0, 0}), qun.CodeInvalid, "item.w"},
		{"no such page", "wb.draw", m{"board": board, "page": 999, "item": pen(0, 0, 0)}, qun.CodeNotFound, "page"},
		{"no such board", "wb.draw", m{"board": "nope", "page": p, "item": pen(0, 0, 0)}, qun.CodeNotFound, ""},
		{"erase unknown item", "wb.erase", m{"board": board, "page": p, "ids": []uint64{mine, 12345}}, qun.CodeNotFound, "ids"},
		{"erase on another page", "wb.erase", m{"board": board, "page": 999, "ids": []uint64{mine}}, qun.CodeNotFound, "page"},
		{"append to unknown stroke", "wb.stroke.append", m{"board": board, "id": 777, "pts": []float64{0, 0, 0}}, qun.CodeNotFound, "id"},
		{"append off the page", "wb.stroke.append", m{"board": board, "id": sid, "pts": []float64{0, 1.01, 0}}, qun.CodeInvalid, "pts"},
		{"stroke on no page", "wb.stroke.begin", m{"board": board, "page": 999, "tool": "pen", "c": "#000000", "w": 0.01, "pts": []float64{0, 0, 0}}, qun.CodeNotFound, "page"},
		{"turn to no page", "wb.page", m{"board": board, "page": 999}, qun.CodeNotFound, "page"},
		{"remove the last page", "wb.page.remove", m{"board": board, "page": p}, qun.CodeConflict, ""},
		{"zoom too far", "wb.view", m{"board": board, "page": p, "x": 0, "y": 0, "zoom": 100}, qun.CodeInvalid, "zoom"},
		{"view off the page", "wb.view", m{"board": board, "page": p, "x": 0.9, "y": 0, "zoom": 2}, qun.CodeInvalid, "x"},
		{"items of no page", "wb.items", m{"board": board, "page": 999}, qun.CodeNotFound, "page"},
		{"laser off the page", "wb.laser", m{"board": board, "page": p, "x": 2, "y": 0}, qun.CodeInvalid, "pts"},
		{"page after no page", "wb.page.add", m{"board": board, "after": 999}, qun.CodeNotFound, "page"},
		{"board in a board", "wb.create", m{"room": whiteboard.Room(board)}, qun.CodeInvalid, "room"},
		{"invisible room", "wb.create", m{"room": "t:secret"}, qun.CodeNotFound, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := qtest.CallErr(t, teacher, c.op, c.d, c.code)
			if c.field != "" && err.Field != c.field {
				t.Fatalf("field %q, want %q (%v)", err.Field, c.field, err)
			}
		})
	}
	sameState(t, "board after bad input", e.state(t, board), before)
	// The stroke in progress is intact too.
	call(t, teacher, "wb.stroke.end", m{"board": board, "id": sid})
	if st := e.state(t, board); st.Seq != before.Seq+1 || len(st.Pages[0].Items) != 2 {
		t.Fatalf("after end: %+v", st)
	}
}

func TestTenantIsolation(t *testing.T) {
	e := newEnv(t, nil, fast, whiteboard.Config{})
	board := e.create(t)
	p := e.state(t, board).Pages[0].ID
	teacher := e.Connect(t, "t1", "teacher")
	draw(t, teacher, board, p, 0.5, 0.5, 0.5)
	before := e.state(t, board)
	// The teacher of room t:1 in tenant t2 owns a room of the same name, but
	// t1's board does not exist for her.
	other := e.Connect(t, "t2", "teacher")
	for _, c := range []struct {
		op string
		d  m
	}{
		{"wb.open", m{"board": board}},
		{"wb.items", m{"board": board, "page": p}},
		{"wb.draw", m{"board": board, "page": p, "item": pen(0.1, 0.1, 0.1)}},
		{"wb.stroke.begin", m{"board": board, "page": p, "tool": "pen", "c": "#000000", "w": 0.01, "pts": []float64{0, 0, 0}}},
		{"wb.erase", m{"board": board, "page": p, "ids": []uint64{1}}},
		{"wb.clear", m{"board": board, "page": p}},
		{"wb.stroke.append", m{"board": board, "id": 1, "pts": []float64{0, 0, 0}}},
		{"wb.stroke.end", m{"board": board, "id": 1}},
		{"wb.stroke.cancel", m{"board": board, "id": 1}},
		{"wb.undo", m{"board": board}},
		{"wb.redo", m{"board": board}},
		{"wb.page", m{"board": board, "page": p}},
		{"wb.page.remove", m{"board": board, "page": p}},
		{"wb.page.add", m{"board": board}},
		{"wb.view", m{"board": board, "page": p, "x": 0, "y": 0, "zoom": 1}},
		{"wb.rights", m{"board": board, "user": "teacher", "draw": true}},
		{"wb.laser", m{"board": board, "page": p, "x": 0, "y": 0}},
		{"wb.delete", m{"board": board}},
		{"sub", m{"room": whiteboard.Room(board)}},
	} {
		qtest.CallErr(t, other, c.op, c.d, qun.CodeNotFound)
	}
	var list struct {
		Boards []whiteboard.Board `json:"boards"`
	}
	qtest.Call(t, other, "wb.list", m{"room": "t:1"}, &list)
	if len(list.Boards) != 0 {
		t.Fatalf("t2 sees t1's boards: %+v", list.Boards)
	}
	if _, err := e.svc.State(context.Background(), "t2", board); qun.ErrorCode(err) != qun.CodeNotFound {
		t.Fatalf("State across tenants: %v", err)
	}
	// HTTP routes too.
	tok := e.Token(t, "t2", "teacher")
	if st, _ := e.http(t, "POST", fmt.Sprintf("/wb/boards/%s/pages", board), tok, pngImage(t, 4, 3)); st != 404 {
		t.Fatalf("upload across tenants: %d", st)
	}
	up := e.upload(t, board, e.Token(t, "t1", "teacher"), pngImage(t, 4, 3))
	if st, _ := e.http(t, "GET", fmt.Sprintf("/wb/boards/%s/files/%s", board, up.Pages[0].BG), tok, nil); st != 404 {
		t.Fatalf("file across tenants: %d", st)
	}
	after := e.state(t, board)
	if after.Seq != before.Seq+1 || len(after.Pages) != 2 {
		t.Fatalf("board changed by another tenant: %+v", after)
	}
}

func TestBoardLifecycle(t *testing.T) {
	e := newEnv(t, nil, fast, whiteboard.Config{BoardsPerRoom: 2})
	teacher := e.Connect(t, "t1", "teacher")
	alice := e.Connect(t, "t1", "alice")
	qtest.Call(t, alice, "sub", m{"room": "t:1"}, nil)
	var b whiteboard.Board
	qtest.Call(t, teacher, "wb.create", m{"room": "t:1", "title": "Algebra"}, &b)
	if b.Room != "t:1" || b.Title != "Algebra" || b.CreatedBy != "teacher" {
		t.Fatalf("board %+v", b)
	}
	if f := qtest.NextEvent(t, alice, whiteboard.EvBoard); !strings.Contains(string(f.D), string(b.ID)) {
		t.Fatalf("announcement %s", f.D)
	}
	qtest.CallErr(t, alice, "wb.create", m{"room": "t:1"}, qun.CodeForbidden)
	call(t, teacher, "wb.create", m{"room": "t:1", "title": "Geometry"})
	qtest.CallErr(t, teacher, "wb.create", m{"room": "t:1"}, qun.CodeExhausted)
	var list struct {
		Boards []whiteboard.Board `json:"boards"`
	}
	qtest.Call(t, alice, "wb.list", m{"room": "t:1"}, &list)
	if len(list.Boards) != 2 || list.Boards[0].Title != "Algebra" {
		t.Fatalf("list %+v", list.Boards)
	}
	// Pages: insert at the start, remove the current page.
	v := newViewer(t, call(t, teacher, "wb.open", m{"board": b.ID}))
	first := v.pages[0].info.ID
	var added struct {
		Page whiteboard.PageInfo `json:"page"`
	}
	qtest.Call(t, teacher, "wb.page.add", m{"board": b.ID, "after": 0, "w": 800, "h": 600}, &added)
	st := e.state(t, b.ID)
	if len(st.Pages) != 2 || st.Pages[0].ID != added.Page.ID || st.Pages[0].W != 800 || st.Cur != first {
		t.Fatalf("after add: %+v", st)
	}
	call(t, teacher, "wb.page.remove", m{"board": b.ID, "page": first})
	if st := e.state(t, b.ID); len(st.Pages) != 1 || st.Cur != added.Page.ID {
		t.Fatalf("after remove: %+v", st)
	}
	// Deleting.
	sub(t, alice, b.ID, nil)
	qtest.CallErr(t, alice, "wb.delete", m{"board": b.ID}, qun.CodeForbidden)
	call(t, teacher, "wb.delete", m{"board": b.ID})
	nextEv(t, alice, b.ID, whiteboard.EvDeleted)
	if f := qtest.Next(t, alice, func(f qclient.Frame) bool { return f.T == "sub.end" }); f.Room != whiteboard.Room(b.ID) || f.Err.Code != qun.CodeNotFound {
		t.Fatalf("sub.end %+v", f)
	}
	qtest.CallErr(t, alice, "wb.open", m{"board": b.ID}, qun.CodeNotFound)
	qtest.CallErr(t, teacher, "wb.delete", m{"board": b.ID}, qun.CodeNotFound)
	qtest.Call(t, alice, "wb.list", m{"room": "t:1"}, &list)
	if len(list.Boards) != 1 {
		t.Fatalf("after delete: %+v", list.Boards)
	}
}

func TestIdleBoardsUnloadAndReload(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	e := newEnv(t, nil, fast, whiteboard.Config{IdleTimeout: 200 * time.Millisecond, DraftTimeout: 200 * time.Millisecond, Now: clock.Now})
	board := e.create(t)
	teacher := e.Connect(t, "t1", "teacher")
	eve := e.Connect(t, "t1", "eve")
	sub(t, eve, board, nil)
	p := e.state(t, board).Pages[0].ID
	draw(t, teacher, board, p, 0.1, 0.1, 0.1)
	sid := idOf(t, call(t, teacher, "wb.stroke.begin", m{"board": board, "page": p, "tool": "pen", "c": "#000000", "w": 0.01, "pts": []float64{0.5, 0.5, 0.5}}))
	before := e.state(t, board)
	clock.Add(time.Second)
	// The janitor discards the abandoned stroke, then unloads the board.
	if f := nextEv(t, eve, board, whiteboard.EvStrokeCancel); !strings.Contains(string(f.D), fmt.Sprint(sid)) {
		t.Fatalf("cancel %s", f.D)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		snap, err := e.store.LoadSnapshot(context.Background(), "t1", board, 0)
		if err != nil {
			t.Fatal(err)
		}
		if snap != nil && snap.Seq == before.Seq {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("idle board was not saved")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	sameState(t, "reloaded board", e.state(t, board), before)
	draw(t, teacher, board, p, 0.2, 0.2, 0.2)
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
