package replay

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/qunkit/qun"
	"github.com/qunkit/qun/sqlite"
)

// checkRecovered verifies a recovered replay: pending, every track
// finalised, probing with its codec and the duration its manifest says,
// and decoding without an error.
func checkRecovered(t *testing.T, te *testEnv, r *Replay, tracks int, minDur, maxDur time.Duration) {
	t.Helper()
	if r.State != StatePending || len(r.Tracks) != tracks || r.TimelineKey == "" {
		t.Fatalf("recovered replay: state %s, %d tracks, timeline %q", r.State, len(r.Tracks), r.TimelineKey)
	}
	for _, tr := range r.Tracks {
		d := time.Duration(tr.DurationMs) * time.Millisecond
		if !tr.Done || d < minDur || d > maxDur {
			t.Fatalf("track %s: done %v, duration %v not in [%v, %v]", tr.ID, tr.Done, d, minDur, maxDur)
		}
		pr := ffprobe(t, te.path(tr.Key))
		if len(pr.Streams) != 1 || pr.Streams[0].CodecName != tr.Codec || !within(pr.duration(), d, 100*time.Millisecond) {
			t.Fatalf("track %s: probe %+v, manifest duration %v", tr.ID, pr, d)
		}
		if ffdecode(t, te.path(tr.Key)) == 0 {
			t.Fatalf("track %s decodes to nothing", tr.ID)
		}
	}
}

// A recorder that stops dead (no finalising, nothing more persisted)
// leaves files that play as they are, and a restarted process recovers
// them into a pending, seekable replay.
func TestCrashedRecordingRecovers(t *testing.T) {
	te := newTestEnv(t, nil)
	ctx := context.Background()
	tracks := []*simTrack{
		simVideo(t, "vp8", "host", 0, time.Minute),
		simAudio(t, "host", 0, time.Minute),
		simVideo(t, "h264", "cohost", time.Second, time.Minute),
	}
	items, _ := schedule(tracks)
	r, err := te.svc.Start(ctx, StartOptions{Tenant: "ten1", Live: "live:l1", Group: "g:1", Host: "host"})
	if err != nil {
		t.Fatal(err)
	}
	crashAt := 7300 * time.Millisecond
	var before []simItem
	for _, it := range items {
		if it.at < crashAt {
			before = append(before, it)
		}
	}
	for _, s := range tracks {
		s.w = te.lives.publish(t, "live:l1", s.info) // all tracks exist from the start; the co-host's sends later
	}
	runSim(t, te.clock, before, nil)

	// The crash: the process stops here.
	te.svc.mu.Lock()
	rec := te.svc.byID[activeKey{"ten1", r.ID}]
	te.svc.mu.Unlock()
	if !te.svc.claim(rec) {
		t.Fatal("recording not active")
	}
	rec.stop(true)
	saved, err := te.svc.store.Get(ctx, "ten1", r.ID)
	if err != nil || saved.State != StateRecording || len(saved.Tracks) != 3 {
		t.Fatalf("after the crash: %+v %v", saved, err)
	}
	for _, tr := range saved.Tracks {
		if tr.Done {
			t.Fatalf("track %s finalised by a crash", tr.ID)
		}
		if ffdecode(t, te.path(tr.Key)) == 0 {
			t.Fatalf("crashed track %s does not play", tr.ID)
		}
	}

	// A restarted process on the same database and files.
	te2 := newTestEnvAt(t, te.db, te.dir, nil)
	te2.clock.Set(te.clock.Now().Add(30 * time.Second))
	if n, err := te2.svc.Recover(ctx); err != nil || n != 0 {
		t.Fatalf("recovered a fresh recording: %d %v", n, err)
	}
	te2.clock.Advance(time.Minute)
	if n, err := te2.svc.Recover(ctx); err != nil || n != 1 {
		t.Fatalf("recover: %d %v", n, err)
	}
	got, err := te2.svc.store.Get(ctx, "ten1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	// At most the last cluster (2 s) is lost.
	checkRecovered(t, te2, got, 3, crashAt-time.Second-2*time.Second-100*time.Millisecond, crashAt)
	for _, tr := range saved.Tracks {
		if _, err := os.Stat(te.path(tr.Key)); !os.IsNotExist(err) {
			t.Fatalf("the crashed original %s was kept", tr.Key)
		}
	}
}

// The real thing: the recorder runs in a child process that is killed
// with SIGKILL mid-live; a new process recovers what it wrote.
func TestKilledRecorderProcess(t *testing.T) {
	needFFmpeg(t)
	vp8, opus := sourceMedia(t, "vp8", srcSecs), sourceMedia(t, "opus", srcSecs)
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir, "QUN_REPLAY_VP8="+vp8, "QUN_REPLAY_OPUS="+opus)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	lines := bufio.NewScanner(out)
	id := ""
	deadline := time.AfterFunc(30*time.Second, func() { _ = cmd.Process.Kill() })
	for lines.Scan() {
		if v, ok := strings.CutPrefix(lines.Text(), "ready "); ok {
			id = v
			break
		}
	}
	deadline.Stop()
	if id == "" {
		t.Fatal("the child never got ready")
	}
	time.Sleep(700 * time.Millisecond) // mid-cluster
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	db, err := sqlite.Open(filepath.Join(dir, "qun.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	te := newTestEnvAt(t, db, dir, nil)
	te.clock.Set(time.Now().Add(2 * time.Minute))
	ctx := context.Background()
	if n, err := te.svc.Recover(ctx); err != nil || n != 1 {
		t.Fatalf("recover: %d %v", n, err)
	}
	r, err := te.svc.store.Get(ctx, "ten1", id)
	if err != nil {
		t.Fatal(err)
	}
	// The child ran ≥ 3.7 s of media; up to 2 s may be lost with the last cluster.
	checkRecovered(t, te, r, 2, 1500*time.Millisecond, 10*time.Second)
}

const childEnv = "QUN_REPLAY_CHILD"

// runChild is the killed process of TestKilledRecorderProcess: it records
// a live in real time into the directory in $QUN_REPLAY_CHILD, says
// "ready <replay id>" once 3 s of media are written, and goes on until
// killed.
func runChild() int {
	if err := child(os.Getenv(childEnv)); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

func child(dir string) error {
	db, err := sqlite.Open(filepath.Join(dir, "qun.db"))
	if err != nil {
		return err
	}
	logStore, err := qun.NewSQLiteLogStore(db, qun.SQLiteLogStoreConfig{})
	if err != nil {
		return err
	}
	tokens, err := qun.NewTokens(qun.TokenConfig{Secret: []byte("child-secret-child-secret-child-secret!")})
	if err != nil {
		return err
	}
	hub, err := qun.NewHub(qun.Config{Authenticator: tokens, Log: logStore})
	if err != nil {
		return err
	}
	store, err := NewSQLiteStore(db)
	if err != nil {
		return err
	}
	storage, err := NewFSStorage(filepath.Join(dir, "media"))
	if err != nil {
		return err
	}
	lives := newFakeLives()
	svc, err := New(Config{Hub: hub, Lives: lives, Store: store, Storage: storage, Heartbeat: 100 * time.Millisecond, SweepInterval: -1})
	if err != nil {
		return err
	}
	r, err := svc.Start(context.Background(), StartOptions{Tenant: "ten1", Live: "live:l1", Group: "g:1", Host: "host"})
	if err != nil {
		return err
	}
	var tracks []*simTrack
	for _, src := range []struct{ env, mime string }{{"QUN_REPLAY_VP8", "video/VP8"}, {"QUN_REPLAY_OPUS", "audio/opus"}} {
		frames, err := loadFrames(os.Getenv(src.env))
		if err != nil {
			return err
		}
		info := TrackInfo{LiveID: "l1", TrackID: src.mime, Publisher: "host", Kind: "video", Source: "camera", MimeType: src.mime, ClockRate: 90000}
		if src.mime == "audio/opus" {
			info.Kind, info.Source, info.ClockRate, info.Channels = "audio", "microphone", 48000, 2
		}
		s := newSimTrack(info, frames)
		s.stop = time.Minute
		lives.mu.Lock()
		rc := lives.rec["live:l1"]
		lives.mu.Unlock()
		if s.w, err = rc.TrackStarted(context.Background(), info); err != nil {
			return err
		}
		tracks = append(tracks, s)
	}
	items, _ := schedule(tracks)
	start := time.Now()
	ready := false
	for _, it := range items {
		time.Sleep(time.Until(start.Add(it.at)))
		if it.pkt != nil {
			err = it.track.w.WriteRTP(it.pkt)
		} else {
			err = it.track.w.WriteRTCP([]rtcp.Packet{it.sr})
		}
		if err != nil {
			return err
		}
		if !ready && it.at > 3*time.Second {
			ready = true
			fmt.Println("ready", r.ID)
		}
	}
	return nil
}
