package replay

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/qunkit/qun"
)

// Events of the live's and the group's rooms land on the timeline at the
// media time of what was on screen when they happened.
func TestTimelineEventsLandOnMediaTime(t *testing.T) {
	te := newTestEnv(t, nil)
	ctx := context.Background()
	pub := func(tenant qun.TenantID, room qun.RoomID, typ, text string) {
		if _, err := te.Hub.Publish(ctx, qun.RoomRef{Tenant: tenant, Room: room}, qun.Draft{Type: typ, Actor: "u1", Data: map[string]string{"text": text}}); err != nil {
			t.Fatal(err)
		}
	}
	pub("ten1", "g:1", "chat.msg", "before the recording")
	v := simVideo(t, "vp8", "host", 0, 10*time.Second)
	a := simAudio(t, "host", 0, 10*time.Second)
	v.delay, a.delay = 60*time.Millisecond, 60*time.Millisecond
	tracks := []*simTrack{v, a}
	items, sent := schedule(tracks)
	// One event every 700 ms, each at the moment a video frame is sent:
	// chat in the group, likes and the explained product in the live room,
	// a board operation. Another tenant's room gets an event too.
	type mark struct {
		at    time.Duration
		frame int // video frame number sent then
	}
	var marks []mark
	var vframes []sentFrame
	for _, f := range sent {
		if f.track == v {
			vframes = append(vframes, f)
		}
	}
	for i := 5; i < len(vframes); i += 17 {
		marks = append(marks, mark{at: vframes[i].at, frame: vframes[i].n})
	}
	types := []struct {
		room qun.RoomID
		typ  string
	}{{"g:1", "chat.msg"}, {"live:l1", "live.likes"}, {"live:l1", "shop.explain"}, {"g:1", "wb.op"}}
	next := 0
	during := func(at time.Duration) {
		for next < len(marks) && marks[next].at <= at {
			k := types[next%len(types)]
			te.clock.Set(simT0.Add(marks[next].at))
			pub("ten1", k.room, k.typ, fmt.Sprint(next))
			pub("ten2", k.room, k.typ, "other tenant")
			next++
		}
	}
	r := te.record(t, "ten1", "live:l1", "g:1", tracks, items, 10*time.Second, during)
	pub("ten1", "g:1", "chat.msg", "after the recording")
	if r.Events != len(marks) {
		t.Fatalf("timeline has %d events, want %d", r.Events, len(marks))
	}
	host := &qun.Identity{Tenant: "ten1", User: "host"}
	page, err := te.svc.Timeline(ctx, host, r.ID, TimelineQuery{})
	if err != nil {
		t.Fatal(err)
	}
	vt := trackOf(t, r, "host", "video")
	pts := packetTimes(t, te.path(vt.Key))
	for i, ev := range page.Events {
		var d struct{ Text string }
		if err := json.Unmarshal(ev.Data, &d); err != nil || d.Text != fmt.Sprint(i) {
			t.Fatalf("event %d: %s %s", i, ev.Type, ev.Data)
		}
		// Where the frame on screen at the event sits in the replay.
		media := time.Duration(vt.OffsetMs)*time.Millisecond + pts[marks[i].frame]
		if at := time.Duration(ev.At) * time.Millisecond; !within(at, media, 100*time.Millisecond) {
			t.Fatalf("event %d at %v, its frame plays at %v", i, at, media)
		}
	}
	// Windows: events with from ≤ at < to, paged by cursor.
	mid := page.Events[len(page.Events)/2].At
	w, err := te.svc.Timeline(ctx, host, r.ID, TimelineQuery{From: mid, To: mid + 1})
	if err != nil || len(w.Events) != 1 || w.Events[0].At != mid || w.Next != nil {
		t.Fatalf("window [%d,%d): %+v %v", mid, mid+1, w, err)
	}
	var got []TimelineEvent
	q := TimelineQuery{Limit: 3}
	for {
		p, err := te.svc.Timeline(ctx, host, r.ID, q)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p.Events...)
		if p.Next == nil {
			break
		}
		q.Cursor = *p.Next
	}
	if len(got) != len(page.Events) {
		t.Fatalf("paged %d events, want %d", len(got), len(page.Events))
	}
	if _, err := te.svc.Timeline(ctx, host, r.ID, TimelineQuery{From: 10, To: 5}); qun.ErrorCode(err) != qun.CodeInvalid {
		t.Fatalf("to before from: %v", err)
	}
}

func TestTimelineWindow(t *testing.T) {
	evs := []TimelineEvent{{At: 0}, {At: 10}, {At: 10}, {At: 20}, {At: 35}}
	for _, c := range []struct {
		q     TimelineQuery
		want  []int64
		next  int
		hasNx bool
	}{
		{TimelineQuery{}, []int64{0, 10, 10, 20, 35}, 0, false},
		{TimelineQuery{From: 10, To: 20}, []int64{10, 10}, 0, false},
		{TimelineQuery{From: 10, To: 36, Limit: 2}, []int64{10, 10}, 3, true},
		{TimelineQuery{From: 10, To: 36, Limit: 2, Cursor: 3}, []int64{20, 35}, 0, false},
		{TimelineQuery{From: 36}, nil, 0, false},
	} {
		p := window(evs, c.q)
		var at []int64
		for _, e := range p.Events {
			at = append(at, e.At)
		}
		if fmt.Sprint(at) != fmt.Sprint(c.want) || (p.Next != nil) != c.hasNx || (p.Next != nil && *p.Next != c.next) {
			t.Fatalf("%+v: got %v next %v", c.q, at, p.Next)
		}
	}
}

// Whiteboards announced in the replay's rooms, before or during the
// recording, have their whole history on the timeline (what came before
// the recording at 0), so a player can rebuild the board at any time;
// deleted boards do not.
func TestTimelineFollowsBoards(t *testing.T) {
	te := newTestEnv(t, nil)
	ctx := context.Background()
	pub := func(room qun.RoomID, typ string, data any) {
		t.Helper()
		if _, err := te.Hub.Publish(ctx, qun.RoomRef{Tenant: "ten1", Room: room}, qun.Draft{Type: typ, Actor: "host", Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	pub("g:1", "wb.board", map[string]any{"board": "b1", "room": "wb:b1"})
	pub("wb:b1", "wb.pages.add", map[string]any{"pages": []any{map[string]any{"id": 1}}})
	pub("wb:b1", "wb.add", map[string]any{"page": 1})
	pub("g:1", "wb.board", map[string]any{"board": "b3", "room": "wb:b3"})
	pub("wb:b3", "wb.add", map[string]any{"page": 1})
	pub("g:1", "wb.board", map[string]any{"board": "b3", "room": "wb:b3", "deleted": true})
	te.clock.Advance(time.Minute)
	r, err := te.svc.Start(ctx, StartOptions{Tenant: "ten1", Live: "live:l1", Group: "g:1", Host: "host"})
	if err != nil {
		t.Fatal(err)
	}
	te.clock.Advance(2 * time.Second)
	pub("wb:b1", "wb.erase", map[string]any{"page": 1})
	te.clock.Advance(500 * time.Millisecond)
	pub("live:l1", "wb.board", map[string]any{"board": "b2", "room": "wb:b2"})
	te.clock.Advance(500 * time.Millisecond)
	pub("wb:b2", "wb.add", map[string]any{"page": 1})
	te.clock.Advance(time.Second)
	if r, err = te.svc.Stop(ctx, "ten1", r.ID); err != nil {
		t.Fatal(err)
	}
	te.clock.Advance(time.Second)
	pub("wb:b2", "wb.clear", map[string]any{"page": 1}) // after the end
	page, err := te.svc.Timeline(ctx, &qun.Identity{Tenant: "ten1", User: "host"}, r.ID, TimelineQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range page.Events {
		got = append(got, fmt.Sprintf("%d %s %s", ev.At, ev.Room, ev.Type))
	}
	want := []string{"0 wb:b1 wb.pages.add", "0 wb:b1 wb.add", "2000 wb:b1 wb.erase", "2500 live:l1 wb.board", "3000 wb:b2 wb.add"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("timeline:\n got %q\nwant %q", got, want)
	}
}
