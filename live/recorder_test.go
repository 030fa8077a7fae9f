package live_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/qunkit/qun"
	peer "github.com/qunkit/qun/internal/livepeer"
	"github.com/qunkit/qun/internal/qtest"
	"github.com/qunkit/qun/live"
)

type memRecorder struct {
	mu     sync.Mutex
	tracks map[string]*memWriter
}

type memWriter struct {
	info   live.TrackInfo
	mu     sync.Mutex
	pkts   []*rtp.Packet
	srs    int
	closed int
}

func (r *memRecorder) TrackStarted(_ context.Context, t live.TrackInfo) (live.TrackWriter, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := &memWriter{info: t}
	r.tracks[t.TrackID] = w
	return w, nil
}

func (w *memWriter) WriteRTP(p *rtp.Packet) error {
	w.mu.Lock()
	w.pkts = append(w.pkts, p)
	w.mu.Unlock()
	return nil
}

func (w *memWriter) WriteRTCP(ps []rtcp.Packet) error {
	w.mu.Lock()
	for _, p := range ps {
		if _, ok := p.(*rtcp.SenderReport); ok {
			w.srs++
		}
	}
	w.mu.Unlock()
	return nil
}

func (w *memWriter) Close() error {
	w.mu.Lock()
	w.closed++
	w.mu.Unlock()
	return nil
}

func (w *memWriter) counts() (pkts, srs, closed int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.pkts), w.srs, w.closed
}

func (r *memRecorder) writers() []*memWriter {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*memWriter
	for _, w := range r.tracks {
		out = append(out, w)
	}
	return out
}

func TestRecorderGetsEveryTrack(t *testing.T) {
	e := newEnv(t, live.Config{})
	e.groups.set("g:1", "host", qun.RoleMember)
	e.groups.set("g:1", "co", qun.RoleMember)
	hostC := e.Connect(t, "t1", "host")
	info := startLive(t, hostC, "g:1")

	if _, err := e.svc.AttachRecorder(context.Background(), "t2", info.Room, &memRecorder{}); qun.ErrorCode(err) != qun.CodeNotFound {
		t.Fatalf("other tenant: %v", err)
	}
	host := peer.NewHubPeer(hostC, e.api, info.ID)
	t.Cleanup(host.Close)
	if _, err := host.Join(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := host.Publish(peer.PublisherOptions{Audio: true, Video: true, VideoBitrate: 300_000}, nil); err != nil {
		t.Fatal(err)
	}
	// Wait until both tracks are published, then attach: they are delivered.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got live.Info
		qtest.Call(t, hostC, "live.get", map[string]any{"live": info.ID}, &got)
		if len(got.Tracks) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("tracks not published")
		}
		time.Sleep(50 * time.Millisecond)
	}
	rec := &memRecorder{tracks: map[string]*memWriter{}}
	detach, err := e.svc.AttachRecorder(context.Background(), "t1", info.Room, rec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.AttachRecorder(context.Background(), "t1", info.Room, rec); qun.ErrorCode(err) != qun.CodeConflict {
		t.Fatalf("second recorder: %v", err)
	}
	if n := len(rec.writers()); n != 2 {
		t.Fatalf("%d tracks started before attach returned", n)
	}

	// A co-host publishing later is recorded too.
	coC := e.Connect(t, "t1", "co")
	co := peer.NewHubPeer(coC, e.api, info.ID)
	t.Cleanup(co.Close)
	if _, err := co.Join(nil); err != nil {
		t.Fatal(err)
	}
	qtest.Call(t, coC, "live.stage.request", map[string]any{"live": info.ID}, nil)
	qtest.Call(t, hostC, "live.stage.accept", map[string]any{"live": info.ID, "user": "co"}, nil)
	if _, err := co.Publish(peer.PublisherOptions{Audio: true}, nil); err != nil {
		t.Fatal(err)
	}

	deadline = time.Now().Add(15 * time.Second)
	for {
		ws := rec.writers()
		ok := len(ws) == 3
		for _, w := range ws {
			p, srs, _ := w.counts()
			if p < 20 || srs < 1 {
				ok = false
			}
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			for _, w := range ws {
				p, srs, _ := w.counts()
				t.Logf("%+v: %d packets %d SRs", w.info, p, srs)
			}
			t.Fatal("recorder did not get every track")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, w := range rec.writers() {
		if w.info.LiveID != info.ID || w.info.ClockRate == 0 || w.info.MimeType == "" {
			t.Errorf("info %+v", w.info)
		}
		if w.info.Kind == "video" {
			w.mu.Lock()
			first := w.pkts[0].Payload
			w.mu.Unlock()
			if first[0]&0x10 == 0 || first[1]&1 != 0 {
				t.Errorf("video recording does not start at a keyframe: % x", first[:2])
			}
		}
		if w.info.Publisher == "co" && w.info.Source != live.SourceMicrophone {
			t.Errorf("co-host track %+v", w.info)
		}
	}
	// Demoting the co-host ends their track's writer.
	qtest.Call(t, hostC, "live.stage.remove", map[string]any{"live": info.ID, "user": "co"}, nil)
	for _, w := range rec.writers() {
		if w.info.Publisher != "co" {
			continue
		}
		deadline = time.Now().Add(5 * time.Second)
		for {
			if _, _, c := w.counts(); c == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("co-host writer not closed on demotion")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	detach()
	detach()
	for _, w := range rec.writers() {
		if _, _, c := w.counts(); c != 1 {
			t.Errorf("writer %s closed %d times", w.info.TrackID, c)
		}
	}
}
