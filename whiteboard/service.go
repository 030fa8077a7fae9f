package whiteboard

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/qunkit/qun"
	"go.uber.org/zap"
)

// Config configures a Service. Every field's zero value has the documented default.
type Config struct {
	// Hub serves the wb.* ops and carries boards' events. Required.
	Hub *qun.Hub
	// Store keeps boards, snapshots and page images. Required;
	// NewSQLiteStore is the embedded one.
	Store Store
	// Authenticator verifies the bearer tokens of HTTPHandler's requests.
	// Nil means the Hub's.
	Authenticator qun.Authenticator
	// Converter renders PDF pages to images. Nil means Poppler{} (the
	// pdftoppm and pdfinfo commands of poppler-utils, found on PATH).
	Converter Converter
	// Logger receives the service's logs. Nil means zap.NewNop().
	Logger *zap.Logger
	// Locker makes several nodes' writes to a board take turns (see
	// Locker). Nil means none: a board's writes must come through one node.
	Locker Locker

	// PresenterRole is the least room role that presents: draws, turns
	// pages, grants drawing rights. Zero means qun.RoleModerator. Users with
	// qun.RoleViewer and above may watch.
	PresenterRole qun.Role
	// SnapshotEvery is how many operations a board takes between persisted
	// snapshots. Zero means 500.
	SnapshotEvery int
	// SnapshotKeep is how many snapshots to keep per board (older ones are
	// pruned); replays seek only as far back as kept snapshots go without
	// reading the log from the start. Zero keeps all.
	SnapshotKeep int
	// UndoDepth is how many operations each user may undo per board.
	// Zero means 50.
	UndoDepth int
	// BoardsPerRoom bounds the boards of one room. Zero means 20.
	BoardsPerRoom int
	// DraftsPerUser bounds the strokes one user draws at once on a board
	// (multi-touch). Zero means 4.
	DraftsPerUser int
	// DraftTimeout discards a stroke that received no points for this long.
	// Zero means 30 s.
	DraftTimeout time.Duration
	// IdleTimeout unloads a board from memory (after saving a snapshot)
	// when nobody used it for this long. Zero means 10 minutes.
	IdleTimeout time.Duration
	// Limits bound boards and ops; see Limits for the defaults.
	Limits Limits
	// Upload bounds courseware uploads; see UploadLimits for the defaults.
	Upload UploadLimits
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.Converter == nil {
		c.Converter = Poppler{}
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.PresenterRole == qun.RoleNone {
		c.PresenterRole = qun.RoleModerator
	}
	def := func(p *int, d int) {
		if *p <= 0 {
			*p = d
		}
	}
	def(&c.SnapshotEvery, 500)
	def(&c.UndoDepth, 50)
	def(&c.BoardsPerRoom, 20)
	def(&c.DraftsPerUser, 4)
	if c.DraftTimeout <= 0 {
		c.DraftTimeout = 30 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 10 * time.Minute
	}
	c.Limits.setDefaults()
	c.Upload.setDefaults()
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Service runs whiteboards: it registers the wb.* ops and the "wb" room
// kind on the Hub, keeps every board in use in memory, and persists
// snapshots. Create it with New and stop it with Close.
type Service struct {
	cfg   Config
	hub   *qun.Hub
	store Store
	log   *zap.Logger
	conv  chan struct{} // one token per conversion allowed at once

	ctx    context.Context // ends at Close: stops conversions and the janitor
	cancel context.CancelFunc

	mu     sync.Mutex
	boards map[boardKey]*boardEntry
	closed bool

	wg        sync.WaitGroup // janitor and snapshot writers
	closeOnce sync.Once
}

type boardKey struct {
	tenant qun.TenantID
	id     BoardID
}

// boardEntry lets one goroutine load a board while others wait for it.
type boardEntry struct {
	ready chan struct{}
	b     *board
	err   error
}

// board is one loaded board. mu guards everything below it and is held
// from validation through publishing and applying an operation, so the
// model's order is the log's order.
type board struct {
	meta *Board
	ref  qun.RoomRef

	mu      boardMu
	foreign uint64 // seq of the newest event another node wrote, as caught up
	m       *model
	drafts  map[uint64]*draft
	hooked  map[*qun.Session]bool // sessions whose close discards their drafts
	used    time.Time
	saving  bool // a snapshot write is in flight
	gone    bool // unloaded or deleted: reload through the Service
}

// New creates the Service and registers its ops and its room kind on
// cfg.Hub. Call it once per Hub.
func New(cfg Config) (*Service, error) {
	if cfg.Hub == nil {
		return nil, errors.New("whiteboard: Config.Hub is required")
	}
	if cfg.Store == nil {
		return nil, errors.New("whiteboard: Config.Store is required")
	}
	cfg.setDefaults()
	if cfg.Authenticator == nil {
		cfg.Authenticator = cfg.Hub.Authenticator()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{
		cfg:    cfg,
		hub:    cfg.Hub,
		store:  cfg.Store,
		log:    cfg.Logger,
		conv:   make(chan struct{}, cfg.Upload.Conversions),
		ctx:    ctx,
		cancel: cancel,
		boards: map[boardKey]*boardEntry{},
	}
	s.hub.RegisterRooms(RoomKind, qun.RoomAccessFunc(s.roomRole))
	s.registerOps()
	s.wg.Add(1)
	go s.janitor()
	return s, nil
}

// Close saves a snapshot of every loaded board that changed since its last
// one, stops conversions in progress and background work, and makes every
// later call fail with qun.ErrClosed. Idempotent.
func (s *Service) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		entries := make([]*boardEntry, 0, len(s.boards))
		for _, e := range s.boards {
			entries = append(entries, e)
		}
		s.mu.Unlock()
		s.cancel()
		s.wg.Wait()
		for _, e := range entries {
			<-e.ready
			if b := e.b; b != nil {
				b.mu.Lock()
				if !b.gone {
					err = errors.Join(err, s.saveNow(b))
					b.gone = true
				}
				b.mu.Unlock()
			}
		}
	})
	return err
}

// roomRole is the RoomAccess of "wb:<board>" rooms: a user's role there is
// their role in the board's parent room.
func (s *Service) roomRole(ctx context.Context, id *qun.Identity, room qun.RoomID) (qun.Role, error) {
	_, bid, _ := cutRoom(room)
	b, err := s.getBoard(ctx, id.Tenant, BoardID(bid))
	if err != nil {
		return qun.RoleNone, err
	}
	return s.hub.RoomRole(ctx, id, b.meta.Room)
}

func cutRoom(r qun.RoomID) (kind, id string, ok bool) {
	k := r.Kind()
	if k == "" {
		return "", "", false
	}
	return k, string(r[len(k)+1:]), true
}

// getBoard returns the loaded board, loading it if needed.
func (s *Service) getBoard(ctx context.Context, tenant qun.TenantID, id BoardID) (*board, error) {
	if err := qun.ValidateVar("board", id, "required,max=64"); err != nil {
		return nil, err
	}
	k := boardKey{tenant, id}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, qun.ErrClosed
	}
	e := s.boards[k]
	if e == nil {
		e = &boardEntry{ready: make(chan struct{})}
		s.boards[k] = e
		s.mu.Unlock()
		e.b, e.err = s.load(ctx, k)
		if e.err != nil {
			s.mu.Lock()
			if s.boards[k] == e {
				delete(s.boards, k)
			}
			s.mu.Unlock()
		}
		close(e.ready)
		return e.b, e.err
	}
	s.mu.Unlock()
	select {
	case <-e.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return e.b, e.err
}

// forget drops b from the loaded boards if it is still there.
func (s *Service) forget(b *board) {
	k := boardKey{b.meta.Tenant, b.meta.ID}
	s.mu.Lock()
	if e := s.boards[k]; e != nil && e.b == b {
		delete(s.boards, k)
	}
	s.mu.Unlock()
}

// load builds a board's state from its newest snapshot and the events
// logged after it.
func (s *Service) load(ctx context.Context, k boardKey) (*board, error) {
	meta, err := s.store.Board(ctx, k.tenant, k.id)
	if err != nil {
		return nil, err
	}
	m, err := s.replay(ctx, meta, 0)
	if err != nil {
		return nil, err
	}
	return &board{meta: meta, ref: meta.Ref(), m: m, drafts: map[uint64]*draft{}, hooked: map[*qun.Session]bool{}, used: s.cfg.Now()}, nil
}

// replay rebuilds meta's board at seq upTo (0: the log's end) from the
// newest snapshot at or before it plus the log.
func (s *Service) replay(ctx context.Context, meta *Board, upTo uint64) (*model, error) {
	m := newModel(s.cfg.UndoDepth)
	snap, err := s.store.LoadSnapshot(ctx, meta.Tenant, meta.ID, upTo)
	if err != nil {
		return nil, err
	}
	if snap != nil {
		if err := m.restore(snap); err != nil {
			return nil, err
		}
	}
	ref := meta.Ref()
	last, err := s.hub.Log().Last(ctx, ref)
	if err != nil {
		return nil, err
	}
	if last < m.seq {
		// The log lost events its snapshot covers (a memory log after a
		// restart): keep the snapshot's board, continue from the log's seq.
		s.log.Error("board log is behind its snapshot; use a durable room log", zap.Stringer("room", ref), zap.Uint64("log", last), zap.Uint64("snapshot", m.seq))
		m.seq, m.savedSeq = last, last
		return m, nil
	}
	if upTo == 0 || upTo > last {
		upTo = last
	}
	if err := s.readLog(ctx, m, ref, upTo); err != nil {
		return nil, err
	}
	return m, nil
}

// readLog applies ref's logged events after m.seq up to seq upTo.
func (s *Service) readLog(ctx context.Context, m *model, ref qun.RoomRef, upTo uint64) error {
	for m.seq < upTo {
		evs, err := s.hub.Log().Read(ctx, ref, m.seq, int(min(upTo-m.seq, 1000)))
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			return qun.Errorf(qun.CodeInternal, "board log ends at %d before %d", m.seq, upTo)
		}
		for _, ev := range evs {
			if ev.Seq > upTo {
				return nil
			}
			if err := m.apply(ev); err != nil {
				s.log.Error("skipping undecodable board event", zap.Stringer("room", ref), zap.Error(err))
			}
		}
	}
	return nil
}

// actor is a caller with their role in a board's parent room.
type actor struct {
	id        *qun.Identity
	presenter bool
}

// acquire loads the board, checks the caller may at least watch it, and
// returns it locked for a durable operation. Callers unlock b.mu.
func (s *Service) acquire(ctx context.Context, id *qun.Identity, bid BoardID) (*board, actor, error) {
	return s.acquireFor(ctx, id, bid, forWrite)
}

// acquireFor is acquire for operations that need less (see mode). Without
// a Locker every mode is the same.
func (s *Service) acquireFor(ctx context.Context, id *qun.Identity, bid BoardID, md mode) (*board, actor, error) {
	if id == nil {
		return nil, actor{}, qun.Errorf(qun.CodeUnauthenticated, "no identity")
	}
	for {
		b, err := s.getBoard(ctx, id.Tenant, bid)
		if err != nil {
			return nil, actor{}, err
		}
		role, err := s.hub.RoomRole(ctx, id, b.meta.Room)
		if err != nil {
			return nil, actor{}, err
		}
		if role < qun.RoleViewer {
			return nil, actor{}, qun.Errorf(qun.CodeForbidden, "not in %s", b.meta.Room)
		}
		var release func()
		if md == forWrite && s.cfg.Locker != nil {
			if release, err = s.cfg.Locker.Lock(ctx, b.ref, false); err != nil {
				return nil, actor{}, err
			}
		}
		b.mu.Lock()
		b.mu.release = release
		if !b.gone && md != forNone && s.cfg.Locker != nil {
			if err := s.catchUp(ctx, b); err != nil {
				b.mu.Unlock()
				return nil, actor{}, err
			}
		}
		if !b.gone {
			b.used = s.cfg.Now()
			return b, actor{id: id, presenter: role >= s.cfg.PresenterRole}, nil
		}
		b.mu.Unlock()
		s.forget(b)
	}
}

func (a actor) canDraw(b *board) bool { return a.presenter || b.m.drawers[a.id.User] }

func (a actor) mustDraw(b *board) error {
	if !a.canDraw(b) {
		return qun.Errorf(qun.CodeForbidden, "you have no drawing rights on this board")
	}
	return nil
}

func (a actor) mustPresent() error {
	if !a.presenter {
		return qun.Errorf(qun.CodeForbidden, "only the presenter may do this")
	}
	return nil
}

// commit publishes a durable event and applies it. b.mu is held, so events
// are applied in the order the log numbered them.
func (s *Service) commit(ctx context.Context, b *board, by qun.UserID, typ string, data any) (*qun.Event, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, err
	}
	ev, err := s.hub.Publish(ctx, b.ref, qun.Draft{Type: typ, Actor: by, Data: json.RawMessage(raw)})
	if err != nil {
		// The event may or may not be in the log: reload the board from the
		// log next time rather than guess.
		b.gone = true
		return nil, err
	}
	if ev.Seq > b.m.seq+1 {
		// Someone else wrote to the board's room (another node without
		// the Locker): catch up.
		if err := s.readLog(ctx, b.m, b.ref, ev.Seq-1); err != nil {
			b.gone = true
			return nil, err
		}
		b.foreign = ev.Seq - 1
	}
	if err := b.m.apply(ev); err != nil {
		s.log.Error("applying own event", zap.Error(err))
	}
	s.maybeSnapshot(b)
	return ev, nil
}

// ephemeral fans an event out without storing it. Failures only cost a
// frame of animation, so they are logged.
func (s *Service) ephemeral(ctx context.Context, b *board, by qun.UserID, typ string, data any) {
	if err := s.hub.PublishEphemeral(ctx, b.ref, qun.Draft{Type: typ, Actor: by, Data: data}); err != nil {
		s.log.Debug("ephemeral event not sent", zap.String("type", typ), zap.Error(err))
	}
}

// maybeSnapshot starts saving a snapshot when enough operations have
// passed since the last one. One write per board is in flight at a time;
// pages count as saved only once their write succeeded.
func (s *Service) maybeSnapshot(b *board) {
	if b.saving || b.m.seq-b.m.savedSeq < uint64(s.cfg.SnapshotEvery) {
		return
	}
	snap, gens, err := b.m.snapshot(false)
	if err != nil {
		s.log.Error("encoding snapshot", zap.Error(err))
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return // Close saves it
	}
	s.wg.Add(1)
	s.mu.Unlock()
	b.saving = true
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := s.store.SaveSnapshot(ctx, b.meta.Tenant, b.meta.ID, snap)
		if err == nil && s.cfg.SnapshotKeep > 0 {
			s.prune(ctx, b, snap.Seq)
		}
		cancel()
		b.mu.Lock()
		defer b.mu.Unlock()
		b.saving = false
		if err != nil {
			s.log.Error("saving board snapshot", zap.Stringer("room", b.ref), zap.Error(err))
			return
		}
		b.m.markSaved(snap.Seq, gens)
	}()
}

func (m *model) markSaved(seq uint64, gens map[uint64]uint64) {
	m.savedSeq = max(m.savedSeq, seq)
	for id, gen := range gens {
		if p := m.byID[id]; p != nil {
			p.savedGen = max(p.savedGen, gen)
		}
	}
}

// prune keeps the newest SnapshotKeep snapshots, approximating their seqs by
// SnapshotEvery.
func (s *Service) prune(ctx context.Context, b *board, seq uint64) {
	span := uint64(s.cfg.SnapshotKeep-1) * uint64(s.cfg.SnapshotEvery)
	if seq <= span {
		return
	}
	if err := s.store.PruneSnapshots(ctx, b.meta.Tenant, b.meta.ID, seq-span); err != nil {
		s.log.Warn("pruning board snapshots", zap.Stringer("room", b.ref), zap.Error(err))
	}
}

// saveNow saves a snapshot synchronously if the board changed since the
// last one. b.mu is held.
func (s *Service) saveNow(b *board) error {
	if b.m.seq == b.m.savedSeq {
		return nil
	}
	snap, gens, err := b.m.snapshot(false)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.store.SaveSnapshot(ctx, b.meta.Tenant, b.meta.ID, snap); err != nil {
		return err
	}
	b.m.markSaved(snap.Seq, gens)
	return nil
}

// janitor discards stale strokes and unloads idle boards until Close.
func (s *Service) janitor() {
	defer s.wg.Done()
	every := min(s.cfg.DraftTimeout, s.cfg.IdleTimeout) / 2
	t := time.NewTicker(max(every, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.sweep()
		}
	}
}

func (s *Service) sweep() {
	s.mu.Lock()
	var loaded []*board
	for _, e := range s.boards {
		select {
		case <-e.ready:
			if e.b != nil {
				loaded = append(loaded, e.b)
			}
		default:
		}
	}
	s.mu.Unlock()
	now := s.cfg.Now()
	for _, b := range loaded {
		b.mu.Lock()
		if b.gone {
			b.mu.Unlock()
			continue
		}
		s.expireDrafts(b, now)
		idle := len(b.drafts) == 0 && !b.saving && now.Sub(b.used) >= s.cfg.IdleTimeout
		if idle {
			if err := s.saveNow(b); err != nil {
				s.log.Warn("saving idle board", zap.Stringer("room", b.ref), zap.Error(err))
				idle = false
			}
		}
		if idle {
			b.gone = true
		}
		b.mu.Unlock()
		if idle {
			s.forget(b)
		}
	}
}
