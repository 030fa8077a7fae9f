package whiteboard

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/qunkit/qun"
)

// draft is a stroke being drawn: its points are streamed to viewers as
// ephemeral events and it becomes an item (one durable wb.add) when it ends.
type draft struct {
	id      uint64
	page    uint64
	by      qun.UserID
	sess    *qun.Session // nil for strokes drawn through the Go API
	tool, c string
	w       float64
	pts     []float64 // rounded
	touched time.Time
	seq     uint64 // the board's seq when the stroke began
}

type draftJSON struct {
	ID   uint64     `json:"id"`
	Page uint64     `json:"page"`
	By   qun.UserID `json:"by"`
	Tool string     `json:"tool"`
	C    string     `json:"c"`
	W    float64    `json:"w"`
	Pts  []float64  `json:"pts"`
}

func (d *draft) json() *draftJSON {
	return &draftJSON{ID: d.id, Page: d.page, By: d.by, Tool: d.tool, C: d.c, W: d.w, Pts: d.pts}
}

func roundAll(dst, pts []float64) []float64 {
	for _, v := range pts {
		dst = append(dst, round(v))
	}
	return dst
}

// StrokeStart starts a streamed stroke.
type StrokeStart struct {
	Page uint64    `json:"page" validate:"required"`
	Tool string    `json:"tool" validate:"required,oneof=pen highlighter"`
	C    string    `json:"c" validate:"required,max=9"`
	W    float64   `json:"w"`
	Pts  []float64 `json:"pts" validate:"required"`
}

// BeginStroke starts a stroke that viewers see grow: it is broadcast as
// wb.stroke.begin, its points as wb.stroke.append, and EndStroke turns it
// into an item. sess (nil from the Go API) is the caller's connection:
// its strokes in progress are discarded when it closes. It returns the
// stroke's item id.
func (s *Service) BeginStroke(ctx context.Context, id *qun.Identity, sess *qun.Session, bid BoardID, in StrokeStart) (uint64, error) {
	if err := qun.Validate(&in); err != nil {
		return 0, err
	}
	it := ItemInput{K: KindStroke, Tool: in.Tool, C: in.C, W: in.W, Pts: in.Pts}
	if err := it.check(&s.cfg.Limits); err != nil {
		return 0, err
	}
	b, a, err := s.acquireFor(ctx, id, bid, forRead)
	if err != nil {
		return 0, err
	}
	if err := s.canAddItems(b, a, in.Page, 1); err != nil {
		b.mu.Unlock()
		return 0, err
	}
	now := s.cfg.Now()
	s.expireDrafts(b, now)
	n := 0
	for _, d := range b.drafts {
		if d.by == id.User {
			n++
		}
	}
	if n >= s.cfg.DraftsPerUser {
		b.mu.Unlock()
		return 0, qun.Errorf(qun.CodeExhausted, "at most %d strokes at once", s.cfg.DraftsPerUser)
	}
	d := &draft{id: b.m.next, page: in.Page, by: id.User, sess: sess, tool: it.Tool, c: it.C, w: round(it.W), pts: roundAll(nil, it.Pts), touched: now, seq: b.m.seq}
	b.m.next++
	b.drafts[d.id] = d
	s.ephemeral(ctx, b, id.User, EvStrokeBegin, d.json())
	hook := sess != nil && !b.hooked[sess]
	if hook {
		b.hooked[sess] = true
	}
	b.mu.Unlock()
	if hook {
		// Outside b.mu: OnClose runs fn at once if the session already closed.
		sess.OnClose(func() { s.sessionClosed(b, sess) })
	}
	return d.id, nil
}

// canAddItems checks that a may draw n more items on page. b.mu is held.
func (s *Service) canAddItems(b *board, a actor, pageID uint64, n int) error {
	if err := a.mustDraw(b); err != nil {
		return err
	}
	p, err := b.page(pageID)
	if err != nil {
		return err
	}
	if len(p.items)+n > s.cfg.Limits.ItemsPerPage {
		return qun.Errorf(qun.CodeExhausted, "a page holds at most %d items; clear it or add a page", s.cfg.Limits.ItemsPerPage)
	}
	return nil
}

// myDraft returns a's stroke in progress. b.mu is held.
func (b *board) myDraft(a actor, strokeID uint64) (*draft, error) {
	if err := a.mustDraw(b); err != nil {
		return nil, err
	}
	d := b.drafts[strokeID]
	if d == nil || d.by != a.id.User {
		return nil, &qun.Error{Code: qun.CodeNotFound, Message: "no such stroke in progress", Field: "id"}
	}
	return d, nil
}

func (s *Service) checkMorePoints(d *draft, pts []float64) error {
	if err := checkPoints(pts, 3); err != nil {
		return err
	}
	if (len(d.pts)+len(pts))/3 > s.cfg.Limits.StrokePoints {
		return qun.Errorf(qun.CodeTooLarge, "a stroke has at most %d points; end it and start another", s.cfg.Limits.StrokePoints)
	}
	return nil
}

// AppendStroke adds points to a stroke in progress and broadcasts them.
func (s *Service) AppendStroke(ctx context.Context, id *qun.Identity, bid BoardID, strokeID uint64, pts []float64) error {
	if len(pts) == 0 {
		return invalid("pts", "pts is required")
	}
	_, err := s.withBoardFor(ctx, id, bid, false, forNone, func(b *board, a actor) (uint64, error) {
		d, err := b.myDraft(a, strokeID)
		if err != nil {
			return 0, err
		}
		if err := s.checkMorePoints(d, pts); err != nil {
			return 0, err
		}
		i := len(d.pts) / 3
		d.pts = roundAll(d.pts, pts)
		d.touched = s.cfg.Now()
		s.ephemeral(ctx, b, id.User, EvStrokeAppend, struct {
			ID  uint64    `json:"id"`
			I   int       `json:"i"`
			Pts []float64 `json:"pts"`
		}{d.id, i, d.pts[3*i:]})
		return 0, nil
	})
	return err
}

// EndStroke ends a stroke in progress, with optional last points: the whole
// stroke is published as one durable wb.add. It returns the event's seq.
func (s *Service) EndStroke(ctx context.Context, id *qun.Identity, bid BoardID, strokeID uint64, pts []float64) (uint64, error) {
	return s.withBoard(ctx, id, bid, false, func(b *board, a actor) (uint64, error) {
		d, err := b.myDraft(a, strokeID)
		if err != nil {
			return 0, err
		}
		if err := s.checkMorePoints(d, pts); err != nil {
			return 0, err
		}
		if err := s.canAddItems(b, a, d.page, 1); err != nil {
			s.dropDraft(ctx, b, d)
			return 0, err
		}
		all := roundAll(slices.Clip(d.pts), pts)
		it := ItemInput{K: KindStroke, Tool: d.tool, C: d.c, W: d.w, Pts: all}
		delete(b.drafts, d.id)
		itemID := d.id
		if b.foreign > d.seq {
			// Another node wrote to the board while this stroke was drawn,
			// and its ids come from its own copy: it may have used this one.
			// The stroke becomes an item with a fresh id (the board is
			// caught up and locked), its draft cancelled.
			s.ephemeral(ctx, b, d.by, EvStrokeCancel, strokeRef{d.id})
			itemID = b.m.next
			b.m.next++
		}
		ev, err := s.commit(ctx, b, id.User, EvAdd, addData{Page: d.page, Items: []json.RawMessage{it.encode(itemID, d.by)}})
		if err != nil {
			s.ephemeral(ctx, b, d.by, EvStrokeCancel, strokeRef{d.id})
			return 0, err
		}
		return ev.Seq, nil
	})
}

type strokeRef struct {
	ID uint64 `json:"id"`
}

// CancelStroke discards a stroke in progress.
func (s *Service) CancelStroke(ctx context.Context, id *qun.Identity, bid BoardID, strokeID uint64) error {
	_, err := s.withBoardFor(ctx, id, bid, false, forNone, func(b *board, a actor) (uint64, error) {
		d, err := b.myDraft(a, strokeID)
		if err == nil {
			s.dropDraft(ctx, b, d)
		}
		return 0, err
	})
	return err
}

func (s *Service) dropDraft(ctx context.Context, b *board, d *draft) {
	delete(b.drafts, d.id)
	s.ephemeral(ctx, b, d.by, EvStrokeCancel, strokeRef{d.id})
}

// cancelDraftsWhere discards the strokes in progress that match. b.mu is held.
func (s *Service) cancelDraftsWhere(ctx context.Context, b *board, match func(*draft) bool) {
	for _, d := range b.drafts {
		if match(d) {
			s.dropDraft(ctx, b, d)
		}
	}
}

// expireDrafts discards strokes that received nothing for DraftTimeout.
func (s *Service) expireDrafts(b *board, now time.Time) {
	s.cancelDraftsWhere(s.ctx, b, func(d *draft) bool { return now.Sub(d.touched) >= s.cfg.DraftTimeout })
}

func (s *Service) sessionClosed(b *board, sess *qun.Session) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.hooked, sess)
	if !b.gone {
		s.cancelDraftsWhere(context.Background(), b, func(d *draft) bool { return d.sess == sess })
	}
}

// Draw adds a whole item (a stroke drawn at once, a shape or a text) to a
// page. It returns the item's id and the event's seq.
func (s *Service) Draw(ctx context.Context, id *qun.Identity, bid BoardID, pageID uint64, in ItemInput) (uint64, uint64, error) {
	if err := in.check(&s.cfg.Limits); err != nil {
		return 0, 0, err
	}
	b, a, err := s.acquire(ctx, id, bid)
	if err != nil {
		return 0, 0, err
	}
	defer b.mu.Unlock()
	if err := s.canAddItems(b, a, pageID, 1); err != nil {
		return 0, 0, err
	}
	itemID := b.m.next
	ev, err := s.commit(ctx, b, id.User, EvAdd, addData{Page: pageID, Items: []json.RawMessage{in.encode(itemID, id.User)}})
	if err != nil {
		return 0, 0, err
	}
	return itemID, ev.Seq, nil
}

// Erase removes items from a page. Presenters erase anything; other
// drawers only their own items.
func (s *Service) Erase(ctx context.Context, id *qun.Identity, bid BoardID, pageID uint64, ids []uint64) (uint64, error) {
	if len(ids) == 0 {
		return 0, invalid("ids", "ids is required")
	}
	if len(ids) > s.cfg.Limits.EraseIDs {
		return 0, qun.Errorf(qun.CodeTooLarge, "erase at most %d items at once", s.cfg.Limits.EraseIDs)
	}
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	b, a, err := s.acquire(ctx, id, bid)
	if err != nil {
		return 0, err
	}
	defer b.mu.Unlock()
	if err := a.mustDraw(b); err != nil {
		return 0, err
	}
	p, err := b.page(pageID)
	if err != nil {
		return 0, err
	}
	for _, iid := range ids {
		it := p.items[iid]
		if it == nil {
			return 0, &qun.Error{Code: qun.CodeNotFound, Message: "no such item on this page", Field: "ids"}
		}
		if !a.presenter && it.by != id.User {
			return 0, qun.Errorf(qun.CodeForbidden, "you may erase only your own items")
		}
	}
	return seqOf(s.commit(ctx, b, id.User, EvErase, eraseData{Page: pageID, IDs: ids}))
}

// Clear removes every item of a page. Presenters only; the presenter can
// undo it.
func (s *Service) Clear(ctx context.Context, id *qun.Identity, bid BoardID, pageID uint64) (uint64, error) {
	return s.withBoard(ctx, id, bid, true, func(b *board, _ actor) (uint64, error) {
		p, err := b.page(pageID)
		if err != nil {
			return 0, err
		}
		if len(p.items) == 0 {
			return b.m.seq, nil
		}
		return seqOf(s.commit(ctx, b, id.User, EvClear, pageData{Page: pageID}))
	})
}

// Undo reverses the caller's newest operation that still has an effect
// (adding, erasing or clearing items); Redo replays the newest undone one.
// Nobody else's operations are touched. CodeConflict: nothing to undo.
func (s *Service) Undo(ctx context.Context, id *qun.Identity, bid BoardID) (uint64, error) {
	return s.undo(ctx, id, bid, false)
}

// Redo replays the caller's newest undone operation; see Undo.
func (s *Service) Redo(ctx context.Context, id *qun.Identity, bid BoardID) (uint64, error) {
	return s.undo(ctx, id, bid, true)
}

func (s *Service) undo(ctx context.Context, id *qun.Identity, bid BoardID, redo bool) (uint64, error) {
	b, a, err := s.acquire(ctx, id, bid)
	if err != nil {
		return 0, err
	}
	defer b.mu.Unlock()
	if err := a.mustDraw(b); err != nil {
		return 0, err
	}
	typ, data, ok := b.m.undoPlan(id.User, redo)
	if !ok {
		what := "undo"
		if redo {
			what = "redo"
		}
		return 0, qun.Errorf(qun.CodeConflict, "nothing to %s", what)
	}
	if d, isAdd := data.(addData); isAdd {
		if len(b.m.byID[d.Page].items)+len(d.Items) > s.cfg.Limits.ItemsPerPage {
			return 0, qun.Errorf(qun.CodeExhausted, "a page holds at most %d items", s.cfg.Limits.ItemsPerPage)
		}
	}
	return seqOf(s.commit(ctx, b, id.User, typ, data))
}

// LaserInput points the laser at (X, Y) on Page, or hides it (Off).
type LaserInput struct {
	Page uint64  `json:"page,omitempty"`
	X    float64 `json:"x,omitempty"`
	Y    float64 `json:"y,omitempty"`
	Off  bool    `json:"off,omitempty"`
}

// Laser broadcasts the laser pointer (wb.laser, never stored). Drawers only.
func (s *Service) Laser(ctx context.Context, id *qun.Identity, bid BoardID, in LaserInput) error {
	if !in.Off {
		if err := checkPoints([]float64{in.X, in.Y}, 2); err != nil {
			return err
		}
	}
	b, a, err := s.acquireFor(ctx, id, bid, forNone)
	if err != nil {
		return err
	}
	defer b.mu.Unlock()
	if err := a.mustDraw(b); err != nil {
		return err
	}
	if in.Off {
		s.ephemeral(ctx, b, id.User, EvLaser, json.RawMessage(`{"off":true}`))
		return nil
	}
	if _, err := b.page(in.Page); err != nil {
		return err
	}
	s.ephemeral(ctx, b, id.User, EvLaser, struct {
		Page uint64  `json:"page"`
		X    float64 `json:"x"`
		Y    float64 `json:"y"`
	}{in.Page, round(in.X), round(in.Y)})
	return nil
}
