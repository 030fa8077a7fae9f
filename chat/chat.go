package chat

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/qunkit/qun"
	"go.uber.org/zap"
)

// Config configures a Service. Every field's zero value has the documented default.
type Config struct {
	// Hub serves the chat ops and the groups' rooms. Required.
	Hub *qun.Hub
	// Store keeps chat's state. Required: NewSQLiteStore in production.
	Store Store
	// Logger receives the Service's logs. Nil means zap.NewNop().
	Logger *zap.Logger
	// Locker orders each group's changes with their events (see Locker).
	// Nil means an in-memory lock: one node. Nodes sharing a Store must
	// share a Locker too (postgres.NewRoomLocker).
	Locker Locker

	// CreatePolicy decides who may create groups (C1). Nil means
	// RequireGrant(qun.GrantCreateGroup).
	CreatePolicy CreatePolicy
	// Reviewer checks every message and announcement before it is stored or
	// fanned out (C7). Nil means NewKeywordReviewer(KeywordConfig{}): the
	// off-platform contact rules (WeChat ids, phone and QQ numbers).
	Reviewer Reviewer
	// Profiles supplies gender and age for group portraits (C8). Nil means
	// every member counts as unknown.
	Profiles Profiles
	// Notifier is told about @mentions and announcements, to reach users
	// outside the socket (push, SMS). Nil means nobody is told.
	Notifier Notifier
	// InviteBaseURL, if set, is the vendor's landing page for invitation
	// links: codes come back with Link = InviteLink(InviteBaseURL, code).
	InviteBaseURL string

	// Now is the clock; nil means time.Now. Tests set it (and the Hub's).
	Now func() time.Time
	// Location decides where a day starts for check-ins. Nil means China
	// Standard Time (UTC+8).
	Location *time.Location

	// EditWindow is how long a sender may edit a message. Zero means 15 min.
	EditWindow time.Duration
	// RecallWindow is how long a sender may recall a message; admins may
	// recall any time. Zero means 2 min.
	RecallWindow time.Duration
	// SendRate and SendBurst bound each user's messages across groups
	// (token bucket per user). Zero means 2 per second with bursts of 10.
	SendRate  float64
	SendBurst int
	// ClientKinds lists the message kinds clients may send over the
	// protocol; the Go API may send every kind. Nil means text, image,
	// file, product and live: money cards and system notices are for the
	// vendor's backend, which knows they are genuine.
	ClientKinds []Kind

	// DefaultMemberLimit applies to groups created without one. Zero means 500.
	DefaultMemberLimit int
	// MaxMemberLimit bounds any group's member limit. Zero means 100,000.
	MaxMemberLimit int
	// MaxOwnedGroups bounds the groups one user may own. Zero means 100.
	MaxOwnedGroups int
	// MaxAdmins bounds each group's admins. Zero means 20.
	MaxAdmins int
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Locker == nil {
		c.Locker = newMemLocker()
	}
	if c.CreatePolicy == nil {
		c.CreatePolicy = RequireGrant(qun.GrantCreateGroup)
	}
	if c.Reviewer == nil {
		c.Reviewer = NewKeywordReviewer(KeywordConfig{})
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Location == nil {
		c.Location = time.FixedZone("CST", 8*3600)
	}
	def := func(p *time.Duration, d time.Duration) {
		if *p <= 0 {
			*p = d
		}
	}
	defInt := func(p *int, d int) {
		if *p <= 0 {
			*p = d
		}
	}
	def(&c.EditWindow, 15*time.Minute)
	def(&c.RecallWindow, 2*time.Minute)
	if c.SendRate <= 0 {
		c.SendRate = 2
	}
	defInt(&c.SendBurst, 10)
	if c.ClientKinds == nil {
		c.ClientKinds = []Kind{KindText, KindImage, KindFile, KindProduct, KindLive}
	}
	defInt(&c.DefaultMemberLimit, 500)
	defInt(&c.MaxMemberLimit, 100_000)
	defInt(&c.MaxOwnedGroups, 100)
	defInt(&c.MaxAdmins, 20)
	c.DefaultMemberLimit = min(c.DefaultMemberLimit, c.MaxMemberLimit)
}

// Service is chat: group rooms on a Hub. Create it with New; its methods
// are the Go API for the vendor's backend and its ops (registered on the
// Hub by New) call the same methods for clients. Safe for concurrent use.
type Service struct {
	cfg   Config
	hub   *qun.Hub
	store Store
	log   *zap.Logger
	ops   []string

	locker   Locker
	sendRate *rateLimits // per user
	slow     *slowMode   // per group and user
	activity *activity

	closed atomic.Bool
}

// New returns a Service for cfg and registers its ops ("chat.*") and the
// group room kind ("g") on cfg.Hub. Call it before the Hub serves.
func New(cfg Config) (*Service, error) {
	if cfg.Hub == nil {
		return nil, errors.New("chat: Config.Hub is required")
	}
	if cfg.Store == nil {
		return nil, errors.New("chat: Config.Store is required")
	}
	cfg.setDefaults()
	s := &Service{
		cfg:      cfg,
		hub:      cfg.Hub,
		store:    cfg.Store,
		log:      cfg.Logger,
		locker:   cfg.Locker,
		sendRate: newRateLimits(cfg.SendRate, cfg.SendBurst),
		slow:     newSlowMode(),
		activity: newActivity(),
	}
	s.hub.RegisterRooms(RoomKind, qun.RoomAccessFunc(s.roomRole))
	s.registerOps()
	return s, nil
}

// Close makes every later call answer CodeUnavailable. The Service owns
// no goroutine; the Store and Hub belong to the caller. Idempotent.
func (s *Service) Close() error {
	s.closed.Store(true)
	return nil
}

// Ops returns the names of the ops New registered, in registration order.
func (s *Service) Ops() []string { return append([]string(nil), s.ops...) }

func (s *Service) now() time.Time { return s.cfg.Now() }

func (s *Service) nowMS() int64 { return s.cfg.Now().UnixMilli() }

// lockGroup takes a group's lock: shared for sends, exclusive for changes.
func (s *Service) lockGroup(ctx context.Context, tenant qun.TenantID, group qun.RoomID, shared bool) (func(), error) {
	return s.locker.Lock(ctx, qun.RoomRef{Tenant: tenant, Room: group}, shared)
}

func (s *Service) check(id *qun.Identity) error {
	if s.closed.Load() {
		return qun.ErrClosed
	}
	if id == nil {
		return qun.Errorf(qun.CodeUnauthenticated, "no identity")
	}
	return qun.Validate(id)
}

// change collects what one state-changing operation must do after its
// transaction commits: events for the group's room, events for users'
// personal rooms, subscriptions to end, hooks to call.
type change struct {
	tenant  qun.TenantID
	group   qun.RoomID
	actor   qun.UserID
	events  []qun.Draft
	inbox   []inboxEvent
	ends    []endSub
	endAll  *qun.Error // end every subscription to the group (dissolved)
	after   []func(context.Context)
	audits  []*AuditEntry
	results []*qun.Event // the published group events, in order
}

type inboxEvent struct {
	user qun.UserID
	d    qun.Draft
}

type endSub struct {
	user   qun.UserID
	reason *qun.Error
}

// emit queues an event for the group's room.
func (c *change) emit(typ string, data any) {
	c.events = append(c.events, qun.Draft{Type: typ, Actor: c.actor, Data: data})
}

// notify queues an event for user's personal room.
func (c *change) notify(user qun.UserID, typ string, data any) {
	c.inbox = append(c.inbox, inboxEvent{user, qun.Draft{Type: typ, Actor: c.actor, Data: data}})
}

// end queues ending user's subscription to the group's room.
func (c *change) end(user qun.UserID, reason *qun.Error) {
	c.ends = append(c.ends, endSub{user, reason})
}

// audit queues an audit entry; it is written in the same transaction.
func (c *change) audit(action string, target qun.UserID, detail any) {
	c.audits = append(c.audits, &AuditEntry{Actor: c.actor, Action: action, Target: target, Detail: mustJSON(detail)})
}

// mutate runs fn in one store transaction while holding the group's write
// lock, then publishes what fn queued, still under the lock, so that the
// room's events follow the order in which their changes committed.
//
// The store is the truth for state: if publishing fails after the commit
// (the log is down), the change stands and is logged; clients that missed
// the event see the state when they next load it.
func (s *Service) mutate(ctx context.Context, id *qun.Identity, group qun.RoomID, fn func(Tx, *change) error) (*change, error) {
	if err := s.check(id); err != nil {
		return nil, err
	}
	c := &change{tenant: id.Tenant, group: group, actor: id.User}
	unlock, err := s.lockGroup(ctx, id.Tenant, group, false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	err = s.store.Update(ctx, id.Tenant, func(tx Tx) error {
		c.events, c.inbox, c.ends, c.after, c.audits = nil, nil, nil, nil, nil
		if err := fn(tx, c); err != nil {
			return err
		}
		now := s.nowMS()
		for _, a := range c.audits {
			a.At = now
			if err := tx.InsertAudit(group, a); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.publish(ctx, c)
	return c, nil
}

// publish delivers a committed change's events. Errors are logged: the
// change itself is durable.
func (s *Service) publish(ctx context.Context, c *change) {
	ref := qun.RoomRef{Tenant: c.tenant, Room: c.group}
	for _, d := range c.events {
		ev, err := s.hub.Publish(ctx, ref, d)
		if err != nil {
			s.log.Error("chat: publish failed after commit", zap.Stringer("room", ref), zap.String("type", d.Type), zap.Error(err))
			continue
		}
		c.results = append(c.results, ev)
	}
	for _, e := range c.inbox {
		if _, err := s.hub.Publish(ctx, qun.RoomRef{Tenant: c.tenant, Room: qun.UserRoom(e.user)}, e.d); err != nil {
			s.log.Error("chat: inbox publish failed", zap.String("user", string(e.user)), zap.String("type", e.d.Type), zap.Error(err))
		}
	}
	for _, e := range c.ends {
		if err := s.hub.EndSubscriptions(ctx, ref, e.user, e.reason); err != nil {
			s.log.Error("chat: end subscriptions failed", zap.Stringer("room", ref), zap.Error(err))
		}
	}
	if c.endAll != nil {
		if err := s.hub.EndRoom(ctx, ref, c.endAll); err != nil {
			s.log.Error("chat: end room failed", zap.Stringer("room", ref), zap.Error(err))
		}
	}
	for _, fn := range c.after {
		fn(ctx)
	}
}

// view runs fn on the tenant's data without locking.
func (s *Service) view(ctx context.Context, id *qun.Identity, fn func(Tx) error) error {
	if err := s.check(id); err != nil {
		return err
	}
	return s.store.View(ctx, id.Tenant, fn)
}

func notFound(what string) *qun.Error { return qun.Errorf(qun.CodeNotFound, "no such %s", what) }

func forbidden(format string, args ...any) *qun.Error {
	return qun.Errorf(qun.CodeForbidden, format, args...)
}

func isNotFound(err error) bool { return qun.ErrorCode(err) == qun.CodeNotFound }

// first returns *p's value, or def if p is nil.
func first[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// pageLimit clamps a requested page size to [1, max], with def for 0.
func pageLimit(n, def, max int) int {
	switch {
	case n <= 0:
		return def
	case n > max:
		return max
	}
	return n
}

// update runs fn like mutate, for a caller ranking at least r in group
// ("" for anyone who can see it), handing fn the caller's access.
func (s *Service) update(ctx context.Context, id *qun.Identity, group qun.RoomID, r Role, fn func(Tx, *access, *change) error) (*change, error) {
	return s.mutate(ctx, id, group, func(tx Tx, c *change) error {
		a, err := s.access(tx, id, group)
		if err != nil {
			return err
		}
		if err := a.need(r); err != nil {
			return err
		}
		return fn(tx, a, c)
	})
}

// read runs fn on the tenant's data for a caller ranking at least r in
// group ("" for anyone who can see it).
func (s *Service) read(ctx context.Context, id *qun.Identity, group qun.RoomID, r Role, fn func(Tx, *access) error) error {
	return s.view(ctx, id, func(tx Tx) error {
		a, err := s.access(tx, id, group)
		if err != nil {
			return err
		}
		if err := a.need(r); err != nil {
			return err
		}
		return fn(tx, a)
	})
}
