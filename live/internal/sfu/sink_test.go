package sfu

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	peer "github.com/qunkit/qun/internal/livepeer"
)

// testSink records what a recording sink gets.
type testSink struct {
	mu       sync.Mutex
	packets  int
	firstKey bool
}

func (s *testSink) WriteRTP(raw []byte) {
	var p rtp.Packet
	if p.Unmarshal(raw) != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.packets == 0 {
		s.firstKey = vp8KeyframeStart(p.Payload)
	}
	s.packets++
}

func (s *testSink) WriteRTCP([]rtcp.Packet) {}

func (s *testSink) got() (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.packets, s.firstKey
}

// A recording starts at a keyframe even when the publisher sends them
// only when asked and the request SetSink made was throttled: the sink
// asks again until its keyframe comes.
func TestSinkStartsAfterThrottledRequest(t *testing.T) {
	r := newRig(t, Config{KeyframeInterval: 2 * time.Second}, peer.APIOptions{})
	cp, _, rs := r.publish(peer.PublisherOptions{Video: true, VideoBitrate: 200_000, KeyframeEvery: -1}, 1)
	s1 := &testSink{}
	rs[0].SetSink(s1)
	start := time.Now()
	waitFor(t, 5*time.Second, "the first sink's keyframe", func() bool {
		n, _ := s1.got()
		return n > 0 && cp.PLIs.Load() > 0
	})
	time.Sleep(100 * time.Millisecond) // the requested keyframe has gone by
	if time.Since(start) > 1500*time.Millisecond {
		t.Skip("too slow a machine to land inside the throttle window")
	}
	kf := cp.Keyframes.Load()
	s2 := &testSink{}
	rs[0].SetSink(s2) // its request falls within the 2 s throttle
	waitFor(t, 4*time.Second, "the second sink's first packet", func() bool {
		n, _ := s2.got()
		return n > 0
	})
	if _, key := s2.got(); !key {
		t.Fatal("the recording did not start at a keyframe")
	}
	if cp.Keyframes.Load() == kf {
		t.Fatal("no new keyframe was sent")
	}
}

// RequestSinkKeyframe goes through the per-layer throttle: a burst of
// requests is one PLI.
func TestSinkKeyframeRequestsAreThrottled(t *testing.T) {
	r := newRig(t, Config{KeyframeInterval: 300 * time.Millisecond}, peer.APIOptions{})
	cp, _, rs := r.publish(peer.PublisherOptions{Video: true, VideoBitrate: 200_000, KeyframeEvery: -1}, 1)
	s := &testSink{}
	rs[0].SetSink(s)
	waitFor(t, 5*time.Second, "the sink's packets", func() bool { n, _ := s.got(); return n > 0 })
	time.Sleep(400 * time.Millisecond)
	base := cp.PLIs.Load()
	for range 50 {
		rs[0].RequestSinkKeyframe()
	}
	waitFor(t, 2*time.Second, "the PLI", func() bool { return cp.PLIs.Load() > base })
	time.Sleep(100 * time.Millisecond)
	if n := cp.PLIs.Load() - base; n != 1 {
		t.Fatalf("50 requests at once sent %d PLIs, want 1", n)
	}
}

// A viewer whose first keyframe request falls inside the per-layer throttle
// still gets video: while it waits through non-key packets it asks again.
// (Browsers send no RTCP before their first packet, so nothing else would.)
func TestViewerStartsAfterThrottledRequest(t *testing.T) {
	r := newRig(t, Config{KeyframeInterval: 2 * time.Second}, peer.APIOptions{})
	cp, _, rs := r.publish(peer.PublisherOptions{Video: true, VideoBitrate: 200_000, KeyframeEvery: -1}, 1)
	id := rs[0].ID()
	v1, s1 := r.view(nil)
	start := time.Now()
	if err := s1.Subscribe(rs[0], LayerHigh); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the first viewer's video", func() bool { return v1.Stats()[id].Packets > 0 })
	if time.Since(start) > 1500*time.Millisecond {
		t.Skip("too slow a machine to land inside the throttle window")
	}
	plis := cp.PLIs.Load()
	v2, s2 := r.view(nil)
	if err := s2.Subscribe(rs[0], LayerHigh); err != nil { // its request is throttled
		t.Fatal(err)
	}
	waitFor(t, 8*time.Second, "the second viewer's video", func() bool { return v2.Stats()[id].Packets > 0 })
	if cp.PLIs.Load() == plis {
		t.Fatal("the second viewer got video without a new keyframe request")
	}
}
