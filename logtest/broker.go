package logtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qunkit/qun"
)

// BrokerOption declares what a Broker implementation promises beyond the
// common contract.
type BrokerOption func(*brokerConfig)

type brokerConfig struct{ shared bool }

// Shared declares that brokers returned by separate calls of open within one
// subtest reach each other, as the nodes of a deployment do (they connect to
// the same server). The suite then also checks delivery across nodes.
func Shared() BrokerOption { return func(c *brokerConfig) { c.shared = true } }

// RunBroker runs the Broker conformance suite. open returns a broker for
// each subtest (or, with Shared, for each node of it); the suite closes it.
func RunBroker(t *testing.T, open func(t *testing.T) qun.Broker, opts ...BrokerOption) {
	var c brokerConfig
	for _, o := range opts {
		o(&c)
	}
	s := &brokerSuite{c: c, open: func(t *testing.T) qun.Broker {
		b := open(t)
		t.Cleanup(func() { _ = b.Close() })
		return b
	}}
	t.Run("Deliver", s.deliver)
	t.Run("Isolation", s.isolation)
	t.Run("SeveralSubscribers", s.severalSubscribers)
	t.Run("ManyRooms", s.manyRooms)
	t.Run("Unsubscribe", s.unsubscribe)
	t.Run("UnsubscribeUnderLoad", s.unsubscribeUnderLoad)
	t.Run("UnsubscribeFromDeliver", s.unsubscribeFromDeliver)
	t.Run("Close", s.close)
	if c.shared {
		t.Run("AcrossNodes", s.acrossNodes)
	}
}

type brokerSuite struct {
	c    brokerConfig
	open func(t *testing.T) qun.Broker
}

// nodes returns n brokers that reach each other: n distinct ones when the
// implementation is Shared, else the same one n times.
func (s *brokerSuite) nodes(t *testing.T, n int) []qun.Broker {
	bs := make([]qun.Broker, n)
	for i := range bs {
		if i == 0 || s.c.shared {
			bs[i] = s.open(t)
		} else {
			bs[i] = bs[0]
		}
	}
	return bs
}

// collector is a subscription's deliver function that records events and
// checks that deliveries to it never overlap.
type collector struct {
	t        *testing.T
	inFlight atomic.Int32
	mu       sync.Mutex
	evs      []*qun.Event
	changed  chan struct{}
}

func newCollector(t *testing.T) *collector {
	return &collector{t: t, changed: make(chan struct{}, 1)}
}

func (c *collector) deliver(ev *qun.Event) {
	if c.inFlight.Add(1) != 1 {
		c.t.Error("deliver called concurrently for one subscription")
	}
	c.mu.Lock()
	c.evs = append(c.evs, ev)
	c.mu.Unlock()
	select {
	case c.changed <- struct{}{}:
	default:
	}
	c.inFlight.Add(-1)
}

func (c *collector) events() []*qun.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*qun.Event(nil), c.evs...)
}

// wait waits until at least n events arrived and returns them.
func (c *collector) wait(n int) []*qun.Event {
	c.t.Helper()
	deadline := time.After(10 * time.Second)
	for len(c.events()) < n {
		select {
		case <-c.changed:
		case <-deadline:
			c.t.Fatalf("got %d events within 10s, want %d", len(c.events()), n)
		}
	}
	return c.events()
}

func subscribe(t *testing.T, b qun.Broker, ref qun.RoomRef, deliver func(*qun.Event)) func() {
	t.Helper()
	unsub, err := b.Subscribe(ctx(t), ref, deliver)
	if err != nil {
		t.Fatalf("Subscribe %s: %v", ref, err)
	}
	t.Cleanup(unsub)
	return unsub
}

func publish(t *testing.T, b qun.Broker, ev *qun.Event) {
	t.Helper()
	if err := b.Publish(ctx(t), ev); err != nil {
		t.Fatalf("Publish %s #%d: %v", ev.Ref(), ev.Seq, err)
	}
}

// sameDelivered checks that got carries want's fields and frame.
func sameDelivered(t *testing.T, got, want *qun.Event) {
	t.Helper()
	if got.Tenant != want.Tenant || got.Room != want.Room || got.Seq != want.Seq || got.Type != want.Type ||
		got.Actor != want.Actor || got.TS != want.TS || !bytes.Equal(got.Data, want.Data) {
		t.Fatalf("delivered %+v, want %+v", got, want)
	}
	if !bytes.Equal(got.Frame(), want.Frame()) {
		t.Fatalf("frame %s, want %s", got.Frame(), want.Frame())
	}
}

func (s *brokerSuite) deliver(t *testing.T) {
	bs := s.nodes(t, 2)
	ref := Ref("g:deliver")
	c := newCollector(t)
	subscribe(t, bs[1], ref, c.deliver)
	durable := &qun.Event{Tenant: ref.Tenant, Room: ref.Room, Seq: 7, Type: "chat.message", Actor: "u-1",
		TS: 1_763_766_000_123, Data: json.RawMessage(`{"text":"你好 \"q\"","n":[1, 2.5]}`)}
	ephemeral := &qun.Event{Tenant: ref.Tenant, Room: ref.Room, Type: "wb.laser", TS: 5, Data: json.RawMessage(`{"x":1}`)}
	bare := &qun.Event{Tenant: ref.Tenant, Room: ref.Room, Seq: 8, Type: "live.like"}
	big := &qun.Event{Tenant: ref.Tenant, Room: ref.Room, Seq: 9, Type: "big", Actor: "u",
		Data: json.RawMessage(`"` + strings.Repeat("界", 20<<10) + `"`)}
	want := []*qun.Event{durable, ephemeral, bare, big}
	for _, ev := range want {
		publish(t, bs[0], ev)
	}
	c.wait(len(want))
	time.Sleep(50 * time.Millisecond) // extras would show now
	got := c.events()
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	// Order is not promised; match by seq and type.
	for _, w := range want {
		found := false
		for _, g := range got {
			if g.Seq == w.Seq && g.Type == w.Type {
				sameDelivered(t, g, w)
				found = true
			}
		}
		if !found {
			t.Fatalf("event %s #%d not delivered", w.Type, w.Seq)
		}
	}
}

// isolation subscribes to rooms whose ids a careless subject or key encoding
// would confuse, and expects each to receive only its own event.
func (s *brokerSuite) isolation(t *testing.T) {
	bs := s.nodes(t, 2)
	base := Ref("g:1")
	refs := []qun.RoomRef{
		base,
		{Tenant: qun.TenantID("lt-" + qun.NewID()), Room: base.Room}, // same room, another tenant
		{Tenant: base.Tenant, Room: "g:2"},
		{Tenant: base.Tenant + ".g", Room: "1"},
		{Tenant: base.Tenant, Room: "g.1"},
		{Tenant: base.Tenant, Room: "g:*"},
		{Tenant: base.Tenant, Room: ">"},
		{Tenant: base.Tenant, Room: "g:a b\t空"},
		{Tenant: base.Tenant, Room: "g:%2E"},
		{Tenant: base.Tenant, Room: "g:~2E"},
		{Tenant: base.Tenant, Room: "x/y"},
		{Tenant: base.Tenant + "/x", Room: "y"},
		{Tenant: base.Tenant, Room: qun.RoomID("g:" + strings.Repeat("é", 63))},
	}
	cols := make([]*collector, len(refs))
	for i, ref := range refs {
		cols[i] = newCollector(t)
		subscribe(t, bs[1], ref, cols[i].deliver)
	}
	for i, ref := range refs {
		publish(t, bs[0], &qun.Event{Tenant: ref.Tenant, Room: ref.Room, Seq: uint64(i + 1), Type: "t"})
	}
	for _, c := range cols {
		c.wait(1)
	}
	time.Sleep(50 * time.Millisecond) // misrouted events would show now
	for i, ref := range refs {
		got := cols[i].events()
		if len(got) != 1 || got[0].Seq != uint64(i+1) || got[0].Ref() != ref {
			var desc []string
			for _, ev := range got {
				desc = append(desc, fmt.Sprintf("%q/%q #%d", ev.Tenant, ev.Room, ev.Seq))
			}
			t.Fatalf("subscriber of %q/%q got %v, want only #%d", ref.Tenant, ref.Room, desc, i+1)
		}
	}
}

// severalSubscribers subscribes three times to one room on one node while
// several goroutines publish: each subscription gets every event.
func (s *brokerSuite) severalSubscribers(t *testing.T) {
	bs := s.nodes(t, 2)
	ref := Ref("g:fan")
	cols := []*collector{newCollector(t), newCollector(t), newCollector(t)}
	for _, c := range cols {
		subscribe(t, bs[1], ref, c.deliver)
	}
	const publishers, each = 4, 250
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := ctx(t)
			for i := range each {
				if err := bs[p%2].Publish(c, &qun.Event{Tenant: ref.Tenant, Room: ref.Room, Seq: uint64(p*each + i + 1), Type: "t"}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, c := range cols {
		c.wait(publishers * each)
	}
	time.Sleep(50 * time.Millisecond) // duplicates would show now
	for _, c := range cols {
		got := c.events()
		seen := map[uint64]bool{}
		for _, ev := range got {
			if seen[ev.Seq] {
				t.Fatalf("seq %d delivered twice to one subscription", ev.Seq)
			}
			seen[ev.Seq] = true
		}
		if len(seen) != publishers*each {
			t.Fatalf("a subscription got %d distinct events, want %d", len(seen), publishers*each)
		}
	}
}

func (s *brokerSuite) manyRooms(t *testing.T) {
	bs := s.nodes(t, 2)
	const rooms = 200
	tenant := Ref("").Tenant
	cols := make([]*collector, rooms)
	for i := range cols {
		cols[i] = newCollector(t)
		subscribe(t, bs[1], qun.RoomRef{Tenant: tenant, Room: qun.RoomID(fmt.Sprint("g:", i))}, cols[i].deliver)
	}
	for i := range rooms {
		publish(t, bs[0], &qun.Event{Tenant: tenant, Room: qun.RoomID(fmt.Sprint("g:", i)), Seq: uint64(i + 1), Type: "t"})
	}
	for _, c := range cols {
		c.wait(1)
	}
	time.Sleep(50 * time.Millisecond)
	for i, c := range cols {
		if got := c.events(); len(got) != 1 || got[0].Seq != uint64(i+1) {
			t.Fatalf("room g:%d got %d events", i, len(got))
		}
	}
}

func (s *brokerSuite) unsubscribe(t *testing.T) {
	bs := s.nodes(t, 2)
	ref := Ref("g:unsub")
	gone, stay := newCollector(t), newCollector(t)
	unsub := subscribe(t, bs[1], ref, gone.deliver)
	subscribe(t, bs[1], ref, stay.deliver)
	publish(t, bs[0], &qun.Event{Tenant: ref.Tenant, Room: ref.Room, Seq: 1, Type: "t"})
	gone.wait(1)
	stay.wait(1)
	unsub()
	unsub() // idempotent
	publish(t, bs[0], &qun.Event{Tenant: ref.Tenant, Room: ref.Room, Seq: 2, Type: "t"})
	stay.wait(2)
	time.Sleep(50 * time.Millisecond)
	if n := len(gone.events()); n != 1 {
		t.Fatalf("unsubscribed callback got %d events, want 1", n)
	}
	// Subscribing again after unsubscribing works.
	again := newCollector(t)
	subscribe(t, bs[1], ref, again.deliver)
	publish(t, bs[0], &qun.Event{Tenant: ref.Tenant, Room: ref.Room, Seq: 3, Type: "t"})
	again.wait(1)
	time.Sleep(50 * time.Millisecond)
	if got := again.events(); len(got) != 1 || got[0].Seq != 3 {
		t.Fatalf("resubscribed callback got %d events", len(got))
	}
}

// unsubscribeUnderLoad unsubscribes while events are being published: the
// deliveries stop (one already being dispatched may still finish).
func (s *brokerSuite) unsubscribeUnderLoad(t *testing.T) {
	bs := s.nodes(t, 2)
	ref := Ref("g:race")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for p := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := ctx(t)
			for i := uint64(1); ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				_ = bs[p%2].Publish(c, &qun.Event{Tenant: ref.Tenant, Room: ref.Room, Seq: i, Type: "t"})
				if i%16 == 0 {
					time.Sleep(200 * time.Microsecond) // load, not a flood a networked broker would drop
				}
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	type run struct {
		calls   atomic.Int64
		settled atomic.Int64
	}
	var runs []*run
	for range 20 {
		r := &run{}
		first := make(chan struct{}, 1)
		unsub, err := bs[1].Subscribe(ctx(t), ref, func(*qun.Event) {
			r.calls.Add(1)
			select {
			case first <- struct{}{}:
			default:
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-first:
		case <-time.After(10 * time.Second):
			t.Fatal("no delivery within 10s")
		}
		unsub()
		time.Sleep(5 * time.Millisecond) // a delivery in flight finishes
		r.settled.Store(r.calls.Load())
		runs = append(runs, r)
	}
	time.Sleep(50 * time.Millisecond)
	for i, r := range runs {
		if late := r.calls.Load() - r.settled.Load(); late > 0 {
			t.Fatalf("subscription %d: %d deliveries after unsubscribe had returned", i, late)
		}
	}
}

// unsubscribeFromDeliver unsubscribes from within the deliver callback, as
// the Hub does when the last local subscriber of a room leaves because of
// an event: it must not deadlock, and the other subscriptions go on.
func (s *brokerSuite) unsubscribeFromDeliver(t *testing.T) {
	bs := s.nodes(t, 2)
	ref := Ref("g:self")
	other := newCollector(t)
	subscribe(t, bs[1], ref, other.deliver)
	var calls atomic.Int32
	var unsub func()
	ready := make(chan struct{})
	returned := make(chan struct{})
	u, err := bs[1].Subscribe(ctx(t), ref, func(*qun.Event) {
		<-ready
		if calls.Add(1) == 1 {
			unsub()
			close(returned)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	unsub = u
	close(ready)
	publish(t, bs[0], &qun.Event{Tenant: ref.Tenant, Room: ref.Room, Seq: 1, Type: "t"})
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("unsubscribe called from deliver did not return")
	}
	publish(t, bs[0], &qun.Event{Tenant: ref.Tenant, Room: ref.Room, Seq: 2, Type: "t"})
	other.wait(2)
	time.Sleep(50 * time.Millisecond)
	if n := calls.Load(); n != 1 {
		t.Fatalf("callback that unsubscribed itself was called %d times, want 1", n)
	}
}

func (s *brokerSuite) close(t *testing.T) {
	b := s.open(t)
	ref := Ref("g:close")
	c := newCollector(t)
	unsub := subscribe(t, b, ref, c.deliver)
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	unsub() // harmless after Close
	if err := b.Publish(ctx(t), &qun.Event{Tenant: ref.Tenant, Room: ref.Room, Seq: 1, Type: "t"}); !errors.Is(err, qun.ErrClosed) {
		t.Fatalf("Publish after Close = %v, want qun.ErrClosed", err)
	}
	if _, err := b.Subscribe(ctx(t), ref, c.deliver); !errors.Is(err, qun.ErrClosed) {
		t.Fatalf("Subscribe after Close = %v, want qun.ErrClosed", err)
	}
	if n := len(c.events()); n != 0 {
		t.Fatalf("%d events delivered after Close", n)
	}
}

// acrossNodes checks what a deployment relies on: a subscription is in
// effect when Subscribe returns (the Hub reads the log's head right after),
// and a node receives its own publications as well as the others'.
func (s *brokerSuite) acrossNodes(t *testing.T) {
	bs := s.nodes(t, 3)
	type sub struct {
		c  *collector
		ev *qun.Event
	}
	var subs []sub
	for i := range 20 {
		ref := Ref(fmt.Sprint("g:x", i))
		ev := &qun.Event{Tenant: ref.Tenant, Room: ref.Room, Seq: 1, Type: "t", Data: json.RawMessage(`1`)}
		for _, b := range bs {
			c := newCollector(t)
			subscribe(t, b, ref, c.deliver)
			subs = append(subs, sub{c, ev})
		}
		// Published at once by one of the nodes: must reach all of them.
		publish(t, bs[i%len(bs)], ev)
	}
	for _, s := range subs {
		s.c.wait(1)
	}
	time.Sleep(50 * time.Millisecond)
	for _, s := range subs {
		got := s.c.events()
		if len(got) != 1 {
			t.Fatalf("%s: a node got %d events, want 1", s.ev.Ref(), len(got))
		}
		sameDelivered(t, got[0], s.ev)
	}
}
