package livepeer

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/pion/webrtc/v3"
	"github.com/qunkit/qun/internal/qclient"
)

// HubPeer speaks live's signalling over a Hub connection for a pion
// Publisher and/or Viewer, as the browser SDK does: it answers the
// server's "live.offer" pushes, trickles candidates both ways, and passes
// every other frame on to Frames.
type HubPeer struct {
	C    *qclient.Client
	Live string
	api  *webrtc.API

	mu     sync.Mutex
	viewer *Viewer
	pub    *Publisher
	frames chan qclient.Frame
	errs   chan error
	done   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once
}

// NewHubPeer starts reading c's frames. c must not be read by anyone else.
func NewHubPeer(c *qclient.Client, api *webrtc.API, live string) *HubPeer {
	h := &HubPeer{C: c, Live: live, api: api, frames: make(chan qclient.Frame, 4096), errs: make(chan error, 16), done: make(chan struct{})}
	h.wg.Add(1)
	go h.read()
	return h
}

// Frames delivers the frames that are not signalling (events, sub.end).
func (h *HubPeer) Frames() <-chan qclient.Frame { return h.frames }

// Errs reports signalling failures (bad server offers, failed answers).
func (h *HubPeer) Errs() <-chan error { return h.errs }

func (h *HubPeer) fail(err error) {
	select {
	case h.errs <- err:
	default:
	}
}

func (h *HubPeer) read() {
	defer h.wg.Done()
	defer close(h.frames)
	for {
		select {
		case <-h.done:
			return
		case f, ok := <-h.C.Frames():
			if !ok {
				return
			}
			if f.T == "push" && (f.Type == "live.offer" || f.Type == "live.candidate") {
				h.signal(f)
				continue
			}
			select {
			case h.frames <- f:
			default: // nobody reads events (load tool): drop
			}
		}
	}
}

func (h *HubPeer) call(op string, d any, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return h.C.Call(ctx, op, d, out)
}

func (h *HubPeer) signal(f qclient.Frame) {
	var d struct {
		Live      string                  `json:"live"`
		SDP       string                  `json:"sdp"`
		PC        string                  `json:"pc"`
		Candidate webrtc.ICECandidateInit `json:"candidate"`
	}
	if err := json.Unmarshal(f.D, &d); err != nil || d.Live != h.Live {
		return
	}
	h.mu.Lock()
	v, p := h.viewer, h.pub
	h.mu.Unlock()
	switch f.Type {
	case "live.offer":
		if v == nil {
			h.fail(fmt.Errorf("offer without a viewer"))
			return
		}
		if err := v.PC.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: d.SDP}); err != nil {
			h.fail(fmt.Errorf("set server offer: %w", err))
			return
		}
		ans, err := v.PC.CreateAnswer(nil)
		if err == nil {
			err = v.PC.SetLocalDescription(ans)
		}
		if err != nil {
			h.fail(fmt.Errorf("answer: %w", err))
			return
		}
		if err := h.call("live.answer", map[string]any{"live": h.Live, "sdp": ans.SDP}, nil); err != nil {
			h.fail(fmt.Errorf("live.answer: %w", err))
		}
	case "live.candidate":
		switch {
		case d.PC == "sub" && v != nil:
			_ = v.PC.AddICECandidate(d.Candidate)
		case d.PC == "pub" && p != nil:
			_ = p.PC.AddICECandidate(d.Candidate)
		}
	}
}

func (h *HubPeer) trickle(pc *webrtc.PeerConnection, kind string) {
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return
		}
		if err := h.call("live.candidate", map[string]any{"live": h.Live, "pc": kind, "candidate": c.ToJSON()}, nil); err != nil {
			h.fail(fmt.Errorf("live.candidate: %w", err))
		}
	})
}

// Join creates the viewer connection and calls live.join; out receives the reply.
func (h *HubPeer) Join(out any) (*Viewer, error) {
	v, err := NewViewer(h.api)
	if err != nil {
		return nil, err
	}
	h.trickle(v.PC, "sub")
	h.mu.Lock()
	h.viewer = v
	h.mu.Unlock()
	if err := h.call("live.join", map[string]any{"live": h.Live}, out); err != nil {
		return v, err
	}
	return v, nil
}

// Publish creates a publisher, sends its offer with live.offer, applies the
// answer and starts sending. On error the publisher is closed.
func (h *HubPeer) Publish(o PublisherOptions, sources map[string]string) (*Publisher, error) {
	p, err := NewPublisher(h.api, o)
	if err != nil {
		return nil, err
	}
	if err := h.publish(p, sources); err != nil {
		h.mu.Lock()
		h.pub = nil
		h.mu.Unlock()
		p.Close()
		return nil, err
	}
	return p, nil
}

func (h *HubPeer) publish(p *Publisher, sources map[string]string) error {
	h.trickle(p.PC, "pub")
	h.mu.Lock()
	h.pub = p
	h.mu.Unlock()
	offer, err := p.PC.CreateOffer(nil)
	if err == nil {
		err = p.PC.SetLocalDescription(offer)
	}
	if err != nil {
		return err
	}
	var res struct {
		SDP string `json:"sdp"`
	}
	d := map[string]any{"live": h.Live, "sdp": offer.SDP}
	if sources != nil {
		d["sources"] = sources
	}
	if err := h.call("live.offer", d, &res); err != nil {
		return err
	}
	if err := p.PC.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: res.SDP}); err != nil {
		return err
	}
	p.Start()
	return nil
}

// Close closes the peers and stops reading (the Hub connection stays
// open: the caller closes it). Idempotent.
func (h *HubPeer) Close() {
	h.once.Do(func() {
		close(h.done)
		h.wg.Wait()
		h.mu.Lock()
		v, p := h.viewer, h.pub
		h.mu.Unlock()
		if p != nil {
			p.Close()
		}
		if v != nil {
			v.Close()
		}
	})
}
