package sfu

import (
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"
)

// histSize is how many sent packets a DownTrack remembers to answer NACKs.
const histSize = 1024

const (
	initialEstimate = 2_500_000 // bit/s before any feedback
	maxEstimate     = 50_000_000
)

// DownTrack is one viewer's outgoing copy of a Receiver. It is a
// webrtc.TrackLocal of its own (never shared between viewers), so each
// viewer has its own SSRC, sequence numbers and timestamps, rewritten here
// so that they stay continuous across simulcast layer switches, and its own
// NACK and keyframe handling.
type DownTrack struct {
	r      *Receiver
	sub    *Subscriber
	sender *webrtc.RTPSender

	mu     sync.Mutex
	bound  bool
	ws     webrtc.TrackLocalWriter
	ssrc   uint32
	pt     uint8
	clock  uint32
	hdr    rtp.Header // scratch for the write in progress
	rtxBuf []byte

	current, target int // layer slots; -1 = none yet
	maxLayer        int
	started         bool
	seqOffset       uint16
	tsOffset        uint32
	lastOutSeq      uint16
	lastOutTS       uint32
	lastWrite       int64
	segStart        uint16
	hist            [histSize]histEntry
	lastKFReq       int64

	remb      uint64
	rembAt    int64
	lossEst   uint64
	goodSince int64

	packets  atomic.Uint64
	rtx      atomic.Uint64
	switches atomic.Uint64
}

type histEntry struct {
	out  uint16
	src  uint16
	ts   uint32
	slot int8
	ok   bool
}

func newDownTrack(r *Receiver, s *Subscriber, maxLayer int) *DownTrack {
	d := &DownTrack{r: r, sub: s, current: -1, target: -1, maxLayer: maxLayer, lossEst: initialEstimate, rtxBuf: make([]byte, maxPacket)}
	if r.kind == webrtc.RTPCodecTypeAudio {
		d.target = LayerLow
	}
	return d
}

// ID, RID, StreamID and Kind implement webrtc.TrackLocal. The stream id is
// the track's server id, which clients map to publisher and source.
func (d *DownTrack) ID() string                { return d.r.id }
func (d *DownTrack) RID() string               { return "" }
func (d *DownTrack) StreamID() string          { return d.r.streamID }
func (d *DownTrack) Kind() webrtc.RTPCodecType { return d.r.kind }
func (d *DownTrack) Receiver() *Receiver       { return d.r }

// Bind is called by pion once the viewer's answer fixed the codec.
func (d *DownTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	want := d.r.codec
	var match *webrtc.RTPCodecParameters
	for _, c := range ctx.CodecParameters() {
		if !strings.EqualFold(c.MimeType, want.MimeType) {
			continue
		}
		if match == nil || c.SDPFmtpLine == want.SDPFmtpLine {
			c := c
			match = &c
		}
	}
	if match == nil {
		return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
	}
	d.mu.Lock()
	d.ws = ctx.WriteStream()
	d.ssrc = uint32(ctx.SSRC())
	d.pt = uint8(match.PayloadType)
	d.clock = match.ClockRate
	d.bound = true
	d.mu.Unlock()
	d.selectLayer(time.Now().UnixNano())
	return *match, nil
}

// Unbind is called by pion when the track is removed.
func (d *DownTrack) Unbind(webrtc.TrackLocalContext) error {
	d.mu.Lock()
	d.bound = false
	d.mu.Unlock()
	return nil
}

// forward rewrites and sends one packet of layer slot. It is called by the
// receiver's reader goroutine for every viewer.
func (d *DownTrack) forward(slot int, h *rtp.Header, payload []byte, kf bool, now int64) {
	if d.forwardLocked(slot, h, payload, kf, now) {
		d.r.RequestKeyframe(slot)
	}
}

// forwardLocked does forward's work under d.mu and reports whether a
// keyframe should be asked for: the viewer waits for one on its target
// layer and the last request is a second old. The request made when the
// viewer subscribed may have been swallowed by the per-layer throttle, and
// a viewer that has received nothing sends no RTCP to trigger another
// (selectLayer's retry runs on RTCP), so the packets it is waiting through
// drive the retry.
func (d *DownTrack) forwardLocked(slot int, h *rtp.Header, payload []byte, kf bool, now int64) (askKeyframe bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.bound {
		return false
	}
	seq := h.SequenceNumber
	if slot != d.current {
		if slot != d.target {
			return false
		}
		if d.r.kind == webrtc.RTPCodecTypeVideo && !kf {
			if now-d.lastKFReq > int64(time.Second) {
				d.lastKFReq = now
				return true
			}
			return false
		}
		d.switchTo(slot, h, now)
	} else if diff := int16(seq - d.segStart); diff < 0 {
		return // from before this segment started (reordered across a switch)
	} else if diff > 4096 {
		d.segStart = seq - 4096
	}
	out := seq + d.seqOffset
	ts := h.Timestamp + d.tsOffset
	if int16(out-d.lastOutSeq) > 0 {
		d.lastOutSeq, d.lastOutTS, d.lastWrite = out, ts, now
	}
	d.hist[out%histSize] = histEntry{out: out, src: seq, ts: ts, slot: int8(slot), ok: true}
	d.hdr = *h
	d.write(out, ts, payload)
	return false
}

// switchTo starts a new segment at the packet h of slot: sequence numbers
// continue from the last one sent, and timestamps advance by the wall-clock
// time since the last packet, so the viewer's decoder sees one stream.
func (d *DownTrack) switchTo(slot int, h *rtp.Header, now int64) {
	if d.started {
		d.seqOffset = d.lastOutSeq + 1 - h.SequenceNumber
		ticks := uint32(uint64(now-d.lastWrite) * uint64(d.clock) / uint64(time.Second))
		if ticks == 0 {
			ticks = 1
		}
		d.tsOffset = d.lastOutTS + ticks - h.Timestamp
		d.switches.Add(1)
	} else {
		d.seqOffset = uint16(rand.Uint32()) - h.SequenceNumber
		d.tsOffset = rand.Uint32() - h.Timestamp
		d.lastOutSeq = h.SequenceNumber + d.seqOffset - 1
		d.started = true
	}
	d.current = slot
	d.segStart = h.SequenceNumber
}

// write sends d.hdr with the viewer's SSRC, payload type and the given
// sequence number and timestamp. Header extensions are stripped: their ids
// were negotiated with the publisher, not with this viewer. d.mu is held.
func (d *DownTrack) write(seq uint16, ts uint32, payload []byte) {
	d.hdr.SSRC = d.ssrc
	d.hdr.PayloadType = d.pt
	d.hdr.SequenceNumber = seq
	d.hdr.Timestamp = ts
	d.hdr.Extension = false
	d.hdr.Extensions = nil
	d.hdr.ExtensionProfile = 0
	d.hdr.Padding = d.hdr.PaddingSize > 0
	if _, err := d.ws.WriteRTP(&d.hdr, payload); err == nil {
		d.packets.Add(1)
	}
}

// retransmit answers a NACK for out from the receiver's packet cache.
func (d *DownTrack) retransmit(out uint16) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.hist[out%histSize]
	if !d.bound || !e.ok || e.out != out {
		return
	}
	raw := d.r.cached(int(e.slot), e.src, d.rtxBuf)
	if raw == nil {
		return
	}
	d.rtxBuf = raw[:cap(raw)]
	hl, err := d.hdr.Unmarshal(raw)
	if err != nil {
		return
	}
	end := len(raw)
	d.hdr.PaddingSize = 0
	if d.hdr.Padding && end > hl {
		pad := int(raw[end-1])
		if pad == 0 || hl+pad > end {
			return
		}
		end -= pad
		d.hdr.PaddingSize = byte(pad)
	}
	d.write(out, e.ts, raw[hl:end])
	d.rtx.Add(1)
}

// readRTCP drains the viewer's RTCP for this track (pion needs it read)
// and acts on it: NACK → retransmit, PLI/FIR → throttled keyframe request,
// REMB and receiver reports → bandwidth estimate → layer choice.
func (d *DownTrack) readRTCP() {
	defer d.sub.wg.Done()
	for {
		pkts, _, err := d.sender.ReadRTCP()
		if err != nil {
			return
		}
		now := time.Now().UnixNano()
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.TransportLayerNack:
				for _, pair := range p.Nacks {
					pair.Range(func(seq uint16) bool {
						d.retransmit(seq)
						return true
					})
				}
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				d.mu.Lock()
				cur := d.current
				d.mu.Unlock()
				if cur >= 0 {
					d.r.RequestKeyframe(cur)
				}
			case *rtcp.ReceiverEstimatedMaximumBitrate:
				d.mu.Lock()
				d.remb, d.rembAt = uint64(p.Bitrate), now
				d.mu.Unlock()
			case *rtcp.ReceiverReport:
				for _, rep := range p.Reports {
					if rep.SSRC == d.ssrc {
						d.onLoss(rep.FractionLost, now)
					}
				}
			}
		}
		d.selectLayer(now)
	}
}

// onLoss is a loss-based estimate for viewers that send no REMB: heavy
// loss caps the estimate below the current layer, a clean stretch raises it.
func (d *DownTrack) onLoss(frac uint8, now int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case frac > 25: // > 10 %
		_, br := d.r.layerInfo(now)
		if d.current >= 0 && br[d.current] > 0 {
			d.lossEst = min(d.lossEst, br[d.current]*85/100)
		}
		d.goodSince = now
	case frac < 5: // < 2 %
		if now-d.goodSince > int64(3*time.Second) {
			d.lossEst = min(d.lossEst*110/100, maxEstimate)
			d.goodSince = now
		}
	}
}

// SetMaxLayer caps the layer this viewer gets (the size it displays).
func (d *DownTrack) SetMaxLayer(l int) {
	d.mu.Lock()
	d.maxLayer = max(0, min(l, numLayers-1))
	d.mu.Unlock()
	d.selectLayer(time.Now().UnixNano())
}

// selectLayer picks the highest active layer within the viewer's cap and
// bandwidth estimate, and asks for a keyframe on it when it differs from
// the one being sent (the switch happens at that keyframe).
func (d *DownTrack) selectLayer(now int64) {
	if d.r.kind != webrtc.RTPCodecTypeVideo {
		return
	}
	active, br := d.r.layerInfo(now)
	d.mu.Lock()
	if !d.bound {
		d.mu.Unlock()
		return
	}
	est := d.lossEst
	if d.rembAt != 0 && now-d.rembAt < int64(5*time.Second) {
		est = d.remb
	}
	best, lowest, any := -1, -1, false
	for i := range numLayers {
		if active[i] {
			any = true
		}
	}
	for i := 0; i <= d.maxLayer; i++ {
		ok := active[i] || (!any && d.r.layers[i].Load() != nil)
		if !ok {
			continue
		}
		if lowest < 0 {
			lowest = i
		}
		if br[i] <= est {
			best = i
		}
	}
	if best < 0 {
		best = lowest
	}
	if best < 0 { // nothing within the cap: take the lowest there is
		for i := range numLayers {
			if active[i] || d.r.layers[i].Load() != nil {
				best = i
				break
			}
		}
	}
	request := false
	if best >= 0 && best != d.target {
		d.target = best
		request = best != d.current
	}
	if d.target >= 0 && d.target != d.current && now-d.lastKFReq > int64(time.Second) {
		request = true
	}
	if request {
		d.lastKFReq = now
	}
	target := d.target
	d.mu.Unlock()
	if request {
		d.r.RequestKeyframe(target)
	}
}

// Stats is a DownTrack's counters, for tests and metrics.
type Stats struct {
	Packets, Retransmits, Switches uint64
	Layer                          int
}

// Stats returns the counters.
func (d *DownTrack) Stats() Stats {
	d.mu.Lock()
	cur := d.current
	d.mu.Unlock()
	return Stats{Packets: d.packets.Load(), Retransmits: d.rtx.Load(), Switches: d.switches.Load(), Layer: cur}
}
