package sfu

import (
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"
	peer "github.com/qunkit/qun/internal/livepeer"
)

// TestNAT1To1AndPortRange: the server advertises the configured public IP
// and gathers only within the port range.
func TestNAT1To1AndPortRange(t *testing.T) {
	r := newRig(t, Config{NAT1To1IPs: []string{"203.0.113.7"}, PortMin: 40100, PortMax: 40120}, peer.APIOptions{})
	var mu sync.Mutex
	var cands []string
	sp, err := r.e.NewPublisher(PublisherOptions{OnCandidate: func(c Candidate) {
		mu.Lock()
		cands = append(cands, c.Candidate)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sp.Close)
	cp, err := peer.NewPublisher(r.api, peer.PublisherOptions{Audio: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cp.Close)
	offer, err := cp.PC.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cp.PC.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	if _, err := sp.HandleOffer(offer.SDP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "candidates", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(cands) > 0 && sp.pc.ICEGatheringState() == webrtc.ICEGatheringStateComplete
	})
	mu.Lock()
	defer mu.Unlock()
	for _, c := range cands {
		f := strings.Fields(c) // candidate:<f> <comp> udp <prio> <ip> <port> typ host
		if len(f) < 6 {
			t.Fatalf("candidate %q", c)
		}
		port, _ := strconv.Atoi(f[5])
		if f[4] != "203.0.113.7" || port < 40100 || port > 40120 {
			t.Errorf("candidate %q: want 203.0.113.7 and a port in 40100..40120", c)
		}
	}
}
