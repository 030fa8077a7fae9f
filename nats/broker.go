package natsbroker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/qunkit/qun"
	"go.uber.org/zap"
)

// Config configures New.
type Config struct {
	// URL is the NATS server (or comma-separated servers of a cluster), for
	// example "nats://10.0.0.5:4222". Required.
	URL string
	// Options are passed to nats.Connect after the broker's own (a name,
	// reconnecting forever every 250 ms, its handlers), so they may override
	// those; credentials and TLS go here. Do not set the reconnect or error
	// handlers: the broker relies on its own.
	Options []nats.Option
	// Prefix starts every subject, so that several deployments can share one
	// NATS account. Zero means "qun".
	Prefix string
	// Log, if set, is read after a reconnect: for each room this node is
	// subscribed to, the events appended meanwhile are delivered, so that a
	// room whose last events were published during the outage does not wait
	// for its next event to reveal the gap. Pass the Hub's LogStore.
	Log qun.LogStore
	// Logger receives connection changes and dropped messages. Nil means
	// zap.NewNop().
	Logger *zap.Logger
}

// Broker is a qun.Broker on core NATS. Create it with New.
type Broker struct {
	nc     *nats.Conn
	prefix string
	log    *zap.Logger
	store  qun.LogStore

	mu     sync.Mutex
	rooms  map[qun.RoomRef]*room
	closed bool

	resyncs sync.WaitGroup // resync goroutines, waited for by Close
	stop    chan struct{}  // closed by Close: resyncs give up
}

var _ qun.Broker = (*Broker)(nil)

// room is this node's single NATS subscription to one room, shared by every
// local Subscribe of that room.
type room struct {
	ref    qun.RoomRef
	sub    *nats.Subscription
	locals atomic.Pointer[[]*local] // copy on write, under Broker.mu

	deliverMu sync.Mutex    // serialises NATS deliveries with resync deliveries
	last      atomic.Uint64 // highest seq seen, where a resync starts
}

type local struct {
	deliver func(*qun.Event)
	stopped atomic.Bool
}

// New connects to NATS. The connection is the broker's; Close closes it.
func New(cfg Config) (*Broker, error) {
	if cfg.URL == "" {
		return nil, errors.New("natsbroker: Config.URL is required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "qun"
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	b := &Broker{prefix: cfg.Prefix, log: cfg.Logger, store: cfg.Log, rooms: map[qun.RoomRef]*room{}, stop: make(chan struct{})}
	opts := append([]nats.Option{
		nats.Name("qun"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			b.log.Warn("nats disconnected", zap.Error(err))
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			b.log.Info("nats reconnected", zap.String("url", nc.ConnectedUrlRedacted()))
			b.resyncAll()
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			// Typically a slow consumer: NATS dropped messages. The Hub
			// fills the gap from the log when the next event arrives.
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			b.log.Warn("nats error", zap.String("subject", subj), zap.Error(err))
		}),
	}, cfg.Options...)
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("natsbroker: connect: %w", err)
	}
	b.nc = nc
	return b, nil
}

// Conn returns the broker's NATS connection, for health checks.
func (b *Broker) Conn() *nats.Conn { return b.nc }

// maxSubject keeps subjects well under the server's control line limit
// (4 KiB by default; exceeding it makes the server drop the connection).
const maxSubject = 1024

// Publish sends ev to every node subscribed to its room. It returns once the
// message is buffered; the connection flushes it within microseconds, and
// while reconnecting NATS keeps it (up to 8 MiB by default).
func (b *Broker) Publish(_ context.Context, ev *qun.Event) error {
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return qun.ErrClosed
	}
	subj := subject(b.prefix, ev.Ref())
	if len(subj) > maxSubject {
		return qun.Errorf(qun.CodeInvalid, "room reference too long")
	}
	if err := b.nc.Publish(subj, encode(ev)); err != nil {
		return fmt.Errorf("natsbroker: publish: %w", err)
	}
	return nil
}

// Subscribe calls deliver for every event published to ref. The node holds
// one NATS subscription per room however many local subscribers it has, and
// the subscription is in effect on the server when Subscribe returns.
func (b *Broker) Subscribe(ctx context.Context, ref qun.RoomRef, deliver func(*qun.Event)) (func(), error) {
	subj := subject(b.prefix, ref)
	if len(subj) > maxSubject {
		return nil, qun.Errorf(qun.CodeInvalid, "room reference too long")
	}
	l := &local{deliver: deliver}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, qun.ErrClosed
	}
	r := b.rooms[ref]
	fresh := r == nil
	if fresh {
		r = &room{ref: ref}
		r.locals.Store(&[]*local{})
		sub, err := b.nc.Subscribe(subj, r.onMsg)
		if err != nil {
			b.mu.Unlock()
			return nil, fmt.Errorf("natsbroker: subscribe: %w", err)
		}
		r.sub = sub
		b.rooms[ref] = r
	}
	r.locals.Store(appendLocal(*r.locals.Load(), l))
	b.mu.Unlock()

	var once sync.Once
	unsub := func() { once.Do(func() { b.unsubscribe(r, l) }) }
	// A round trip to the server: our SUB (sent before the PING) is in effect
	// when the PONG comes back.
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	if err := b.nc.FlushWithContext(ctx); err != nil {
		unsub()
		return nil, fmt.Errorf("natsbroker: subscribe: %w", err)
	}
	if fresh && b.store != nil {
		// Where a resync after a reconnect would start: nothing older, as the
		// subscriber has read the log's head itself.
		if last, err := b.store.Last(ctx, ref); err == nil {
			raise(&r.last, last)
		}
	}
	return unsub, nil
}

func appendLocal(ls []*local, l *local) *[]*local {
	out := make([]*local, 0, len(ls)+1)
	out = append(append(out, ls...), l)
	return &out
}

func (b *Broker) unsubscribe(r *room, l *local) {
	l.stopped.Store(true)
	b.mu.Lock()
	defer b.mu.Unlock()
	old := *r.locals.Load()
	out := make([]*local, 0, len(old))
	for _, x := range old {
		if x != l {
			out = append(out, x)
		}
	}
	r.locals.Store(&out)
	if len(out) == 0 && b.rooms[r.ref] == r {
		delete(b.rooms, r.ref)
		// Safe from within r's own delivery: NATS just stops calling onMsg.
		_ = r.sub.Unsubscribe()
	}
}

// onMsg runs on the NATS subscription's goroutine, one message at a time.
func (r *room) onMsg(m *nats.Msg) {
	ev, err := decode(m.Data)
	if err != nil || ev.Ref() != r.ref {
		return // not ours: a foreign publisher on our subject
	}
	r.deliver(ev)
}

func (r *room) deliver(ev *qun.Event) {
	r.deliverMu.Lock()
	defer r.deliverMu.Unlock()
	if ev.Seq != 0 {
		raise(&r.last, ev.Seq)
	}
	for _, l := range *r.locals.Load() {
		if !l.stopped.Load() {
			l.deliver(ev)
		}
	}
}

func raise(a *atomic.Uint64, v uint64) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

// resyncAll delivers, for every subscribed room, what the log holds beyond
// the last seq the room has seen: events published while the connection was
// down never reached this node.
func (b *Broker) resyncAll() {
	if b.store == nil {
		return
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	rooms := make([]*room, 0, len(b.rooms))
	for _, r := range b.rooms {
		rooms = append(rooms, r)
	}
	b.resyncs.Add(1)
	b.mu.Unlock()
	go func() {
		defer b.resyncs.Done()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-b.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		for _, r := range rooms {
			if err := b.resync(ctx, r); err != nil {
				b.log.Warn("resync after reconnect failed", zap.Stringer("room", r.ref), zap.Error(err))
			}
		}
	}()
}

func (b *Broker) resync(ctx context.Context, r *room) error {
	for {
		from := r.last.Load()
		evs, err := b.store.Read(ctx, r.ref, from, 1000)
		if err != nil || len(evs) == 0 {
			return err
		}
		for _, ev := range evs {
			if l := *r.locals.Load(); len(l) == 0 {
				return nil // unsubscribed meanwhile
			}
			r.deliver(ev)
		}
	}
}

// Close unsubscribes everything and closes the connection, after what it
// had buffered is flushed. Idempotent.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	for _, r := range b.rooms {
		for _, l := range *r.locals.Load() {
			l.stopped.Store(true)
		}
	}
	b.rooms = nil
	close(b.stop)
	b.mu.Unlock()
	b.resyncs.Wait()
	_ = b.nc.FlushTimeout(time.Second)
	b.nc.Close()
	return nil
}
