package replay

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/qunkit/qun"
	"go.uber.org/zap"
)

// mediaWriter is a container writer for one track (webmWriter, mp4Writer).
type mediaWriter interface {
	WriteFrame(ts time.Duration, key bool, data []byte) error
	// Duration is the media time written, Size the bytes on disk.
	Duration() time.Duration
	Size() int64
	// Close finalises the file; Abort leaves it as a crash would.
	Close() error
	Abort() error
}

// recording is one live being recorded. It is the Recorder handed to
// live: each track gets a trackRecorder that writes its own file on the
// goroutine live calls it from, so recording never delays forwarding
// (live queues packets per recorder track) and needs no goroutine of its
// own except the heartbeat.
//
// Lock order: trackRecorder.mu, then recording.persistMu, then recording.mu.
type recording struct {
	svc    *Service
	t0     time.Time
	prefix string // storage key prefix "<tenant>/<replay>/"
	log    *zap.Logger
	ctx    context.Context
	cancel context.CancelFunc

	persistMu sync.Mutex // serialises Store updates

	mu      sync.Mutex
	r       *Replay
	tracks  []*trackRecorder
	snaps   []trackSnap
	pubOff  map[qun.UserID]int64 // per publisher: least (arrival − sender clock), ns
	stopped bool
	lost    bool // another process took the recording over
	detach  func()
	endAt   time.Time // when the live ended, if it did before stop
	ended   bool      // the live's end was seen (told by live, or in its log)
	beating bool      // the heartbeat goroutine runs

	beatStop chan struct{}
	beatDone chan struct{}
	stopOnce sync.Once
}

// trackSnap is what the recording knows of a track for its metadata,
// updated by the track under recording.mu.
type trackSnap struct {
	meta    Track
	opened  bool
	startNS int64 // first frame on the sender's clock (fromSR) or on ours
	fromSR  bool
}

func newRecording(s *Service, r *Replay) *recording {
	ctx, cancel := context.WithCancel(context.Background())
	return &recording{
		svc: s, t0: r.StartedAt, r: r.clone(), prefix: keyPrefix(r.Tenant, r.ID),
		log: s.log.With(zap.String("replay", r.ID), zap.String("tenant", string(r.Tenant))),
		ctx: ctx, cancel: cancel, pubOff: map[qun.UserID]int64{},
		beatStop: make(chan struct{}), beatDone: make(chan struct{}),
	}
}

// keyPrefix names a replay's objects in Storage; the tenant is escaped so
// that no tenant id can reach another's keys.
func keyPrefix(tenant qun.TenantID, id string) string {
	t := url.PathEscape(string(tenant))
	if strings.HasPrefix(t, ".") { // "." and ".." are not names of directories
		t = "%2E" + t[1:]
	}
	return t + "/" + id + "/"
}

var errRecordingStopped = qun.Errorf(qun.CodeConflict, "the recording has stopped")

// TrackStarted implements Recorder.
func (rec *recording) TrackStarted(_ context.Context, info TrackInfo) (TrackWriter, error) {
	c := codecOf(info.MimeType)
	if c == codecUnknown {
		return nil, qun.Errorf(qun.CodeInvalid, "codec %s is not recorded", info.MimeType)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.stopped {
		return nil, errRecordingStopped
	}
	if len(rec.tracks) >= rec.svc.cfg.MaxTracks {
		return nil, qun.Errorf(qun.CodeExhausted, "a replay records at most %d tracks", rec.svc.cfg.MaxTracks)
	}
	rate := int(info.ClockRate)
	if rate == 0 {
		rate = 90000
		if c == codecOpus {
			rate = 48000
		}
	}
	t := &trackRecorder{
		rec: rec, idx: len(rec.tracks), info: info, codec: c,
		asm: newAssembler(c), clock: newMediaClock(rate),
	}
	t.jb.maxDelay = uint32(rate) * 3 / 10 // 300 ms of reordering, enough for a NACKed retransmission
	if c.video() && info.RequestKeyframe != nil {
		t.asm.wantKey = t.askKeyframe
	}
	t.emitFn, t.outFn = t.onPacket, t.onFrame
	ext, mime := c.container()
	kind := "audio"
	if c.video() {
		kind = "video"
	}
	id := fmt.Sprintf("t%d", len(rec.tracks)+1)
	t.id = id
	rec.tracks = append(rec.tracks, t)
	rec.snaps = append(rec.snaps, trackSnap{meta: Track{
		ID: id, Kind: kind, Source: string(info.Source), Publisher: info.Publisher, Codec: c.String(), MimeType: mime,
		Key: rec.prefix + id + "." + ext,
	}})
	return t, nil
}

// notePublisher takes a sender report's clock offset for pub.
func (rec *recording) notePublisher(pub qun.UserID, off int64) {
	rec.mu.Lock()
	if cur, ok := rec.pubOff[pub]; !ok || off < cur {
		rec.pubOff[pub] = off
	}
	rec.mu.Unlock()
}

// snapshot returns the replay with its tracks as they stand. Called with
// rec.mu held.
func (rec *recording) snapshotLocked() *Replay {
	r := rec.r.clone()
	r.Tracks = r.Tracks[:0]
	for _, s := range rec.snaps {
		if !s.opened {
			continue
		}
		t := s.meta
		start := s.startNS
		if s.fromSR {
			start += rec.pubOff[t.Publisher]
			t.Synced = true
		}
		t.OffsetMs = max((start-rec.t0.UnixNano())/int64(time.Millisecond), 0)
		r.Tracks = append(r.Tracks, t)
	}
	return r
}

// persist writes the recording's metadata. A version conflict means a
// recovery elsewhere took the recording over: this process stops
// persisting and lets it be.
func (rec *recording) persist(heartbeat bool) {
	rec.persistMu.Lock()
	defer rec.persistMu.Unlock()
	rec.mu.Lock()
	if rec.lost {
		rec.mu.Unlock()
		return
	}
	if heartbeat {
		rec.r.Heartbeat = rec.svc.now()
	}
	r := rec.snapshotLocked()
	rec.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := rec.svc.store.Update(ctx, r)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	switch {
	case err == nil:
		rec.r.Version = r.Version
	case qun.ErrorCode(err) == qun.CodeConflict || qun.ErrorCode(err) == qun.CodeNotFound:
		rec.lost = true
		rec.log.Error("recording taken over by another process; no longer updating it", zap.Error(err))
	default:
		rec.log.Warn("persisting recording failed", zap.Error(err))
	}
}

// LiveEnded implements live.LiveEnder: live tells the recording at once
// that its live ended.
func (rec *recording) LiveEnded(at time.Time) { rec.svc.liveEnded(rec, at) }

// heartbeat shows the recording is alive and saves track progress, so
// that a recovery after a crash knows every file and where it goes. It
// also watches the live room's log for the live's end, which stops the
// recording: live tells its recorder itself (LiveEnded), so this is the
// fallback for an end it did not see (a live ended by a node that does
// not run its media, a Lives that does not tell).
func (rec *recording) heartbeat(every time.Duration, ended func(at time.Time)) {
	defer close(rec.beatDone)
	t := time.NewTicker(every)
	defer t.Stop()
	ref := qun.RoomRef{Tenant: rec.r.Tenant, Room: rec.r.Live}
	after := rec.r.Rooms[0].After // the live room comes first
	for {
		select {
		case <-rec.beatStop:
			return
		case <-t.C:
			rec.persist(true)
			rec.mu.Lock()
			seen := rec.ended
			rec.mu.Unlock()
			if seen {
				continue
			}
			ctx, cancel := context.WithTimeout(rec.ctx, every)
			at, ok := rec.findEnd(ctx, ref, &after)
			cancel()
			if ok {
				ended(at)
			}
		}
	}
}

// endPage is how many of the live room's events the heartbeat reads at a
// time while looking for the end.
const endPage = 500

// findEnd reads the live room's log after *after, up to its head (a busy
// room may log more events per heartbeat than one page), and reports the
// end event's time if it is there.
func (rec *recording) findEnd(ctx context.Context, ref qun.RoomRef, after *uint64) (time.Time, bool) {
	for {
		evs, err := rec.svc.hub.Log().Read(ctx, ref, *after, endPage)
		if err != nil {
			rec.log.Debug("watching the live's log", zap.Error(err))
			return time.Time{}, false
		}
		for _, ev := range evs {
			*after = ev.Seq
			if ev.Type == rec.svc.cfg.EndEvent {
				return time.UnixMilli(ev.TS), true
			}
		}
		if len(evs) < endPage {
			return time.Time{}, false
		}
	}
}

// stop detaches from the live, finalises every track's file and returns
// the replay (still in state recording). abort leaves the files as a
// crash would and does not persist.
func (rec *recording) stop(abort bool) *Replay {
	rec.stopOnce.Do(func() {
		rec.mu.Lock()
		rec.stopped = true
		detach := rec.detach
		rec.mu.Unlock()
		if abort {
			rec.mu.Lock()
			rec.lost = true // persist nothing more: as if the process died here
			rec.mu.Unlock()
		}
		if detach != nil && !abort {
			detach() // live closes every writer and waits for them
		}
		rec.mu.Lock()
		tracks := append([]*trackRecorder(nil), rec.tracks...)
		rec.mu.Unlock()
		for _, t := range tracks {
			if abort {
				t.abort()
			} else {
				_ = t.Close()
			}
		}
		close(rec.beatStop)
		rec.mu.Lock()
		beating := rec.beating
		rec.mu.Unlock()
		if beating {
			<-rec.beatDone
		}
		rec.cancel()
		rec.mu.Lock()
		rec.r.EndedAt = rec.svc.now()
		if !rec.endAt.IsZero() && rec.endAt.Before(rec.r.EndedAt) {
			rec.r.EndedAt = rec.endAt
		}
		rec.mu.Unlock()
		if !abort {
			rec.persist(true)
		}
	})
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.snapshotLocked()
}

// trackRecorder records one track: RTP → jitter buffer → frames → media
// time → container file. Its methods are called sequentially by live;
// mu also covers Close from a stopping recording.
type trackRecorder struct {
	rec   *recording
	idx   int
	id    string
	info  TrackInfo
	codec codec

	mu       sync.Mutex
	closed   bool
	ssrc     uint32
	haveSSRC bool
	jb       jitter
	asm      *assembler
	clock    *mediaClock
	w        mediaWriter
	failed   bool
	lastSize int64
	emitFn   func(*pkt, bool)
	outFn    frameOut
	keyAsked time.Time // the last keyframe request
}

var errTrackClosed = errors.New("replay: track writer closed")

// WriteRTP implements TrackWriter.
func (t *trackRecorder) WriteRTP(p *rtp.Packet) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return errTrackClosed
	}
	if !t.haveSSRC {
		t.ssrc, t.haveSSRC = p.SSRC, true
	} else if p.SSRC != t.ssrc {
		return nil // a stray stream (another simulcast layer): not this track's
	}
	t.jb.push(p, t.emitFn)
	return nil
}

func (t *trackRecorder) onPacket(p *pkt, gap bool) { t.asm.push(p, gap, t.outFn) }

// keyRetry is how often a track waiting for a keyframe after a loss asks
// the publisher again (the request or the keyframe may be lost too). live
// throttles the requests per layer on top of this.
const keyRetry = 500 * time.Millisecond

// askKeyframe asks the publisher for a keyframe: the assembler is
// dropping frames after a loss. Called with t.mu held.
func (t *trackRecorder) askKeyframe() {
	now := time.Now()
	if !t.keyAsked.IsZero() && now.Sub(t.keyAsked) < keyRetry {
		return
	}
	t.keyAsked = now
	t.info.RequestKeyframe()
}

func (t *trackRecorder) onFrame(ts uint32, key bool, data []byte) {
	if t.failed {
		return
	}
	at := t.clock.frame(ts, t.rec.svc.now)
	if t.w == nil && !t.open(key, data) {
		return
	}
	if err := t.w.WriteFrame(at, key, data); err != nil {
		t.fail(err)
		return
	}
	if size := t.w.Size(); size != t.lastSize { // a cluster or fragment reached the file
		t.lastSize = size
		t.progress(false)
	}
}

// open creates the track's file from its first frame, which for video is
// a keyframe carrying the picture size.
func (t *trackRecorder) open(key bool, frame []byte) bool {
	rec := t.rec
	rec.mu.Lock()
	meta := rec.snaps[t.idx].meta
	rec.mu.Unlock()
	f, err := rec.svc.storage.Create(rec.ctx, meta.Key)
	if err != nil {
		t.fail(err)
		return false
	}
	channels := int(t.info.Channels)
	var w mediaWriter
	switch t.codec {
	case codecVP8, codecVP9:
		tr := webmTrack{Video: true, CodecID: "V_VP8"}
		var ok bool
		if t.codec == codecVP8 {
			tr.Width, tr.Height, ok = vp8Size(frame)
		} else {
			tr.CodecID = "V_VP9"
			tr.Width, tr.Height, ok = vp9Size(frame)
		}
		if !ok {
			tr.Width, tr.Height = 640, 480 // players take the size from the bitstream anyway
		}
		meta.Width, meta.Height = tr.Width, tr.Height
		w, err = newWebMWriter(f, tr)
	case codecOpus:
		if channels < 1 || channels > 2 {
			channels = 2
		}
		meta.Channels = channels
		w, err = newWebMWriter(f, webmTrack{CodecID: "A_OPUS", CodecPrivate: opusHead(channels), SampleRate: 48000, Channels: channels, SeekPreRoll: 80_000_000})
	case codecH264:
		var mw *mp4Writer
		mw, err = newMP4Writer(f, t.asm.sps, t.asm.pps)
		if err == nil {
			meta.Width, meta.Height = mw.width, mw.height
			// The codecs parameter names the stream's profile and level.
			meta.MimeType = fmt.Sprintf(`video/mp4; codecs="avc1.%02X%02X%02X"`, t.asm.sps[1], t.asm.sps[2], t.asm.sps[3])
			w = mw
		}
	}
	if err != nil {
		_ = f.Close()
		t.fail(err)
		return false
	}
	t.w = w
	start, fromSR := t.clock.start()
	rec.mu.Lock()
	s := &rec.snaps[t.idx]
	s.meta.Width, s.meta.Height, s.meta.Channels, s.meta.MimeType = meta.Width, meta.Height, meta.Channels, meta.MimeType
	s.opened, s.startNS, s.fromSR = true, start, fromSR
	rec.mu.Unlock()
	rec.persist(false) // a recovery must know this file even if nothing else gets saved
	return true
}

func (t *trackRecorder) fail(err error) {
	t.failed = true
	t.rec.log.Error("recording track failed; its later media is lost", zap.String("track", t.id), zap.Error(err))
}

// progress copies the track's state into the recording's metadata.
func (t *trackRecorder) progress(done bool) {
	start, fromSR := t.clock.start()
	rec := t.rec
	rec.mu.Lock()
	s := &rec.snaps[t.idx]
	s.startNS, s.fromSR = start, fromSR
	if t.w != nil {
		s.meta.DurationMs = int64(t.w.Duration() / time.Millisecond)
		s.meta.Bytes = t.w.Size()
	}
	s.meta.Done = done && !t.failed
	rec.mu.Unlock()
}

// WriteRTCP implements TrackWriter: sender reports place the track on its
// sender's clock.
func (t *trackRecorder) WriteRTCP(pkts []rtcp.Packet) error {
	now := t.rec.svc.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return errTrackClosed
	}
	for _, p := range pkts {
		sr, ok := p.(*rtcp.SenderReport)
		if !ok || (t.haveSSRC && sr.SSRC != t.ssrc) {
			continue
		}
		ntp := ntpToUnix(sr.NTPTime)
		t.clock.report(sr.RTPTime, ntp)
		t.rec.notePublisher(t.info.Publisher, now.UnixNano()-ntp)
	}
	return nil
}

// Close implements TrackWriter: the track ended; its file is finalised.
func (t *trackRecorder) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	t.jb.flush(t.emitFn)
	t.asm.finish(t.outFn)
	var err error
	if t.w != nil {
		if err = t.w.Close(); err != nil {
			t.fail(err)
		}
	}
	t.progress(true)
	if t.w != nil {
		t.rec.persist(false)
	}
	return err
}

// abort stops the track as a crash would: nothing more reaches the file.
func (t *trackRecorder) abort() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	t.closed = true
	if t.w != nil {
		_ = t.w.Abort()
	}
}
