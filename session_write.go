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
// Sessions with queued frames wait in one FIFO and a small pool of writer
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
// A write blocks when the client's TCP window is full. A writer blocked for
// stallAfter stops counting against the pool, which starts another writer in
// its place; the blocked write ends when the client reads or when the
// connection is closed after Config.WriteTimeout.

// stallAfter is how long a write may block before its writer is replaced.
const stallAfter = 20 * time.Millisecond

type writePool struct {
	max int // writers that are not stalled

	mu     sync.Mutex
	ready  []*Session // FIFO from head
	head   int
	active int // writer goroutines running and not stalled
}

// writers is the process's write pool: sessions of every Hub share it.
var writers = writePool{max: max(4, 2*runtime.GOMAXPROCS(0))}

// schedule queues s for writing. The caller has set s.writing.
func (p *writePool) schedule(s *Session) {
	p.mu.Lock()
	p.ready = append(p.ready, s)
	spawn := p.active < p.max
	if spawn {
		p.active++
	}
	p.mu.Unlock()
	if spawn {
		go p.run()
	}
}

// run writes ready sessions until there are none, or until the pool has a
// writer too many (a stalled one came back).
func (p *writePool) run() {
	for {
		p.mu.Lock()
		if p.head == len(p.ready) || p.active > p.max {
			p.active--
			p.mu.Unlock()
			return
		}
		s := p.ready[p.head]
		p.ready[p.head] = nil
		p.head++
		switch {
		case p.head == len(p.ready):
			p.ready, p.head = p.ready[:0], 0
		case p.head >= 1024 && p.head*2 >= len(p.ready):
			n := copy(p.ready, p.ready[p.head:])
			clear(p.ready[n:])
			p.ready, p.head = p.ready[:n], 0
		}
		p.mu.Unlock()
		if s.flushOnce() {
			p.mu.Lock()
			p.ready = append(p.ready, s)
			p.mu.Unlock()
		}
	}
}

// stalled takes a blocked writer out of the count and starts a replacement
// if sessions are waiting.
func (p *writePool) stalled() {
	p.mu.Lock()
	p.active--
	spawn := p.head < len(p.ready) && p.active < p.max
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

// Write states of a session (Session.wstate).
const (
	wsIdle int32 = iota
	wsWriting
	wsStalled
)

// flushOnce writes what s has queued and reports whether more frames were
// queued meanwhile. When it returns false s has left the pool.
func (s *Session) flushOnce() (more bool) {
	s.mu.Lock()
	if len(s.queue) == 0 {
		s.writing = false
		if s.flushed != nil {
			close(s.flushed)
			s.flushed = nil
		}
		s.mu.Unlock()
		s.inflight.Done()
		return false
	}
	batch, since := s.queue, s.firstAt
	s.queue, s.spare = s.spare[:0], nil
	s.mu.Unlock()

	err := s.write(batch)
	clear(batch)
	s.mu.Lock()
	if err != nil {
		clear(s.queue)
		s.queue = s.queue[:0]
	} else {
		s.spare = batch[:0]
	}
	more = len(s.queue) > 0
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
	return more
}

// write sends batch as few WebSocket messages, each one frame. It passes
// the websocket library a context without a Done channel, which spares a
// context and an AfterFunc per write (a tenth of the fan-out's CPU); the
// session's timers bound the write instead: stallTimer hands the writer's
// place in the pool to another after stallAfter, closeTimer closes the
// connection after WriteTimeout, which ends the write (Close does too).
func (s *Session) write(batch [][]byte) error {
	st := s.stallTimer.Load()
	if st == nil {
		s.closeTimer.Store(time.AfterFunc(time.Hour, func() {
			if s.wstate.Load() == wsStalled {
				_ = s.conn.CloseNow()
			}
		}))
		s.closeTimer.Load().Stop()
		st = time.AfterFunc(stallAfter, s.writeStalled)
		s.stallTimer.Store(st)
	} else {
		st.Reset(stallAfter)
	}
	s.wstate.Store(wsWriting)
	defer func() {
		st.Stop()
		if s.wstate.Swap(wsIdle) == wsStalled {
			s.closeTimer.Load().Stop()
			writers.unstalled()
		}
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
		err := s.conn.Write(context.Background(), websocket.MessageText, msg)
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

// writeStalled runs when a write has blocked for stallAfter.
func (s *Session) writeStalled() {
	if s.wstate.CompareAndSwap(wsWriting, wsStalled) {
		s.closeTimer.Load().Reset(s.hub.cfg.WriteTimeout - stallAfter)
		writers.stalled()
	}
}

// batchBufs holds the buffers that join a batch's frames: only connections
// being written at the moment hold one.
var batchBufs = sync.Pool{New: func() any { return new([]byte) }}

// writeState is the part of Session that write uses.
type writeState struct {
	wstate     atomic.Int32
	stallTimer atomic.Pointer[time.Timer]
	closeTimer atomic.Pointer[time.Timer]
}
