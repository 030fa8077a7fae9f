package sfu

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/turn/v2"
	"github.com/pion/webrtc/v3"
	peer "github.com/qunkit/qun/internal/livepeer"
)

// gather creates a publisher for a generated offer and returns the
// server's trickled candidates once gathering is complete.
func gather(t *testing.T, r *rig) []string {
	t.Helper()
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
		return sp.pc.ICEGatheringState() == webrtc.ICEGatheringStateComplete
	})
	mu.Lock()
	defer mu.Unlock()
	return append([]string(nil), cands...)
}

// TestTURNRelayCandidates: with a TURN server in ICEServers the server
// gathers relay candidates (a client behind a hostile NAT reaches it).
func TestTURNRelayCandidates(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	key := turn.GenerateAuthKey("u", "qun", "p")
	srv, err := turn.NewServer(turn.ServerConfig{
		Realm:       "qun",
		AuthHandler: func(user, _ string, _ net.Addr) ([]byte, bool) { return key, user == "u" },
		PacketConnConfigs: []turn.PacketConnConfig{{PacketConn: pc, RelayAddressGenerator: &turn.RelayAddressGeneratorStatic{
			RelayAddress: net.ParseIP("127.0.0.1"), Address: "127.0.0.1",
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	url := fmt.Sprintf("turn:%s?transport=udp", pc.LocalAddr())
	r := newRig(t, Config{ICEServers: []webrtc.ICEServer{{URLs: []string{url}, Username: "u", Credential: "p"}}}, peer.APIOptions{})
	relay := false
	for _, c := range gather(t, r) {
		relay = relay || strings.Contains(c, "typ relay")
	}
	if !relay {
		t.Fatal("no relay candidate")
	}
}

// TestNAT1To1AndPortRange: the server advertises the configured public IP
// and gathers only within the port range.
func TestNAT1To1AndPortRange(t *testing.T) {
	r := newRig(t, Config{NAT1To1IPs: []string{"203.0.113.7"}, PortMin: 40100, PortMax: 40120}, peer.APIOptions{})
	cands := gather(t, r)
	if len(cands) == 0 {
		t.Fatal("no candidates")
	}
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
