package sfu

import (
	"sync"

	"github.com/pion/webrtc/v3"
	"go.uber.org/zap"
)

// PublisherOptions are a publishing connection's callbacks.
type PublisherOptions struct {
	// NewID names each new track; the id is also the stream id viewers see.
	NewID func() string
	// OnTrack is called once per published track (not per simulcast layer),
	// with the track id the client gave it (the msid track id).
	OnTrack func(r *Receiver, clientTrackID string)
	// OnCandidate trickles a server ICE candidate to the client.
	OnCandidate func(Candidate)
	// OnState reports the peer connection's state.
	OnState func(state string)
}

// Publisher is the client→server peer connection of one publisher. The
// client is always the offerer on it (adding a screen share is a new
// offer), so there is no glare with the server's offers to viewers, which
// travel on a separate Subscriber.
type Publisher struct {
	e    *Engine
	pc   *webrtc.PeerConnection
	opts PublisherOptions
	log  *zap.Logger

	mu        sync.Mutex
	receivers map[string]*Receiver // by client track id
	closed    bool
	cands     []Candidate
}

// NewPublisher creates a publishing peer connection.
func (e *Engine) NewPublisher(opts PublisherOptions) (*Publisher, error) {
	pc, err := e.newPC(e.pubAPI, opts.OnCandidate, opts.OnState)
	if err != nil {
		return nil, err
	}
	p := &Publisher{e: e, pc: pc, opts: opts, log: e.log, receivers: map[string]*Receiver{}}
	pc.OnTrack(p.onTrack)
	return p, nil
}

func (p *Publisher) onTrack(t *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	key := t.ID()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	r := p.receivers[key]
	isNew := r == nil
	if isNew {
		if len(p.receivers) >= p.e.cfg.MaxTracks {
			p.mu.Unlock()
			p.log.Warn("publisher track over the limit ignored", zap.String("track", key))
			return
		}
		id := key
		if p.opts.NewID != nil {
			id = p.opts.NewID()
		}
		r = newReceiver(id, id, p.pc, recv, t, p.log, p.e.cfg.KeyframeInterval, &p.e.stats)
		p.receivers[key] = r
		r.OnClose(func() {
			p.mu.Lock()
			if p.receivers[key] == r {
				delete(p.receivers, key)
			}
			p.mu.Unlock()
		})
	}
	p.mu.Unlock()
	if !r.addLayer(t) {
		return
	}
	if isNew && p.opts.OnTrack != nil {
		p.opts.OnTrack(r, key)
	}
}

// HandleOffer checks and applies the client's offer and returns the answer.
// A refused offer (*OfferError) leaves the connection as it was.
func (p *Publisher) HandleOffer(sdp string) (string, error) {
	if err := checkOffer(sdp, p.e.cfg.MaxTracks); err != nil {
		return "", err
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return "", ErrClosed
	}
	p.mu.Unlock()
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return "", &OfferError{Msg: "offer rejected: " + err.Error()}
	}
	answer, err := p.pc.CreateAnswer(nil)
	if err == nil {
		err = p.pc.SetLocalDescription(answer)
	}
	if err != nil {
		// Put the connection back in a state that accepts the next offer.
		_ = p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeRollback})
		return "", &OfferError{Msg: "cannot answer: " + err.Error()}
	}
	p.mu.Lock()
	cands := p.cands
	p.cands = nil
	p.mu.Unlock()
	for _, c := range cands {
		_ = p.pc.AddICECandidate(c)
	}
	return answer.SDP, nil
}

// AddCandidate adds a client ICE candidate (buffered until the first offer).
func (p *Publisher) AddCandidate(c Candidate) error {
	p.mu.Lock()
	if p.pc.RemoteDescription() == nil {
		if len(p.cands) < 64 {
			p.cands = append(p.cands, c)
		}
		p.mu.Unlock()
		return nil
	}
	p.mu.Unlock()
	return p.pc.AddICECandidate(c)
}

// Receivers returns the publisher's current tracks.
func (p *Publisher) Receivers() []*Receiver {
	p.mu.Lock()
	defer p.mu.Unlock()
	rs := make([]*Receiver, 0, len(p.receivers))
	for _, r := range p.receivers {
		rs = append(rs, r)
	}
	return rs
}

// Close closes the peer connection: every track stops at once (viewers'
// copies are removed through the receivers' OnClose). It waits for the
// reader goroutines. Idempotent.
func (p *Publisher) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	rs := make([]*Receiver, 0, len(p.receivers))
	for _, r := range p.receivers {
		rs = append(rs, r)
	}
	p.mu.Unlock()
	if err := p.pc.Close(); err != nil {
		p.log.Debug("publisher close", zap.Error(err))
	}
	for _, r := range rs {
		r.wait()
	}
}
