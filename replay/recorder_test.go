package replay

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/qunkit/qun"
)

const srcSecs = 5 // length of the generated source media, looped

func simVideo(t testing.TB, kind string, pub qun.UserID, start, stop time.Duration) *simTrack {
	t.Helper()
	mime := map[string]string{"vp8": "video/VP8", "vp9": "video/VP9", "h264": "video/H264"}[kind]
	s := newSimTrack(TrackInfo{LiveID: "l1", TrackID: string(pub) + "-cam", Publisher: pub, Kind: "video", Source: "camera", MimeType: mime, ClockRate: 90000},
		readFrames(t, sourceMedia(t, kind, srcSecs)))
	s.start, s.stop = start, stop
	return s
}

func simAudio(t testing.TB, pub qun.UserID, start, stop time.Duration) *simTrack {
	t.Helper()
	s := newSimTrack(TrackInfo{LiveID: "l1", TrackID: string(pub) + "-mic", Publisher: pub, Kind: "audio", Source: "microphone", MimeType: "audio/opus", ClockRate: 48000, Channels: 2},
		readFrames(t, sourceMedia(t, "opus", srcSecs)))
	s.start, s.stop = start, stop
	return s
}

// checkTrack verifies a recorded track's file: it probes with the expected
// codec and a duration within 0.5 s of the time it was live (and of what
// the manifest says), and decodes without a single error.
func checkTrack(t *testing.T, te *testEnv, tr Track, codec string, live time.Duration, offset time.Duration) {
	t.Helper()
	p := te.path(tr.Key)
	pr := ffprobe(t, p)
	if len(pr.Streams) != 1 || pr.Streams[0].CodecName != codec {
		t.Fatalf("track %s: streams %+v, want one %s", tr.ID, pr.Streams, codec)
	}
	if d := pr.duration(); !within(d, live, 500*time.Millisecond) {
		t.Fatalf("track %s: ffprobe duration %v, live for %v", tr.ID, d, live)
	}
	if d := time.Duration(tr.DurationMs) * time.Millisecond; !within(d, live, 500*time.Millisecond) {
		t.Fatalf("track %s: manifest duration %v, live for %v", tr.ID, d, live)
	}
	if got := time.Duration(tr.OffsetMs) * time.Millisecond; !within(got, offset, 50*time.Millisecond) {
		t.Fatalf("track %s: offset %v, want %v", tr.ID, got, offset)
	}
	if !tr.Done {
		t.Fatalf("track %s not finalised", tr.ID)
	}
	if n := ffdecode(t, p); n == 0 {
		t.Fatalf("track %s: nothing decoded", tr.ID)
	}
}

func trackOf(t *testing.T, r *Replay, pub qun.UserID, kind string) Track {
	t.Helper()
	for _, tr := range r.Tracks {
		if tr.Publisher == pub && tr.Kind == kind {
			return tr
		}
	}
	t.Fatalf("no %s track of %s in %+v", kind, pub, r.Tracks)
	return Track{}
}

// The recording starts 1 s before the tracks (simT0 is 1 s after the fake
// clock's start), so a track starting at s is at offset 1 s + s.
const recLead = time.Second

func TestRecordCoHostJoinsLateAndLeavesEarly(t *testing.T) {
	te := newTestEnv(t, nil)
	tracks := []*simTrack{
		simVideo(t, "vp8", "host", 0, 8*time.Second),
		simAudio(t, "host", 0, 8*time.Second),
		simVideo(t, "vp8", "cohost", 3*time.Second, 6*time.Second),
		simAudio(t, "cohost", 3*time.Second, 6*time.Second),
	}
	items, _ := schedule(tracks)
	r := te.record(t, "ten1", "live:l1", "g:1", tracks, items, 8*time.Second, nil)
	if len(r.Tracks) != 4 {
		t.Fatalf("%d tracks", len(r.Tracks))
	}
	if !within(time.Duration(r.DurationMs)*time.Millisecond, 9*time.Second, 10*time.Millisecond) {
		t.Fatalf("replay duration %d ms", r.DurationMs)
	}
	checkTrack(t, te, trackOf(t, r, "host", "video"), "vp8", 8*time.Second, recLead)
	checkTrack(t, te, trackOf(t, r, "host", "audio"), "opus", 8*time.Second, recLead)
	checkTrack(t, te, trackOf(t, r, "cohost", "video"), "vp8", 3*time.Second, recLead+3*time.Second)
	checkTrack(t, te, trackOf(t, r, "cohost", "audio"), "opus", 3*time.Second, recLead+3*time.Second)
	v := trackOf(t, r, "host", "video")
	if v.Width != 320 || v.Height != 240 || v.MimeType != `video/webm; codecs="vp8"` || !v.Synced {
		t.Fatalf("video track metadata %+v", v)
	}
}

// A co-host who joins after ten minutes is placed ten minutes in.
func TestRecordCoHostAfterTenMinutes(t *testing.T) {
	te := newTestEnv(t, nil)
	tracks := []*simTrack{
		simAudio(t, "host", 0, 10*time.Minute+6*time.Second),
		simVideo(t, "vp8", "cohost", 10*time.Minute, 10*time.Minute+5*time.Second),
	}
	items, _ := schedule(tracks)
	r := te.record(t, "ten1", "live:l1", "g:1", tracks, items, 10*time.Minute+6*time.Second, nil)
	checkTrack(t, te, trackOf(t, r, "host", "audio"), "opus", 10*time.Minute+6*time.Second, recLead)
	checkTrack(t, te, trackOf(t, r, "cohost", "video"), "vp8", 5*time.Second, recLead+10*time.Minute)
}

// Audio and video stay together when their clocks and paths differ: the
// sender's audio clock runs 0.1% fast, its wall clock is 3 s ahead of the
// server's, video reaches the recorder 130 ms later than audio, and the
// video RTP timestamps and sequence numbers wrap around early on.
func TestRecordSyncsWithSenderReports(t *testing.T) {
	te := newTestEnv(t, nil)
	const secs = 60
	v := simVideo(t, "vp8", "host", 0, secs*time.Second)
	a := simAudio(t, "host", 0, secs*time.Second)
	a.skew = 1.001
	for _, s := range []*simTrack{v, a} {
		s.senderOffset = 3 * time.Second
	}
	a.delay, v.delay = 20*time.Millisecond, 150*time.Millisecond
	v.ts0, v.seq = 1<<32-90000, 65500 // both wrap within the first second
	tracks := []*simTrack{v, a}
	items, _ := schedule(tracks)
	r := te.record(t, "ten1", "live:l1", "g:1", tracks, items, secs*time.Second+200*time.Millisecond, nil)
	vt, at := trackOf(t, r, "host", "video"), trackOf(t, r, "host", "audio")
	// Both start at the same sender instant: the same offset, although
	// their packets arrived 130 ms apart.
	if d := vt.OffsetMs - at.OffsetMs; d < -5 || d > 5 {
		t.Fatalf("video offset %d ms, audio %d ms: not aligned", vt.OffsetMs, at.OffsetMs)
	}
	checkTrack(t, te, vt, "vp8", secs*time.Second, recLead+20*time.Millisecond)
	checkTrack(t, te, at, "opus", secs*time.Second, recLead+20*time.Millisecond)
	// The audio file follows the sender's wall clock, not its fast RTP
	// clock: its last frame sits at ~60 s, not 60.06 s.
	pts := packetTimes(t, te.path(at.Key))
	last := pts[len(pts)-1]
	want := secs*time.Second - 20*time.Millisecond
	if !within(last, want, 15*time.Millisecond) {
		t.Fatalf("last audio frame at %v, want %v (RTP clock drift not corrected)", last, want)
	}
	vpts := packetTimes(t, te.path(vt.Key))
	if vl := vpts[len(vpts)-1]; !within(vl, secs*time.Second-40*time.Millisecond, 15*time.Millisecond) {
		t.Fatalf("last video frame at %v", vl)
	}
}

// Packets arrive reordered and duplicated, and some video packets are
// lost: the jitter buffer restores order, and frames are dropped from a
// loss to the next keyframe, so the file decodes without an error.
func TestRecordReorderAndLoss(t *testing.T) {
	te := newTestEnv(t, nil)
	v := simVideo(t, "vp8", "host", 0, 10*time.Second)
	a := simAudio(t, "host", 0, 10*time.Second)
	tracks := []*simTrack{v, a}
	items, sent := schedule(tracks)
	rng := rand.New(rand.NewPCG(1, 2))
	var out []simItem
	lost := 0
	for _, it := range items {
		if it.pkt != nil && it.track == v && rng.IntN(100) < 2 {
			lost++
			continue
		}
		out = append(out, it)
		if it.pkt != nil && rng.IntN(50) == 0 {
			out = append(out, it) // duplicate
		}
	}
	for i := range out { // reorder within a few packets of each track
		j := i + rng.IntN(4)
		if j < len(out) && out[j].track == out[i].track {
			out[i], out[j] = out[j], out[i]
		}
	}
	r := te.record(t, "ten1", "live:l1", "g:1", tracks, out, 10*time.Second, nil)
	vt := trackOf(t, r, "host", "video")
	n := ffdecode(t, te.path(vt.Key))
	total := 0
	for _, f := range sent {
		if f.track == v {
			total++
		}
	}
	if lost == 0 || n >= total || n < total/3 {
		t.Fatalf("decoded %d of %d video frames with %d packets lost", n, total, lost)
	}
	checkTrack(t, te, trackOf(t, r, "host", "audio"), "opus", 10*time.Second, recLead)
}

// VP9 goes to WebM and H.264 to fragmented MP4.
func TestRecordVP9AndH264(t *testing.T) {
	te := newTestEnv(t, nil)
	tracks := []*simTrack{
		simVideo(t, "vp9", "host", 0, 6*time.Second),
		simVideo(t, "h264", "cohost", 2*time.Second, 6*time.Second),
	}
	items, _ := schedule(tracks)
	r := te.record(t, "ten1", "live:l1", "g:1", tracks, items, 6*time.Second, nil)
	checkTrack(t, te, trackOf(t, r, "host", "video"), "vp9", 6*time.Second, recLead)
	h := trackOf(t, r, "cohost", "video")
	checkTrack(t, te, h, "h264", 4*time.Second, recLead+2*time.Second)
	if h.MimeType[:9] != "video/mp4" || h.Width != 320 || h.Height != 240 {
		t.Fatalf("h264 track %+v", h)
	}
}
