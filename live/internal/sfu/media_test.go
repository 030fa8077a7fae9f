package sfu

import (
	"math/rand/v2"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v2/vnet"
	peer "github.com/qunkit/qun/internal/livepeer"
)

// lossyNet builds a virtual network: server, publisher and viewer hosts on
// one router that drops RTP packets toward the viewer while drop is set.
func lossyNet(t *testing.T, lossPercent int) (server, pub, view *vnet.Net, drop *atomic.Bool, dropped *atomic.Int64) {
	t.Helper()
	router, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "10.0.0.0/24", LoggerFactory: logging.NewDefaultLoggerFactory()})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(ip string) *vnet.Net {
		n, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ip}})
		if err != nil {
			t.Fatal(err)
		}
		if err := router.AddNet(n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	server, pub, view = mk("10.0.0.1"), mk("10.0.0.2"), mk("10.0.0.3")
	drop, dropped = &atomic.Bool{}, &atomic.Int64{}
	viewerIP := net.ParseIP("10.0.0.3")
	router.AddChunkFilter(func(c vnet.Chunk) bool {
		if !drop.Load() {
			return true
		}
		ua, ok := c.DestinationAddr().(*net.UDPAddr)
		if !ok || !ua.IP.Equal(viewerIP) {
			return true
		}
		b := c.UserData()
		// SRTP (not SRTCP, STUN or DTLS): version 2, second byte outside
		// RTCP's packet types 192..223 (RFC 5761).
		if len(b) < 2 || b[0]>>6 != 2 || (b[1] >= 192 && b[1] <= 223) {
			return true
		}
		if rand.IntN(100) < lossPercent {
			dropped.Add(1)
			return false
		}
		return true
	})
	if err := router.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = router.Stop() })
	return
}

func TestNACKRepairsLossyViewer(t *testing.T) {
	serverNet, pubNet, viewNet, drop, dropped := lossyNet(t, 10)
	r := newRig(t, Config{Net: serverNet}, peer.APIOptions{Net: pubNet})
	_, _, rs := r.publish(peer.PublisherOptions{Video: true, VideoBitrate: 600_000}, 1)
	vapi, err := peer.NewAPI(peer.APIOptions{Net: viewNet})
	if err != nil {
		t.Fatal(err)
	}
	v, sub := r.view(vapi)
	if err := sub.Subscribe(rs[0], LayerHigh); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "first packets", func() bool { return v.Stats()[rs[0].ID()].Packets > 30 })
	drop.Store(true)
	time.Sleep(3 * time.Second)
	drop.Store(false)
	time.Sleep(time.Second) // the last NACKs are answered
	st := v.Stats()[rs[0].ID()]
	ds := sub.DownTrack(rs[0].ID()).Stats()
	t.Logf("dropped %d, retransmitted %d, viewer %+v", dropped.Load(), ds.Retransmits, st)
	if dropped.Load() < 8 {
		t.Fatalf("the link dropped only %d packets", dropped.Load())
	}
	if ds.Retransmits == 0 {
		t.Fatal("no retransmissions")
	}
	if st.Lost() != 0 || st.Jumps != 0 {
		t.Fatalf("viewer lost %d packets of %d despite NACK", st.Lost(), st.Expected)
	}
}

func TestSimulcastLayerSwitchKeepsSequence(t *testing.T) {
	r := newRig(t, Config{}, peer.APIOptions{})
	cp, _, rs := r.publish(peer.PublisherOptions{Video: true, Simulcast: true, VideoBitrate: 1_200_000}, 1)
	rc := rs[0]
	waitFor(t, 10*time.Second, "three layers", func() bool {
		return rc.layers[0].Load() != nil && rc.layers[1].Load() != nil && rc.layers[2].Load() != nil
	})
	v, sub := r.view(nil)
	if err := sub.Subscribe(rc, LayerLow); err != nil {
		t.Fatal(err)
	}
	d := sub.DownTrack(rc.ID())
	waitFor(t, 10*time.Second, "low layer", func() bool { return v.Stats()[rc.ID()].Packets > 20 && d.Stats().Layer == LayerLow })
	d.SetMaxLayer(LayerHigh)
	waitFor(t, 10*time.Second, "switch up", func() bool { return d.Stats().Layer == LayerHigh })
	time.Sleep(500 * time.Millisecond)
	d.SetMaxLayer(LayerMid)
	waitFor(t, 10*time.Second, "switch down", func() bool { return d.Stats().Layer == LayerMid })
	time.Sleep(500 * time.Millisecond)
	st := v.Stats()[rc.ID()]
	ds := d.Stats()
	t.Logf("viewer %+v, downtrack %+v, publisher PLIs %d", st, ds, cp.PLIs.Load())
	if ds.Switches < 2 {
		t.Fatalf("switches %d", ds.Switches)
	}
	if st.SSRCs != 1 || st.Jumps != 0 || st.Lost() > 2 || st.Dups != 0 {
		t.Fatalf("stream not continuous across switches: %+v", st)
	}
}
