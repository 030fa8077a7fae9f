package clustertest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/clustertest"
	"github.com/qunkit/qun/internal/qclient"
	"github.com/qunkit/qun/nats/natstest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// openRooms lets anyone in the tenant use rooms of kind "t", and adds
// test.say, which publishes its text in a room and answers the event's seq.
func openRooms(n *clustertest.Node) {
	n.Hub.RegisterRooms("t", qun.RoomAccessFunc(func(context.Context, *qun.Identity, qun.RoomID) (qun.Role, error) {
		return qun.RoleMember, nil
	}))
	n.Hub.Handle("test.say", func(ctx context.Context, c *qun.Call) (any, error) {
		var d struct {
			Room qun.RoomID `json:"room" validate:"required"`
			Text string     `json:"text" validate:"required,max=100"`
		}
		if err := c.Bind(&d); err != nil {
			return nil, err
		}
		ev, err := n.Hub.Publish(ctx, qun.RoomRef{Tenant: c.Identity().Tenant, Room: d.Room},
			qun.Draft{Type: "test.said", Actor: c.Identity().User, Data: map[string]string{"text": d.Text}})
		if err != nil {
			return nil, err
		}
		return map[string]uint64{"seq": ev.Seq}, nil
	})
}

const tenant, room = "ten1", "t:1"

// reader follows the room from seq 1 and, when its node dies, reconnects to
// another node and resumes after the last seq it has. It records every
// event's text by seq and fails on any gap or repeat.
type reader struct {
	c    *clustertest.Cluster
	t    *testing.T
	name string

	mu    sync.Mutex
	texts []string // texts[i] is seq i+1
	moves int      // reconnections
	node  *clustertest.Node
}

func newReader(t *testing.T, c *clustertest.Cluster, name string, n *clustertest.Node) *reader {
	return &reader{c: c, t: t, name: name, node: n}
}

func (r *reader) last() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.texts)
}

// run follows the room until ctx ends.
func (r *reader) run(ctx context.Context) {
	for ctx.Err() == nil {
		cl, err := r.subscribe(ctx)
		if err != nil {
			if ctx.Err() == nil && r.node.Alive() {
				r.t.Errorf("%s: %v", r.name, err)
				return
			}
			continue // the node died while we connected: try another
		}
		r.follow(ctx, cl)
		cl.Close()
		if ctx.Err() != nil {
			return
		}
		// The connection ended under us: the node died. Move on.
		r.mu.Lock()
		r.moves++
		r.node = r.nextNode()
		r.mu.Unlock()
	}
}

func (r *reader) nextNode() *clustertest.Node {
	for _, n := range r.c.Nodes {
		if n.Alive() && n != r.node {
			return n
		}
	}
	return r.node
}

func (r *reader) subscribe(ctx context.Context) (*qclient.Client, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	r.mu.Lock()
	n, after := r.node, uint64(len(r.texts))
	r.mu.Unlock()
	cl, err := r.c.Dial(cctx, r.t, n, tenant, r.name)
	if err != nil {
		return nil, err
	}
	// The missed events are queued before the reply, and the client's frame
	// buffer holds them all while we wait for it.
	if err := cl.Call(cctx, "sub", map[string]any{"room": room, "after": after}, nil); err != nil {
		cl.Close()
		return nil, err
	}
	return cl, nil
}

func (r *reader) follow(ctx context.Context, cl *qclient.Client) {
	for {
		select {
		case <-ctx.Done():
			return
		case f, ok := <-cl.Frames():
			if !ok {
				return
			}
			if f.T != "ev" || f.Type != "test.said" {
				continue
			}
			var d struct{ Text string }
			if err := jsonUnmarshal(f.D, &d); err != nil {
				r.t.Errorf("%s: %v", r.name, err)
				return
			}
			r.mu.Lock()
			want := uint64(len(r.texts)) + 1
			if f.Seq == want {
				r.texts = append(r.texts, d.Text)
			}
			r.mu.Unlock()
			if f.Seq != want {
				r.t.Errorf("%s got seq %d, want %d: %s", r.name, f.Seq, want, map[bool]string{true: "a repeat", false: "a gap"}[f.Seq < want])
				return
			}
		}
	}
}

// writer sends n texts into the room through its node, moving to another
// node when its own dies. It records which texts were accepted (answered
// with a seq) and which failed (no answer: unknown outcome).
type writer struct {
	c    *clustertest.Cluster
	t    *testing.T
	name string
	node *clustertest.Node

	mu       sync.Mutex
	accepted map[string]uint64
	unsure   []string
}

func (w *writer) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.accepted)
}

func (w *writer) run(ctx context.Context, n int, pace time.Duration) {
	var cl *qclient.Client
	defer func() {
		if cl != nil {
			cl.Close()
		}
	}()
	for i := 0; i < n && ctx.Err() == nil; i++ {
		if cl == nil {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			var err error
			cl, err = w.c.Dial(cctx, w.t, w.node, tenant, w.name)
			cancel()
			if err != nil {
				cl = nil
				w.moveOn()
				i--
				continue
			}
		}
		text := fmt.Sprintf("%s-%d", w.name, i)
		var res struct{ Seq uint64 }
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := cl.Call(cctx, "test.say", map[string]any{"room": room, "text": text}, &res)
		cancel()
		w.mu.Lock()
		if err == nil {
			w.accepted[text] = res.Seq
		} else {
			w.unsure = append(w.unsure, text)
		}
		w.mu.Unlock()
		if err != nil {
			if w.node.Alive() {
				w.t.Errorf("%s: %s on a live node: %v", w.name, text, err)
				return
			}
			cl.Close()
			cl = nil
			w.moveOn()
		}
		time.Sleep(pace)
	}
}

func (w *writer) moveOn() {
	for _, n := range w.c.Nodes {
		if n.Alive() {
			w.node = n
			return
		}
	}
}

// check waits until every reader has every event up to the log's head and
// compares what they saw with each other and with what writers were told.
func check(t *testing.T, c *clustertest.Cluster, readers []*reader, writers []*writer) {
	t.Helper()
	var head uint64
	for _, n := range c.Nodes {
		if n.Alive() {
			var err error
			if head, err = n.Log.Last(context.Background(), qun.RoomRef{Tenant: tenant, Room: room}); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for _, r := range readers {
		for uint64(r.last()) < head {
			if time.Now().After(deadline) {
				t.Fatalf("%s has %d events, the log %d", r.name, r.last(), head)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	time.Sleep(100 * time.Millisecond) // anything extra would arrive now
	ref := readers[0]
	ref.mu.Lock()
	defer ref.mu.Unlock()
	for _, r := range readers {
		if r != ref {
			r.mu.Lock()
		}
		if len(r.texts) != int(head) {
			t.Fatalf("%s has %d events, the log %d", r.name, len(r.texts), head)
		}
		for i := range r.texts {
			if r.texts[i] != ref.texts[i] {
				t.Fatalf("seq %d: %s saw %q, %s saw %q", i+1, r.name, r.texts[i], ref.name, ref.texts[i])
			}
		}
		if r != ref {
			r.mu.Unlock()
		}
	}
	seen := map[string]int{}
	for _, text := range ref.texts {
		seen[text]++
		if seen[text] > 1 {
			t.Fatalf("%q is in the room twice", text)
		}
	}
	for _, w := range writers {
		w.mu.Lock()
		for text, seq := range w.accepted {
			if seq == 0 || seq > head || ref.texts[seq-1] != text {
				t.Fatalf("%q was accepted as seq %d but is not there", text, seq)
			}
		}
		w.mu.Unlock()
	}
}

// startReaders starts a reader on each of nodes, following the room until
// ctx ends; wait waits for them.
func startReaders(ctx context.Context, t *testing.T, c *clustertest.Cluster, nodes ...*clustertest.Node) (readers []*reader, wait func()) {
	var wg sync.WaitGroup
	for i, n := range nodes {
		r := newReader(t, c, fmt.Sprint("reader", i), n)
		readers = append(readers, r)
		wg.Add(1)
		go func() { defer wg.Done(); r.run(ctx) }()
	}
	return readers, wg.Wait
}

// startWriters starts a writer on each of nodes, sending n texts paced by
// pace; wait waits until they are done.
func startWriters(ctx context.Context, t *testing.T, c *clustertest.Cluster, n int, pace time.Duration, nodes ...*clustertest.Node) (writers []*writer, wait func()) {
	var wg sync.WaitGroup
	for i, node := range nodes {
		w := &writer{c: c, t: t, name: fmt.Sprint("writer", i), node: node, accepted: map[string]uint64{}}
		writers = append(writers, w)
		wg.Add(1)
		go func() { defer wg.Done(); w.run(ctx, n, pace) }()
	}
	return writers, wg.Wait
}

// Clients on different nodes in one room see the same events in the same
// order, whichever node each event was sent through.
func TestNodesShareRoomOrder(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Setup: openRooms})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	readers, readersDone := startReaders(ctx, t, c, c.Nodes...)
	writers, writersDone := startWriters(ctx, t, c, 60, 0, c.Nodes...)
	writersDone()
	check(t, c, readers, writers)
	for _, w := range writers {
		if len(w.accepted) != 60 {
			t.Fatalf("%s: %d of 60 accepted", w.name, len(w.accepted))
		}
	}
	cancel()
	readersDone()
}

// A node dies while its clients read and write: no accepted message is
// lost, its readers resume on another node with nothing missing or doubled,
// and its writer carries on through another node.
func TestNodeDiesMidStream(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Setup: openRooms})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	readers, readersDone := startReaders(ctx, t, c, c.Nodes[0], c.Nodes[0], c.Nodes[1], c.Nodes[2])
	writers, writersDone := startWriters(ctx, t, c, 150, time.Millisecond, c.Nodes[0], c.Nodes[0], c.Nodes[1])
	for deadline := time.Now().Add(20 * time.Second); writers[0].count() < 40; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("writers too slow")
		}
	}
	c.Nodes[0].Kill(t)
	writersDone()
	check(t, c, readers, writers)
	cancel()
	readersDone()
	for _, r := range readers[:2] {
		if r.moves == 0 {
			t.Fatalf("%s never moved off the dead node", r.name)
		}
	}
	for _, w := range writers[:2] {
		if w.node == c.Nodes[0] {
			t.Fatalf("%s still on the dead node", w.name)
		}
		t.Logf("%s: %d accepted, %d unsure (in flight when the node died)", w.name, len(w.accepted), len(w.unsure))
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// The NATS server restarts while clients write: events published during the
// outage reach the other node's clients anyway (read from the log after the
// reconnect, or when later events reveal the gap), in order.
func TestNATSRestart(t *testing.T) {
	srv := natstest.Start(t, 0)
	port := natstest.Port(srv)
	c := clustertest.New(t, clustertest.Options{Nodes: 2, NATSURL: srv.ClientURL(), Setup: openRooms})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	readers, readersDone := startReaders(ctx, t, c, c.Nodes...)
	writers, writersDone := startWriters(ctx, t, c, 100, 2*time.Millisecond, c.Nodes...)
	for deadline := time.Now().Add(20 * time.Second); writers[0].count() < 30; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("writers too slow")
		}
	}
	srv.Shutdown()
	srv.WaitForShutdown()
	time.Sleep(300 * time.Millisecond)
	natstest.Start(t, port)
	writersDone()
	check(t, c, readers, writers)
	cancel()
	readersDone()
	for _, w := range writers {
		if len(w.accepted) != 100 {
			t.Fatalf("%s: %d of 100 accepted: a NATS outage must not fail publishing", w.name, len(w.accepted))
		}
	}
}
