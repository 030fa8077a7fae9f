package qload

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qunkit/qun"
)

// SubConfig configures Subscribe.
type SubConfig struct {
	// URL is the Hub's ws:// URL.
	URL string
	// Header is sent with every WebSocket handshake (e.g. Origin). Optional.
	Header http.Header
	// Token returns the token of subscriber i (0 ≤ i < N).
	Token func(i int) (string, error)
	// Room is the room every subscriber subscribes to.
	Room qun.RoomID
	// N is the number of subscribers.
	N int
	// Concurrency bounds the handshakes in flight. Zero means 32.
	Concurrency int
	// Portable makes the subscribers use github.com/coder/websocket with a
	// goroutine each, as on systems without epoll. By default on Linux they
	// share a few epoll loops on raw sockets, which costs the machine (which
	// also runs the server under test) about a third of the CPU per delivery.
	Portable bool
}

// Subscribers are N WebSocket clients subscribed to one room. They count
// the events they receive and record each one's latency from the send time
// at the start of its text, without decoding JSON.
type Subscribers struct {
	subs []*sub
	lat  Hist
	stop func() // stops the readers and closes the connections

	mu      sync.Mutex
	reasons map[string]int // why connections ended, while not closing
	closing bool
}

// sub is one subscriber's counters, shared by both implementations.
type sub struct {
	delivered atomic.Uint64
	last      atomic.Uint64 // highest seq received
	gaps      atomic.Uint64 // events that did not follow the previous one
	ended     atomic.Bool
	_         [32]byte // keep neighbours' hot counters apart
}

// Subscribe connects cfg.N subscribers, each saying hello and subscribing
// to cfg.Room, and starts reading. On error the ones already connected are
// closed.
func Subscribe(ctx context.Context, cfg SubConfig) (*Subscribers, error) {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 32
	}
	s := &Subscribers{subs: make([]*sub, cfg.N), reasons: map[string]int{}}
	for i := range s.subs {
		s.subs[i] = &sub{}
	}
	if cfg.Portable || !haveEpoll {
		return s, s.startWS(ctx, cfg)
	}
	return s, s.startEpoll(ctx, cfg)
}

// dialAll runs connect(i) for every subscriber, cfg.Concurrency at a time,
// and returns the first error.
func dialAll(ctx context.Context, cfg SubConfig, connect func(ctx context.Context, i int) error) error {
	var (
		next     atomic.Int64
		firstErr error
		errOnce  sync.Once
		wg       sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range min(cfg.Concurrency, cfg.N) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= cfg.N || ctx.Err() != nil {
					return
				}
				if err := connect(ctx, i); err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("subscriber %d: %w", i, err); cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

func helloFrame(token string) []byte {
	return fmt.Appendf(nil, `{"id":1,"op":"hello","d":{"v":%d,"token":%q}}`, qun.ProtocolVersion, token)
}

func subFrame(room qun.RoomID) []byte {
	return fmt.Appendf(nil, `{"id":2,"op":"sub","d":{"room":%q}}`, room)
}

var (
	evPrefix  = []byte(`{"t":"ev",`)
	resPrefix = []byte(`{"t":"res",`)
	okKey     = []byte(`"ok":`)
	seqKey    = []byte(`,"seq":`)
	textKey   = []byte(`"text":"`)
	headKey   = []byte(`"head":`)
)

// subReply checks the sub reply and sets c's starting seq from its head.
func subReply(c *sub, reply []byte) error {
	if !bytes.HasPrefix(reply, resPrefix) || !bytes.Contains(reply, okKey) {
		return fmt.Errorf("sub: %s", reply)
	}
	head, _ := parseUint(reply, headKey)
	c.last.Store(head)
	return nil
}

// line handles one frame received by c at now (Unix nanoseconds).
func (s *Subscribers) line(c *sub, line []byte, now int64) {
	if !bytes.HasPrefix(line, evPrefix) {
		return
	}
	seq, ok := parseUint(line, seqKey)
	if !ok {
		return // ephemeral
	}
	c.delivered.Add(1)
	if last := c.last.Load(); seq != last+1 {
		c.gaps.Add(1)
	}
	c.last.Store(seq)
	if ts, ok := parseUint(line, textKey); ok {
		s.lat.Record(time.Duration(now - int64(ts)))
	}
}

// parseUint parses the decimal digits that follow key in b.
func parseUint(b, key []byte) (uint64, bool) {
	i := bytes.Index(b, key)
	if i < 0 {
		return 0, false
	}
	b = b[i+len(key):]
	j := 0
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		j++
	}
	v, err := strconv.ParseUint(string(b[:j]), 10, 64)
	return v, err == nil
}

// ended records that c's connection ended, and why.
func (s *Subscribers) ended(c *sub, reason string) {
	c.ended.Store(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closing {
		s.reasons[reason]++
	}
}

// Stats is what the subscribers have seen so far.
type Stats struct {
	Subscribers int
	Open        int            // connections still open
	Delivered   uint64         // events received, all subscribers together
	Gaps        uint64         // events whose seq did not follow the previous one
	MinSeq      uint64         // the lowest last-seen seq among open subscribers
	Ended       map[string]int // connections the server ended, by close reason
}

// Stats sums the subscribers' counters.
func (s *Subscribers) Stats() Stats {
	st := Stats{Subscribers: len(s.subs), MinSeq: s.MinSeq()}
	for _, c := range s.subs {
		st.Delivered += c.delivered.Load()
		st.Gaps += c.gaps.Load()
		if !c.ended.Load() {
			st.Open++
		}
	}
	s.mu.Lock()
	if len(s.reasons) > 0 {
		st.Ended = make(map[string]int, len(s.reasons))
		for k, v := range s.reasons {
			st.Ended[k] = v
		}
	}
	s.mu.Unlock()
	return st
}

// MinSeq is the lowest seq that every open subscriber has received.
func (s *Subscribers) MinSeq() uint64 {
	m, open := ^uint64(0), false
	for _, c := range s.subs {
		if !c.ended.Load() {
			m, open = min(m, c.last.Load()), true
		}
	}
	if !open {
		return 0
	}
	return m
}

// Latency is the histogram of publish-to-receive latency of every event.
func (s *Subscribers) Latency() *Hist { return &s.lat }

// Close closes every connection (without a close handshake) and waits for
// the readers to stop. Idempotent.
func (s *Subscribers) Close() {
	s.mu.Lock()
	already := s.closing
	s.closing = true
	s.mu.Unlock()
	if !already && s.stop != nil {
		s.stop()
	}
}
