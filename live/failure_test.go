package live_test

import (
	"context"
	"encoding/json"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"
	"github.com/qunkit/qun"
	peer "github.com/qunkit/qun/internal/livepeer"
	"github.com/qunkit/qun/internal/qclient"
	"github.com/qunkit/qun/internal/qtest"
	"github.com/qunkit/qun/live"
)

// cutConn is a client's UDP socket that a test cuts off the network: while
// cut, nothing goes out and whatever comes in is dropped, as when a
// firewall starts blocking UDP while the WebSocket (TCP) stays up.
type cutConn struct {
	net.PacketConn
	cut atomic.Bool
}

func (c *cutConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, a, err := c.PacketConn.ReadFrom(b)
		if err != nil || !c.cut.Load() {
			return n, a, err
		}
	}
}

func (c *cutConn) WriteTo(b []byte, a net.Addr) (int, error) {
	if c.cut.Load() {
		return len(b), nil
	}
	return c.PacketConn.WriteTo(b, a)
}

// cuttableAPI is a client API whose peer connections all use one socket
// the test can cut.
func cuttableAPI(t *testing.T) (*webrtc.API, *cutConn) {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutConn{PacketConn: pc}
	t.Cleanup(func() { _ = pc.Close() }) // after the peers' cleanups
	api, err := peer.NewAPI(peer.APIOptions{IncludeLoopback: true, Conn: c})
	if err != nil {
		t.Fatal(err)
	}
	return api, c
}

// failedPC waits for the "live.failed" push and returns its pc.
func failedPC(t *testing.T, h *peer.HubPeer) string {
	t.Helper()
	f := nextFrame(t, h, "push", "live.failed")
	var d struct{ Live, PC string }
	if err := json.Unmarshal(f.D, &d); err != nil || d.Live != h.Live {
		t.Fatalf("live.failed %s: %v", f.D, err)
	}
	return d.PC
}

const testMediaTimeout = 2 * time.Second

// hostOnAir starts a live in g:1 whose host publishes o through api.
func hostOnAir(t *testing.T, e *env, api *webrtc.API, o peer.PublisherOptions) (live.Info, *qclient.Client, *peer.HubPeer, *peer.Publisher) {
	t.Helper()
	e.groups.set("g:1", "host", qun.RoleMember)
	hostC := e.Connect(t, "t1", "host")
	info := startLive(t, hostC, "g:1")
	host := peer.NewHubPeer(hostC, api, info.ID)
	t.Cleanup(host.Close)
	if _, err := host.Join(nil); err != nil {
		t.Fatal(err)
	}
	p, err := host.Publish(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	return info, hostC, host, p
}

// A publisher whose network goes away while its WebSocket stays up (no
// live.leave, no DTLS close): the server gives its connection up after
// MediaTimeout, its tracks end for viewers and the recorder, and the
// client, told so, publishes again on a new connection.
func TestPublisherCutOffIsGivenUp(t *testing.T) {
	e := newEnv(t, live.Config{MediaTimeout: testMediaTimeout})
	e.groups.set("g:1", "v", qun.RoleMember)
	api, cut := cuttableAPI(t)
	info, hostC, host, p1 := hostOnAir(t, e, api, peer.PublisherOptions{Audio: true, Video: true, VideoBitrate: 300_000})
	vp := e.peer(t, "v", info.ID)
	v, err := vp.Join(nil)
	if err != nil {
		t.Fatal(err)
	}
	waitMedia(t, v, 2, 20)
	rec := &memRecorder{tracks: map[string]*memWriter{}}
	detach, err := e.svc.AttachRecorder(context.Background(), "t1", info.Room, rec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(detach)

	cut.cut.Store(true)
	cutAt := time.Now()
	if pc := failedPC(t, host); pc != "pub" {
		t.Fatalf("live.failed for %q", pc)
	}
	if d := time.Since(cutAt); d < testMediaTimeout/2 || d > testMediaTimeout+3*time.Second {
		t.Fatalf("given up %v after the cut (MediaTimeout %v)", d, testMediaTimeout)
	}
	nextEvent(t, vp, "live.untrack")
	nextEvent(t, vp, "live.untrack")
	for _, w := range rec.writers() {
		deadline := time.Now().Add(5 * time.Second)
		for _, _, closed := w.counts(); closed != 1; _, _, closed = w.counts() {
			if time.Now().After(deadline) {
				t.Fatalf("recorder's %s writer closed %d times", w.info.Kind, closed)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	var got live.Info
	qtest.Call(t, hostC, "live.get", map[string]any{"live": info.ID}, &got)
	if len(got.Tracks) != 0 {
		t.Fatalf("tracks after the failure: %+v", got.Tracks)
	}

	// The client starts over with a new connection.
	p1.Close()
	cut.cut.Store(false)
	if _, err := host.Publish(peer.PublisherOptions{Audio: true, Video: true, VideoBitrate: 300_000}, nil); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, vp, "live.track")
	nextEvent(t, vp, "live.track")
	waitMedia(t, v, 4, 20) // the two new tracks too
}

// A viewer cut off the same way: the server stops sending to it and tells
// it; joining again on the same WebSocket brings a new connection.
func TestViewerCutOffIsGivenUp(t *testing.T) {
	e := newEnv(t, live.Config{MediaTimeout: testMediaTimeout})
	e.groups.set("g:1", "v", qun.RoleMember)
	info, _, _, _ := hostOnAir(t, e, e.api, peer.PublisherOptions{Audio: true, Video: true, VideoBitrate: 300_000})
	api, cut := cuttableAPI(t)
	vp := peer.NewHubPeer(e.Connect(t, "t1", "v"), api, info.ID)
	t.Cleanup(vp.Close)
	v1, err := vp.Join(nil)
	if err != nil {
		t.Fatal(err)
	}
	waitMedia(t, v1, 2, 20)

	cut.cut.Store(true)
	if pc := failedPC(t, vp); pc != "sub" {
		t.Fatalf("live.failed for %q", pc)
	}
	// Nothing is forwarded to the dead connection any more.
	before := e.svc.Stats().Fanouts
	time.Sleep(500 * time.Millisecond)
	if n := e.svc.Stats().Fanouts - before; n != 0 {
		t.Fatalf("%d packets forwarded after the viewer was given up", n)
	}

	v1.Close()
	cut.cut.Store(false)
	v2, err := vp.Join(nil)
	if err != nil {
		t.Fatal(err)
	}
	waitMedia(t, v2, 2, 20)
}

// endRecorder is a Recorder that wants to know when the live ends.
type endRecorder struct {
	memRecorder
	mu    sync.Mutex
	ended []time.Time
	open  int // writers still open when told
}

func (r *endRecorder) LiveEnded(at time.Time) {
	open := 0
	for _, w := range r.writers() {
		if _, _, c := w.counts(); c == 0 {
			open++
		}
	}
	r.mu.Lock()
	r.ended = append(r.ended, at)
	r.open += open
	r.mu.Unlock()
}

// live tells a LiveEnder recorder when the live ends (after closing its
// writers), and only then: not when it is detached.
func TestRecorderToldWhenLiveEnds(t *testing.T) {
	e := newEnv(t, live.Config{})
	info, hostC, host, _ := hostOnAir(t, e, e.api, peer.PublisherOptions{Audio: true})
	nextEvent(t, host, "live.track")

	detached := &endRecorder{memRecorder: memRecorder{tracks: map[string]*memWriter{}}}
	detach, err := e.svc.AttachRecorder(context.Background(), "t1", info.Room, detached)
	if err != nil {
		t.Fatal(err)
	}
	detach()
	rec := &endRecorder{memRecorder: memRecorder{tracks: map[string]*memWriter{}}}
	if _, err := e.svc.AttachRecorder(context.Background(), "t1", info.Room, rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.writers()) != 1 {
		t.Fatalf("%d writers", len(rec.writers()))
	}
	qtest.Call(t, hostC, "live.end", map[string]any{"live": info.ID}, nil)
	ev := nextEvent(t, host, "live.ended")
	rec.mu.Lock()
	ended, open := rec.ended, rec.open
	rec.mu.Unlock()
	if len(ended) != 1 || open != 0 {
		t.Fatalf("told %d times, with %d writers open", len(ended), open)
	}
	if !ended[0].Equal(time.UnixMilli(ev.TS)) {
		t.Fatalf("told the live ended at %v, the event says %v", ended[0], time.UnixMilli(ev.TS))
	}
	detached.mu.Lock()
	defer detached.mu.Unlock()
	if len(detached.ended) != 0 {
		t.Fatal("a detached recorder was told of the end")
	}
}
