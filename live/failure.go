package live

import (
	"github.com/qunkit/qun/live/internal/sfu"
	"go.uber.org/zap"
)

// A peer connection fails when the server hears nothing from its client
// for Config.MediaTimeout (ICE) or its DTLS handshake fails. The client's
// WebSocket may well be up meanwhile (UDP blocked, a network change that
// TCP survived), and the session alone would keep the dead connection
// forever: frozen tracks for every viewer and recorder, SRTP work for a
// viewer nobody hears. So the server gives it up and tells the client,
// which starts over with a new RTCPeerConnection.

// pubFailed gives up p's publishing connection pub: its tracks end for
// everyone ("live.untrack", recorders' writers closed) and the client gets
// a "live.failed" push; its next live.offer starts a new connection.
func (rm *room) pubFailed(p *participant, pub *sfu.Publisher) {
	rm.mu.Lock()
	if pub == nil || rm.closed || rm.parts[p.sess] != p || p.pub != pub {
		rm.mu.Unlock()
		return // already gone (left, replaced, or the live ended)
	}
	p.pub, p.early = nil, nil
	rm.tellFailed(p, "pub")
	rm.wg.Add(1)
	rm.mu.Unlock()
	defer rm.wg.Done()
	pub.Close()
}

// subFailed gives up p's viewer connection sub and tells the client; its
// next live.join sets up a new one with every track.
func (rm *room) subFailed(p *participant, sub *sfu.Subscriber) {
	rm.mu.Lock()
	if sub == nil || rm.closed || rm.parts[p.sess] != p || p.sub != sub {
		rm.mu.Unlock()
		return
	}
	p.sub = nil
	rm.tellFailed(p, "sub")
	rm.wg.Add(1)
	rm.mu.Unlock()
	defer rm.wg.Done()
	sub.Close()
}

// tellFailed pushes "live.failed" to p. rm.mu is held, so that the push
// goes out before any offer of a connection that replaces the failed one.
func (rm *room) tellFailed(p *participant, pc string) {
	rm.log.Info("peer connection failed; given up", zap.String("user", string(p.user)), zap.String("pc", pc))
	_ = p.sess.Push("live.failed", map[string]any{"live": rm.id, "pc": pc})
}
