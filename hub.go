package qun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Config configures a Hub. Every field's zero value has the documented default.
type Config struct {
	// Authenticator verifies the token a client presents in its hello op.
	// Required; *Tokens is the built-in one.
	Authenticator Authenticator
	// Log keeps every room's events. Nil means NewMemoryLogStore: bounded and
	// lost on restart. Production deployments pass NewSQLiteLogStore or an
	// engine adapter.
	Log LogStore
	// Broker carries events between nodes. Nil means NewMemoryBroker (one process).
	Broker Broker
	// Logger receives the Hub's logs. Nil means zap.NewNop().
	Logger *zap.Logger
	// Registerer, if set, receives the Hub's Prometheus metrics.
	Registerer prometheus.Registerer

	// OriginPatterns lists the hosts (path.Match patterns, e.g.
	// "*.vendor.example") whose pages may open a WebSocket. Nil means the
	// page must come from the same host as the WebSocket.
	OriginPatterns []string
	// MaxFrameBytes bounds one client frame. Zero means 64 KiB.
	MaxFrameBytes int64
	// SendQueueFrames bounds the frames waiting to be written to one
	// connection; when it overflows the connection is closed with
	// "slow_consumer" and the client resumes from the log. Zero means 4096.
	SendQueueFrames int
	// OpsPerSecond and OpBurst bound each connection's op rate (token
	// bucket). Zero means 20 per second with bursts of 50.
	OpsPerSecond float64
	OpBurst      int
	// PingInterval is how often the server pings an idle client; a client
	// that does not answer within PingTimeout is closed. Zero means 25 s and 10 s.
	PingInterval time.Duration
	PingTimeout  time.Duration
	// WriteTimeout bounds one write to a connection. Zero means 10 s.
	WriteTimeout time.Duration
	// HelloTimeout is how long a new connection may take to authenticate.
	// Zero means 10 s.
	HelloTimeout time.Duration
	// OpTimeout bounds each op handler's context. Zero means 15 s.
	OpTimeout time.Duration
	// ResumeLimit is the most events a resuming subscriber may have missed;
	// beyond it the client is told "too_old" and reloads history. Zero means 10,000.
	ResumeLimit int
	// MaxSubscriptions bounds the rooms one connection may subscribe to.
	// Zero means 64.
	MaxSubscriptions int
	// GapWait is how long a node waits for an out-of-order event's
	// predecessors before reading them from the log. Zero means 50 ms.
	GapWait time.Duration
	// Now is the clock for event timestamps; nil means time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.Log == nil {
		c.Log = NewMemoryLogStore(MemoryLogStoreConfig{})
	}
	if c.Broker == nil {
		c.Broker = NewMemoryBroker()
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
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
	if c.MaxFrameBytes <= 0 {
		c.MaxFrameBytes = 64 << 10
	}
	defInt(&c.SendQueueFrames, 4096)
	if c.OpsPerSecond <= 0 {
		c.OpsPerSecond = 20
	}
	defInt(&c.OpBurst, 50)
	def(&c.PingInterval, 25*time.Second)
	def(&c.PingTimeout, 10*time.Second)
	def(&c.WriteTimeout, 10*time.Second)
	def(&c.HelloTimeout, 10*time.Second)
	def(&c.OpTimeout, 15*time.Second)
	defInt(&c.ResumeLimit, 10_000)
	defInt(&c.MaxSubscriptions, 64)
	def(&c.GapWait, 50*time.Millisecond)
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Handler serves one op. It returns the reply's result (marshalled to JSON;
// nil means {}) or an error, which reaches the client as its *Error (other
// errors become "internal" and are logged). ctx carries the caller's
// Identity (IdentityFrom) and ends after Config.OpTimeout.
type Handler func(ctx context.Context, c *Call) (any, error)

// Hub is the WebSocket edge of qun: it authenticates connections, routes
// their ops to the handlers feature packages registered, and fans room events
// out to subscribers in sequence order. Mount it as an http.Handler.
//
// Register ops and room kinds before serving; Handle and RegisterRooms
// panic on duplicates, like http.ServeMux.
type Hub struct {
	cfg     Config
	log     *zap.Logger
	metrics *metrics

	mu       sync.RWMutex
	handlers map[string]Handler
	access   map[string]RoomAccess
	sessions map[*Session]struct{}
	closing  bool

	roomsMu sync.Mutex
	rooms   map[RoomRef]*room

	wg        sync.WaitGroup // session goroutines
	closeOnce sync.Once
	closed    chan struct{}
}

// NewHub returns a Hub for cfg.
func NewHub(cfg Config) (*Hub, error) {
	if cfg.Authenticator == nil {
		return nil, errors.New("qun: Config.Authenticator is required")
	}
	cfg.setDefaults()
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("qun: register metrics: %w", err)
	}
	h := &Hub{
		cfg:      cfg,
		log:      cfg.Logger,
		metrics:  m,
		handlers: map[string]Handler{},
		access:   map[string]RoomAccess{},
		sessions: map[*Session]struct{}{},
		rooms:    map[RoomRef]*room{},
		closed:   make(chan struct{}),
	}
	// Each user has a personal room for notifications addressed to them.
	h.RegisterRooms(UserRoomKind, RoomAccessFunc(func(_ context.Context, id *Identity, room RoomID) (Role, error) {
		if room != UserRoom(id.User) {
			return RoleNone, Errorf(CodeForbidden, "not your inbox")
		}
		return RoleOwner, nil
	}))
	return h, nil
}

// UserRoomKind is the room kind of users' personal rooms.
const UserRoomKind = "u"

// UserRoom returns the personal room of user: only that user may subscribe
// to it; packages publish there what concerns them alone (invitations,
// approvals, reminders).
func UserRoom(user UserID) RoomID { return RoomID(UserRoomKind + ":" + string(user)) }

// Logger returns the Hub's logger, for feature packages wired to it.
func (h *Hub) Logger() *zap.Logger { return h.log }

// Authenticator returns the Hub's Authenticator, so that packages serving
// HTTP beside the Hub (uploads, replays) accept the same credentials.
func (h *Hub) Authenticator() Authenticator { return h.cfg.Authenticator }

// Log returns the Hub's room log store.
func (h *Hub) Log() LogStore { return h.cfg.Log }

// Handle registers h for op, which must look like "pkg.name". It panics if
// op is reserved, malformed, or already registered.
func (h *Hub) Handle(op string, fn Handler) {
	if fn == nil || !validOpName(op) {
		panic("qun: Handle: invalid op name " + op)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, dup := h.handlers[op]; dup {
		panic("qun: Handle: op registered twice: " + op)
	}
	h.handlers[op] = fn
}

// Ops returns the names of the registered ops, sorted (the built-in hello,
// sub and unsub are not included). Tests use it to reach every op.
func (h *Hub) Ops() []string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	ops := make([]string, 0, len(h.handlers))
	for op := range h.handlers {
		ops = append(ops, op)
	}
	slices.Sort(ops)
	return ops
}

func validOpName(op string) bool {
	pkg, name, ok := strings.Cut(op, ".")
	if !ok || pkg == "" || name == "" || len(op) > 64 {
		return false
	}
	for _, c := range op {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// Publish appends an event to ref's log and fans it out to every
// subscriber, on every node. It returns after the event is durable (as far
// as the LogStore promises), with its Seq set.
func (h *Hub) Publish(ctx context.Context, ref RoomRef, d Draft) (*Event, error) {
	ev, err := h.draftEvent(ref, d)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	err = h.cfg.Log.Append(ctx, ref, ev)
	h.metrics.storeLatency.WithLabelValues("append").Observe(time.Since(start).Seconds())
	if err != nil {
		return nil, err
	}
	if err := h.cfg.Broker.Publish(ctx, ev); err != nil {
		// The event is durable. This node's subscribers get it now; other
		// nodes' when the room's next event reveals the gap, or on resume.
		h.log.Warn("broker publish failed", zap.Stringer("room", ref), zap.Uint64("seq", ev.Seq), zap.Error(err))
		h.deliverLocal(ev)
	}
	return ev, nil
}

// deliverLocal hands ev to this node's room, if it has one, as the broker
// would have; the room drops it if the broker's copy arrives too.
func (h *Hub) deliverLocal(ev *Event) {
	h.roomsMu.Lock()
	r := h.rooms[ev.Ref()]
	h.roomsMu.Unlock()
	if r != nil {
		r.onEvent(ev)
	}
}

// PublishEphemeral fans an event out without storing it (Seq 0): it is
// delivered to current subscribers only and never replayed.
func (h *Hub) PublishEphemeral(ctx context.Context, ref RoomRef, d Draft) error {
	ev, err := h.draftEvent(ref, d)
	if err != nil {
		return err
	}
	return h.cfg.Broker.Publish(ctx, ev)
}

func (h *Hub) draftEvent(ref RoomRef, d Draft) (*Event, error) {
	if err := Validate(&ref); err != nil {
		return nil, err
	}
	if err := Validate(&d); err != nil {
		return nil, err
	}
	if strings.HasPrefix(d.Type, "_") {
		return nil, Errorf(CodeInvalid, "event types starting with _ are reserved")
	}
	ev := &Event{Tenant: ref.Tenant, Room: ref.Room, Type: d.Type, Actor: d.Actor, TS: h.cfg.Now().UnixMilli()}
	switch v := d.Data.(type) {
	case nil:
	case json.RawMessage:
		ev.Data = v
	case []byte:
		ev.Data = v
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("qun: marshal event data: %w", err)
		}
		ev.Data = b
	}
	return ev, nil
}

// EndSubscriptions ends user's subscriptions to ref on every node, telling
// the client why with a sub.end frame. Feature packages call it when a user
// loses access (kicked, banned, dropped from a live).
func (h *Hub) EndSubscriptions(ctx context.Context, ref RoomRef, user UserID, reason *Error) error {
	if reason == nil {
		reason = Errorf(CodeForbidden, "access revoked")
	}
	data, _ := json.Marshal(endSubData{User: user, Err: reason})
	ev := &Event{Tenant: ref.Tenant, Room: ref.Room, Type: ctlEndSub, TS: h.cfg.Now().UnixMilli(), Data: data}
	return h.cfg.Broker.Publish(ctx, ev)
}

// EndRoom ends every subscription to ref on every node (a dissolved group,
// an ended live), telling each client why with a sub.end frame.
func (h *Hub) EndRoom(ctx context.Context, ref RoomRef, reason *Error) error {
	if reason == nil {
		reason = Errorf(CodeNotFound, "the room is gone")
	}
	data, _ := json.Marshal(endSubData{All: true, Err: reason})
	ev := &Event{Tenant: ref.Tenant, Room: ref.Room, Type: ctlEndSub, TS: h.cfg.Now().UnixMilli(), Data: data}
	return h.cfg.Broker.Publish(ctx, ev)
}

const ctlEndSub = "_sub.end"

type endSubData struct {
	User UserID `json:"user,omitempty"`
	All  bool   `json:"all,omitempty"`
	Err  *Error `json:"err"`
}

// ServeHTTP upgrades the request to a WebSocket and serves it until the
// client leaves or the Hub shuts down. A plain GET for <mount>/qun.js serves
// the browser SDK, so mounting the Hub under a prefix ("/qun/") serves both.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !isUpgrade(r) {
		if !serveSDK(w, r) {
			WriteError(w, Errorf(CodeNotFound, "not a WebSocket request"))
		}
		return
	}
	h.mu.Lock()
	if h.closing {
		h.mu.Unlock()
		WriteError(w, Errorf(CodeUnavailable, "server is shutting down"))
		return
	}
	h.wg.Add(1)
	h.mu.Unlock()
	handedOff := false
	defer func() {
		if !handedOff {
			h.wg.Done()
		}
	}()

	// out receives the hijacked socket: small buffers, and data frames
	// written straight to it (conn_out.go).
	out := &outConn{}
	conn, err := websocket.Accept(hijackSmall(w, out), r, &websocket.AcceptOptions{
		OriginPatterns:  h.cfg.OriginPatterns,
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		h.log.Debug("websocket accept failed", zap.Error(err))
		return
	}
	s := newSession(h, conn)
	s.out = out
	h.mu.Lock()
	if h.closing {
		h.mu.Unlock()
		_ = conn.Close(closeStatus, string(CodeUnavailable))
		return
	}
	h.sessions[s] = struct{}{}
	h.mu.Unlock()
	h.metrics.connections.Inc()
	// Serve in a goroutine of the Hub's and return: net/http then drops its
	// per-request state and the handler's grown stack, which would otherwise
	// stay with every idle connection.
	handedOff = true
	go func() {
		defer h.wg.Done()
		s.serve()
		h.metrics.connections.Dec()
		h.mu.Lock()
		delete(h.sessions, s)
		h.mu.Unlock()
	}()
}

// Shutdown stops accepting connections, closes every open one with
// "unavailable" (clients reconnect elsewhere and resume), and waits for their
// goroutines until ctx ends. It does not close the Log or Broker, which the
// caller owns. Idempotent.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.closing = true
	sessions := make([]*Session, 0, len(h.sessions))
	for s := range h.sessions {
		sessions = append(sessions, s)
	}
	h.mu.Unlock()
	for _, s := range sessions {
		s.Close(Errorf(CodeUnavailable, "server is shutting down"))
	}
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	h.closeOnce.Do(func() { close(h.closed) })
	return nil
}

// Close is Shutdown with a 10 second limit.
func (h *Hub) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return h.Shutdown(ctx)
}

func (h *Hub) handler(op string) Handler {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.handlers[op]
}

func isUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}
