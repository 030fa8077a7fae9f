package replay

import (
	"context"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/qunkit/qun"
)

// fakeClock is a settable clock shared by the Hub and the Service, so
// that simulated lives of many minutes run in milliseconds.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2025, 3, 1, 20, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	if t.After(c.t) {
		c.t = t
	}
	c.mu.Unlock()
}

func (c *fakeClock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// fakeLives stands in for live.Service: it hands tracks to the attached
// recorder and, like live, closes their writers on detach.
type fakeLives struct {
	mu      sync.Mutex
	rec     map[qun.RoomID]Recorder
	writers map[qun.RoomID][]TrackWriter
	refuse  error
}

func newFakeLives() *fakeLives {
	return &fakeLives{rec: map[qun.RoomID]Recorder{}, writers: map[qun.RoomID][]TrackWriter{}}
}

func (f *fakeLives) AttachRecorder(_ context.Context, _ qun.TenantID, live qun.RoomID, r Recorder) (func(), error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuse != nil {
		return nil, f.refuse
	}
	f.rec[live] = r
	return func() {
		f.mu.Lock()
		ws := f.writers[live]
		delete(f.writers, live)
		delete(f.rec, live)
		f.mu.Unlock()
		for _, w := range ws {
			_ = w.Close()
		}
	}, nil
}

// publish starts a track of live, as live does when a publisher adds one.
func (f *fakeLives) publish(t testing.TB, live qun.RoomID, info TrackInfo) TrackWriter {
	t.Helper()
	f.mu.Lock()
	r := f.rec[live]
	f.mu.Unlock()
	if r == nil {
		t.Fatalf("no recorder attached to %s", live)
	}
	w, err := r.TrackStarted(context.Background(), info)
	if err != nil {
		t.Fatalf("TrackStarted: %v", err)
	}
	f.mu.Lock()
	f.writers[live] = append(f.writers[live], w)
	f.mu.Unlock()
	return w
}

// simTrack is a publisher's track: encoded frames from a source file,
// looped for as long as the track runs, packetised as a WebRTC sender
// would, with sender reports every second.
type simTrack struct {
	info   TrackInfo
	frames []srcFrame
	period time.Duration // the source's length, for looping
	// start and stop are on the simulated server clock, relative to the
	// simulation's t0.
	start, stop time.Duration
	// skew scales the RTP clock (1.001: it runs 0.1% fast against the
	// sender's wall clock, as a sound card's may).
	skew float64
	// senderOffset is the sender's wall clock minus the server's.
	senderOffset time.Duration
	// delay is the network delay from sender to recorder.
	delay time.Duration

	payloader rtp.Payloader
	ssrc      uint32
	seq       uint16
	ts0       uint32
	w         TrackWriter
}

func (s *simTrack) rate() float64 { return float64(s.info.ClockRate) }

// rtpAt is the RTP timestamp of media sent at d after the track's start.
func (s *simTrack) rtpAt(d time.Duration) uint32 {
	skew := s.skew
	if skew == 0 {
		skew = 1
	}
	return s.ts0 + uint32(int64(d.Seconds()*s.rate()*skew+0.5))
}

type simItem struct {
	at    time.Duration // arrival at the recorder, from t0
	track *simTrack
	pkt   *rtp.Packet
	sr    *rtcp.SenderReport
	frame int // index into the sent-frame log, for pkt
}

// sentFrame records when a frame's first packet was sent (for checks).
type sentFrame struct {
	track *simTrack
	at    time.Duration // sender time from t0 (server clock)
	n     int           // frame number within the track
}

// newSimTrack returns a track sending frames in a loop: the period is one
// frame interval after the last frame.
func newSimTrack(info TrackInfo, frames []srcFrame) *simTrack {
	period := frames[len(frames)-1].at + frames[1].at - frames[0].at
	s := &simTrack{info: info, frames: frames, period: period, ssrc: rand.Uint32(), seq: uint16(rand.Uint32()), ts0: rand.Uint32()}
	switch codecOf(info.MimeType) {
	case codecVP8:
		s.payloader = &codecs.VP8Payloader{EnablePictureID: true}
	case codecVP9:
		s.payloader = &codecs.VP9Payloader{}
	case codecH264:
		s.payloader = &codecs.H264Payloader{}
	case codecOpus:
		s.payloader = &codecs.OpusPayloader{}
	}
	return s
}

// schedule returns every packet and sender report of the tracks, in
// arrival order.
func schedule(tracks []*simTrack) ([]simItem, []sentFrame) {
	var items []simItem
	var sent []sentFrame
	for _, s := range tracks {
		n := 0
		for loop := time.Duration(0); s.start+loop < s.stop; loop += s.period {
			for _, f := range s.frames {
				d := loop + f.at
				if s.start+d >= s.stop {
					break
				}
				ts := s.rtpAt(d)
				payloads := s.payloader.Payload(1200, f.data)
				for i, p := range payloads {
					pk := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: s.seq, Timestamp: ts, SSRC: s.ssrc, Marker: i == len(payloads)-1}, Payload: p}
					s.seq++
					items = append(items, simItem{at: s.start + d + s.delay, track: s, pkt: pk, frame: len(sent)})
				}
				sent = append(sent, sentFrame{track: s, at: s.start + d, n: n})
				n++
			}
		}
		for d := 500 * time.Millisecond; s.start+d < s.stop; d += time.Second {
			ntp := s.start + d + s.senderOffset
			items = append(items, simItem{at: s.start + d + s.delay, track: s, sr: &rtcp.SenderReport{SSRC: s.ssrc, NTPTime: unixToNTP(ntp), RTPTime: s.rtpAt(d)}})
		}
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].at < items[j].at })
	return items, sent
}

// simT0 is the simulated server time tracks' start and stop are relative to.
var simT0 = time.Date(2025, 3, 1, 20, 0, 1, 0, time.UTC)

func unixToNTP(d time.Duration) uint64 {
	t := simT0.Add(d)
	sec := uint64(t.Unix() + 2208988800)
	frac := uint64(t.Nanosecond()) << 32 / uint64(time.Second)
	return sec<<32 | frac
}

// run delivers items in order, advancing clock to each arrival time;
// start/stop of tracks is done by the caller through onStart/onStop hooks
// at the right times.
func runSim(t testing.TB, clock *fakeClock, items []simItem, hook func(at time.Duration)) {
	t.Helper()
	for _, it := range items {
		clock.Set(simT0.Add(it.at))
		if hook != nil {
			hook(it.at)
		}
		if it.track.w == nil {
			continue
		}
		var err error
		if it.pkt != nil {
			err = it.track.w.WriteRTP(it.pkt)
		} else {
			err = it.track.w.WriteRTCP([]rtcp.Packet{it.sr})
		}
		if err != nil {
			t.Fatalf("write: %v", err)
		}
	}
}
