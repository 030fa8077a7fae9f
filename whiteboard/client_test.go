package whiteboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/qclient"
	"github.com/qunkit/qun/whiteboard"
)

// viewer rebuilds a board the way docs/ops/whiteboard.md tells a client to
// (the JS SDK does the same): wb.open, then the board room's events after
// its seq, then wb.items for pages it has not loaded. Comparing its State to
// the server's checks both the server and the documented algorithm.
type viewer struct {
	seq     uint64
	cur     uint64
	view    whiteboard.View
	pages   []*vpage
	drawers []qun.UserID
	drafts  map[uint64]*vdraft
}

type vpage struct {
	info   whiteboard.PageInfo
	loaded bool
	at     uint64 // seq its items were loaded at
	items  []vitem
}

type vitem struct {
	id  uint64
	raw json.RawMessage
}

type vdraft struct {
	page uint64
	pts  []float64
}

type openReply struct {
	Seq   uint64          `json:"seq"`
	Cur   uint64          `json:"cur"`
	View  whiteboard.View `json:"view"`
	Pages []struct {
		whiteboard.PageInfo
		N int `json:"n"`
	} `json:"pages"`
	Drawers []qun.UserID `json:"drawers"`
	Drafts  []struct {
		ID   uint64    `json:"id"`
		Page uint64    `json:"page"`
		Pts  []float64 `json:"pts"`
	} `json:"drafts"`
	Me struct {
		Present bool `json:"present"`
		Draw    bool `json:"draw"`
	} `json:"me"`
	Page  uint64            `json:"page"`
	Items []json.RawMessage `json:"items"`
}

func newViewer(t testing.TB, reply json.RawMessage) *viewer {
	t.Helper()
	var r openReply
	if err := json.Unmarshal(reply, &r); err != nil {
		t.Fatal(err)
	}
	v := &viewer{seq: r.Seq, cur: r.Cur, view: r.View, drawers: r.Drawers, drafts: map[uint64]*vdraft{}}
	for _, p := range r.Pages {
		vp := &vpage{info: p.PageInfo}
		if p.ID == r.Page {
			vp.loaded, vp.at = true, r.Seq
			for _, raw := range r.Items {
				vp.items = append(vp.items, vitem{itemID(t, raw), raw})
			}
			if len(vp.items) != p.N {
				t.Fatalf("page %d: n=%d but %d items", p.ID, p.N, len(vp.items))
			}
		}
		v.pages = append(v.pages, vp)
	}
	for _, d := range r.Drafts {
		v.drafts[d.ID] = &vdraft{page: d.Page, pts: d.Pts}
	}
	return v
}

func itemID(t testing.TB, raw json.RawMessage) uint64 {
	var h struct {
		ID uint64 `json:"id"`
	}
	if err := json.Unmarshal(raw, &h); err != nil || h.ID == 0 {
		t.Fatalf("item without id: %s", raw)
	}
	return h.ID
}

func (v *viewer) page(id uint64) *vpage {
	for _, p := range v.pages {
		if p.info.ID == id {
			return p
		}
	}
	return nil
}

// loaded returns page id if its items are known and an event at seq is news to it.
func (v *viewer) loaded(id, seq uint64) *vpage {
	if p := v.page(id); p != nil && p.loaded && seq > p.at {
		return p
	}
	return nil
}

// apply applies one event frame of the board's room.
func (v *viewer) apply(t testing.TB, f qclient.Frame) {
	t.Helper()
	if f.Seq == 0 {
		v.applyEphemeral(t, f)
		return
	}
	if f.Seq <= v.seq {
		return
	}
	if f.Seq != v.seq+1 {
		t.Fatalf("gap: seq %d after %d", f.Seq, v.seq)
	}
	v.seq = f.Seq
	var d struct {
		After *uint64           `json:"after"`
		Pages json.RawMessage   `json:"pages"`
		Page  uint64            `json:"page"`
		Items []json.RawMessage `json:"items"`
		IDs   []uint64          `json:"ids"`
		X     float64           `json:"x"`
		Y     float64           `json:"y"`
		Zoom  float64           `json:"zoom"`
		User  qun.UserID        `json:"user"`
		Draw  bool              `json:"draw"`
	}
	if len(f.D) > 0 {
		if err := json.Unmarshal(f.D, &d); err != nil {
			t.Fatalf("%s: %v", f.Type, err)
		}
	}
	switch f.Type {
	case whiteboard.EvPagesAdd:
		var infos []whiteboard.PageInfo
		if err := json.Unmarshal(d.Pages, &infos); err != nil {
			t.Fatal(err)
		}
		at := len(v.pages)
		if d.After != nil {
			at = 0
			if *d.After != 0 {
				at = len(v.pages)
				for i, p := range v.pages {
					if p.info.ID == *d.After {
						at = i + 1
					}
				}
			}
		}
		var add []*vpage
		for _, pi := range infos {
			add = append(add, &vpage{info: pi, loaded: true, at: f.Seq}) // new pages are empty
		}
		v.pages = slices.Insert(v.pages, at, add...)
		if v.cur == 0 && len(v.pages) > 0 {
			v.cur = v.pages[0].info.ID
			v.view = whiteboard.View{Page: v.cur, Zoom: 1}
		}
	case whiteboard.EvPagesRemove:
		var ids []uint64
		if err := json.Unmarshal(d.Pages, &ids); err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			i := slices.IndexFunc(v.pages, func(p *vpage) bool { return p.info.ID == id })
			if i < 0 {
				continue
			}
			v.pages = slices.Delete(v.pages, i, i+1)
			if v.cur == id {
				v.cur = 0
				if len(v.pages) > 0 {
					v.cur = v.pages[min(i, len(v.pages)-1)].info.ID
				}
				v.view = whiteboard.View{Page: v.cur, Zoom: 1}
			}
		}
	case whiteboard.EvPage:
		if v.page(d.Page) != nil {
			v.cur = d.Page
			v.view = whiteboard.View{Page: d.Page, Zoom: 1}
		}
	case whiteboard.EvView:
		if v.page(d.Page) != nil {
			v.view = whiteboard.View{Page: d.Page, X: d.X, Y: d.Y, Zoom: d.Zoom}
		}
	case whiteboard.EvAdd:
		for _, raw := range d.Items {
			delete(v.drafts, itemID(t, raw))
		}
		if p := v.loaded(d.Page, f.Seq); p != nil {
			for _, raw := range d.Items {
				id := itemID(t, raw)
				i, found := slices.BinarySearchFunc(p.items, id, func(it vitem, id uint64) int { return cmpU(it.id, id) })
				if !found {
					p.items = slices.Insert(p.items, i, vitem{id, raw})
				}
			}
		}
	case whiteboard.EvErase:
		if p := v.loaded(d.Page, f.Seq); p != nil {
			p.items = slices.DeleteFunc(p.items, func(it vitem) bool { return slices.Contains(d.IDs, it.id) })
		}
	case whiteboard.EvClear:
		if p := v.loaded(d.Page, f.Seq); p != nil {
			p.items = nil
		}
	case whiteboard.EvRights:
		v.drawers = slices.DeleteFunc(v.drawers, func(u qun.UserID) bool { return u == d.User })
		if d.Draw {
			v.drawers = append(v.drawers, d.User)
			slices.Sort(v.drawers)
		}
	}
}

func cmpU(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (v *viewer) applyEphemeral(t testing.TB, f qclient.Frame) {
	var d struct {
		ID   uint64    `json:"id"`
		Page uint64    `json:"page"`
		I    int       `json:"i"`
		Pts  []float64 `json:"pts"`
	}
	_ = json.Unmarshal(f.D, &d)
	switch f.Type {
	case whiteboard.EvStrokeBegin:
		v.drafts[d.ID] = &vdraft{page: d.Page, pts: d.Pts}
	case whiteboard.EvStrokeAppend:
		if dr := v.drafts[d.ID]; dr != nil && len(dr.pts) == 3*d.I {
			dr.pts = append(dr.pts, d.Pts...)
		}
	case whiteboard.EvStrokeCancel:
		delete(v.drafts, d.ID)
	}
}

// loadAll loads every page the viewer has not loaded with wb.items.
func (v *viewer) loadAll(t testing.TB, c *qclient.Client, board whiteboard.BoardID) {
	t.Helper()
	for _, p := range v.pages {
		if p.loaded {
			continue
		}
		var r struct {
			Seq   uint64            `json:"seq"`
			Items []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(call(t, c, "wb.items", m{"board": board, "page": p.info.ID}), &r); err != nil {
			t.Fatal(err)
		}
		p.loaded, p.at, p.items = true, r.Seq, nil
		for _, raw := range r.Items {
			p.items = append(p.items, vitem{itemID(t, raw), raw})
		}
	}
}

// drain applies the board room's events until the viewer reaches seq.
func (v *viewer) drain(t testing.TB, c *qclient.Client, board whiteboard.BoardID, seq uint64) {
	t.Helper()
	for v.seq < seq {
		v.apply(t, nextEv(t, c, board))
	}
}

func (v *viewer) state() *whiteboard.State {
	st := &whiteboard.State{Seq: v.seq, Cur: v.cur, View: v.view, Drawers: slices.Clone(v.drawers), Pages: []whiteboard.PageState{}}
	if st.Drawers == nil {
		st.Drawers = []qun.UserID{}
	}
	for _, p := range v.pages {
		ps := whiteboard.PageState{PageInfo: p.info, Items: []json.RawMessage{}}
		for _, it := range p.items {
			ps.Items = append(ps.Items, it.raw)
		}
		st.Pages = append(st.Pages, ps)
	}
	return st
}

// sameState fails the test if two states differ, showing both.
func sameState(t testing.TB, what string, got, want *whiteboard.State) {
	t.Helper()
	g, _ := json.Marshal(normal(got))
	w, _ := json.Marshal(normal(want))
	if string(g) != string(w) {
		t.Fatalf("%s differs\n got: %.3000s\nwant: %.3000s", what, g, w)
	}
}

func normal(s *whiteboard.State) *whiteboard.State {
	c := *s
	if c.Drawers == nil {
		c.Drawers = []qun.UserID{}
	}
	c.Pages = slices.Clone(c.Pages)
	for i := range c.Pages {
		if c.Pages[i].Items == nil {
			c.Pages[i].Items = []json.RawMessage{}
		}
	}
	return &c
}

// replayLog applies a board room's logged events 1..upTo to an empty viewer:
// the state a client would reach by replaying the whole history.
func replayLog(t testing.TB, e *env, board whiteboard.BoardID, upTo uint64) *whiteboard.State {
	t.Helper()
	v := &viewer{drafts: map[uint64]*vdraft{}}
	evs, err := e.Hub.Log().Read(context.Background(), qun.RoomRef{Tenant: "t1", Room: whiteboard.Room(board)}, 0, int(upTo))
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		v.apply(t, qclient.Frame{T: "ev", Room: ev.Room, Seq: ev.Seq, Type: ev.Type, Actor: ev.Actor, D: ev.Data})
	}
	if v.seq != upTo {
		t.Fatalf("log replay reached %d, want %d", v.seq, upTo)
	}
	return v.state()
}

var _ = fmt.Sprint
