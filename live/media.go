package live

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/live/internal/sfu"
)

// JoinResult is live.join's reply.
type JoinResult struct {
	// Node, when set, is the address of the node that runs the live's
	// media (several nodes, Config.Placement): the client opens a
	// connection there and joins again; nothing else is set.
	Node string `json:"node,omitempty"`
	*Info
	// Head is the live room's last event seq when the client subscribed.
	Head uint64 `json:"head"`
	// ICEServers are the STUN/TURN servers the client should use.
	ICEServers []ICEServer `json:"ice_servers"`
}

// Join makes sess a participant of a live on air: it is subscribed to the
// live's room (from after, as with the built-in sub op) and gets every
// published track on its viewer connection (offers arrive as "live.offer"
// pushes).
func (s *Service) Join(ctx context.Context, sess *qun.Session, live string, after *uint64) (*JoinResult, error) {
	id := sess.Identity()
	rec, err := s.store.Get(ctx, id.Tenant, live)
	if err != nil {
		return nil, err
	}
	if _, err := s.require(ctx, id, rec, qun.RoleViewer); err != nil {
		return nil, err
	}
	if rec.State != StateLive && rec.State != StatePaused {
		return nil, qun.Errorf(qun.CodeConflict, "the live is %s", rec.State)
	}
	rm, err := s.room(ctx, id.Tenant, live)
	var away *elsewhere
	if errors.As(err, &away) {
		return &JoinResult{Node: away.addr}, nil
	}
	if err != nil {
		return nil, err
	}
	head, err := sess.Subscribe(ctx, rec.Room(), after)
	if err != nil && qun.ErrorCode(err) != qun.CodeConflict { // conflict: already subscribed with sub
		return nil, err
	}
	info, err := rm.join(sess)
	if err != nil {
		return nil, err
	}
	ice := s.cfg.Network.ICEServers
	if ice == nil {
		ice = []ICEServer{}
	}
	return &JoinResult{Info: info, Head: head, ICEServers: ice}, nil
}

// Leave ends sess's participation: its peer connections close.
func (s *Service) Leave(sess *qun.Session, live string) error {
	rm := s.runningRoom(sess.Identity().Tenant, live)
	if rm == nil || !rm.leave(sess) {
		return qun.Errorf(qun.CodeNotFound, "not in this live")
	}
	sess.Unsubscribe(Room(live))
	return nil
}

// participantOf returns sess's participant in a running live.
func (s *Service) participantOf(sess *qun.Session, live string) (*room, *participant, error) {
	rm := s.runningRoom(sess.Identity().Tenant, live)
	if rm == nil {
		return nil, nil, qun.Errorf(qun.CodeNotFound, "join the live first")
	}
	rm.mu.Lock()
	p := rm.parts[sess]
	rm.mu.Unlock()
	if p == nil {
		return nil, nil, qun.Errorf(qun.CodeNotFound, "join the live first")
	}
	return rm, p, nil
}

// mayPublish: the host and co-hosts on stage publish; tenant admins too.
// rm.mu is held.
func (rm *room) mayPublish(id *qun.Identity) bool {
	return id.User == rm.rec.Host || rm.stage[id.User] != nil || id.Has(qun.GrantAdmin)
}

// Publish applies a publisher's offer (first or renegotiated) and returns
// the answer. sources maps the offer's track ids (the msid track id, i.e.
// MediaStreamTrack.id) to what they carry; unnamed audio is the microphone
// and unnamed video the camera.
func (s *Service) Publish(ctx context.Context, sess *qun.Session, live, sdp string, sources map[string]Source) (string, error) {
	rm, p, err := s.participantOf(sess, live)
	if err != nil {
		return "", err
	}
	for _, src := range sources {
		if !src.valid() {
			return "", &qun.Error{Code: qun.CodeInvalid, Message: "unknown source " + string(src), Field: "sources"}
		}
	}
	rm.mu.Lock()
	if rm.closed {
		rm.mu.Unlock()
		return "", qun.Errorf(qun.CodeConflict, "the live is over")
	}
	if !rm.mayPublish(sess.Identity()) {
		rm.mu.Unlock()
		return "", qun.Errorf(qun.CodeForbidden, "only the host and co-hosts on stage may publish")
	}
	for k, v := range sources {
		p.sources[k] = v
	}
	pub := p.pub
	if pub == nil {
		var self atomic.Pointer[sfu.Publisher]
		pub, err = s.eng.NewPublisher(sfu.PublisherOptions{
			NewID:   qun.NewID,
			OnTrack: func(r *sfu.Receiver, clientID string) { rm.addTrack(p, r, clientID) },
			OnCandidate: func(c sfu.Candidate) {
				_ = sess.Push("live.candidate", map[string]any{"live": live, "pc": "pub", "candidate": c})
			},
			OnState: func(state string) {
				if state == "failed" {
					rm.pubFailed(p, self.Load())
				}
			},
		})
		if err != nil {
			rm.mu.Unlock()
			return "", err
		}
		self.Store(pub)
		p.pub = pub
	}
	early := p.early
	p.early = nil
	rm.mu.Unlock()
	answer, err := pub.HandleOffer(sdp)
	for _, c := range early {
		_ = pub.AddCandidate(c)
	}
	if err != nil {
		return "", sdpError(err)
	}
	return answer, nil
}

func sdpError(err error) error {
	var oe *sfu.OfferError
	if errors.As(err, &oe) {
		return &qun.Error{Code: qun.CodeInvalid, Message: oe.Msg, Field: "sdp"}
	}
	switch {
	case errors.Is(err, sfu.ErrNoOffer):
		return qun.Errorf(qun.CodeConflict, "no offer is waiting for an answer")
	case errors.Is(err, sfu.ErrClosed):
		return qun.Errorf(qun.CodeConflict, "the connection is closed; join again")
	}
	return err
}

// Answer applies a viewer's answer to the server's last offer.
func (s *Service) Answer(sess *qun.Session, live, sdp string) error {
	rm, p, err := s.participantOf(sess, live)
	if err != nil {
		return err
	}
	rm.mu.Lock()
	sub := p.sub
	rm.mu.Unlock()
	if sub == nil {
		return qun.Errorf(qun.CodeConflict, "no offer is waiting for an answer")
	}
	return sdpError(sub.HandleAnswer(sdp))
}

// ICECandidate is a trickled candidate, as the browser's RTCIceCandidateInit.
type ICECandidate struct {
	Candidate        string  `json:"candidate" validate:"max=1024"`
	SDPMid           *string `json:"sdpMid,omitempty" validate:"omitempty,max=64"`
	SDPMLineIndex    *uint16 `json:"sdpMLineIndex,omitempty"`
	UsernameFragment *string `json:"usernameFragment,omitempty" validate:"omitempty,max=256"`
}

// Candidate adds a client ICE candidate to its publishing ("pub") or
// viewing ("sub") connection.
func (s *Service) Candidate(sess *qun.Session, live, pc string, ic ICECandidate) error {
	c := sfu.Candidate{Candidate: ic.Candidate, SDPMid: ic.SDPMid, SDPMLineIndex: ic.SDPMLineIndex, UsernameFragment: ic.UsernameFragment}
	rm, p, err := s.participantOf(sess, live)
	if err != nil {
		return err
	}
	rm.mu.Lock()
	pub, sub := p.pub, p.sub
	rm.mu.Unlock()
	switch {
	case pc == "pub" && pub == nil:
		// Browsers trickle right after setLocalDescription, so candidates may
		// overtake the live.offer they belong to: keep them for it.
		rm.mu.Lock()
		if p.pub == nil {
			if len(p.early) < maxEarlyCandidates {
				p.early = append(p.early, c)
			}
			rm.mu.Unlock()
			return nil
		}
		pub = p.pub
		rm.mu.Unlock()
		err = pub.AddCandidate(c)
	case pc == "pub":
		err = pub.AddCandidate(c)
	case pc == "sub" && sub != nil:
		err = sub.AddCandidate(c)
	default:
		return qun.Errorf(qun.CodeConflict, "no %s connection yet", pc)
	}
	if err != nil {
		return &qun.Error{Code: qun.CodeInvalid, Message: "bad candidate: " + err.Error(), Field: "candidate"}
	}
	return nil
}

// RestartICE makes the server send a new offer with fresh ICE credentials
// on the viewer connection (the client's network changed). The publishing
// connection restarts by the client sending an offer with iceRestart.
func (s *Service) RestartICE(sess *qun.Session, live string) error {
	rm, p, err := s.participantOf(sess, live)
	if err != nil {
		return err
	}
	rm.mu.Lock()
	sub := p.sub
	rm.mu.Unlock()
	if sub == nil {
		return qun.Errorf(qun.CodeConflict, "no viewer connection yet")
	}
	return sdpError(sub.RestartICE())
}

// maxEarlyCandidates bounds the candidates kept for an offer not yet made.
const maxEarlyCandidates = 32

var layerNames = map[string]int{"low": sfu.LayerLow, "mid": sfu.LayerMid, "high": sfu.LayerHigh}

// SetLayer caps the simulcast layer sess receives for track (or, with
// track "", for every current and future track): the size it displays.
func (s *Service) SetLayer(sess *qun.Session, live, trackID, layer string) error {
	l, ok := layerNames[layer]
	if !ok {
		return &qun.Error{Code: qun.CodeInvalid, Message: "layer is low, mid or high", Field: "layer"}
	}
	rm, p, err := s.participantOf(sess, live)
	if err != nil {
		return err
	}
	rm.mu.Lock()
	sub := p.sub
	if trackID == "" {
		p.maxLayer = l
	}
	rm.mu.Unlock()
	if sub == nil {
		if trackID == "" {
			return nil
		}
		return qun.Errorf(qun.CodeNotFound, "no such track")
	}
	if trackID != "" {
		d := sub.DownTrack(trackID)
		if d == nil {
			return qun.Errorf(qun.CodeNotFound, "no such track")
		}
		d.SetMaxLayer(l)
		return nil
	}
	for _, id := range sub.Tracks() {
		if d := sub.DownTrack(id); d != nil {
			d.SetMaxLayer(l)
		}
	}
	return nil
}
