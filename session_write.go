package qun

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// Writing to connections.
//
// Sessions with queued frames wait in a FIFO and a small pool of writer
// goroutines takes them in turn, writing everything each has queued as one
// WebSocket message, then putting it back at the end of the line if more
// arrived meanwhile. An idle connection holds no writer goroutine.
//
// A goroutine per busy session would be simpler, but a room's fan-out then
// makes thousands of goroutines runnable at once; the scheduler runs them in
// FIFO order, so every other goroutine of the process (the op handlers, the
// next publish) waits behind the whole wave, and frames never get the chance
// to accumulate into batches. With a bounded pool the next publish runs while
// the wave is written, and the sessions still waiting write both frames in
// one message: throughput rises with load instead of collapsing.
//
// Replies and pushes go first: a session with one queued waits in a second
// FIFO that writers serve before the first, so an op's caller is not kept
// waiting behind a large room's fan-out (frames of one session always go
// out in the order they were queued; only sessions are reordered).
//
// A write blocks when the client's TCP window is full. A writer blocked for
// stallAfter stops counting against the pool, which starts another writer in
// its place; the blocked write ends when the client reads or when the
// connection is closed after Config.WriteTimeout.

// stallAfter is how long a write may block before its writer is replaced.
const stallAfter = 20 * time.Millisecond

type writePool struct {
	max int // writers that are not stalled

	mu     sync.Mutex
	urgent fifo      // sessions with a reply or push queued
	ready  fifo      // sessions with only events queued
	active int       // writer goroutines running and not stalled
	free   []*writer // idle writers' timers, for reuse
}

// fifo is a queue of sessions. A session is in at most one queue at a
// time: when it moves to the urgent one its entry in the other stays behind,
// stale (Session.inQueue says which entry is live).
type fifo struct {
	items []*Session
	head  int
}

func (q *fifo) push(s *Session) { q.items = append(q.items, s) }

func (q *fifo) pop() *Session {
	if q.head == len(q.items) {
		return nil
	}
	s := q.items[q.head]
	q.items[q.head] = nil
	q.head++
	switch {
	case q.head == len(q.items):
		q.items, q.head = q.items[:0], 0
	case q.head >= 1024 && q.head*2 >= len(q.items):
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	return s
}

func (q *fifo) empty() bool { return q.head == len(q.items) }

// Which queue holds a session's live entry (Session.inQueue).
const (
	inNone int8 = iota // idle, or being written
	inReady
	inUrgent
)

// writeSlot is the part of Session the write pool uses.
type writeSlot struct {
	urgentQueued bool // a reply or push is queued (guarded by Session.mu)
	inQueue      int8 // inNone, inReady or inUrgent (guarded by writers.mu)
}

// writer is one writer goroutine's state: its timers watch the write in
// progress, so idle sessions need none.
type writer struct {
	state atomic.Int32            // wsIdle, wsWriting or wsStalled
	cur   atomic.Pointer[Session] // the session being written
	stall *time.Timer             // fires stallAfter into a write
	close *time.Timer             // closes a stalled write's connection
}

// writers is the process's write pool: sessions of every Hub share it.
var writers = writePool{max: max(4, 2*runtime.GOMAXPROCS(0))}

// schedule queues s for writing. The caller has set s.writing.
func (p *writePool) schedule(s *Session, urgent bool) {
	p.mu.Lock()
	p.add(s, urgent)
	spawn := p.active < p.max
	if spawn {
		p.active++
	}
	p.mu.Unlock()
	if spawn {
		go p.run()
	}
}

func (p *writePool) add(s *Session, urgent bool) {
	if urgent {
		p.urgent.push(s)
		s.inQueue = inUrgent
	} else {
		p.ready.push(s)
		s.inQueue = inReady
	}
}

// promote moves s to the urgent queue if it is waiting in the other one; a
// session being written is re-queued by its writer.
func (p *writePool) promote(s *Session) {
	p.mu.Lock()
	if s.inQueue == inReady {
		p.urgent.push(s)
		s.inQueue = inUrgent
	}
	p.mu.Unlock()
}

// next pops the next session to write, or nil. Called with p.mu held.
func (p *writePool) next() *Session {
	for {
		s, q := p.urgent.pop(), inUrgent
		if s == nil {
			s, q = p.ready.pop(), inReady
		}
		if s == nil || s.inQueue == q {
			if s != nil {
				s.inQueue = inNone
			}
			return s
		}
		// A stale entry: the session moved to the urgent queue.
	}
}

// run writes ready sessions until there are none, or until the pool has a
// writer too many (a stalled one came back).
func (p *writePool) run() {
	p.mu.Lock()
	var w *writer
	if n := len(p.free); n > 0 {
		w, p.free = p.free[n-1], p.free[:n-1]
	}
	p.mu.Unlock()
	if w == nil {
		w = &writer{}
		w.stall = time.AfterFunc(time.Hour, w.stalled)
		w.stall.Stop()
		w.close = time.AfterFunc(time.Hour, w.timedOut)
		w.close.Stop()
	}
	for {
		p.mu.Lock()
		var s *Session
		if p.active <= p.max {
			s = p.next()
		}
		if s == nil {
			p.active--
			if len(p.free) < 2*p.max {
				p.free = append(p.free, w)
			}
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		if more, urgent := s.flushOnce(w); more {
			p.mu.Lock()
			p.add(s, urgent)
			p.mu.Unlock()
		}
	}
}

// stalled takes a blocked writer out of the count and starts a replacement
// if sessions are waiting.
func (p *writePool) stalled() {
	p.mu.Lock()
	p.active--
	spawn := !(p.urgent.empty() && p.ready.empty()) && p.active < p.max
	if spawn {
		p.active++
	}
	p.mu.Unlock()
	if spawn {
		go p.run()
	}
}

// unstalled counts a writer whose blocked write ended back in.
func (p *writePool) unstalled() {
	p.mu.Lock()
	p.active++
	p.mu.Unlock()
}

// Write states of a writer (writer.state).
const (
	wsIdle int32 = iota
	wsWriting
	wsStalled
)

// flushOnce writes what s has queued and reports whether more frames were
// queued meanwhile, and whether a reply or push is among them. When it
// returns false s has left the pool.
func (s *Session) flushOnce(w *writer) (more, urgent bool) {
	s.mu.Lock()
	if len(s.queue) == 0 { // a slow consumer's queue, dropped by Close
		s.writing, s.urgentQueued = false, false
		if s.flushed != nil {
			close(s.flushed)
			s.flushed = nil
		}
		s.mu.Unlock()
		s.inflight.Done()
		return false, false
	}
	batch, since := s.queue, s.firstAt
	s.queue, s.spare, s.urgentQueued = s.spare[:0], nil, false
	s.mu.Unlock()

	err := s.write(w, batch)
	clear(batch)
	s.mu.Lock()
	if err != nil {
		clear(s.queue)
		s.queue = s.queue[:0]
	} else {
		s.spare = batch[:0]
	}
	more, urgent = len(s.queue) > 0, s.urgentQueued
	if !more {
		s.writing = false
		if s.flushed != nil {
			close(s.flushed)
			s.flushed = nil
		}
	}
	s.mu.Unlock()
	if err != nil {
		s.Close(Errorf(CodeUnavailable, "write failed"))
	} else {
		s.hub.metrics.fanoutLatency.Observe(time.Since(since).Seconds())
	}
	if !more {
		s.inflight.Done()
	}
	return more, urgent
}

// write sends batch as few WebSocket messages, each one frame, straight to
// the socket (outConn.writeText) or, if the Hub did not wrap it, through the
// websocket library with a context without a Done channel, which spares a
// context and an AfterFunc per write. The writer's timers bound the write:
// stall hands the writer's place in the pool to another after stallAfter,
// close closes the connection after WriteTimeout, which ends the write
// (Session.Close does too).
func (s *Session) write(w *writer, batch [][]byte) error {
	w.cur.Store(s)
	w.state.Store(wsWriting)
	w.stall.Reset(stallAfter)
	defer func() {
		w.stall.Stop()
		if w.state.Swap(wsIdle) == wsStalled {
			w.close.Stop()
			writers.unstalled()
		}
		w.cur.Store(nil)
	}()
	for len(batch) > 0 {
		msg, n := batch[0], 1
		var bp *[]byte
		if len(batch) > 1 && len(msg) < maxBatchBytes {
			bp = batchBufs.Get().(*[]byte)
			b := append((*bp)[:0], msg...)
			for ; n < len(batch) && len(b)+1+len(batch[n]) <= maxBatchBytes; n++ {
				b = append(append(b, '\n'), batch[n]...)
			}
			msg, *bp = b, b
		}
		var err error
		if s.out != nil {
			err = s.out.writeText(msg)
		} else {
			err = s.conn.Write(context.Background(), websocket.MessageText, msg)
		}
		if bp != nil {
			batchBufs.Put(bp)
		}
		if err != nil {
			return err
		}
		batch = batch[n:]
	}
	return nil
}

// stalled runs when a write has blocked for stallAfter.
func (w *writer) stalled() {
	s := w.cur.Load()
	if s != nil && w.state.CompareAndSwap(wsWriting, wsStalled) {
		w.close.Reset(s.hub.cfg.WriteTimeout - stallAfter)
		writers.stalled()
	}
}

// timedOut runs when a stalled write has lasted WriteTimeout.
func (w *writer) timedOut() {
	if s := w.cur.Load(); s != nil && w.state.Load() == wsStalled {
		_ = s.conn.CloseNow()
	}
}

// batchBufs holds the buffers that join a batch's frames: only connections
// being written at the moment hold one.
var batchBufs = sync.Pool{New: func() any { return new([]byte) }}
