package qun

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// closeStatus is the WebSocket close code qun uses when it ends a
// connection on purpose; the close reason is the error Code.
const closeStatus websocket.StatusCode = 4000

// maxBatchBytes bounds one outgoing WebSocket message: queued frames are
// joined with '\n' into messages up to this size.
const maxBatchBytes = 64 << 10

// Session is one client connection. Feature packages meet it in Call and
// use it to subscribe the client to rooms, push signalling to it, and clean
// up when it goes.
//
// All methods are safe for concurrent use.
type Session struct {
	hub     *Hub
	id      string
	conn    *websocket.Conn
	out     *outConn        // conn's socket, corked around writes (conn_out.go); nil if the Hub did not wrap it
	ctx     context.Context // ends when the connection ends
	cancel  context.CancelFunc
	limiter *rate.Limiter
	ident   *Identity // set once by hello, before any other op runs

	mu       sync.Mutex
	queue    [][]byte
	spare    [][]byte
	firstAt  time.Time // when the oldest queued frame was queued
	writing  bool
	flushed  chan struct{} // made by Close while writing; closed when the queue is written
	closed   bool
	subs     map[RoomID]*subscription
	onClose  []func()
	pinger   *time.Timer
	inflight sync.WaitGroup // flush, ping and close goroutines

	helloTimer *time.Timer // stopped by a successful hello

	writeSlot // the write pool's (session_write.go)
}

func newSession(h *Hub, conn *websocket.Conn) *Session {
	conn.SetReadLimit(h.cfg.MaxFrameBytes)
	ctx, cancel := context.WithCancel(context.Background())
	return &Session{
		hub:     h,
		id:      NewID(),
		conn:    conn,
		ctx:     ctx,
		cancel:  cancel,
		limiter: rate.NewLimiter(rate.Limit(h.cfg.OpsPerSecond), h.cfg.OpBurst),
		subs:    map[RoomID]*subscription{},
	}
}

// ID is unique per connection.
func (s *Session) ID() string { return s.id }

// Identity is who the connection authenticated as.
func (s *Session) Identity() *Identity { return s.ident }

// Context ends when the connection closes.
func (s *Session) Context() context.Context { return s.ctx }

// OnClose registers fn to run once after the connection has closed. If it
// already has, fn runs at once.
func (s *Session) OnClose(fn func()) {
	s.mu.Lock()
	if s.closed && s.onClose == nil {
		s.mu.Unlock()
		fn()
		return
	}
	s.onClose = append(s.onClose, fn)
	s.mu.Unlock()
}

// Push sends a frame to this connection alone: {"t":"push","type":typ,"d":data}.
func (s *Session) Push(typ string, data any) error {
	b, err := pushFrame(typ, data)
	if err != nil {
		return err
	}
	if !s.queueFrame(b, true) {
		return ErrClosed
	}
	return nil
}

// Close ends the connection, telling the client reason's code in the close
// frame. Safe to call more than once.
func (s *Session) Close(reason *Error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	if s.pinger != nil {
		s.pinger.Stop()
	}
	// A client that cannot keep up gets nothing more; any other gets what
	// was already queued (the reply explaining the close, say) first.
	drop := reason.Code == CodeSlowConsumer
	if drop {
		clear(s.queue)
		s.queue = s.queue[:0]
	}
	var flushed chan struct{}
	if s.writing {
		if s.flushed == nil {
			s.flushed = make(chan struct{})
		}
		flushed = s.flushed
	}
	s.inflight.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.inflight.Done()
		if flushed != nil && !drop {
			t := time.NewTimer(time.Second)
			select {
			case <-flushed:
			case <-t.C:
			}
			t.Stop()
		}
		// Close sends the close frame and waits (bounded) for the client's;
		// the read loop then ends on its own. No data frame may follow.
		if s.out != nil {
			s.out.endData()
		}
		_ = s.conn.Close(closeStatus, string(reason.Code))
		s.cancel()
	}()
}

// serve runs the read loop in a goroutine the Hub owns until the
// connection ends, then cleans up.
func (s *Session) serve() {
	defer s.cleanup()
	s.helloTimer = time.AfterFunc(s.hub.cfg.HelloTimeout, func() {
		s.Close(Errorf(CodeUnauthenticated, "no hello in time"))
	})
	defer func() {
		if t := s.helloTimer; t != nil {
			t.Stop()
		}
	}()
	for {
		// No context: one with a Done channel would cost every idle
		// connection an AfterFunc registration (about 1 KB with s.ctx's
		// children map). Close ends the read by closing the connection.
		typ, data, err := s.conn.Read(context.Background())
		if err != nil {
			return
		}
		if typ != websocket.MessageText {
			s.reply(resErr(0, Errorf(CodeInvalid, "binary frames are not part of the protocol")))
			continue
		}
		s.handleFrame(data)
	}
}

func (s *Session) cleanup() {
	s.Close(Errorf(CodeUnavailable, "closed")) // no-op if already closing
	s.inflight.Wait()
	s.cancel()
	s.mu.Lock()
	subs := s.subs
	s.subs = map[RoomID]*subscription{}
	fns := s.onClose
	s.onClose = nil
	s.mu.Unlock()
	for _, sub := range subs {
		if sub != nil { // nil: a Subscribe still in progress, which cleans up itself
			sub.room.detach(sub)
		}
	}
	for _, fn := range fns {
		fn()
	}
}

func (s *Session) handleFrame(data []byte) {
	var f inFrame
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&f); err != nil || dec.InputOffset() == 0 {
		s.reply(resErr(0, Errorf(CodeInvalid, "malformed frame: expected {\"id\":N,\"op\":\"...\",\"d\":{...}}")))
		return
	}
	if _, err := dec.Token(); err != io.EOF {
		s.reply(resErr(f.ID, Errorf(CodeInvalid, "malformed frame: trailing data")))
		return
	}
	if f.Op == "" {
		s.reply(resErr(f.ID, &Error{Code: CodeInvalid, Message: "op is required", Field: "op"}))
		return
	}
	if !s.limiter.Allow() {
		s.hub.metrics.ops.WithLabelValues(metricOp(s.hub, f.Op), string(CodeRateLimited)).Inc()
		s.reply(resErr(f.ID, Errorf(CodeRateLimited, "too many ops; slow down")))
		return
	}
	if s.ident == nil {
		if f.Op != "hello" {
			s.reply(resErr(f.ID, Errorf(CodeUnauthenticated, "the first op must be hello")))
			s.Close(Errorf(CodeUnauthenticated, "no hello"))
			return
		}
		s.hello(f)
		return
	}
	ctx, cancel := context.WithTimeout(WithIdentity(s.ctx, s.ident), s.hub.cfg.OpTimeout)
	defer cancel()
	var (
		result any
		err    error
	)
	switch f.Op {
	case "hello":
		err = Errorf(CodeConflict, "already authenticated")
	case "sub":
		result, err = s.opSub(ctx, f.D)
	case "unsub":
		result, err = s.opUnsub(f.D)
	default:
		h := s.hub.handler(f.Op)
		if h == nil {
			err = Errorf(CodeUnknownOp, "unknown op %q", truncate(f.Op, 64))
			break
		}
		result, err = h(ctx, &Call{Op: f.Op, Data: f.D, sess: s})
	}
	s.finish(f, result, err)
}

func (s *Session) finish(f inFrame, result any, err error) {
	if err != nil {
		e := AsError(err)
		if e.Code == CodeInternal {
			s.hub.log.Error("op failed", zap.String("op", f.Op), zap.String("user", string(s.ident.User)), zap.Error(err))
		}
		s.hub.metrics.ops.WithLabelValues(metricOp(s.hub, f.Op), string(e.Code)).Inc()
		s.reply(resErr(f.ID, e))
		return
	}
	b, merr := resOK(f.ID, result)
	if merr != nil {
		s.hub.log.Error("op result not encodable", zap.String("op", f.Op), zap.Error(merr))
		s.reply(resErr(f.ID, AsError(merr)))
		return
	}
	s.hub.metrics.ops.WithLabelValues(metricOp(s.hub, f.Op), "ok").Inc()
	s.reply(b)
}

// metricOp keeps the op label's cardinality bounded by registered ops.
func metricOp(h *Hub, op string) string {
	switch op {
	case "hello", "sub", "unsub":
		return op
	}
	if h.handler(op) == nil {
		return "unknown"
	}
	return op
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func (s *Session) hello(f inFrame) {
	var d helloData
	if err := bind(f.D, &d); err != nil {
		s.reply(resErr(f.ID, AsError(err)))
		s.Close(Errorf(CodeInvalid, "bad hello"))
		return
	}
	if d.V != ProtocolVersion {
		s.reply(resErr(f.ID, Errorf(CodeUnsupportedVer, "protocol version %d is not supported; this server speaks %d", d.V, ProtocolVersion)))
		s.Close(Errorf(CodeUnsupportedVer, "bad version"))
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.hub.cfg.OpTimeout)
	id, err := s.hub.cfg.Authenticator.Authenticate(ctx, d.Token)
	cancel()
	if err == nil {
		err = Validate(id)
	}
	if err != nil {
		e := AsError(err)
		if e.Code == CodeInternal {
			s.hub.log.Error("authenticator failed", zap.Error(err))
		} else {
			e = &Error{Code: CodeUnauthenticated, Message: e.Message}
		}
		s.hub.metrics.ops.WithLabelValues("hello", string(e.Code)).Inc()
		s.reply(resErr(f.ID, e))
		s.Close(e)
		return
	}
	if !s.helloTimer.Stop() {
		return // too late: the connection is already closing
	}
	s.helloTimer = nil // an idle connection need not keep it
	s.ident = id
	s.hub.metrics.ops.WithLabelValues("hello", "ok").Inc()
	b, _ := resOK(f.ID, struct {
		V       int       `json:"v"`
		Session string    `json:"session"`
		User    *Identity `json:"user"`
		Time    int64     `json:"ts"`
	}{ProtocolVersion, s.id, id, s.hub.cfg.Now().UnixMilli()})
	s.reply(b)
	s.armPing()
}

func (s *Session) armPing() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.pinger = time.AfterFunc(s.hub.cfg.PingInterval, s.ping)
}

func (s *Session) ping() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.inflight.Add(1)
	s.mu.Unlock()
	defer s.inflight.Done()
	ctx, cancel := context.WithTimeout(s.ctx, s.hub.cfg.PingTimeout)
	err := s.conn.Ping(ctx)
	cancel()
	if err != nil {
		s.Close(Errorf(CodeUnavailable, "ping timeout"))
		return
	}
	s.mu.Lock()
	if !s.closed {
		s.pinger.Reset(s.hub.cfg.PingInterval)
	}
	s.mu.Unlock()
}

// reply queues a reply frame; replies share the queue with events so the
// client sees them in the order they happened.
func (s *Session) reply(b []byte) { s.queueFrame(b, true) }

// enqueue queues an event frame (see queueFrame).
func (s *Session) enqueue(frame []byte) bool { return s.queueFrame(frame, false) }

// queueFrame adds a frame to the send queue without blocking. If the queue
// is full the client is too slow: it is disconnected and will resume from
// the log. It reports whether the frame was queued. urgent frames (replies,
// pushes) get the session written before those with only events queued.
func (s *Session) queueFrame(frame []byte, urgent bool) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	n := len(s.queue)
	if n >= s.hub.cfg.SendQueueFrames {
		s.mu.Unlock()
		s.hub.metrics.slowConsumers.Inc()
		s.Close(Errorf(CodeSlowConsumer, "send queue overflow"))
		return false
	}
	if n == 0 {
		s.firstAt = time.Now()
	}
	s.queue = append(s.queue, frame)
	promote := urgent && !s.urgentQueued && s.writing
	s.urgentQueued = s.urgentQueued || urgent
	start := !s.writing
	if start {
		s.writing = true
		s.inflight.Add(1)
	}
	s.mu.Unlock()
	s.hub.metrics.queueDepth.Observe(float64(n))
	switch {
	case start:
		writers.schedule(s, urgent)
	case promote:
		writers.promote(s)
	}
	return true
}

// Call is one op invocation, handed to the op's Handler.
type Call struct {
	// Op is the op name, e.g. "chat.send".
	Op string
	// Data is the op's raw "d" payload.
	Data json.RawMessage
	sess *Session
}

// Identity is the caller.
func (c *Call) Identity() *Identity { return c.sess.ident }

// Session is the caller's connection.
func (c *Call) Session() *Session { return c.sess }

// Bind decodes the payload into v strictly (unknown fields are an error) and
// validates it. Errors are *Error with CodeInvalid.
func (c *Call) Bind(v any) error { return bind(c.Data, v) }

func bind(data json.RawMessage, v any) error {
	if len(data) == 0 || string(data) == "null" {
		data = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return &Error{Code: CodeInvalid, Message: "wrong type for " + ute.Field, Field: ute.Field}
		}
		return Errorf(CodeInvalid, "bad op data: %s", truncate(err.Error(), 200))
	}
	return Validate(v)
}

// Bind decodes and validates raw JSON into v as Call.Bind does, for HTTP
// handlers of qun packages.
func Bind(data []byte, v any) error { return bind(data, v) }
