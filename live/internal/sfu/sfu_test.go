package sfu

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"
	peer "github.com/qunkit/qun/internal/livepeer"
	"go.uber.org/goleak"
	"go.uber.org/zap"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// rig is an Engine with in-process signalling to pion client peers.
type rig struct {
	t   *testing.T
	e   *Engine
	api *webrtc.API

	mu   sync.Mutex
	recv []*Receiver
	ids  atomic.Int64
}

func newRig(t *testing.T, cfg Config, copts peer.APIOptions) *rig {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = peer.TestLogger(t, zap.InfoLevel)
	}
	if cfg.Net == nil {
		cfg.IncludeLoopback = true
		copts.IncludeLoopback = true
	}
	e, err := NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	api, err := peer.NewAPI(copts)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, e: e, api: api}
}

// publish connects a generated publisher and waits for its tracks.
func (r *rig) publish(o peer.PublisherOptions, want int) (*peer.Publisher, *Publisher, []*Receiver) {
	t := r.t
	t.Helper()
	cp, err := peer.NewPublisher(r.api, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cp.Close)
	got := make(chan *Receiver, 8)
	sp, err := r.e.NewPublisher(PublisherOptions{
		NewID:       func() string { return fmt.Sprint("t", r.ids.Add(1)) },
		OnTrack:     func(rc *Receiver, _ string) { got <- rc },
		OnCandidate: func(c Candidate) { _ = cp.PC.AddICECandidate(c) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sp.Close)
	cp.PC.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			_ = sp.AddCandidate(c.ToJSON())
		}
	})
	offer, err := cp.PC.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cp.PC.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	answer, err := sp.HandleOffer(offer.SDP)
	if err != nil {
		t.Fatal(err)
	}
	if err := cp.PC.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	cp.Start()
	var rs []*Receiver
	timeout := time.After(10 * time.Second)
	for len(rs) < want {
		select {
		case rc := <-got:
			rs = append(rs, rc)
		case <-timeout:
			t.Fatalf("got %d of %d published tracks", len(rs), want)
		}
	}
	return cp, sp, rs
}

// view connects a viewer peer through a Subscriber, answering every offer.
func (r *rig) view(api *webrtc.API) (*peer.Viewer, *Subscriber) {
	t := r.t
	t.Helper()
	if api == nil {
		api = r.api
	}
	v, err := peer.NewViewer(api)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	var sub *Subscriber
	offers := make(chan string, 16)
	sub, err = r.e.NewSubscriber(SubscriberOptions{
		OnOffer:     func(sdp string) { offers <- sdp },
		OnCandidate: func(c Candidate) { _ = v.PC.AddICECandidate(c) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Close)
	v.PC.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			_ = sub.AddCandidate(c.ToJSON())
		}
	})
	// The client side of signalling: answer offers in order, like a browser.
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case sdp := <-offers:
				if err := v.PC.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
					t.Errorf("viewer SRD: %v", err)
					return
				}
				ans, err := v.PC.CreateAnswer(nil)
				if err == nil {
					err = v.PC.SetLocalDescription(ans)
				}
				if err != nil {
					t.Errorf("viewer answer: %v", err)
					return
				}
				if err := sub.HandleAnswer(ans.SDP); err != nil {
					t.Errorf("HandleAnswer: %v", err)
				}
			}
		}
	}()
	t.Cleanup(func() { close(done); wg.Wait() })
	return v, sub
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestForwardToTwoViewers(t *testing.T) {
	r := newRig(t, Config{}, peer.APIOptions{})
	cp, _, rs := r.publish(peer.PublisherOptions{Audio: true, Video: true, VideoBitrate: 500_000}, 2)
	v1, s1 := r.view(nil)
	v2, s2 := r.view(nil)
	for _, rc := range rs {
		if err := s1.Subscribe(rc, LayerHigh); err != nil {
			t.Fatal(err)
		}
		if err := s2.Subscribe(rc, LayerHigh); err != nil {
			t.Fatal(err)
		}
	}
	for i, v := range []*peer.Viewer{v1, v2} {
		waitFor(t, 10*time.Second, fmt.Sprintf("viewer %d media", i), func() bool {
			st := v.Stats()
			if len(st) != 2 {
				return false
			}
			for _, s := range st {
				if s.Packets < 40 {
					return false
				}
			}
			return true
		})
		for id, s := range v.Stats() {
			if s.Jumps != 0 || s.SSRCs != 1 {
				t.Errorf("viewer %d track %s: %+v", i, id, s)
			}
		}
	}
	if cp.PLIs.Load() == 0 {
		t.Errorf("publisher got no keyframe request on subscribe")
	}
	// Each viewer has its own outgoing track: different SSRCs.
	a := s1.DownTrack(rs[0].ID())
	b := s2.DownTrack(rs[0].ID())
	a.mu.Lock()
	b.mu.Lock()
	same := a.ssrc == b.ssrc
	a.mu.Unlock()
	b.mu.Unlock()
	if same {
		t.Errorf("two viewers share an SSRC")
	}
}

func TestICERestartKeepsMedia(t *testing.T) {
	r := newRig(t, Config{}, peer.APIOptions{})
	_, _, rs := r.publish(peer.PublisherOptions{Audio: true}, 1)
	v, sub := r.view(nil)
	if err := sub.Subscribe(rs[0], LayerHigh); err != nil {
		t.Fatal(err)
	}
	id := rs[0].ID()
	waitFor(t, 10*time.Second, "media", func() bool { return v.Stats()[id].Packets > 10 })
	ufrag := func() string {
		d := sub.pc.LocalDescription()
		if d == nil {
			return ""
		}
		for _, line := range strings.Split(d.SDP, "\r\n") {
			if strings.HasPrefix(line, "a=ice-ufrag:") {
				return line
			}
		}
		return ""
	}
	before := ufrag()
	if err := sub.RestartICE(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "new credentials", func() bool { return ufrag() != before && ufrag() != "" })
	n := v.Stats()[id].Packets
	waitFor(t, 10*time.Second, "media after restart", func() bool { return v.Stats()[id].Packets > n+25 })
	if st := v.Stats()[id]; st.Jumps != 0 || st.SSRCs != 1 {
		t.Fatalf("after restart %+v", st)
	}
}
