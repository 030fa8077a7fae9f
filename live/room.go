package live

import (
	"context"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/live/internal/sfu"
	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// room is a live on air on this node: its participants' peer connections,
// published tracks, stage, like counter and speaker detector. Durable facts
// (state, relays) live in the Store; the room keeps a copy.
type room struct {
	svc    *Service
	tenant qun.TenantID
	id     string
	ref    qun.RoomRef
	log    *zap.Logger

	mu       sync.Mutex
	rec      *Record
	parts    map[*qun.Session]*participant
	tracks   map[string]*track
	stage    map[qun.UserID]*stageMember
	requests map[qun.UserID]time.Time
	kicked   map[qun.UserID]bool
	likers   map[qun.UserID]*rate.Limiter
	closed   bool
	likes    int64 // total
	pending  int64 // since the last flush
	speaker  qun.UserID
	recorder *recording

	stop chan struct{}
	wg   sync.WaitGroup
}

type participant struct {
	sess     *qun.Session
	user     qun.UserID
	pub      *sfu.Publisher
	sub      *sfu.Subscriber
	maxLayer int
	sources  map[string]Source // client track id → source, from the last offer
	early    []sfu.Candidate   // publishing candidates that arrived before the offer
}

type track struct {
	id     string
	user   qun.UserID
	sess   *qun.Session
	source Source
	recv   *sfu.Receiver
	forced bool // muted by the host
	off    bool // turned off by the publisher (camera/mic off)

	level atomic.Int32 // loudest level in the window, 127 = silence; -1 none
}

type stageMember struct {
	since time.Time
}

// TrackView is a published track as clients see it.
type TrackView struct {
	ID     string     `json:"id"` // also the stream id of the viewer's MediaStream
	User   qun.UserID `json:"user"`
	Source Source     `json:"source"`
	Kind   string     `json:"kind"`
	Muted  bool       `json:"muted,omitempty"`
}

func newRoom(s *Service, rec *Record) *room {
	rm := &room{
		svc: s, tenant: rec.Tenant, id: rec.ID, ref: qun.RoomRef{Tenant: rec.Tenant, Room: rec.Room()},
		log: s.log.With(zap.String("live", rec.ID)), rec: rec,
		parts: map[*qun.Session]*participant{}, tracks: map[string]*track{}, stage: map[qun.UserID]*stageMember{},
		requests: map[qun.UserID]time.Time{}, kicked: map[qun.UserID]bool{}, likers: map[qun.UserID]*rate.Limiter{},
		stop: make(chan struct{}),
	}
	rm.wg.Add(1)
	go rm.tick()
	return rm
}

// tick flushes likes and computes the active speaker: one goroutine per
// room, stopped by close.
func (rm *room) tick() {
	defer rm.wg.Done()
	likeT := time.NewTicker(rm.svc.cfg.LikeFlush)
	defer likeT.Stop()
	spkT := time.NewTicker(rm.svc.cfg.SpeakerInterval)
	defer spkT.Stop()
	for {
		select {
		case <-rm.stop:
			return
		case <-likeT.C:
			rm.flushLikes()
		case <-spkT.C:
			rm.updateSpeaker()
		}
	}
}

func (rm *room) publish(typ string, actor qun.UserID, data any) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := rm.svc.hub.Publish(ctx, rm.ref, qun.Draft{Type: typ, Actor: actor, Data: data}); err != nil {
		rm.log.Warn("publish event", zap.String("type", typ), zap.Error(err))
	}
}

func (rm *room) record() *Record {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	return rm.rec.clone()
}

func (rm *room) setRecord(r *Record) {
	rm.mu.Lock()
	rm.rec = r.clone()
	rm.mu.Unlock()
}

func (rm *room) isKicked(u qun.UserID) bool {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	return rm.kicked[u]
}

func (rm *room) onStage(u qun.UserID) bool {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	return rm.stage[u] != nil
}

// trackList returns the tracks, ordered by id. rm.mu is held.
func (rm *room) trackList() []*track {
	out := make([]*track, 0, len(rm.tracks))
	for _, t := range rm.tracks {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

func (t *track) view() TrackView {
	return TrackView{ID: t.id, User: t.user, Source: t.source, Kind: t.recv.Kind(), Muted: t.forced || t.off}
}

// viewerCount is the number of distinct users connected. rm.mu is held.
func (rm *room) viewerCount() int {
	users := map[qun.UserID]bool{}
	for _, p := range rm.parts {
		users[p.user] = true
	}
	return len(users)
}

// Info is a live as live.get and live.join return it.
type Info struct {
	Record
	Room     qun.RoomID   `json:"room"`
	Viewers  int          `json:"viewers"`
	Likes    int64        `json:"likes"`
	Stage    []qun.UserID `json:"stage"`
	Requests []qun.UserID `json:"requests,omitempty"`
	Tracks   []TrackView  `json:"tracks"`
}

func (rm *room) info() *Info {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	in := &Info{Record: *rm.rec.clone(), Room: rm.rec.Room(), Viewers: rm.viewerCount(), Likes: rm.likes, Stage: []qun.UserID{}, Tracks: []TrackView{}}
	for u := range rm.stage {
		in.Stage = append(in.Stage, u)
	}
	for u := range rm.requests {
		in.Requests = append(in.Requests, u)
	}
	sort.Slice(in.Stage, func(i, j int) bool { return in.Stage[i] < in.Stage[j] })
	sort.Slice(in.Requests, func(i, j int) bool { return in.Requests[i] < in.Requests[j] })
	for _, t := range rm.trackList() {
		in.Tracks = append(in.Tracks, t.view())
	}
	return in
}

// join adds sess as a participant (idempotent per session) and returns
// the live's info. The caller has checked the role.
func (rm *room) join(sess *qun.Session) (*Info, error) {
	rm.mu.Lock()
	if rm.closed {
		rm.mu.Unlock()
		return nil, qun.Errorf(qun.CodeConflict, "the live is over")
	}
	user := sess.Identity().User
	if q := rm.parts[sess]; q != nil {
		// Joining again after the viewer connection failed sets up a new one.
		tracks := rm.trackList()
		resub := q.sub == nil && slices.ContainsFunc(tracks, func(t *track) bool { return t.sess != sess })
		rm.mu.Unlock()
		if resub {
			rm.subscribeAll(q, tracks)
		}
		return rm.info(), nil
	}
	before := rm.viewerCount()
	p := &participant{sess: sess, user: user, maxLayer: sfu.LayerHigh, sources: map[string]Source{}}
	rm.parts[sess] = p
	n := rm.viewerCount()
	tracks := rm.trackList()
	rm.mu.Unlock()
	sess.OnClose(func() { rm.leave(sess) })
	if len(tracks) > 0 {
		rm.subscribeAll(p, tracks)
	}
	if n != before {
		rm.publish("live.joined", user, map[string]any{"viewers": n})
	}
	return rm.info(), nil
}

// leave removes sess from the live: its peer connections close (its tracks
// stop for everyone).
func (rm *room) leave(sess *qun.Session) bool {
	rm.mu.Lock()
	p := rm.parts[sess]
	if p == nil {
		rm.mu.Unlock()
		return false
	}
	delete(rm.parts, sess)
	n := rm.viewerCount()
	stillHere := false
	for _, q := range rm.parts {
		if q.user == p.user {
			stillHere = true
		}
	}
	rm.mu.Unlock()
	p.close()
	if !stillHere {
		rm.publish("live.left", p.user, map[string]any{"viewers": n})
	}
	return true
}

func (p *participant) close() {
	if p.pub != nil {
		p.pub.Close()
	}
	if p.sub != nil {
		p.sub.Close()
	}
}

// subscriber returns p's viewer connection, creating it on first use.
// rm.mu must not be held.
func (rm *room) subscriber(p *participant) (*sfu.Subscriber, error) {
	rm.mu.Lock()
	if p.sub != nil || rm.closed {
		s := p.sub
		rm.mu.Unlock()
		if s == nil {
			return nil, qun.Errorf(qun.CodeConflict, "the live is over")
		}
		return s, nil
	}
	sess := p.sess
	live := rm.id
	var self atomic.Pointer[sfu.Subscriber]
	sub, err := rm.svc.eng.NewSubscriber(sfu.SubscriberOptions{
		OnOffer: func(sdp string) {
			_ = sess.Push("live.offer", map[string]any{"live": live, "sdp": sdp})
		},
		OnCandidate: func(c sfu.Candidate) {
			_ = sess.Push("live.candidate", map[string]any{"live": live, "pc": "sub", "candidate": c})
		},
		OnState: func(state string) {
			if state == "failed" {
				rm.subFailed(p, self.Load())
			}
		},
	})
	if err != nil {
		rm.mu.Unlock()
		return nil, err
	}
	self.Store(sub)
	p.sub = sub
	rm.mu.Unlock()
	return sub, nil
}

func (rm *room) subscribeAll(p *participant, tracks []*track) {
	sub, err := rm.subscriber(p)
	if err != nil {
		return
	}
	for _, t := range tracks {
		if t.sess == p.sess {
			continue // one's own tracks are not sent back
		}
		if err := sub.Subscribe(t.recv, p.maxLayer); err != nil {
			rm.log.Debug("subscribe", zap.Error(err))
		}
	}
}

// addTrack registers a newly published track and sends it to everyone else.
func (rm *room) addTrack(p *participant, r *sfu.Receiver, clientID string) {
	rm.mu.Lock()
	src, ok := p.sources[clientID]
	if !ok {
		src = SourceCamera
		if r.Kind() == "audio" {
			src = SourceMicrophone
		}
	}
	if rm.closed || rm.parts[p.sess] != p {
		rm.mu.Unlock()
		return
	}
	t := &track{id: r.ID(), user: p.user, sess: p.sess, source: src, recv: r}
	t.level.Store(-1)
	if rm.rec.State == StatePaused {
		r.SetMuted(true)
	}
	rm.tracks[t.id] = t
	others := make([]*participant, 0, len(rm.parts))
	for _, q := range rm.parts {
		if q != p {
			others = append(others, q)
		}
	}
	recording := rm.recorder
	rm.mu.Unlock()

	if r.Kind() == "audio" {
		r.OnAudioLevel(func(level uint8) {
			for {
				cur := t.level.Load()
				if cur >= 0 && int32(level) >= cur {
					return
				}
				if t.level.CompareAndSwap(cur, int32(level)) {
					return
				}
			}
		})
	}
	r.OnClose(func() { rm.removeTrack(t) })
	rm.publish("live.track", p.user, t.view())
	for _, q := range others {
		rm.subscribeAll(q, []*track{t})
	}
	if recording != nil {
		recording.trackStarted(t)
	}
}

func (rm *room) removeTrack(t *track) {
	rm.mu.Lock()
	if rm.tracks[t.id] != t {
		rm.mu.Unlock()
		return
	}
	delete(rm.tracks, t.id)
	closed := rm.closed
	rm.mu.Unlock()
	if !closed {
		rm.publish("live.untrack", t.user, map[string]any{"id": t.id, "source": t.source})
	}
}

// updateSpeaker picks the loudest voice of the last interval and, when it
// changes, tells the room with an ephemeral event (not kept in the log).
func (rm *room) updateSpeaker() {
	rm.mu.Lock()
	best, bestLevel := qun.UserID(""), int32(128)
	type lv struct {
		User  qun.UserID `json:"user"`
		Level int32      `json:"level"` // dBov below full scale: 0 loudest, 127 silence
	}
	var levels []lv
	for _, t := range rm.trackList() {
		l := t.level.Swap(-1)
		if l < 0 || t.forced || t.off {
			continue
		}
		levels = append(levels, lv{t.user, l})
		if l < bestLevel {
			best, bestLevel = t.user, l
		}
	}
	if bestLevel > 60 { // quieter than -60 dBov: nobody is speaking
		best = ""
	}
	changed := best != rm.speaker
	rm.speaker = best
	rm.mu.Unlock()
	if !changed && len(levels) == 0 {
		return
	}
	if changed {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = rm.svc.hub.PublishEphemeral(ctx, rm.ref, qun.Draft{Type: "live.speaker", Actor: best, Data: map[string]any{"user": best, "levels": levels}})
		cancel()
	}
}

func (rm *room) flushLikes() {
	rm.mu.Lock()
	n := rm.pending
	rm.pending = 0
	total := rm.likes
	rm.mu.Unlock()
	if n > 0 {
		rm.publish("live.likes", "", map[string]any{"delta": n, "total": total})
	}
}

func (rm *room) like(user qun.UserID, n int) (int64, error) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	lim := rm.likers[user]
	if lim == nil {
		if len(rm.likers) > 100_000 {
			clear(rm.likers) // bound memory; a cleared bucket starts full again
		}
		lim = rate.NewLimiter(rate.Limit(rm.svc.cfg.LikesPerSecond), rm.svc.cfg.LikeBurst)
		rm.likers[user] = lim
	}
	if !lim.AllowN(time.Now(), n) {
		return 0, qun.Errorf(qun.CodeRateLimited, "too many likes; slow down")
	}
	rm.likes += int64(n)
	rm.pending += int64(n)
	return rm.likes, nil
}

// setPaused mutes or unmutes every track (forced mutes stay).
func (rm *room) setPaused(paused bool) {
	rm.mu.Lock()
	for _, t := range rm.tracks {
		t.recv.SetMuted(paused || t.forced || t.off)
	}
	rm.mu.Unlock()
}

// close ends the room's media: every peer connection, the recorder, the
// ticker. It returns the recording it detached, if any. Idempotent.
func (rm *room) close() *recording {
	rm.mu.Lock()
	if rm.closed {
		rm.mu.Unlock()
		return nil
	}
	rm.closed = true
	parts := rm.parts
	rm.parts = map[*qun.Session]*participant{}
	rec := rm.recorder
	rm.mu.Unlock()
	close(rm.stop)
	rm.wg.Wait()
	rm.flushLikes()
	if rec != nil {
		rec.detach()
	}
	for _, p := range parts {
		p.close()
	}
	return rec
}
