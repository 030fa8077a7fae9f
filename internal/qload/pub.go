package qload

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/qclient"
)

// PubConfig configures DialPublishers.
type PubConfig struct {
	// URL is the Hub's ws:// URL; Origin, if set, is sent as the Origin header.
	URL, Origin string
	// Token returns the token of publisher i.
	Token func(i int) (string, error)
	// Room receives the messages.
	Room qun.RoomID
	// N is the number of publisher connections. Zero means 1.
	N int
	// Rate is the messages per second across all publishers; zero means as
	// fast as Allow lets them.
	Rate float64
	// Size is each message's text length in bytes. Zero means 200.
	Size int
	// Allow, if set, is asked before each send and the publisher waits while
	// it answers false (flow control for maximum-rate runs).
	Allow func() bool
	// Count, if not zero, is the number of messages after which Run returns.
	Count uint64
}

// Publishers send SayOp messages to a room through their own connections.
type Publishers struct {
	cfg     PubConfig
	clients []*qclient.Client
	sent    atomic.Uint64
	started atomic.Uint64 // sends begun, against Count
	lastSeq atomic.Uint64 // highest seq acknowledged

	mu     sync.Mutex
	errors map[string]int // failed sends by error code
}

// DialPublishers connects cfg.N publishers.
func DialPublishers(ctx context.Context, cfg PubConfig) (*Publishers, error) {
	if cfg.N <= 0 {
		cfg.N = 1
	}
	if cfg.Size <= 0 {
		cfg.Size = 200
	}
	p := &Publishers{cfg: cfg, errors: map[string]int{}}
	for i := range cfg.N {
		tok, err := cfg.Token(i)
		if err != nil {
			p.Close()
			return nil, err
		}
		c, err := qclient.Connect(ctx, cfg.URL, tok, qclient.Options{Origin: cfg.Origin, Buffer: 16, OnFrame: func([]byte) {}})
		if err != nil {
			p.Close()
			return nil, err
		}
		p.clients = append(p.clients, c)
	}
	return p, nil
}

// Text returns a message of size bytes whose text starts with now in Unix
// nanoseconds, which subscribers parse to measure latency.
func Text(size int, now time.Time) string {
	b := strconv.AppendInt(make([]byte, 0, max(size, 24)), now.UnixNano(), 10)
	b = append(b, ' ')
	for len(b) < size {
		b = append(b, 'x')
	}
	return string(b)
}

// Run sends until ctx ends or Count messages were sent, each publisher
// paced to its share of Rate.
func (p *Publishers) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, c := range p.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.run(ctx, c)
		}()
	}
	wg.Wait()
}

func (p *Publishers) run(ctx context.Context, c *qclient.Client) {
	var interval time.Duration
	if p.cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(len(p.clients)) / p.cfg.Rate)
	}
	next := time.Now()
	for ctx.Err() == nil {
		if interval > 0 {
			if d := time.Until(next); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					return
				}
			}
			next = next.Add(interval)
		}
		for p.cfg.Allow != nil && !p.cfg.Allow() {
			select {
			case <-time.After(200 * time.Microsecond):
			case <-ctx.Done():
				return
			}
		}
		if p.cfg.Count > 0 && p.started.Add(1) > p.cfg.Count {
			return
		}
		var res SayResult
		err := c.Call(ctx, SayOp, SayData{Room: p.cfg.Room, Text: Text(p.cfg.Size, time.Now())}, &res)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			code := "error"
			if e, ok := err.(*qun.Error); ok {
				code = string(e.Code)
			}
			p.mu.Lock()
			p.errors[code]++
			p.mu.Unlock()
			select { // do not spin on a failing server
			case <-time.After(10 * time.Millisecond):
			case <-ctx.Done():
				return
			}
			continue
		}
		p.sent.Add(1)
		for {
			last := p.lastSeq.Load()
			if res.Seq <= last || p.lastSeq.CompareAndSwap(last, res.Seq) {
				break
			}
		}
	}
}

// Sent is the number of acknowledged messages.
func (p *Publishers) Sent() uint64 { return p.sent.Load() }

// LastSeq is the highest seq the server acknowledged.
func (p *Publishers) LastSeq() uint64 { return p.lastSeq.Load() }

// Errors returns the failed sends by error code.
func (p *Publishers) Errors() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.errors))
	for k, v := range p.errors {
		out[k] = v
	}
	return out
}

// Close closes the publishers' connections.
func (p *Publishers) Close() {
	for _, c := range p.clients {
		c.Close()
	}
}
