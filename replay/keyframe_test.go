package replay

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/livepeer"
	"github.com/qunkit/qun/internal/qtest"
	"github.com/qunkit/qun/live"
)

// lossyLives loses video packets on the recording path only, on demand (as
// when live's queue to a slow recorder overflows): the SFU's NACKs cannot
// repair that loss, only a new keyframe can.
type lossyLives struct {
	Lives
	mu       sync.Mutex
	seen     int    // video packets that reached the recorder
	drop     int    // video packets still to lose
	firstTS  uint32 // RTP time of the first video packet
	dropTS   uint32 // RTP time of the first packet lost
	dropped  bool
	requests int // keyframe requests made by the recorder
}

func (l *lossyLives) AttachRecorder(ctx context.Context, tenant qun.TenantID, room qun.RoomID, r Recorder) (func(), error) {
	return l.Lives.AttachRecorder(ctx, tenant, room, lossyRecorder{r, l})
}

func (l *lossyLives) lose(n int) {
	l.mu.Lock()
	l.drop = n
	l.mu.Unlock()
}

func (l *lossyLives) counts() (seen, requests int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seen, l.requests
}

type lossyRecorder struct {
	Recorder
	l *lossyLives
}

func (r lossyRecorder) TrackStarted(ctx context.Context, info TrackInfo) (TrackWriter, error) {
	if info.Kind == "video" {
		ask := info.RequestKeyframe
		info.RequestKeyframe = func() {
			r.l.mu.Lock()
			r.l.requests++
			r.l.mu.Unlock()
			ask()
		}
	}
	w, err := r.Recorder.TrackStarted(ctx, info)
	if err != nil || info.Kind != "video" {
		return w, err
	}
	return &lossyWriter{TrackWriter: w, l: r.l}, nil
}

type lossyWriter struct {
	TrackWriter
	l *lossyLives
}

func (w *lossyWriter) WriteRTP(p *rtp.Packet) error {
	l := w.l
	l.mu.Lock()
	if l.seen == 0 {
		l.firstTS = p.Timestamp
	}
	l.seen++
	if l.drop > 0 {
		if !l.dropped {
			l.dropped, l.dropTS = true, p.Timestamp
		}
		l.drop--
		l.mu.Unlock()
		return nil
	}
	l.mu.Unlock()
	return w.TrackWriter.WriteRTP(p)
}

// A publisher that, like Chrome, sends keyframes only when asked: after a
// loss on the recording path the recorder asks (through live's throttled
// PLI) and the recording resumes within a second instead of freezing.
func TestRecordingAsksForKeyframeAfterLoss(t *testing.T) {
	lossy := &lossyLives{}
	le := newLiveEnv(t, func(c *Config) { lossy.Lives = c.Lives; c.Lives = lossy })
	le.roles.set("ten1", "g:1", "host", qun.RoleMember)
	hostC := le.Connect(t, "ten1", "host")
	var info live.Info
	qtest.Call(t, hostC, "live.start", map[string]any{"group": "g:1", "title": "PLI"}, &info)
	var r Replay
	qtest.Call(t, hostC, "replay.start", map[string]any{"live": info.Room}, &r)

	hp := livepeer.NewHubPeer(le.Connect(t, "ten1", "host"), le.api, info.ID)
	t.Cleanup(hp.Close)
	if _, err := hp.Join(nil); err != nil {
		t.Fatal(err)
	}
	p, err := hp.Publish(livepeer.PublisherOptions{Video: true, VideoBitrate: 300_000, KeyframeEvery: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for seen, _ := lossy.counts(); seen < 60; seen, _ = lossy.counts() {
		if time.Now().After(deadline) {
			t.Fatalf("the recorder got %d video packets", seen)
		}
		time.Sleep(50 * time.Millisecond)
	}
	keyframes := p.Keyframes.Load()
	lossy.lose(5)
	time.Sleep(2500 * time.Millisecond)
	got, err := le.svc.Stop(context.Background(), "ten1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, requests := lossy.counts()
	if p.Keyframes.Load() == keyframes || requests == 0 {
		t.Fatalf("no keyframe after the loss: %d requests", requests)
	}
	if requests > 4 {
		t.Errorf("%d keyframe requests for one loss", requests)
	}

	lossy.mu.Lock()
	dropMs := int64(lossy.dropTS-lossy.firstTS) / 90
	lossy.mu.Unlock()
	f, err := le.stored.Open(context.Background(), trackOf(t, got, "host", "video").Key)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	resumed, last := int64(-1), int64(0)
	resumedKey := false
	if _, err := readWebMWith(f, nil, func(ms int64, key bool, _ []byte) error {
		if ms > dropMs && resumed < 0 {
			resumed, resumedKey = ms, key
		}
		last = ms
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("loss at %d ms, resumed at %d ms, %d requests", dropMs, resumed, requests)
	if resumed < 0 {
		t.Fatalf("the recording stops at the loss (%d ms)", dropMs)
	}
	if !resumedKey || resumed-dropMs > 1000 {
		t.Fatalf("loss at %d ms, the recording resumes at %d ms (keyframe %v)", dropMs, resumed, resumedKey)
	}
	if last < dropMs+2000 {
		t.Fatalf("loss at %d ms, the last frame at %d ms", dropMs, last)
	}
}
