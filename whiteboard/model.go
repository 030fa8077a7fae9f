package whiteboard

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"

	"github.com/qunkit/qun"
)

// Durable event types in a board's room. Applying them in seq order to an
// empty board gives the board's state; docs/ops/whiteboard.md specifies
// each one for clients, which apply them the same way.
const (
	EvPagesAdd    = "wb.pages.add"    // {"after"?:page,"pages":[page...]}
	EvPagesRemove = "wb.pages.remove" // {"pages":[id...]}
	EvPage        = "wb.page"         // {"page":id}: the presenter turned to this page
	EvView        = "wb.view"         // {"page","x","y","zoom"}
	EvAdd         = "wb.add"          // {"page","items":[item...],"undo"?:n,"redo"?:n}
	EvErase       = "wb.erase"        // {"page","ids":[id...],"undo"?:n,"redo"?:n}
	EvClear       = "wb.clear"        // {"page"}
	EvRights      = "wb.rights"       // {"user","draw":bool}
	EvDeleted     = "wb.deleted"      // {}: the board was deleted
)

// Ephemeral event types (no seq, never stored, not part of the state).
const (
	EvStrokeBegin     = "wb.stroke.begin"     // a stroke started: {"id","page","by","tool","c","w","pts"}
	EvStrokeAppend    = "wb.stroke.append"    // {"id","i":index of the first point,"pts"}
	EvStrokeCancel    = "wb.stroke.cancel"    // {"id"}
	EvLaser           = "wb.laser"            // {"page","x","y"} or {"off":true}
	EvViewLive        = "wb.view.live"        // a viewport change in progress
	EvConvertProgress = "wb.convert.progress" // {"upload","done","total"} or {"upload","err"}
)

// EvBoard is published in the board's parent room when a board is created
// or deleted, so that the room's clients (and the replay recorder) learn
// which board rooms exist: {"board","title","deleted"?:true}.
const EvBoard = "wb.board"

// item is one drawn thing. raw is its canonical JSON, encoded once by the
// server and shared by events, snapshots and replies.
type item struct {
	id  uint64
	by  qun.UserID
	raw json.RawMessage
}

type page struct {
	PageInfo
	items  map[uint64]*item
	sorted []*item // items by id (drawing order); nil when stale
	// gen counts changes; savedGen is gen as of the last persisted snapshot.
	gen, savedGen uint64
}

// PageInfo describes a page: its id, background image (a file id; "" for a
// blank page) and pixel size, which gives its aspect ratio.
type PageInfo struct {
	ID uint64 `json:"id"`
	BG string `json:"bg,omitempty"`
	W  int    `json:"w"`
	H  int    `json:"h"`
}

func newPage(pi PageInfo) *page { return &page{PageInfo: pi, items: map[uint64]*item{}, gen: 1} }

func (p *page) list() []*item {
	if p.sorted == nil {
		p.sorted = make([]*item, 0, len(p.items))
		for _, it := range p.items {
			p.sorted = append(p.sorted, it)
		}
		sort.Slice(p.sorted, func(i, j int) bool { return p.sorted[i].id < p.sorted[j].id })
	}
	return p.sorted
}

func (p *page) add(it *item) {
	if _, dup := p.items[it.id]; dup {
		return
	}
	p.items[it.id] = it
	if p.sorted != nil && (len(p.sorted) == 0 || p.sorted[len(p.sorted)-1].id < it.id) {
		p.sorted = append(p.sorted, it)
	} else {
		p.sorted = nil
	}
	p.gen++
}

func (p *page) remove(id uint64) *item {
	it := p.items[id]
	if it != nil {
		delete(p.items, id)
		p.sorted = nil
		p.gen++
	}
	return it
}

// itemsLen is the length of appendItems' output.
func (p *page) itemsLen() int {
	n := 2 + len(p.items)
	for _, it := range p.list() {
		n += len(it.raw)
	}
	return n
}

// appendItems appends the page's items as a JSON array.
func (p *page) appendItems(b []byte) []byte {
	b = slices.Grow(b, p.itemsLen())
	b = append(b, '[')
	for i, it := range p.list() {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, it.raw...)
	}
	return append(b, ']')
}

// View is the presenter's viewport: the page shown, zoom ≥ 1 (1 shows the
// whole page) and the visible region's top-left corner in page coordinates.
type View struct {
	Page uint64  `json:"page"`
	X    float64 `json:"x"`
	Y    float64 `json:"y"`
	Zoom float64 `json:"zoom"`
}

// histEntry is one undoable operation of a user: items it added, or items
// it removed (an erase or a clear).
type histEntry struct {
	erase bool
	page  uint64
	items []*item
}

type history struct{ undo, redo []histEntry }

// model is a board's state: what applying its room's durable events in seq
// order gives. It is not safe for concurrent use; board.mu guards it.
type model struct {
	seq      uint64
	next     uint64 // next item/page id
	pages    []*page
	byID     map[uint64]*page
	cur      uint64
	view     View
	drawers  map[qun.UserID]bool
	hist     map[qun.UserID]*history
	depth    int    // undo entries kept per user
	savedSeq uint64 // seq of the last persisted snapshot
	deleted  bool   // a wb.deleted event was applied
}

func newModel(undoDepth int) *model {
	return &model{next: 1, byID: map[uint64]*page{}, drawers: map[qun.UserID]bool{}, hist: map[qun.UserID]*history{}, depth: undoDepth, view: View{Zoom: 1}}
}

// Event payloads.
type (
	pagesAddData struct {
		After *uint64    `json:"after,omitempty"`
		Pages []PageInfo `json:"pages"`
	}
	pagesRemoveData struct {
		Pages []uint64 `json:"pages"`
	}
	pageData struct {
		Page uint64 `json:"page"`
	}
	addData struct {
		Page  uint64            `json:"page"`
		Items []json.RawMessage `json:"items"`
		Undo  int               `json:"undo,omitempty"`
		Redo  int               `json:"redo,omitempty"`
	}
	eraseData struct {
		Page uint64   `json:"page"`
		IDs  []uint64 `json:"ids"`
		Undo int      `json:"undo,omitempty"`
		Redo int      `json:"redo,omitempty"`
	}
	rightsData struct {
		User qun.UserID `json:"user"`
		Draw bool       `json:"draw"`
	}
)

// itemHead is what the model reads of an item's JSON.
type itemHead struct {
	ID uint64     `json:"id"`
	By qun.UserID `json:"by"`
}

func parseItem(raw json.RawMessage) (*item, error) {
	var h itemHead
	if err := json.Unmarshal(raw, &h); err != nil || h.ID == 0 {
		return nil, fmt.Errorf("whiteboard: bad item %.80s", raw)
	}
	return &item{id: h.ID, by: h.By, raw: raw}, nil
}

// apply applies one durable event. It is total: an event that refers to
// pages or items that are gone changes only what still exists, so a board
// can never be corrupted by the order of events. The returned error only
// reports an undecodable payload, which is skipped.
func (m *model) apply(ev *qun.Event) error {
	if ev.Seq > m.seq {
		m.seq = ev.Seq
	}
	var err error
	switch ev.Type {
	case EvPagesAdd:
		var d pagesAddData
		if err = json.Unmarshal(ev.Data, &d); err == nil {
			m.addPages(d.After, d.Pages)
		}
	case EvPagesRemove:
		var d pagesRemoveData
		if err = json.Unmarshal(ev.Data, &d); err == nil {
			m.removePages(d.Pages)
		}
	case EvPage:
		var d pageData
		if err = json.Unmarshal(ev.Data, &d); err == nil && m.byID[d.Page] != nil {
			m.cur = d.Page
			m.view = View{Page: d.Page, Zoom: 1}
		}
	case EvView:
		var d View
		if err = json.Unmarshal(ev.Data, &d); err == nil && m.byID[d.Page] != nil {
			m.view = d
		}
	case EvAdd:
		var d addData
		if err = json.Unmarshal(ev.Data, &d); err != nil {
			break
		}
		items := make([]*item, 0, len(d.Items))
		for _, raw := range d.Items {
			it, perr := parseItem(raw)
			if perr != nil {
				return perr
			}
			items = append(items, it)
			m.next = max(m.next, it.id+1)
		}
		if p := m.byID[d.Page]; p != nil {
			for _, it := range items {
				p.add(it)
			}
		}
		m.record(ev.Actor, histEntry{page: d.Page, items: items}, d.Undo, d.Redo)
	case EvErase:
		var d eraseData
		if err = json.Unmarshal(ev.Data, &d); err != nil {
			break
		}
		var removed []*item
		if p := m.byID[d.Page]; p != nil {
			for _, id := range d.IDs {
				if it := p.remove(id); it != nil {
					removed = append(removed, it)
				}
			}
		}
		m.record(ev.Actor, histEntry{erase: true, page: d.Page, items: removed}, d.Undo, d.Redo)
	case EvClear:
		var d pageData
		if err = json.Unmarshal(ev.Data, &d); err != nil {
			break
		}
		if p := m.byID[d.Page]; p != nil && len(p.items) > 0 {
			removed := slices.Clone(p.list())
			p.items, p.sorted = map[uint64]*item{}, nil
			p.gen++
			m.record(ev.Actor, histEntry{erase: true, page: d.Page, items: removed}, 0, 0)
		}
	case EvDeleted:
		m.deleted = true
	case EvRights:
		var d rightsData
		if err = json.Unmarshal(ev.Data, &d); err == nil {
			if d.Draw {
				m.drawers[d.User] = true
			} else {
				delete(m.drawers, d.User)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("whiteboard: event %d %s: %w", ev.Seq, ev.Type, err)
	}
	return nil
}

func (m *model) addPages(after *uint64, infos []PageInfo) {
	at := len(m.pages)
	if after != nil {
		at = 0
		if *after != 0 {
			if i := m.pageIndex(*after); i >= 0 {
				at = i + 1
			} else {
				at = len(m.pages)
			}
		}
	}
	var add []*page
	for _, pi := range infos {
		if pi.ID == 0 || m.byID[pi.ID] != nil {
			continue
		}
		p := newPage(pi)
		m.byID[pi.ID] = p
		add = append(add, p)
		m.next = max(m.next, pi.ID+1)
	}
	m.pages = slices.Insert(m.pages, at, add...)
	if m.cur == 0 && len(m.pages) > 0 {
		m.cur = m.pages[0].ID
		m.view = View{Page: m.cur, Zoom: 1}
	}
}

func (m *model) removePages(ids []uint64) {
	for _, id := range ids {
		i := m.pageIndex(id)
		if i < 0 {
			continue
		}
		delete(m.byID, id)
		m.pages = slices.Delete(m.pages, i, i+1)
		if m.cur == id {
			// The page that took its place, else the new last page.
			m.cur = 0
			if len(m.pages) > 0 {
				m.cur = m.pages[min(i, len(m.pages)-1)].ID
			}
			m.view = View{Page: m.cur, Zoom: 1}
		}
	}
}

func (m *model) pageIndex(id uint64) int {
	return slices.IndexFunc(m.pages, func(p *page) bool { return p.ID == id })
}

// record updates actor's undo history for one applied operation: undo n
// pops n entries and moves the last one to the redo stack; redo n pops n
// redo entries and moves the last one back; a new operation is pushed and
// clears the redo stack.
func (m *model) record(actor qun.UserID, e histEntry, undo, redo int) {
	if actor == "" {
		return
	}
	h := m.hist[actor]
	if h == nil {
		if undo > 0 || redo > 0 || len(e.items) == 0 {
			return
		}
		h = &history{}
		m.hist[actor] = h
	}
	switch {
	case undo > 0:
		if top, ok := pop(&h.undo, undo); ok {
			h.redo = push(h.redo, top, m.depth)
		}
	case redo > 0:
		if top, ok := pop(&h.redo, redo); ok {
			h.undo = push(h.undo, top, m.depth)
		}
	default:
		if len(e.items) == 0 {
			return
		}
		h.undo = push(h.undo, e, m.depth)
		clear(h.redo)
		h.redo = h.redo[:0]
	}
	if len(h.undo) == 0 && len(h.redo) == 0 {
		delete(m.hist, actor)
	}
}

// pop removes n entries from the top of *s and returns the last removed.
func pop(s *[]histEntry, n int) (histEntry, bool) {
	n = min(n, len(*s))
	if n == 0 {
		return histEntry{}, false
	}
	top := (*s)[len(*s)-n]
	clear((*s)[len(*s)-n:])
	*s = (*s)[:len(*s)-n]
	return top, true
}

func push(s []histEntry, e histEntry, depth int) []histEntry {
	if depth > 0 && len(s) >= depth {
		s = slices.Delete(s, 0, len(s)-depth+1)
	}
	return append(s, e)
}

// undoPlan finds what actor's next undo (or redo) does: the event type and
// payload that reverse (or replay) the newest entry that still has an
// effect, skipping entries whose items are all gone or back. ok is false
// if nothing is left to undo.
func (m *model) undoPlan(actor qun.UserID, isRedo bool) (typ string, data any, ok bool) {
	h := m.hist[actor]
	if h == nil {
		return "", nil, false
	}
	stack := h.undo
	if isRedo {
		stack = h.redo
	}
	for n := 1; n <= len(stack); n++ {
		e := stack[len(stack)-n]
		p := m.byID[e.page]
		if p == nil {
			continue
		}
		undo, redo := n, 0
		if isRedo {
			undo, redo = 0, n
		}
		// Undoing an addition or redoing a removal removes the items that
		// are still there; the other two put back those that are not.
		if e.erase == isRedo {
			var ids []uint64
			for _, it := range e.items {
				if p.items[it.id] != nil {
					ids = append(ids, it.id)
				}
			}
			if len(ids) > 0 {
				return EvErase, eraseData{Page: e.page, IDs: ids, Undo: undo, Redo: redo}, true
			}
			continue
		}
		var raws []json.RawMessage
		for _, it := range e.items {
			if p.items[it.id] == nil {
				raws = append(raws, it.raw)
			}
		}
		if len(raws) > 0 {
			return EvAdd, addData{Page: e.page, Items: raws, Undo: undo, Redo: redo}, true
		}
	}
	return "", nil, false
}

func (m *model) sortedDrawers() []qun.UserID {
	out := make([]qun.UserID, 0, len(m.drawers))
	for u := range m.drawers {
		out = append(out, u)
	}
	slices.Sort(out)
	return out
}

// Persisted snapshot format (Snapshot.Meta), version 1.
type metaJSON struct {
	V       int                     `json:"v"`
	Seq     uint64                  `json:"seq"`
	Next    uint64                  `json:"next"`
	Pages   []PageInfo              `json:"pages"`
	Cur     uint64                  `json:"cur"`
	View    View                    `json:"view"`
	Drawers []qun.UserID            `json:"drawers"`
	Hist    map[qun.UserID]histJSON `json:"hist,omitempty"`
}

type histJSON struct {
	Undo []entryJSON `json:"undo,omitempty"`
	Redo []entryJSON `json:"redo,omitempty"`
}

type entryJSON struct {
	Erase bool              `json:"erase,omitempty"`
	Page  uint64            `json:"page"`
	Items []json.RawMessage `json:"items"`
}

// snapshot returns the model's snapshot with the pages changed since the
// last saved one (all pages if all), and the page generations it covers.
func (m *model) snapshot(all bool) (*Snapshot, map[uint64]uint64, error) {
	meta := metaJSON{V: 1, Seq: m.seq, Next: m.next, Cur: m.cur, View: m.view, Drawers: m.sortedDrawers(), Pages: make([]PageInfo, len(m.pages))}
	snap := &Snapshot{Seq: m.seq}
	gens := map[uint64]uint64{}
	for i, p := range m.pages {
		meta.Pages[i] = p.PageInfo
		if all || p.gen != p.savedGen {
			snap.Pages = append(snap.Pages, PageBlob{Page: p.ID, Items: p.appendItems(nil)})
			gens[p.ID] = p.gen
		}
	}
	if len(m.hist) > 0 {
		meta.Hist = map[qun.UserID]histJSON{}
		for u, h := range m.hist {
			meta.Hist[u] = histJSON{Undo: entriesJSON(h.undo), Redo: entriesJSON(h.redo)}
		}
	}
	b, err := json.Marshal(meta)
	if err != nil {
		return nil, nil, err
	}
	snap.Meta = b
	return snap, gens, nil
}

func entriesJSON(es []histEntry) []entryJSON {
	out := make([]entryJSON, len(es))
	for i, e := range es {
		out[i] = entryJSON{Erase: e.erase, Page: e.page, Items: make([]json.RawMessage, len(e.items))}
		for j, it := range e.items {
			out[i].Items[j] = it.raw
		}
	}
	return out
}

// restore replaces the model's state with snap's.
func (m *model) restore(snap *Snapshot) error {
	var meta metaJSON
	if err := json.Unmarshal(snap.Meta, &meta); err != nil {
		return fmt.Errorf("whiteboard: snapshot %d: %w", snap.Seq, err)
	}
	if meta.V != 1 {
		return fmt.Errorf("whiteboard: snapshot %d has format version %d", snap.Seq, meta.V)
	}
	*m = *newModel(m.depth)
	m.seq, m.savedSeq, m.next, m.cur, m.view = meta.Seq, meta.Seq, meta.Next, meta.Cur, meta.View
	for _, pi := range meta.Pages {
		p := newPage(pi)
		p.savedGen = p.gen
		m.pages = append(m.pages, p)
		m.byID[pi.ID] = p
	}
	for _, pb := range snap.Pages {
		p := m.byID[pb.Page]
		if p == nil {
			continue // removed since that blob was saved
		}
		var raws []json.RawMessage
		if err := json.Unmarshal(pb.Items, &raws); err != nil {
			return fmt.Errorf("whiteboard: snapshot %d page %d: %w", snap.Seq, pb.Page, err)
		}
		for _, raw := range raws {
			it, err := parseItem(raw)
			if err != nil {
				return err
			}
			p.items[it.id] = it
		}
	}
	for _, u := range meta.Drawers {
		m.drawers[u] = true
	}
	for u, hj := range meta.Hist {
		h := &history{}
		var err error
		if h.undo, err = entriesFromJSON(hj.Undo); err != nil {
			return err
		}
		if h.redo, err = entriesFromJSON(hj.Redo); err != nil {
			return err
		}
		m.hist[u] = h
	}
	return nil
}

func entriesFromJSON(ejs []entryJSON) ([]histEntry, error) {
	out := make([]histEntry, len(ejs))
	for i, ej := range ejs {
		out[i] = histEntry{erase: ej.Erase, page: ej.Page, items: make([]*item, len(ej.Items))}
		for j, raw := range ej.Items {
			it, err := parseItem(raw)
			if err != nil {
				return nil, err
			}
			out[i].items[j] = it
		}
	}
	return out, nil
}

// State is a board's complete state at a seq, in the form clients
// reconstruct: what wb.open and wb.items return, for every page. The replay
// package uses it to seek.
type State struct {
	Seq     uint64       `json:"seq"`
	Cur     uint64       `json:"cur"`
	View    View         `json:"view"`
	Pages   []PageState  `json:"pages"`
	Drawers []qun.UserID `json:"drawers"`
}

// PageState is one page with its items in drawing order, each the item's
// JSON as docs/ops/whiteboard.md specifies.
type PageState struct {
	PageInfo
	Items []json.RawMessage `json:"items"`
}

func (m *model) state() *State {
	st := &State{Seq: m.seq, Cur: m.cur, View: m.view, Drawers: m.sortedDrawers(), Pages: make([]PageState, len(m.pages))}
	for i, p := range m.pages {
		items := p.list()
		st.Pages[i] = PageState{PageInfo: p.PageInfo, Items: make([]json.RawMessage, len(items))}
		for j, it := range items {
			st.Pages[i].Items[j] = it.raw
		}
	}
	return st
}
