package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"
	"github.com/pion/webrtc/v3/pkg/media"
	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/livepeer"
	"github.com/qunkit/qun/internal/qclient"
	"github.com/qunkit/qun/internal/qtest"
	"github.com/qunkit/qun/live"
	"go.uber.org/zap"
)

// filePublisher is a pion peer that publishes real VP8 and Opus (from
// files made by ffmpeg) into a live through live's signalling, in real
// time, as a browser would: TrackLocalStaticSample packetises, pion's
// interceptors send sender reports.
type filePublisher struct {
	c     *qclient.Client
	pc    *webrtc.PeerConnection
	live  string
	stop  chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	sent  []sentSample // video frames, in order
	first map[string]time.Time
	last  map[string]time.Time
}

type sentSample struct {
	at   time.Time
	data []byte
}

func publishFiles(t *testing.T, c *qclient.Client, api *webrtc.API, liveID string, video, audio []srcFrame) *filePublisher {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := c.Call(ctx, "live.join", map[string]any{"live": liveID}, nil); err != nil {
		t.Fatal(err)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{BundlePolicy: webrtc.BundlePolicyMaxBundle})
	if err != nil {
		t.Fatal(err)
	}
	p := &filePublisher{c: c, pc: pc, live: liveID, stop: make(chan struct{}), first: map[string]time.Time{}, last: map[string]time.Time{}}
	t.Cleanup(p.close)
	vt, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "s")
	if err != nil {
		t.Fatal(err)
	}
	at, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "s")
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range []webrtc.TrackLocal{vt, at} {
		s, err := pc.AddTrack(tr)
		if err != nil {
			t.Fatal(err)
		}
		p.wg.Add(1)
		go func() { // RTCP must be read for the interceptors to work
			defer p.wg.Done()
			for {
				if _, _, err := s.ReadRTCP(); err != nil {
					return
				}
			}
		}()
	}
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Call(ctx, "live.candidate", map[string]any{"live": liveID, "pc": "pub", "candidate": cand.ToJSON()}, nil)
	})
	p.wg.Add(1)
	go func() { // the server's candidates for our publishing connection
		defer p.wg.Done()
		for {
			select {
			case <-p.stop:
				return
			case f, ok := <-c.Frames():
				if !ok {
					return
				}
				if f.T != "push" || f.Type != "live.candidate" {
					continue
				}
				var d struct {
					PC        string                  `json:"pc"`
					Candidate webrtc.ICECandidateInit `json:"candidate"`
				}
				if json.Unmarshal(f.D, &d) == nil && d.PC == "pub" {
					_ = pc.AddICECandidate(d.Candidate)
				}
			}
		}
	}()
	connected := make(chan struct{})
	var once sync.Once
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err == nil {
		err = pc.SetLocalDescription(offer)
	}
	if err != nil {
		t.Fatal(err)
	}
	var ans struct{ SDP string }
	if err := c.Call(ctx, "live.offer", map[string]any{"live": liveID, "sdp": offer.SDP}, &ans); err != nil {
		t.Fatal(err)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ans.SDP}); err != nil {
		t.Fatal(err)
	}
	// Media starts once the connection is up, so that what "was sent" is
	// what the SFU could receive.
	select {
	case <-connected:
	case <-ctx.Done():
		t.Fatal("the publisher never connected")
	}
	p.send("video", vt, video, 40*time.Millisecond)
	p.send("audio", at, audio, 20*time.Millisecond)
	return p
}

// send writes frames in a loop, each at its time.
func (p *filePublisher) send(kind string, tr *webrtc.TrackLocalStaticSample, frames []srcFrame, dur time.Duration) {
	period := frames[len(frames)-1].at + dur
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		start := time.Now()
		for loop := time.Duration(0); ; loop += period {
			for _, f := range frames {
				select {
				case <-p.stop:
					return
				case <-time.After(time.Until(start.Add(loop + f.at))):
				}
				now := time.Now()
				if err := tr.WriteSample(media.Sample{Data: f.data, Duration: dur}); err != nil {
					return
				}
				p.mu.Lock()
				if p.first[kind].IsZero() {
					p.first[kind] = now
				}
				p.last[kind] = now.Add(dur)
				if kind == "video" {
					p.sent = append(p.sent, sentSample{at: now, data: f.data})
				}
				p.mu.Unlock()
			}
		}
	}()
}

// stopSending stops the media; the connection stays until close.
func (p *filePublisher) stopSending() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
}

func (p *filePublisher) close() {
	p.stopSending()
	_ = p.pc.Close()
	p.wg.Wait()
}

// span returns when kind was first and last sent.
func (p *filePublisher) span(kind string) (time.Time, time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.first[kind], p.last[kind]
}

// liveEnv runs live (the SFU) and replay on one Hub, with real UDP peers.
type liveEnv struct {
	*qtest.Env
	live   *live.Service
	svc    *Service
	roles  *roles
	api    *webrtc.API
	dir    string
	stored *FSStorage
}

// newLiveEnv's tweak, if not nil, adjusts replay's Config.
func newLiveEnv(t *testing.T, tweak func(*Config)) *liveEnv {
	t.Helper()
	le := &liveEnv{roles: &roles{m: map[roleKey]qun.Role{}}, dir: t.TempDir()}
	db := qtest.SQLite(t)
	le.Env = qtest.NewEnv(t, qun.Config{}, func(e *qtest.Env) {
		e.Hub.RegisterRooms("g", le.roles)
		ls, err := live.New(live.Config{Hub: e.Hub, Logger: livepeer.TestLogger(t, zap.WarnLevel), Network: live.Network{IncludeLoopback: true}})
		if err != nil {
			t.Fatal(err)
		}
		le.live = ls
		store, err := NewSQLiteStore(db)
		if err != nil {
			t.Fatal(err)
		}
		if le.stored, err = NewFSStorage(le.dir); err != nil {
			t.Fatal(err)
		}
		cfg := Config{Hub: e.Hub, Lives: ls, Store: store, Storage: le.stored, Authenticator: e.Tokens, Heartbeat: 200 * time.Millisecond, SweepInterval: -1}
		if tweak != nil {
			tweak(&cfg)
		}
		le.svc, err = New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		e.Mux.Handle("/replays/", http.StripPrefix("/replays", le.svc.Handler()))
	})
	// After NewEnv's cleanup is registered, so these run first: replay
	// stops recording, then live stops media, then the Hub shuts down.
	t.Cleanup(func() { _ = le.live.Close() })
	t.Cleanup(func() {
		if err := le.svc.Close(); err != nil {
			t.Errorf("replay close: %v", err)
		}
	})
	api, err := livepeer.NewAPI(livepeer.APIOptions{IncludeLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	le.api = api
	return le
}

// A live made by real pion peers: the host publishes camera and
// microphone, a co-host joins the stage later and is removed before the
// end, chat goes on in the group; the host ends the live and the recording
// stops by itself. Every file probes and decodes, durations match what
// each publisher sent, and chat lands on the frames it was sent over.
func TestRecordLiveWithPionPeers(t *testing.T) {
	needFFmpeg(t)
	vp8 := readFrames(t, sourceMedia(t, "vp8k", srcSecs))
	opus := readFrames(t, sourceMedia(t, "opus", srcSecs))
	le := newLiveEnv(t, nil)
	le.roles.set("ten1", "g:1", "host", qun.RoleMember)
	le.roles.set("ten1", "g:1", "co", qun.RoleMember)
	le.roles.set("ten1", "g:1", "fan", qun.RoleViewer)
	ctx := context.Background()
	hostC := le.Connect(t, "ten1", "host")
	var info live.Info
	qtest.Call(t, hostC, "live.start", map[string]any{"group": "g:1", "title": "Spring sale"}, &info)

	var r Replay
	qtest.Call(t, hostC, "replay.start", map[string]any{"live": info.Room}, &r)
	if r.Group != "g:1" || r.Title != "Spring sale" {
		t.Fatalf("replay of the live: %+v", r)
	}
	pubC := le.Connect(t, "ten1", "host")
	host := publishFiles(t, pubC, le.api, info.ID, vp8, opus)

	time.Sleep(2 * time.Second)
	coC := le.Connect(t, "ten1", "co")
	qtest.Call(t, coC, "live.join", map[string]any{"live": info.ID}, nil)
	qtest.Call(t, coC, "live.stage.request", map[string]any{"live": info.ID}, nil)
	qtest.Call(t, hostC, "live.stage.accept", map[string]any{"live": info.ID, "user": "co"}, nil)
	coPubC := le.Connect(t, "ten1", "co")
	co := publishFiles(t, coPubC, le.api, info.ID, vp8, opus)

	// Chat over the live, each message at a moment a host frame is sent.
	type chat struct {
		at   time.Time
		text string
	}
	var chats []chat
	for i := range 6 {
		time.Sleep(500 * time.Millisecond)
		text := fmt.Sprint("msg ", i)
		ev, err := le.Hub.Publish(ctx, qun.RoomRef{Tenant: "ten1", Room: "g:1"}, qun.Draft{Type: "chat.msg", Actor: "fan", Data: map[string]string{"text": text}})
		if err != nil {
			t.Fatal(err)
		}
		chats = append(chats, chat{at: time.UnixMilli(ev.TS), text: text})
	}
	qtest.Call(t, hostC, "live.stage.remove", map[string]any{"live": info.ID, "user": "co"}, nil)
	co.stopSending()
	time.Sleep(1500 * time.Millisecond)
	host.stopSending()
	qtest.Call(t, hostC, "live.end", map[string]any{"live": info.ID}, nil)

	// The recording stops by itself when the live ends.
	deadline := time.Now().Add(10 * time.Second)
	var got *Replay
	for {
		var err error
		if got, err = le.svc.store.Get(ctx, "ten1", r.ID); err != nil {
			t.Fatal(err)
		}
		if got.State == StatePending {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replay still %s after the live ended", got.State)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(got.Tracks) != 4 {
		t.Fatalf("%d tracks: %+v", len(got.Tracks), got.Tracks)
	}
	path := func(tr Track) string { return le.dir + "/" + tr.Key }
	for _, c := range []struct {
		pub  *filePublisher
		user qun.UserID
	}{{host, "host"}, {co, "co"}} {
		for _, kind := range []string{"video", "audio"} {
			tr := trackOf(t, got, c.user, kind)
			first, last := c.pub.span(kind)
			sent := last.Sub(first)
			pr := ffprobe(t, path(tr))
			codec := map[string]string{"video": "vp8", "audio": "opus"}[kind]
			if len(pr.Streams) != 1 || pr.Streams[0].CodecName != codec {
				t.Fatalf("%s %s: %+v", c.user, kind, pr.Streams)
			}
			if !within(pr.duration(), sent, 500*time.Millisecond) {
				t.Fatalf("%s %s: %v recorded, %v sent", c.user, kind, pr.duration(), sent)
			}
			if ffdecode(t, path(tr)) == 0 {
				t.Fatalf("%s %s decodes to nothing", c.user, kind)
			}
			// Placed on the recording's clock where it was sent: its end at
			// the last frame sent (its start may lose the packets sent
			// before the SFU had the track).
			end := got.StartedAt.Add(time.Duration(tr.OffsetMs+tr.DurationMs) * time.Millisecond)
			if !within(end.Sub(last), 0, 150*time.Millisecond) {
				t.Fatalf("%s %s ends at %v, sent until %v", c.user, kind, end, last)
			}
			if !tr.Synced {
				t.Fatalf("%s %s not placed by sender reports", c.user, kind)
			}
		}
	}

	// Each chat message sits on the timeline at the media time of the host
	// frame sent when it was posted.
	evs, err := le.svc.timeline(ctx, got)
	if err != nil {
		t.Fatal(err)
	}
	vt := trackOf(t, got, "host", "video")
	var recFrames []struct {
		ms   int64
		data []byte
	}
	f, err := le.stored.Open(ctx, vt.Key)
	if err != nil {
		t.Fatal(err)
	}
	_, err = readWebMWith(f, nil, func(ms int64, _ bool, data []byte) error {
		recFrames = append(recFrames, struct {
			ms   int64
			data []byte
		}{ms, append([]byte(nil), data...)})
		return nil
	})
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	var chatEvs []TimelineEvent
	for _, ev := range evs {
		if ev.Type == "chat.msg" {
			chatEvs = append(chatEvs, ev)
		}
	}
	if len(chatEvs) != len(chats) {
		t.Fatalf("%d chat events on the timeline, %d sent", len(chatEvs), len(chats))
	}
	for i, c := range chats {
		// The host frame being sent when the message was posted...
		host.mu.Lock()
		var frame []byte
		for _, s := range host.sent {
			if !s.at.After(c.at) {
				frame = s.data
			}
		}
		host.mu.Unlock()
		// ...and where that frame plays in the replay (frames repeat every
		// 5 s: the nearest occurrence).
		best := time.Duration(1 << 62)
		for _, rf := range recFrames {
			if bytes.Equal(rf.data, frame) {
				media := time.Duration(vt.OffsetMs+rf.ms) * time.Millisecond
				if d := media - time.Duration(chatEvs[i].At)*time.Millisecond; d.Abs() < best.Abs() {
					best = d
				}
			}
		}
		if best.Abs() > 100*time.Millisecond {
			t.Fatalf("%s: on the timeline %v away from its frame", c.text, best)
		}
	}
}
