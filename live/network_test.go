package live_test

import (
	"net"
	"testing"
	"time"

	"github.com/qunkit/qun"
	peer "github.com/qunkit/qun/internal/livepeer"
	"github.com/qunkit/qun/internal/qtest"
	"github.com/qunkit/qun/live"
)

// TestSinglePort serves all media on one UDP port (ICE UDP mux): both the
// publisher's and the viewer's connections reach the server on it.
func TestSinglePort(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	e := newEnv(t, live.Config{Network: live.Network{UDPPort: port, UDPAddr: "127.0.0.1"}})
	if got := e.svc.UDPAddr(); got == "" {
		t.Fatal("no UDP address")
	}
	e.groups.set("g:1", "host", qun.RoleMember)
	e.groups.set("g:1", "v", qun.RoleMember)
	hostC := e.Connect(t, "t1", "host")
	info := startLive(t, hostC, "g:1")
	host := peer.NewHubPeer(hostC, e.api, info.ID)
	t.Cleanup(host.Close)
	if _, err := host.Join(nil); err != nil {
		t.Fatal(err)
	}
	p, err := host.Publish(peer.PublisherOptions{Audio: true, Video: true, VideoBitrate: 300_000}, nil)
	if err != nil {
		t.Fatal(err)
	}
	vp := e.peer(t, "v", info.ID)
	v, err := vp.Join(nil)
	if err != nil {
		t.Fatal(err)
	}
	waitMedia(t, v, 2, 20)
	for name, recvs := range map[string]int{"viewer": len(v.PC.GetReceivers()), "publisher": len(p.PC.GetSenders())} {
		if recvs == 0 {
			t.Fatalf("%s has no transceivers", name)
		}
	}
	pair, err := v.PC.GetReceivers()[0].Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil {
		t.Fatalf("viewer pair: %v", err)
	}
	if int(pair.Remote.Port) != port {
		t.Fatalf("viewer reaches the server on port %d, want %d", pair.Remote.Port, port)
	}
	pair, err = p.PC.GetSenders()[0].Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil || int(pair.Remote.Port) != port {
		t.Fatalf("publisher pair %v, %v; want port %d", pair, err, port)
	}

	// Layer requests: per track, for all, and bad input.
	qtest.Call(t, vp.C, "live.layer", map[string]any{"live": info.ID, "layer": "low"}, nil)
	qtest.CallErr(t, vp.C, "live.layer", map[string]any{"live": info.ID, "track": "nope", "layer": "low"}, qun.CodeNotFound)
	qtest.CallErr(t, vp.C, "live.layer", map[string]any{"live": info.ID, "layer": "huge"}, qun.CodeInvalid)
	// ICE restart over the Hub: a new offer arrives and media goes on.
	qtest.Call(t, vp.C, "live.restart", map[string]any{"live": info.ID}, nil)
	time.Sleep(300 * time.Millisecond)
	waitMore(t, v, v.Stats(), 20)
}

func maxPackets(m map[string]peer.TrackStats) uint64 {
	var n uint64
	for _, s := range m {
		n = max(n, s.Packets)
	}
	return n
}
