package sfu

import (
	"errors"
	"sync"

	"github.com/pion/webrtc/v3"
	"go.uber.org/zap"
)

// SubscriberOptions are a viewer connection's signalling callbacks.
type SubscriberOptions struct {
	// OnOffer sends a server offer to the client, which answers with
	// HandleAnswer. Called for the first track and every change after it.
	OnOffer func(sdp string)
	// OnCandidate trickles a server ICE candidate to the client.
	OnCandidate func(Candidate)
	// OnState reports the peer connection's state ("connected", "failed", ...).
	OnState func(state string)
}

// Subscriber is the server→viewer peer connection. The server is always
// the offerer on it, so there is no glare: changes made while an offer is
// outstanding are folded into the next offer, sent once the answer arrives.
type Subscriber struct {
	e    *Engine
	pc   *webrtc.PeerConnection
	opts SubscriberOptions
	log  *zap.Logger

	mu          sync.Mutex
	downs       map[string]*DownTrack
	negotiating bool
	pending     bool
	restart     bool
	closed      bool
	cands       []Candidate // received before the first answer

	wg sync.WaitGroup
}

// ErrClosed is returned after Close.
var ErrClosed = errors.New("sfu: closed")

// NewSubscriber creates a viewer peer connection. It sends no offer until
// the first Subscribe.
func (e *Engine) NewSubscriber(opts SubscriberOptions) (*Subscriber, error) {
	pc, err := e.newPC(e.subAPI, opts.OnCandidate, opts.OnState)
	if err != nil {
		return nil, err
	}
	return &Subscriber{e: e, pc: pc, opts: opts, log: e.log, downs: map[string]*DownTrack{}}, nil
}

// Subscribe adds an outgoing copy of r for this viewer, capped at
// maxLayer, and renegotiates. Subscribing twice to a track is a no-op.
func (s *Subscriber) Subscribe(r *Receiver, maxLayer int) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if _, dup := s.downs[r.id]; dup {
		s.mu.Unlock()
		return nil
	}
	d := newDownTrack(r, s, maxLayer)
	tr, err := s.pc.AddTransceiverFromTrack(d, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		s.mu.Unlock()
		return err
	}
	d.sender = tr.Sender()
	s.downs[r.id] = d
	s.wg.Add(1)
	go d.readRTCP()
	s.mu.Unlock()
	r.addDown(d)
	r.OnClose(func() { s.Unsubscribe(r.id) })
	s.negotiate()
	return nil
}

// Unsubscribe stops sending track id to this viewer and renegotiates.
func (s *Subscriber) Unsubscribe(id string) {
	s.mu.Lock()
	d := s.downs[id]
	if d == nil || s.closed {
		s.mu.Unlock()
		return
	}
	delete(s.downs, id)
	s.mu.Unlock()
	d.r.removeDown(d)
	if err := s.pc.RemoveTrack(d.sender); err != nil {
		s.log.Debug("remove track", zap.Error(err))
	}
	s.negotiate()
}

// DownTrack returns the viewer's copy of track id, or nil.
func (s *Subscriber) DownTrack(id string) *DownTrack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.downs[id]
}

// Tracks returns the ids of the tracks this viewer receives.
func (s *Subscriber) Tracks() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.downs))
	for id := range s.downs {
		ids = append(ids, id)
	}
	return ids
}

// negotiate sends a new offer, or marks one pending if an offer is
// already waiting for its answer.
func (s *Subscriber) negotiate() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if s.negotiating {
		s.pending = true
		s.mu.Unlock()
		return
	}
	s.negotiating = true
	restart := s.restart
	s.restart = false
	s.mu.Unlock()

	offer, err := s.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: restart})
	if err == nil {
		err = s.pc.SetLocalDescription(offer)
	}
	if err != nil {
		s.log.Warn("subscriber offer failed", zap.Error(err))
		s.mu.Lock()
		s.negotiating = false
		s.mu.Unlock()
		return
	}
	if s.opts.OnOffer != nil {
		s.opts.OnOffer(offer.SDP)
	}
}

// ErrNoOffer is returned for an answer when no offer is outstanding.
var ErrNoOffer = errors.New("no offer is waiting for an answer")

// HandleAnswer applies the client's answer to the last offer.
func (s *Subscriber) HandleAnswer(sdp string) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if !s.negotiating {
		s.mu.Unlock()
		return ErrNoOffer
	}
	s.mu.Unlock()
	if err := s.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		return &OfferError{Msg: "answer rejected: " + err.Error()}
	}
	s.mu.Lock()
	s.negotiating = false
	again := s.pending
	s.pending = false
	cands := s.cands
	s.cands = nil
	s.mu.Unlock()
	for _, c := range cands {
		_ = s.pc.AddICECandidate(c)
	}
	if again {
		s.negotiate()
	}
	return nil
}

// AddCandidate adds a client ICE candidate (buffered until the first answer).
func (s *Subscriber) AddCandidate(c Candidate) error {
	s.mu.Lock()
	if s.pc.RemoteDescription() == nil {
		if len(s.cands) < 64 {
			s.cands = append(s.cands, c)
		}
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	return s.pc.AddICECandidate(c)
}

// RestartICE sends a new offer with fresh ICE credentials (the client's
// network changed). An offer still waiting for its answer is rolled back.
func (s *Subscriber) RestartICE() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.restart = true
	if s.negotiating {
		if s.pc.SignalingState() == webrtc.SignalingStateHaveLocalOffer {
			if err := s.pc.SetLocalDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeRollback}); err != nil {
				s.log.Debug("rollback", zap.Error(err))
			}
		}
		s.negotiating = false
		s.pending = false
	}
	s.mu.Unlock()
	s.negotiate()
	return nil
}

// Close closes the peer connection and waits for its goroutines. Idempotent.
func (s *Subscriber) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	downs := s.downs
	s.downs = map[string]*DownTrack{}
	s.mu.Unlock()
	for _, d := range downs {
		d.r.removeDown(d)
	}
	if err := s.pc.Close(); err != nil {
		s.log.Debug("subscriber close", zap.Error(err))
	}
	s.wg.Wait()
}
