package live

import (
	"context"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/qunkit/qun"
	"github.com/qunkit/qun/live/internal/sfu"
	"go.uber.org/zap"
)

// TrackInfo describes a published track to a Recorder.
type TrackInfo struct {
	LiveID    string
	TrackID   string
	Publisher qun.UserID
	Kind      string // "audio" or "video"
	Source    Source // camera, microphone, screen, screen_audio
	MimeType  string // "video/VP8", "audio/opus", "video/H264"
	ClockRate uint32
	Channels  uint16
	// SDPFmtpLine is the codec's fmtp parameters, as negotiated.
	SDPFmtpLine string
	// RequestKeyframe asks the publisher for a keyframe of the recorded
	// stream: a writer that lost packets calls it rather than wait for the
	// publisher's next keyframe (browsers send one only when asked). It
	// goes through the SFU's per-layer throttle (Config.KeyframeInterval),
	// shared with the viewers' requests, so extra calls cost nothing. Safe
	// from any goroutine, also after the track ended; a no-op for audio.
	// Set by live (nil in a TrackInfo made elsewhere).
	RequestKeyframe func() `json:"-"`
}

// TrackWriter receives one track's packets from the SFU.
type TrackWriter interface {
	// WriteRTP gets every packet as the publisher sent it (its own SSRC,
	// sequence numbers and timestamps; for simulcast, one layer's). The
	// packet is the writer's to keep.
	WriteRTP(*rtp.Packet) error
	// WriteRTCP gets the publisher's sender reports for the recorded SSRC,
	// which map RTP timestamps to wall-clock time (for A/V sync).
	WriteRTCP([]rtcp.Packet) error
	// Close is called once, when the track ends or the recorder detaches.
	Close() error
}

// Recorder is the hook package replay (or a vendor) uses to record a live.
type Recorder interface {
	// TrackStarted is called for every track published in the live: those
	// already published when the recorder attaches and every later one. An
	// error skips that track (it is logged).
	TrackStarted(ctx context.Context, t TrackInfo) (TrackWriter, error)
}

// LiveEnder is implemented by a Recorder that wants to know when the live
// ends, as opposed to being detached or this node shutting down (which
// close the writers too): live calls LiveEnded once, after every writer
// is closed, when the live is ended (End, the live.end op) on the node
// that runs its media. at is the time of the "live.ended" event in the
// live's room. It must not block: live calls it from End.
type LiveEnder interface {
	LiveEnded(at time.Time)
}

// recorderQueue bounds the packets waiting for one TrackWriter. A writer
// that falls this far behind loses packets (counted and logged) rather
// than slowing the forwarding of the live.
const recorderQueue = 1024

// AttachRecorder starts delivering live's tracks to r.
//
// Contract:
//   - The live must be on air (live or paused) on this node; otherwise the
//     error is a *qun.Error with CodeNotFound (no such live in tenant) or
//     CodeConflict (not on air). One recorder per live: a second answers
//     CodeConflict.
//   - r.TrackStarted is called for each track already published, before
//     AttachRecorder returns, and then for each track published later,
//     from the goroutine that handles the publication. Its ctx ends when
//     the recorder is detached.
//   - Each TrackWriter has its own goroutine: calls to one writer are
//     sequential; WriteRTP starts at a keyframe for video; for simulcast the
//     highest layer present at the first keyframe is recorded, with its own
//     SSRC. Packets stop while a track is muted or the live is paused (the
//     recorder sees a gap in sequence numbers and in time, as after a
//     loss; a keyframe is requested when they resume).
//   - WriteRTCP gets the publisher's sender reports of the recorded SSRC.
//   - Close is called exactly once per writer: when its track ends (the
//     publisher left, was removed from the stage, or unpublished), when the
//     live ends, or on detach. detach closes every writer, waits for their
//     goroutines and is idempotent; after it returns no writer is called.
//   - When the live ends (End), a Recorder that implements LiveEnder is
//     told so, after its writers are closed and detach has run.
func (s *Service) AttachRecorder(ctx context.Context, tenant qun.TenantID, live qun.RoomID, r Recorder) (detach func(), err error) {
	id, ok := liveID(live)
	if !ok {
		return nil, qun.Errorf(qun.CodeNotFound, "no such live")
	}
	rm, err := s.room(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	return rm.attachRecorder(r)
}

// recording is one attached Recorder: a writer per track.
type recording struct {
	rm     *room
	r      Recorder
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	writers map[string]*trackRecorder
	closed  bool
	once    sync.Once
}

func (rm *room) attachRecorder(r Recorder) (func(), error) {
	rm.mu.Lock()
	if rm.closed {
		rm.mu.Unlock()
		return nil, qun.Errorf(qun.CodeConflict, "the live is not on air")
	}
	if rm.recorder != nil {
		rm.mu.Unlock()
		return nil, qun.Errorf(qun.CodeConflict, "the live already has a recorder")
	}
	ctx, cancel := context.WithCancel(context.Background())
	rc := &recording{rm: rm, r: r, ctx: ctx, cancel: cancel, writers: map[string]*trackRecorder{}}
	rm.recorder = rc
	tracks := rm.trackList()
	rm.mu.Unlock()
	for _, t := range tracks {
		rc.trackStarted(t)
	}
	return rc.detach, nil
}

// trackStarted asks the recorder for a writer for t and hooks it to the
// track's receiver.
func (rc *recording) trackStarted(t *track) {
	info := TrackInfo{
		LiveID: rc.rm.id, TrackID: t.id, Publisher: t.user, Kind: t.recv.Kind(), Source: t.source,
		MimeType: t.recv.Codec().MimeType, ClockRate: t.recv.Codec().ClockRate, Channels: t.recv.Codec().Channels,
		SDPFmtpLine: t.recv.Codec().SDPFmtpLine, RequestKeyframe: t.recv.RequestSinkKeyframe,
	}
	w, err := rc.r.TrackStarted(rc.ctx, info)
	if err != nil {
		rc.rm.log.Warn("recorder refused a track", zap.String("track", t.id), zap.Error(err))
		return
	}
	tr := &trackRecorder{w: w, q: make(chan recItem, recorderQueue), done: make(chan struct{}), log: rc.rm.log}
	rc.mu.Lock()
	if rc.closed || rc.writers[t.id] != nil {
		rc.mu.Unlock()
		_ = w.Close()
		return
	}
	rc.writers[t.id] = tr
	rc.mu.Unlock()
	go tr.run()
	t.recv.SetSink(tr)
	t.recv.OnClose(func() { rc.trackEnded(t) })
}

func (rc *recording) trackEnded(t *track) {
	rc.mu.Lock()
	tr := rc.writers[t.id]
	delete(rc.writers, t.id)
	rc.mu.Unlock()
	if tr != nil {
		t.recv.SetSink(nil)
		tr.stop()
	}
}

// liveEnded tells the recorder (if any, and if it wants to know) that the
// live ended at at. Its writers are closed already.
func (rc *recording) liveEnded(at time.Time) {
	if rc == nil {
		return
	}
	if le, ok := rc.r.(LiveEnder); ok {
		le.LiveEnded(at)
	}
}

// publishEnded publishes "live.ended" in the live's room and returns its
// time (the live's end time if publishing failed).
func (s *Service) publishEnded(ctx context.Context, rec *Record, actor qun.UserID) time.Time {
	ev, err := s.hub.Publish(ctx, qun.RoomRef{Tenant: rec.Tenant, Room: rec.Room()}, qun.Draft{Type: "live.ended", Actor: actor, Data: rec})
	if err != nil {
		s.log.Warn("publish", zap.String("type", "live.ended"), zap.Error(err))
		return rec.EndedAt
	}
	return time.UnixMilli(ev.TS)
}

func (rc *recording) detach() {
	rc.once.Do(func() {
		rc.mu.Lock()
		rc.closed = true
		ws := rc.writers
		rc.writers = nil
		rc.mu.Unlock()
		rc.rm.mu.Lock()
		if rc.rm.recorder == rc {
			rc.rm.recorder = nil
		}
		tracks := rc.rm.trackList()
		rc.rm.mu.Unlock()
		for _, t := range tracks {
			if ws[t.id] != nil {
				t.recv.SetSink(nil)
			}
		}
		for _, tr := range ws {
			tr.stop()
		}
		rc.cancel()
	})
}

type recItem struct {
	raw  []byte
	rtcp []rtcp.Packet
}

// trackRecorder is an sfu.Sink that hands packets to a TrackWriter on its
// own goroutine, so a slow recorder never stalls forwarding.
type trackRecorder struct {
	w       TrackWriter
	q       chan recItem
	done    chan struct{}
	log     *zap.Logger
	mu      sync.Mutex
	stopped bool
	dropped uint64
}

var _ sfu.Sink = (*trackRecorder)(nil)

func (tr *trackRecorder) WriteRTP(raw []byte) {
	tr.push(recItem{raw: append([]byte(nil), raw...)})
}

func (tr *trackRecorder) WriteRTCP(pkts []rtcp.Packet) { tr.push(recItem{rtcp: pkts}) }

func (tr *trackRecorder) push(it recItem) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.stopped {
		return
	}
	select {
	case tr.q <- it:
	default:
		tr.dropped++
		if tr.dropped&(tr.dropped-1) == 0 { // log at powers of two
			tr.log.Warn("recorder is too slow; packets dropped", zap.Uint64("dropped", tr.dropped))
		}
	}
}

func (tr *trackRecorder) run() {
	defer close(tr.done)
	for it := range tr.q {
		if it.raw != nil {
			p := &rtp.Packet{}
			if p.Unmarshal(it.raw) == nil {
				_ = tr.w.WriteRTP(p)
			}
		} else {
			_ = tr.w.WriteRTCP(it.rtcp)
		}
	}
	_ = tr.w.Close()
}

// stop closes the queue, lets the writer drain it and closes the writer.
func (tr *trackRecorder) stop() {
	tr.mu.Lock()
	if tr.stopped {
		tr.mu.Unlock()
		<-tr.done
		return
	}
	tr.stopped = true
	close(tr.q)
	tr.mu.Unlock()
	<-tr.done
}
