package whiteboard

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/qunkit/qun"
	"go.uber.org/zap"
)

// Blank pages are 16:9 unless the caller says otherwise.
const blankW, blankH = 1600, 900

// CreateBoard creates a board in room with one blank page. The caller must
// present in room.
func (s *Service) CreateBoard(ctx context.Context, id *qun.Identity, room qun.RoomID, title string) (*Board, error) {
	if id == nil {
		return nil, qun.Errorf(qun.CodeUnauthenticated, "no identity")
	}
	in := struct {
		Room  qun.RoomID `validate:"required,max=128"`
		Title string     `validate:"max=100"`
	}{room, title}
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	if room.Kind() == RoomKind || room.Kind() == "" {
		return nil, invalid("room", "a board attaches to a group or live room")
	}
	if err := s.hub.RequireRole(ctx, id, room, s.cfg.PresenterRole); err != nil {
		return nil, err
	}
	meta := &Board{Tenant: id.Tenant, ID: BoardID(qun.NewID()), Room: room, Title: title, CreatedBy: id.User, CreatedAt: s.cfg.Now().UnixMilli()}
	if err := s.store.CreateBoard(ctx, meta, s.cfg.BoardsPerRoom); err != nil {
		return nil, err
	}
	b, a, err := s.acquire(ctx, id, meta.ID)
	if err != nil {
		return nil, err
	}
	_, err = s.addPages(ctx, b, a, nil, []PageInfo{{W: blankW, H: blankH}})
	b.mu.Unlock()
	if err != nil {
		return nil, err
	}
	s.announce(ctx, meta, false)
	return meta, nil
}

// announce tells the parent room about a board. It is a notification:
// failures are logged, the board stands.
func (s *Service) announce(ctx context.Context, meta *Board, deleted bool) {
	_, err := s.hub.Publish(ctx, qun.RoomRef{Tenant: meta.Tenant, Room: meta.Room}, qun.Draft{Type: EvBoard, Actor: meta.CreatedBy, Data: struct {
		Board   BoardID    `json:"board"`
		Room    qun.RoomID `json:"room"`
		Title   string     `json:"title"`
		Deleted bool       `json:"deleted,omitempty"`
	}{meta.ID, Room(meta.ID), meta.Title, deleted}})
	if err != nil {
		s.log.Warn("announcing board", zap.String("board", string(meta.ID)), zap.Error(err))
	}
}

// Boards lists room's boards, oldest first. The caller must be able to
// watch room.
func (s *Service) Boards(ctx context.Context, id *qun.Identity, room qun.RoomID) ([]*Board, error) {
	if id == nil {
		return nil, qun.Errorf(qun.CodeUnauthenticated, "no identity")
	}
	if err := qun.ValidateVar("room", room, "required,max=128"); err != nil {
		return nil, err
	}
	if err := s.hub.RequireRole(ctx, id, room, qun.RoleViewer); err != nil {
		return nil, err
	}
	bs, err := s.store.Boards(ctx, id.Tenant, room)
	if bs == nil && err == nil {
		bs = []*Board{}
	}
	return bs, err
}

// DeleteBoard deletes a board with its snapshots and images. Its room's log
// is kept (the vendor's retention applies) and ends with a wb.deleted event.
func (s *Service) DeleteBoard(ctx context.Context, id *qun.Identity, bid BoardID) error {
	b, a, err := s.acquire(ctx, id, bid)
	if err != nil {
		return err
	}
	defer b.mu.Unlock()
	if err := a.mustPresent(); err != nil {
		return err
	}
	if err := s.store.DeleteBoard(ctx, b.meta.Tenant, b.meta.ID); err != nil {
		return err
	}
	b.gone = true
	s.forget(b)
	if _, err := s.hub.Publish(ctx, b.ref, qun.Draft{Type: EvDeleted, Actor: id.User}); err != nil {
		s.log.Warn("publishing board deletion", zap.Error(err))
	}
	if err := s.hub.EndRoom(ctx, b.ref, qun.Errorf(qun.CodeNotFound, "the board was deleted")); err != nil {
		s.log.Warn("ending board subscriptions", zap.Error(err))
	}
	s.announce(ctx, b.meta, true)
	return nil
}

// openHead is wb.open's reply without its items, which are spliced in.
type openHead struct {
	Board   *Board       `json:"board"`
	Seq     uint64       `json:"seq"`
	Cur     uint64       `json:"cur"`
	View    View         `json:"view"`
	Pages   []pageHead   `json:"pages"`
	Drawers []qun.UserID `json:"drawers"`
	Drafts  []*draftJSON `json:"drafts"`
	Me      me           `json:"me"`
}

type pageHead struct {
	PageInfo
	N int `json:"n"` // items on the page
}

type me struct {
	Present bool `json:"present"`
	Draw    bool `json:"draw"`
}

// Open returns what a client needs to show the board at once, as wb.open's
// JSON: the board at seq "seq" with the items of the current page, plus
// the strokes being drawn. The client then subscribes to the board's room
// with after = seq. Other pages' items come from Items.
func (s *Service) Open(ctx context.Context, id *qun.Identity, bid BoardID) (json.RawMessage, error) {
	b, a, err := s.acquireFor(ctx, id, bid, forRead)
	if err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	m := b.m
	h := openHead{Board: b.meta, Seq: m.seq, Cur: m.cur, View: m.view, Drawers: m.sortedDrawers(),
		Pages: make([]pageHead, len(m.pages)), Drafts: make([]*draftJSON, 0, len(b.drafts)),
		Me: me{Present: a.presenter, Draw: a.canDraw(b)}}
	for i, p := range m.pages {
		h.Pages[i] = pageHead{PageInfo: p.PageInfo, N: len(p.items)}
	}
	for _, d := range b.drafts {
		h.Drafts = append(h.Drafts, d.json())
	}
	out, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	out = out[:len(out)-1] // reopen the object
	out = append(out, `,"page":`...)
	out = strconv.AppendUint(out, m.cur, 10)
	out = append(out, `,"items":`...)
	if p := m.byID[m.cur]; p != nil {
		out = p.appendItems(out)
	} else {
		out = append(out, "[]"...)
	}
	return append(out, '}'), nil
}

// Items returns one page's items at the board's current seq, as wb.items's
// JSON: {"seq":N,"page":id,"items":[...]}.
func (s *Service) Items(ctx context.Context, id *qun.Identity, bid BoardID, pageID uint64) (json.RawMessage, error) {
	b, _, err := s.acquireFor(ctx, id, bid, forRead)
	if err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	p, err := b.page(pageID)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, 64+p.itemsLen())
	out = append(out, `{"seq":`...)
	out = strconv.AppendUint(out, b.m.seq, 10)
	out = append(out, `,"page":`...)
	out = strconv.AppendUint(out, p.ID, 10)
	out = append(out, `,"items":`...)
	out = p.appendItems(out)
	return append(out, '}'), nil
}

func (b *board) page(id uint64) (*page, error) {
	p := b.m.byID[id]
	if p == nil {
		e := qun.Errorf(qun.CodeNotFound, "no page %d on this board", id)
		e.Field = "page"
		return nil, e
	}
	return p, nil
}

// State returns a board's complete current state (every page's items). It
// is the vendor's view: no role check, only the tenant scopes it.
func (s *Service) State(ctx context.Context, tenant qun.TenantID, bid BoardID) (*State, error) {
	for {
		b, err := s.getBoard(ctx, tenant, bid)
		if err != nil {
			return nil, err
		}
		b.mu.Lock()
		if !b.gone && s.cfg.Locker != nil {
			if err := s.catchUp(ctx, b); err != nil {
				b.mu.Unlock()
				return nil, err
			}
		}
		if !b.gone {
			st := b.m.state()
			b.mu.Unlock()
			return st, nil
		}
		b.mu.Unlock()
		s.forget(b)
	}
}

// StateAt returns a board's state as of room seq (0: now), built from the
// newest snapshot at or before seq and the events logged after it: how a
// replay seeks without replaying the whole history.
func (s *Service) StateAt(ctx context.Context, tenant qun.TenantID, bid BoardID, seq uint64) (*State, error) {
	meta, err := s.store.Board(ctx, tenant, bid)
	if err != nil {
		return nil, err
	}
	m, err := s.replay(ctx, meta, seq)
	if err != nil {
		return nil, err
	}
	return m.state(), nil
}

// AddPage adds a blank page of w×h pixels (0: 1600×900) after page after
// (nil: at the end; 0: first). Presenters only.
func (s *Service) AddPage(ctx context.Context, id *qun.Identity, bid BoardID, after *uint64, w, h int) (PageInfo, uint64, error) {
	if w == 0 && h == 0 {
		w, h = blankW, blankH
	}
	if w < 1 || h < 1 || w > 8192 || h > 8192 {
		return PageInfo{}, 0, invalid("w", "a page is 1 to 8192 pixels wide and high")
	}
	b, a, err := s.acquire(ctx, id, bid)
	if err != nil {
		return PageInfo{}, 0, err
	}
	defer b.mu.Unlock()
	pages := []PageInfo{{W: w, H: h}}
	ev, err := s.addPages(ctx, b, a, after, pages)
	if err != nil {
		return PageInfo{}, 0, err
	}
	return pages[0], ev.Seq, nil
}

// addPages checks, gives pages their ids (in place) and adds them. b.mu is held.
func (s *Service) addPages(ctx context.Context, b *board, a actor, after *uint64, pages []PageInfo) (*qun.Event, error) {
	if err := s.canAddPages(b, a, after, len(pages)); err != nil {
		return nil, err
	}
	for i := range pages {
		pages[i].ID = b.m.next + uint64(i)
	}
	return s.commit(ctx, b, a.id.User, EvPagesAdd, pagesAddData{After: after, Pages: pages})
}

// RemovePage removes a page and its items. Presenters only; the last page
// cannot be removed.
func (s *Service) RemovePage(ctx context.Context, id *qun.Identity, bid BoardID, pageID uint64) (uint64, error) {
	return s.withBoard(ctx, id, bid, true, func(b *board, _ actor) (uint64, error) {
		if _, err := b.page(pageID); err != nil {
			return 0, err
		}
		if len(b.m.pages) == 1 {
			return 0, qun.Errorf(qun.CodeConflict, "a board keeps at least one page")
		}
		s.cancelDraftsWhere(ctx, b, func(d *draft) bool { return d.page == pageID })
		return seqOf(s.commit(ctx, b, id.User, EvPagesRemove, pagesRemoveData{Pages: []uint64{pageID}}))
	})
}

// withBoard runs fn on the board, locked, once the caller is known to
// watch it (and to present on it, if present).
func (s *Service) withBoard(ctx context.Context, id *qun.Identity, bid BoardID, present bool, fn func(*board, actor) (uint64, error)) (uint64, error) {
	return s.withBoardFor(ctx, id, bid, present, forWrite, fn)
}

// withBoardFor is withBoard for operations that need less (see mode).
func (s *Service) withBoardFor(ctx context.Context, id *qun.Identity, bid BoardID, present bool, md mode, fn func(*board, actor) (uint64, error)) (uint64, error) {
	b, a, err := s.acquireFor(ctx, id, bid, md)
	if err != nil {
		return 0, err
	}
	defer b.mu.Unlock()
	if present {
		if err := a.mustPresent(); err != nil {
			return 0, err
		}
	}
	return fn(b, a)
}

func seqOf(ev *qun.Event, err error) (uint64, error) {
	if err != nil {
		return 0, err
	}
	return ev.Seq, nil
}

// TurnPage shows page to everyone (and resets the viewport to the whole
// page). Presenters only.
func (s *Service) TurnPage(ctx context.Context, id *qun.Identity, bid BoardID, pageID uint64) (uint64, error) {
	return s.withBoard(ctx, id, bid, true, func(b *board, _ actor) (uint64, error) {
		if _, err := b.page(pageID); err != nil {
			return 0, err
		}
		return seqOf(s.commit(ctx, b, id.User, EvPage, pageData{Page: pageID}))
	})
}

// SetView sets the presenter's viewport on the current page. With live
// set it is only broadcast (wb.view.live, not stored), for the frames of
// a pinch or drag; the final position is sent without live. Presenters only.
func (s *Service) SetView(ctx context.Context, id *qun.Identity, bid BoardID, v View, live bool) (uint64, error) {
	if !(v.Zoom >= 1 && v.Zoom <= s.cfg.Limits.MaxZoom) {
		return 0, invalid("zoom", "zoom must be in [1, %g]", s.cfg.Limits.MaxZoom)
	}
	v.X, v.Y, v.Zoom = round(v.X), round(v.Y), round(v.Zoom)
	if span := 1 - 1/v.Zoom + 1e-4; !(v.X >= 0 && v.X <= span && v.Y >= 0 && v.Y <= span) {
		return 0, invalid("x", "x and y must be in [0, 1-1/zoom] so the view stays on the page")
	}
	md := forWrite
	if live {
		md = forNone
	}
	return s.withBoardFor(ctx, id, bid, true, md, func(b *board, _ actor) (uint64, error) {
		if _, err := b.page(v.Page); err != nil {
			return 0, err
		}
		if v.Page != b.m.cur {
			return 0, qun.Errorf(qun.CodeConflict, "page %d is not the current page", v.Page)
		}
		if live {
			s.ephemeral(ctx, b, id.User, EvViewLive, v)
			return 0, nil
		}
		return seqOf(s.commit(ctx, b, id.User, EvView, v))
	})
}

// SetRights grants (draw) or revokes a user's drawing rights on the board.
// Presenters only. Revocation takes effect at once: the user's strokes in
// progress are discarded and their next op is refused.
func (s *Service) SetRights(ctx context.Context, id *qun.Identity, bid BoardID, user qun.UserID, draw bool) (uint64, error) {
	if err := qun.ValidateVar("user", user, "required,max=64"); err != nil {
		return 0, err
	}
	return s.withBoard(ctx, id, bid, true, func(b *board, _ actor) (uint64, error) {
		if b.m.drawers[user] == draw {
			return b.m.seq, nil // already so
		}
		if draw && len(b.m.drawers) >= 1000 {
			return 0, qun.Errorf(qun.CodeExhausted, "at most 1000 users may draw on a board")
		}
		ev, err := s.commit(ctx, b, id.User, EvRights, rightsData{User: user, Draw: draw})
		if err != nil {
			return 0, err
		}
		if !draw {
			s.cancelDraftsWhere(ctx, b, func(d *draft) bool { return d.by == user })
		}
		return ev.Seq, nil
	})
}
