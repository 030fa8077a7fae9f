package replay

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/qunkit/qun"
	"go.uber.org/zap"
)

// Config configures a Service. Every field's zero value has the documented
// default.
type Config struct {
	// Hub carries the replay.* ops; its room log is where the timeline's
	// events come from and its RoomRole decides who may watch. Required.
	Hub *qun.Hub
	// Lives attaches the recorder to lives: pass the *live.Service. Nil
	// means Start answers CodeUnavailable (playback still works).
	Lives Lives
	// Store keeps replay metadata: NewSQLiteStore or an adapter. Required.
	Store Store
	// Storage keeps media files and timelines: NewFSStorage or an adapter.
	// Required.
	Storage Storage
	// Authenticator checks the bearer tokens of HTTP requests. Nil means
	// the Hub's.
	Authenticator qun.Authenticator
	// Logger receives the package's logs. Nil means zap.NewNop().
	Logger *zap.Logger

	// DecideWithin is how long a pending replay waits for its host to keep
	// it; undecided, it is discarded (nothing is published without the
	// host's consent). Zero means 7 days.
	DecideWithin time.Duration
	// Retention is the longest a kept replay lives; the host may choose a
	// shorter expiry when keeping it. Zero means 365 days.
	Retention time.Duration
	// SweepInterval is how often expiries, undecided replays, purges and
	// crashed recordings are handled. Zero means 1 minute; negative
	// disables the sweeper (call Sweep yourself).
	SweepInterval time.Duration
	// Heartbeat is how often a recording saves its progress; a recording
	// whose last save is older than StaleAfter is taken to have crashed and
	// is recovered into a pending replay. Zero means 5 s and 1 minute.
	Heartbeat  time.Duration
	StaleAfter time.Duration
	// MaxTracks bounds the tracks of one replay. Zero means 64.
	MaxTracks int
	// MaxEvents bounds a timeline's events (the rest are left out and
	// logged). Zero means 200,000.
	MaxEvents int
	// EndEvent is the event type in the live's room that says the live
	// ended: its recording then stops by itself. live tells its recorder
	// at once (live.LiveEnder); the room's log is checked for this event
	// every Heartbeat as a fallback. Zero means "live.ended".
	EndEvent string
	// Follow names the rooms an event points to whose events belong on the
	// timeline too, read from their beginning. Nil means whiteboards: the
	// room of every board announced ("wb.board") in the replay's rooms,
	// before the recording (looking back 5,000 events) or during it.
	Follow func(*qun.Event) []qun.RoomID
	// EventFilter, if set, decides which room events go on the timeline.
	// Nil keeps every durable event.
	EventFilter func(*qun.Event) bool
	// TimelineCacheBytes bounds the decoded timelines kept in memory for
	// playback. Zero means 64 MiB.
	TimelineCacheBytes int64
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	def := func(p *time.Duration, d time.Duration) {
		if *p == 0 {
			*p = d
		}
	}
	def(&c.DecideWithin, 7*24*time.Hour)
	def(&c.Retention, 365*24*time.Hour)
	def(&c.SweepInterval, time.Minute)
	def(&c.Heartbeat, 5*time.Second)
	def(&c.StaleAfter, time.Minute)
	if c.MaxTracks <= 0 {
		c.MaxTracks = 64
	}
	if c.MaxEvents <= 0 {
		c.MaxEvents = 200_000
	}
	if c.TimelineCacheBytes <= 0 {
		c.TimelineCacheBytes = 64 << 20
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Follow == nil {
		c.Follow = followBoards
	}
	if c.EndEvent == "" {
		c.EndEvent = "live.ended"
	}
}

// Service records lives and serves their replays. Create it with New.
type Service struct {
	cfg     Config
	hub     *qun.Hub
	store   Store
	storage Storage
	log     *zap.Logger
	cache   *timelineCache

	mu     sync.Mutex
	active map[activeKey]*recording // by tenant and live
	byID   map[activeKey]*recording // by tenant and replay id
	closed bool

	wg       sync.WaitGroup
	stop     chan struct{}
	stopOnce sync.Once
}

type activeKey struct {
	tenant qun.TenantID
	id     string
}

// New creates the Service, registers the replay.* ops on the Hub and
// starts the sweeper (see Config.SweepInterval).
func New(cfg Config) (*Service, error) {
	if cfg.Hub == nil {
		return nil, errors.New("replay: Config.Hub is required")
	}
	if cfg.Store == nil || cfg.Storage == nil {
		return nil, errors.New("replay: Config.Store and Config.Storage are required")
	}
	cfg.setDefaults()
	if cfg.Authenticator == nil {
		cfg.Authenticator = cfg.Hub.Authenticator()
	}
	s := &Service{
		cfg: cfg, hub: cfg.Hub, store: cfg.Store, storage: cfg.Storage, log: cfg.Logger,
		cache:  newTimelineCache(cfg.TimelineCacheBytes),
		active: map[activeKey]*recording{}, byID: map[activeKey]*recording{},
		stop: make(chan struct{}),
	}
	s.registerOps()
	if cfg.SweepInterval > 0 {
		s.wg.Add(1)
		go s.sweeper()
	}
	return s, nil
}

func (s *Service) now() time.Time { return s.cfg.Now() }

// StartOptions says what to record.
type StartOptions struct {
	Tenant qun.TenantID `validate:"required,max=64"`
	// Live is the live's room ("live:<id>"). Required.
	Live qun.RoomID `validate:"required,max=128"`
	// Group is the group room the live belongs to: its viewers may watch
	// the replay, its chat goes on the timeline.
	Group qun.RoomID `validate:"max=128"`
	// Host is the user who may keep or discard the replay. Required.
	Host  qun.UserID `validate:"required,max=64"`
	Title string     `validate:"max=200"`
	// Rooms lists further rooms whose events go on the timeline (a
	// whiteboard's or a shop's room, if they have their own).
	Rooms []qun.RoomID `validate:"max=8,dive,required,max=128"`
}

// Start begins recording a live: every track it has and will have, and
// the events of its rooms. One recording per live at a time.
func (s *Service) Start(ctx context.Context, o StartOptions) (*Replay, error) {
	if err := qun.Validate(&o); err != nil {
		return nil, err
	}
	if s.cfg.Lives == nil {
		return nil, qun.Errorf(qun.CodeUnavailable, "recording is not configured")
	}
	lk := activeKey{o.Tenant, string(o.Live)}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, qun.AsError(qun.ErrClosed)
	}
	if _, busy := s.active[lk]; busy {
		s.mu.Unlock()
		return nil, qun.Errorf(qun.CodeConflict, "the live is already being recorded")
	}
	s.active[lk] = nil // reserved while starting
	s.mu.Unlock()
	rec, err := s.start(ctx, o)
	s.mu.Lock()
	delete(s.active, lk)
	if err == nil {
		s.active[lk] = rec
		s.byID[activeKey{o.Tenant, rec.r.ID}] = rec
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	rec.mu.Lock()
	r, ended := rec.snapshotLocked(), rec.ended
	rec.mu.Unlock()
	if ended { // the live ended while the recording started
		s.finishEnded(rec)
	}
	return r, nil
}

func (s *Service) start(ctx context.Context, o StartOptions) (*recording, error) {
	rooms := []qun.RoomID{o.Live}
	if o.Group != "" {
		rooms = append(rooms, o.Group)
	}
	rooms = append(rooms, o.Rooms...)
	r := &Replay{ID: qun.NewID(), Tenant: o.Tenant, Live: o.Live, Group: o.Group, Host: o.Host, Title: o.Title, State: StateRecording}
	seen := map[qun.RoomID]bool{}
	for _, room := range rooms {
		if seen[room] {
			continue
		}
		seen[room] = true
		// The log head is read before the start time is taken, so every
		// event after it has a non-negative offset.
		head, err := s.hub.Log().Last(ctx, qun.RoomRef{Tenant: o.Tenant, Room: room})
		if err != nil {
			return nil, err
		}
		r.Rooms = append(r.Rooms, RoomStart{Room: room, After: head})
	}
	for _, rs := range append([]RoomStart(nil), r.Rooms...) {
		found, err := s.existingRooms(ctx, qun.RoomRef{Tenant: o.Tenant, Room: rs.Room})
		if err != nil {
			return nil, err
		}
		for _, room := range found {
			if !seen[room] && len(r.Rooms) < maxTimelineRooms {
				seen[room] = true
				r.Rooms = append(r.Rooms, RoomStart{Room: room}) // its whole history
			}
		}
	}
	now := s.now()
	r.StartedAt, r.Heartbeat = now, now
	if err := s.store.Create(ctx, r); err != nil {
		return nil, err
	}
	rec := newRecording(s, r)
	detach, err := s.cfg.Lives.AttachRecorder(ctx, o.Tenant, o.Live, rec)
	if err != nil {
		rec.stop(true)
		// Nothing was recorded: the row stays, discarded, so its id answers clearly.
		r.State, r.Purged, r.EndedAt = StateDiscarded, true, s.now()
		if uerr := s.store.Update(context.WithoutCancel(ctx), r); uerr != nil {
			s.log.Warn("marking a failed recording discarded", zap.Error(uerr))
		}
		return nil, err
	}
	rec.mu.Lock()
	rec.detach, rec.beating = detach, true
	rec.mu.Unlock()
	go rec.heartbeat(s.cfg.Heartbeat, func(at time.Time) { s.liveEnded(rec, at) })
	return rec, nil
}

// liveEnded stops rec because its live ended at at: live tells it
// (LiveEnded, on live's End) or rec's heartbeat finds the end in the
// live's log, whichever comes first. It may run on rec's heartbeat
// goroutine, which rec.stop waits for, so the stop runs on a goroutine of
// the Service's.
func (s *Service) liveEnded(rec *recording, at time.Time) {
	rec.mu.Lock()
	if rec.ended {
		rec.mu.Unlock()
		return
	}
	rec.ended, rec.endAt = true, at
	rec.mu.Unlock()
	s.finishEnded(rec)
}

// finishEnded stops and finishes rec, whose live ended, in the background.
// Until Start has registered rec, claim fails and Start calls this again.
func (s *Service) finishEnded(rec *recording) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return // Close finishes it
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		if !s.claim(rec) {
			return // being stopped already, or not registered yet
		}
		if _, err := s.finish(context.Background(), rec.stop(false)); err != nil {
			s.log.Error("finishing a recording after its live ended", zap.String("replay", rec.r.ID), zap.Error(err))
		}
	}()
}

// Stop ends a recording: its files are finalised, its timeline written,
// and the replay becomes pending, waiting for the host's decision.
func (s *Service) Stop(ctx context.Context, tenant qun.TenantID, id string) (*Replay, error) {
	s.mu.Lock()
	rec := s.byID[activeKey{tenant, id}]
	s.mu.Unlock()
	if rec == nil {
		r, err := s.store.Get(ctx, tenant, id)
		if err != nil {
			return nil, err
		}
		if r.State != StateRecording {
			return nil, qun.Errorf(qun.CodeConflict, "the replay is not recording (%s)", r.State)
		}
		if r.Heartbeat.After(s.now().Add(-s.cfg.StaleAfter)) {
			return nil, qun.Errorf(qun.CodeConflict, "the replay is being recorded by another process")
		}
		return s.recover(ctx, r)
	}
	if !s.claim(rec) {
		return nil, qun.Errorf(qun.CodeConflict, "the recording is stopping")
	}
	return s.finish(ctx, rec.stop(false))
}

// StopLive stops the recording of live, if there is one on this process.
func (s *Service) StopLive(ctx context.Context, tenant qun.TenantID, live qun.RoomID) (*Replay, error) {
	s.mu.Lock()
	rec := s.active[activeKey{tenant, string(live)}]
	s.mu.Unlock()
	if rec == nil {
		return nil, qun.Errorf(qun.CodeNotFound, "the live is not being recorded")
	}
	return s.Stop(ctx, tenant, rec.r.ID)
}

// claim takes rec out of the active recordings; only the caller that gets
// true stops and finishes it.
func (s *Service) claim(rec *recording) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := activeKey{rec.r.Tenant, rec.r.ID}
	if s.byID[k] != rec {
		return false
	}
	delete(s.byID, k)
	if lk := (activeKey{rec.r.Tenant, string(rec.r.Live)}); s.active[lk] == rec {
		delete(s.active, lk)
	}
	return true
}

// finish turns a stopped recording into a pending replay: duration,
// timeline, decision deadline.
func (s *Service) finish(ctx context.Context, r *Replay) (*Replay, error) {
	ctx = context.WithoutCancel(ctx) // half-finished replays help no one
	if r.EndedAt.IsZero() {
		r.EndedAt = s.now()
	}
	r.DurationMs = max(r.EndedAt.Sub(r.StartedAt).Milliseconds(), 0)
	if err := s.writeTimeline(ctx, r); err != nil {
		s.log.Error("writing timeline failed; the replay has none", zap.String("replay", r.ID), zap.Error(err))
	}
	r.State = StatePending
	r.DecideBy = s.now().Add(s.cfg.DecideWithin)
	if err := s.store.Update(ctx, r); err != nil {
		return nil, err
	}
	return r, nil
}

// Close stops the sweeper and finishes every recording in progress on this
// process (they become pending replays). Idempotent.
func (s *Service) Close() error {
	s.stopOnce.Do(func() { close(s.stop) })
	s.mu.Lock()
	s.closed = true
	recs := make([]*recording, 0, len(s.byID))
	for _, rec := range s.byID {
		recs = append(recs, rec)
	}
	s.mu.Unlock()
	var errs []error
	for _, rec := range recs {
		if !s.claim(rec) {
			continue
		}
		if _, err := s.finish(context.Background(), rec.stop(false)); err != nil {
			errs = append(errs, err)
		}
	}
	s.wg.Wait()
	return errors.Join(errs...)
}

// sweeper runs Sweep every SweepInterval until Close.
func (s *Service) sweeper() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), s.cfg.SweepInterval*10)
			if err := s.Sweep(ctx); err != nil {
				s.log.Warn("replay sweep", zap.Error(err))
			}
			cancel()
		}
	}
}

// Sweep does the lifecycle's timed work once: it recovers crashed
// recordings into pending replays, discards pending replays past their
// decision deadline, expires kept replays past their expiry and deletes
// the files of discarded and expired ones.
func (s *Service) Sweep(ctx context.Context) error {
	for {
		now := s.now()
		due, err := s.store.Due(ctx, now, now.Add(-s.cfg.StaleAfter), 100)
		if err != nil || len(due) == 0 {
			return err
		}
		progress := false
		for _, r := range due {
			if s.sweepOne(ctx, r, now) {
				progress = true
			}
		}
		if !progress {
			return nil // what is left keeps failing; retry next sweep
		}
	}
}

func (s *Service) sweepOne(ctx context.Context, r *Replay, now time.Time) bool {
	var err error
	switch {
	case r.State == StateRecording:
		s.mu.Lock()
		mine := s.byID[activeKey{r.Tenant, r.ID}] != nil
		s.mu.Unlock()
		if mine {
			return false // alive here, only slow to beat
		}
		_, err = s.recover(ctx, r)
	case r.State == StatePending:
		r.State = StateDiscarded
		err = s.purge(ctx, r)
	case r.State == StateKept:
		r.State = StateExpired
		err = s.purge(ctx, r)
	default:
		err = s.deleteFiles(ctx, r)
	}
	if err != nil {
		if qun.ErrorCode(err) != qun.CodeConflict {
			s.log.Warn("replay sweep failed", zap.String("replay", r.ID), zap.Error(err))
		}
		return false
	}
	return true
}

// purge saves a replay's new state (discarded or expired), then deletes
// its files: from the save on nobody is served them, even if deleting
// fails and is retried by the next sweep.
func (s *Service) purge(ctx context.Context, r *Replay) error {
	if err := s.store.Update(ctx, r); err != nil {
		return err
	}
	return s.deleteFiles(ctx, r)
}

// deleteFiles deletes a discarded or expired replay's files and records it.
func (s *Service) deleteFiles(ctx context.Context, r *Replay) error {
	keys := []string{}
	for _, t := range r.Tracks {
		keys = append(keys, t.Key)
	}
	if r.TimelineKey != "" {
		keys = append(keys, r.TimelineKey)
	}
	for _, k := range keys {
		if err := s.storage.Delete(ctx, k); err != nil {
			return err
		}
	}
	s.cache.drop(r.Tenant, r.ID)
	r.Purged = true
	return s.store.Update(ctx, r)
}
