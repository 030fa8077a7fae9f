package live_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/qunkit/qun"
	peer "github.com/qunkit/qun/internal/livepeer"
	"github.com/qunkit/qun/internal/qtest"
	"github.com/qunkit/qun/live"
)

// packetsOf returns the packets received so far on the viewer's track of
// stream id.
func packetsOf(v *peer.Viewer, id string) uint64 { return v.Stats()[id].Packets }

func TestStageRequestAcceptDemote(t *testing.T) {
	e := newEnv(t, live.Config{SpeakerInterval: 100 * time.Millisecond})
	for _, u := range []qun.UserID{"host", "co", "co2", "v"} {
		e.groups.set("g:1", u, qun.RoleMember)
	}
	hostC := e.Connect(t, "t1", "host")
	info := startLive(t, hostC, "g:1")
	host := peer.NewHubPeer(hostC, e.api, info.ID)
	t.Cleanup(host.Close)
	if _, err := host.Join(nil); err != nil {
		t.Fatal(err)
	}
	co := e.peer(t, "co", info.ID)
	if _, err := co.Join(nil); err != nil {
		t.Fatal(err)
	}
	vp := e.peer(t, "v", info.ID)
	viewer, err := vp.Join(nil)
	if err != nil {
		t.Fatal(err)
	}

	// Not on stage: no publishing.
	if _, err := co.Publish(peer.PublisherOptions{Audio: true}, nil); qun.ErrorCode(err) != qun.CodeForbidden {
		t.Fatalf("publish before accept: %v", err)
	}
	qtest.CallErr(t, co.C, "live.stage.accept", map[string]any{"live": info.ID, "user": "co"}, qun.CodeForbidden)
	qtest.Call(t, co.C, "live.stage.request", map[string]any{"live": info.ID}, nil)
	nextEvent(t, vp, "live.stage.requested")
	qtest.CallErr(t, hostC, "live.stage.accept", map[string]any{"live": info.ID, "user": "v"}, qun.CodeNotFound)
	qtest.Call(t, hostC, "live.stage.accept", map[string]any{"live": info.ID, "user": "co"}, nil)
	nextEvent(t, vp, "live.stage.accepted")
	// The large-class stage holds one co-host.
	c2 := e.Connect(t, "t1", "co2")
	qtest.Call(t, c2, "live.stage.request", map[string]any{"live": info.ID}, nil)
	qtest.CallErr(t, hostC, "live.stage.accept", map[string]any{"live": info.ID, "user": "co2"}, qun.CodeExhausted)
	qtest.Call(t, hostC, "live.stage.reject", map[string]any{"live": info.ID, "user": "co2"}, nil)

	// The co-host publishes a microphone and a screen share.
	p, err := co.Publish(peer.PublisherOptions{Audio: true, Video: true, VideoBitrate: 300_000, StreamID: "co"}, map[string]string{"video": "screen"})
	if err != nil {
		t.Fatal(err)
	}
	_ = p
	var tracks []live.TrackView
	for range 2 {
		f := nextEvent(t, vp, "live.track")
		var tv live.TrackView
		_ = json.Unmarshal(f.D, &tv)
		tracks = append(tracks, tv)
	}
	var screen, mic string
	for _, tv := range tracks {
		switch tv.Source {
		case live.SourceScreen:
			screen = tv.ID
		case live.SourceMicrophone:
			mic = tv.ID
		}
	}
	if screen == "" || mic == "" {
		t.Fatalf("tracks %+v", tracks)
	}
	waitMedia(t, viewer, 2, 20)

	// The active speaker is the co-host (the generated audio is loud).
	f := nextEvent(t, vp, "live.speaker")
	if f.Seq != 0 || f.Actor != "co" {
		t.Fatalf("speaker event %+v", f)
	}

	// Host mutes the mic: it stops; the co-host cannot turn it back on.
	qtest.Call(t, hostC, "live.stage.mute", map[string]any{"live": info.ID, "user": "co", "source": "microphone", "muted": true}, nil)
	nextEvent(t, vp, "live.muted")
	time.Sleep(200 * time.Millisecond)
	before := packetsOf(viewer, mic)
	time.Sleep(400 * time.Millisecond)
	if after := packetsOf(viewer, mic); after != before {
		t.Fatalf("muted mic still forwarded: %d -> %d", before, after)
	}
	qtest.CallErr(t, co.C, "live.media", map[string]any{"live": info.ID, "source": "microphone", "on": true}, qun.CodeForbidden)
	qtest.Call(t, co.C, "live.media", map[string]any{"live": info.ID, "source": "screen", "on": false}, nil)
	ev := nextEvent(t, vp, "live.media")
	var md struct {
		Source string
		On     bool
	}
	_ = json.Unmarshal(ev.D, &md)
	if md.Source != "screen" || md.On {
		t.Fatalf("media event %s", ev.D)
	}
	qtest.Call(t, co.C, "live.media", map[string]any{"live": info.ID, "source": "screen", "on": true}, nil)

	// Demotion stops the co-host's tracks at once and takes the right away.
	time.Sleep(300 * time.Millisecond)
	qtest.Call(t, hostC, "live.stage.remove", map[string]any{"live": info.ID, "user": "co"}, nil)
	nextEvent(t, vp, "live.stage.removed")
	for range 2 {
		nextEvent(t, vp, "live.untrack")
	}
	time.Sleep(200 * time.Millisecond)
	before = packetsOf(viewer, screen)
	time.Sleep(500 * time.Millisecond)
	if after := packetsOf(viewer, screen); after != before {
		t.Fatalf("demoted co-host still forwarded: %d -> %d", before, after)
	}
	qtest.CallErr(t, co.C, "live.offer", map[string]any{"live": info.ID, "sdp": "v=0"}, qun.CodeForbidden)
	var got live.Info
	qtest.Call(t, hostC, "live.get", map[string]any{"live": info.ID}, &got)
	if len(got.Stage) != 0 || len(got.Tracks) != 0 {
		t.Fatalf("after demotion: %+v", got)
	}

	// Kick: the viewer's subscription ends and it cannot rejoin.
	qtest.Call(t, hostC, "live.kick", map[string]any{"live": info.ID, "user": "v"}, nil)
	deadline := time.After(5 * time.Second)
	for done := false; !done; {
		select {
		case f := <-vp.Frames():
			done = f.T == "sub.end"
		case <-deadline:
			t.Fatal("no sub.end after kick")
		}
	}
	qtest.CallErr(t, vp.C, "live.join", map[string]any{"live": info.ID}, qun.CodeForbidden)
}

func TestLikesAggregated(t *testing.T) {
	e := newEnv(t, live.Config{LikeFlush: 100 * time.Millisecond, LikeBurst: 20, LikesPerSecond: 1})
	e.groups.set("g:1", "host", qun.RoleMember)
	e.groups.set("g:1", "v", qun.RoleMember)
	hostC := e.Connect(t, "t1", "host")
	info := startLive(t, hostC, "g:1")
	v := e.Connect(t, "t1", "v")
	qtest.Call(t, hostC, "sub", map[string]any{"room": info.Room}, nil)
	for range 3 {
		qtest.Call(t, v, "live.like", map[string]any{"live": info.ID, "count": 5}, nil)
	}
	qtest.CallErr(t, v, "live.like", map[string]any{"live": info.ID, "count": 10}, qun.CodeRateLimited)
	qtest.CallErr(t, v, "live.like", map[string]any{"live": info.ID, "count": 101}, qun.CodeInvalid)
	f := qtest.NextEvent(t, hostC, "live.likes")
	var d struct{ Delta, Total int }
	_ = json.Unmarshal(f.D, &d)
	if d.Total != 15 || d.Delta != 15 || f.Seq == 0 {
		t.Fatalf("likes event %+v %s", f, f.D)
	}
}

// TestSeveralCoHosts: a small class puts two students on stage at once;
// everyone receives everyone else's tracks, never their own.
func TestSeveralCoHosts(t *testing.T) {
	e := newEnv(t, live.Config{})
	for _, u := range []qun.UserID{"teacher", "s1", "s2", "s3"} {
		e.groups.set("g:1", u, qun.RoleMember)
	}
	hostC := e.Connect(t, "t1", "teacher")
	var info live.Info
	qtest.Call(t, hostC, "live.start", map[string]any{"group": "g:1", "mode": "small", "stage_limit": 2}, &info)
	host := peer.NewHubPeer(hostC, e.api, info.ID)
	t.Cleanup(host.Close)
	hv, err := host.Join(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := host.Publish(peer.PublisherOptions{Audio: true, Video: true, VideoBitrate: 200_000}, nil); err != nil {
		t.Fatal(err)
	}
	views := map[string]*peer.Viewer{}
	for _, u := range []string{"s1", "s2", "s3"} {
		h := e.peer(t, u, info.ID)
		v, err := h.Join(nil)
		if err != nil {
			t.Fatal(err)
		}
		views[u] = v
		if u == "s3" {
			continue
		}
		qtest.Call(t, h.C, "live.stage.request", map[string]any{"live": info.ID}, nil)
		qtest.Call(t, hostC, "live.stage.accept", map[string]any{"live": info.ID, "user": u}, nil)
		if _, err := h.Publish(peer.PublisherOptions{Audio: true, StreamID: u}, nil); err != nil {
			t.Fatal(err)
		}
	}
	waitMedia(t, views["s3"], 4, 20) // teacher's two, s1's and s2's microphones
	waitMedia(t, views["s1"], 3, 20) // teacher's two and s2's
	waitMedia(t, hv, 2, 20)          // s1's and s2's
	if n := len(views["s1"].Stats()); n != 3 {
		t.Fatalf("s1 receives %d tracks, want 3 (not its own)", n)
	}
	var got live.Info
	qtest.Call(t, hostC, "live.get", map[string]any{"live": info.ID}, &got)
	if len(got.Stage) != 2 || len(got.Tracks) != 4 || got.Viewers != 4 {
		t.Fatalf("info %+v", got)
	}
}
