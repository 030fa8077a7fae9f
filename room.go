package qun

import (
	"context"
	"encoding/json"
	"time"

	"go.uber.org/zap"
	"sync"
)

// room is this node's view of one room: it holds the node's single Broker
// subscription for the room, restores sequence order, and fans each event's
// frame out to the local subscribers. It exists while it has subscribers.
type room struct {
	hub *Hub
	ref RoomRef

	ready   chan struct{} // closed when init is done
	initErr error
	refs    int // guarded by hub.roomsMu

	mu sync.Mutex
	// subs is a slice, not a set: fan-out walks it in the same order for
	// every event, which the kernel's socket caches reward (a quarter less
	// CPU per delivery than a map's random order, BenchmarkFanout10k).
	subs     []*subscription
	last     uint64            // highest seq fanned out, in order
	pending  map[uint64]*Event // arrived early, waiting for predecessors
	gapTimer *time.Timer
	filling  sync.WaitGroup
	stopped  bool
	unsub    func()
}

type subscription struct {
	s    *Session
	room *room
	// The fields below are guarded by room.mu.
	sent       uint64 // highest seq queued to the session
	catchingUp bool   // the session is being sent missed events from the log
	buf        []*Event
	idx        int // in room.subs
}

// acquireRoom returns the node's room for ref, creating and initialising it
// if needed. Each successful call must be paired with release.
func (h *Hub) acquireRoom(ctx context.Context, ref RoomRef) (*room, error) {
	h.roomsMu.Lock()
	r := h.rooms[ref]
	if r == nil {
		r = &room{hub: h, ref: ref, ready: make(chan struct{}), pending: map[uint64]*Event{}}
		h.rooms[ref] = r
		go r.init()
	}
	r.refs++
	h.roomsMu.Unlock()
	select {
	case <-r.ready:
	case <-ctx.Done():
		h.release(r)
		return nil, ctx.Err()
	}
	if r.initErr != nil {
		h.release(r)
		return nil, r.initErr
	}
	return r, nil
}

// init subscribes to the broker before reading the log's head, so no event
// falls between the two: anything the broker delivers meanwhile waits in
// pending and is ordered after init.
func (r *room) init() {
	defer close(r.ready)
	ctx, cancel := context.WithTimeout(context.Background(), r.hub.cfg.OpTimeout)
	defer cancel()
	unsub, err := r.hub.cfg.Broker.Subscribe(ctx, r.ref, r.onEvent)
	if err != nil {
		r.initErr = err
		return
	}
	last, err := r.hub.cfg.Log.Last(ctx, r.ref)
	if err != nil {
		unsub()
		r.initErr = err
		return
	}
	r.mu.Lock()
	r.unsub, r.last = unsub, last
	for seq := range r.pending {
		if seq <= last {
			delete(r.pending, seq)
		}
	}
	r.drainPending()
	r.mu.Unlock()
}

func (h *Hub) release(r *room) {
	h.roomsMu.Lock()
	r.refs--
	if r.refs > 0 {
		h.roomsMu.Unlock()
		return
	}
	delete(h.rooms, r.ref)
	h.roomsMu.Unlock()
	<-r.ready
	r.mu.Lock()
	r.stopped = true
	if r.gapTimer != nil {
		r.gapTimer.Stop()
	}
	unsub := r.unsub
	r.mu.Unlock()
	if unsub != nil {
		unsub()
	}
	r.filling.Wait()
}

// onEvent is the broker's delivery callback.
func (r *room) onEvent(ev *Event) {
	if ev.Type == ctlEndSub {
		r.endSubs(ev)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return
	}
	if ev.Seq == 0 {
		r.fanout(ev)
		return
	}
	if r.unsub == nil { // still initialising
		r.pending[ev.Seq] = ev
		return
	}
	r.deliver(ev)
}

// deliver fans ev out if it is next in order, keeps it if it is early, and
// drops it if it was already delivered. Called with r.mu held.
func (r *room) deliver(ev *Event) {
	switch {
	case ev.Seq <= r.last:
		return
	case ev.Seq == r.last+1:
		r.last = ev.Seq
		r.fanout(ev)
		r.drainPending()
	default:
		r.pending[ev.Seq] = ev
		if len(r.pending) > r.hub.cfg.ResumeLimit {
			r.armGapFill(0)
		} else {
			r.armGapFill(r.hub.cfg.GapWait)
		}
	}
}

func (r *room) drainPending() {
	for {
		ev, ok := r.pending[r.last+1]
		if !ok {
			break
		}
		delete(r.pending, ev.Seq)
		r.last = ev.Seq
		r.fanout(ev)
	}
	if len(r.pending) == 0 && r.gapTimer != nil {
		r.gapTimer.Stop()
	}
}

// armGapFill schedules reading the missing events from the log, unless a
// fill is already scheduled. Called with r.mu held.
func (r *room) armGapFill(after time.Duration) {
	if r.gapTimer == nil {
		r.gapTimer = time.AfterFunc(after, r.fillGap)
		return
	}
	r.gapTimer.Reset(after)
}

func (r *room) fillGap() {
	r.mu.Lock()
	if r.stopped || len(r.pending) == 0 {
		r.mu.Unlock()
		return
	}
	r.filling.Add(1)
	from := r.last
	r.mu.Unlock()
	defer r.filling.Done()

	ctx, cancel := context.WithTimeout(context.Background(), r.hub.cfg.OpTimeout)
	evs, err := r.hub.cfg.Log.Read(ctx, r.ref, from, r.hub.cfg.ResumeLimit)
	cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.hub.log.Warn("room gap fill failed", zap.Stringer("room", r.ref), zap.Error(err))
	}
	for _, ev := range evs {
		r.deliver(ev)
	}
	if len(r.pending) > 0 && !r.stopped {
		r.armGapFill(r.hub.cfg.GapWait)
	}
}

// fanout queues ev's frame to every subscriber. Called with r.mu held.
func (r *room) fanout(ev *Event) {
	frame := ev.Frame()
	for _, sub := range r.subs {
		if ev.Seq != 0 {
			if sub.catchingUp {
				sub.buf = append(sub.buf, ev)
				if len(sub.buf) > r.hub.cfg.ResumeLimit {
					sub.s.Close(Errorf(CodeSlowConsumer, "fell behind while resuming"))
				}
				continue
			}
			if ev.Seq <= sub.sent {
				continue
			}
			sub.sent = ev.Seq
		}
		sub.s.enqueue(frame)
	}
}

// endSubs handles the EndSubscriptions control event.
func (r *room) endSubs(ev *Event) {
	var d endSubData
	if err := json.Unmarshal(ev.Data, &d); err != nil {
		return
	}
	frame := subEndFrame(r.ref.Room, d.Err)
	r.mu.Lock()
	var ended []*subscription
	for _, sub := range r.subs {
		if d.All || sub.s.ident.User == d.User {
			ended = append(ended, sub)
		}
	}
	r.mu.Unlock()
	for _, sub := range ended {
		if sub.s.dropSub(r.ref.Room, sub) {
			sub.s.enqueue(frame)
		}
	}
}

func (r *room) detach(sub *subscription) {
	r.mu.Lock()
	if i := sub.idx; i < len(r.subs) && r.subs[i] == sub {
		last := len(r.subs) - 1
		r.subs[i] = r.subs[last]
		r.subs[i].idx = i
		r.subs[last] = nil
		r.subs = r.subs[:last]
	}
	r.mu.Unlock()
	r.hub.release(r)
}

// Subscribe subscribes the session to room (in the session's tenant)
// without consulting the room's authorizer: the calling package has
// authorised it. after is the last seq the client has (nil: only new
// events); missed events are queued before Subscribe returns. It returns the
// room's head seq at subscription time.
func (s *Session) Subscribe(ctx context.Context, room RoomID, after *uint64) (uint64, error) {
	if err := ValidateVar("room", room, "required,max=128"); err != nil {
		return 0, err
	}
	ref := RoomRef{Tenant: s.ident.Tenant, Room: room}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0, ErrClosed
	}
	if _, dup := s.subs[room]; dup {
		s.mu.Unlock()
		return 0, Errorf(CodeConflict, "already subscribed to %s", room)
	}
	if len(s.subs) >= s.hub.cfg.MaxSubscriptions {
		s.mu.Unlock()
		return 0, Errorf(CodeExhausted, "at most %d subscriptions per connection", s.hub.cfg.MaxSubscriptions)
	}
	s.subs[room] = nil // reserve the slot
	s.mu.Unlock()

	sub, head, err := s.subscribe(ctx, ref, after)
	s.mu.Lock()
	if err != nil || s.closed {
		if s.subs[room] == nil {
			delete(s.subs, room)
		}
		s.mu.Unlock()
		if err == nil {
			sub.room.detach(sub)
			err = ErrClosed
		}
		return 0, err
	}
	s.subs[room] = sub
	s.mu.Unlock()
	return head, nil
}

func (s *Session) subscribe(ctx context.Context, ref RoomRef, after *uint64) (*subscription, uint64, error) {
	r, err := s.hub.acquireRoom(ctx, ref)
	if err != nil {
		return nil, 0, err
	}
	sub := &subscription{s: s, room: r}
	r.mu.Lock()
	head := r.last
	switch {
	case after == nil:
		sub.sent = head
	case *after >= head:
		sub.sent = *after
	case head-*after > uint64(s.hub.cfg.ResumeLimit):
		r.mu.Unlock()
		s.hub.release(r)
		return nil, 0, tooOld(*after)
	default:
		sub.catchingUp = true
	}
	sub.idx = len(r.subs)
	r.subs = append(r.subs, sub)
	r.mu.Unlock()
	if !sub.catchingUp {
		return sub, head, nil
	}

	// Catch up from the log outside the room lock; live events meanwhile
	// collect in sub.buf.
	sent := *after
	for sent < head {
		start := time.Now()
		evs, err := s.hub.cfg.Log.Read(ctx, ref, sent, int(min(head-sent, 1000)))
		s.hub.metrics.storeLatency.WithLabelValues("read").Observe(time.Since(start).Seconds())
		if err == nil && len(evs) == 0 {
			err = Errorf(CodeInternal, "log ended at %d before head %d", sent, head)
		}
		if err != nil {
			r.detach(sub)
			return nil, 0, err
		}
		for _, ev := range evs {
			if ev.Seq > sent && ev.Seq <= head {
				s.enqueue(ev.Frame())
				sent = ev.Seq
			}
		}
	}
	r.mu.Lock()
	for _, ev := range sub.buf {
		if ev.Seq > sent {
			s.enqueue(ev.Frame())
			sent = ev.Seq
		}
	}
	sub.sent, sub.buf, sub.catchingUp = sent, nil, false
	r.mu.Unlock()
	return sub, head, nil
}

// Unsubscribe ends the session's subscription to room, if any.
func (s *Session) Unsubscribe(room RoomID) bool {
	s.mu.Lock()
	sub := s.subs[room]
	s.mu.Unlock()
	if sub == nil {
		return false
	}
	return s.dropSub(room, sub)
}

// dropSub removes sub if it is still the session's subscription to room.
func (s *Session) dropSub(room RoomID, sub *subscription) bool {
	s.mu.Lock()
	if s.subs[room] != sub {
		s.mu.Unlock()
		return false
	}
	delete(s.subs, room)
	s.mu.Unlock()
	sub.room.detach(sub)
	return true
}

func (s *Session) opSub(ctx context.Context, data json.RawMessage) (any, error) {
	var d subData
	if err := bind(data, &d); err != nil {
		return nil, err
	}
	if err := s.hub.RequireRole(ctx, s.ident, d.Room, RoleViewer); err != nil {
		return nil, err
	}
	head, err := s.Subscribe(ctx, d.Room, d.After)
	if err != nil {
		return nil, err
	}
	return struct {
		Room RoomID `json:"room"`
		Head uint64 `json:"head"`
	}{d.Room, head}, nil
}

func (s *Session) opUnsub(data json.RawMessage) (any, error) {
	var d unsubData
	if err := bind(data, &d); err != nil {
		return nil, err
	}
	if !s.Unsubscribe(d.Room) {
		return nil, Errorf(CodeNotFound, "not subscribed to %s", d.Room)
	}
	return nil, nil
}
