package sfu

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v3"
	"go.uber.org/zap"
)

// Layer slots. A track without simulcast uses LayerLow only.
const (
	LayerLow  = 0
	LayerMid  = 1
	LayerHigh = 2
	numLayers = 3
)

// ridSlot maps the RIDs browsers and SDKs use to layer slots; unknown
// RIDs take the next free slot in arrival order.
func ridSlot(rid string) int {
	switch rid {
	case "", "q", "l", "low", "0", "quarter":
		return LayerLow
	case "h", "m", "mid", "medium", "1", "half":
		return LayerMid
	case "f", "hi", "high", "2", "full":
		return LayerHigh
	}
	return -1
}

// Sink receives a published track's packets as they arrive, for recording.
// Calls come from the track's reader goroutine: a Sink must not block and
// must copy raw if it keeps it.
type Sink interface {
	WriteRTP(raw []byte)
	WriteRTCP(pkts []rtcp.Packet)
}

// Receiver is one published track with its simulcast layers. It reads
// every layer in its own goroutine and fans each packet out to the
// viewers' DownTracks.
type Receiver struct {
	id       string
	streamID string
	kind     webrtc.RTPCodecType
	codec    webrtc.RTPCodecParameters
	ck       codecKind
	pc       *webrtc.PeerConnection
	rtpRecv  *webrtc.RTPReceiver
	log      *zap.Logger
	kfEvery  time.Duration

	layers [numLayers]atomic.Pointer[layer]
	downs  atomic.Pointer[[]*DownTrack]
	muted  atomic.Bool
	sink   atomic.Pointer[sinkState]

	stats *engineStats

	audioLevelID uint8
	onLevel      atomic.Pointer[func(level uint8)]

	mu       sync.Mutex // guards downs updates, open, onClose
	open     int        // layers still reading
	onClose  []func()
	closed   bool
	wg       sync.WaitGroup
	closedCh chan struct{}
}

type sinkState struct {
	s    Sink
	slot atomic.Int32 // the layer recorded, fixed at the first packet; -1 until then
}

type layer struct {
	slot  int
	rid   string
	ssrc  uint32
	track *webrtc.TrackRemote
	cache packetCache

	lastPLI  atomic.Int64 // unix nanos
	lastPkt  atomic.Int64 // unix nanos
	bitrate  atomic.Uint64
	winStart int64
	winBytes uint64
}

// ID is the track's server-side id (also its stream id toward viewers).
func (r *Receiver) ID() string { return r.id }

// Kind is "audio" or "video".
func (r *Receiver) Kind() string { return r.kind.String() }

// Codec is the negotiated codec.
func (r *Receiver) Codec() webrtc.RTPCodecParameters { return r.codec }

// Done is closed when every layer has stopped.
func (r *Receiver) Done() <-chan struct{} { return r.closedCh }

// SetMuted stops (or resumes) forwarding to viewers; recording continues
// only while not muted either, so that a muted co-host is muted everywhere.
func (r *Receiver) SetMuted(m bool) {
	if r.muted.Swap(m) && !m {
		r.RequestKeyframe(-1)
	}
}

// OnAudioLevel sets the callback for RFC 6464 audio levels (0 loudest,
// 127 silence) of audio tracks. It runs on the reader goroutine.
func (r *Receiver) OnAudioLevel(fn func(level uint8)) { r.onLevel.Store(&fn) }

// OnClose registers fn to run once when the receiver stops. If it already
// has, fn runs at once.
func (r *Receiver) OnClose(fn func()) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		fn()
		return
	}
	r.onClose = append(r.onClose, fn)
	r.mu.Unlock()
}

// SetSink sets (or with nil removes) the recording sink. The highest layer
// present when the first packet arrives is recorded.
func (r *Receiver) SetSink(s Sink) {
	if s == nil {
		r.sink.Store(nil)
		return
	}
	st := &sinkState{s: s}
	st.slot.Store(-1)
	r.sink.Store(st)
	r.RequestKeyframe(-1) // a recording should start at a keyframe
}

func newReceiver(id, streamID string, pc *webrtc.PeerConnection, recv *webrtc.RTPReceiver, track *webrtc.TrackRemote, log *zap.Logger, kfEvery time.Duration, stats *engineStats) *Receiver {
	r := &Receiver{
		id: id, streamID: streamID, kind: track.Kind(), codec: track.Codec(), pc: pc, rtpRecv: recv,
		log: log, kfEvery: kfEvery, closedCh: make(chan struct{}), stats: stats,
	}
	r.ck = kindOfMime(r.codec.MimeType)
	empty := []*DownTrack{}
	r.downs.Store(&empty)
	for _, ext := range recv.GetParameters().HeaderExtensions {
		if ext.URI == sdp.AudioLevelURI {
			r.audioLevelID = uint8(ext.ID)
		}
	}
	return r
}

// addLayer starts reading one (simulcast) layer. Called from OnTrack.
func (r *Receiver) addLayer(track *webrtc.TrackRemote) bool {
	slot := ridSlot(track.RID())
	if slot < 0 {
		for i := range numLayers {
			if r.layers[i].Load() == nil {
				slot = i
				break
			}
		}
	}
	if slot < 0 || r.layers[slot].Load() != nil {
		r.log.Warn("extra simulcast layer ignored", zap.String("rid", track.RID()))
		return false
	}
	l := &layer{slot: slot, rid: track.RID(), ssrc: uint32(track.SSRC()), track: track}
	r.mu.Lock()
	r.open++
	r.mu.Unlock()
	r.layers[slot].Store(l)
	r.wg.Add(2)
	go r.readRTP(l)
	go r.readRTCP(l)
	return true
}

// readRTP is the forwarding hot path: read, cache, fan out.
func (r *Receiver) readRTP(l *layer) {
	defer r.wg.Done()
	defer r.layerDone()
	buf := make([]byte, maxPacket)
	var hdr rtp.Header
	for {
		n, _, err := l.track.Read(buf)
		if err != nil {
			return
		}
		pkt := buf[:n]
		hl, err := hdr.Unmarshal(pkt)
		if err != nil {
			continue
		}
		end := n
		if hdr.Padding && n > hl {
			pad := int(pkt[n-1])
			if pad == 0 || hl+pad > n {
				continue
			}
			end -= pad
			hdr.PaddingSize = byte(pad)
		} else {
			hdr.PaddingSize = 0
		}
		payload := pkt[hl:end]
		now := time.Now().UnixNano()
		l.lastPkt.Store(now)
		l.account(now, n)
		l.cache.put(hdr.SequenceNumber, pkt)

		if r.audioLevelID != 0 {
			if fn := r.onLevel.Load(); fn != nil {
				if ext := hdr.GetExtension(r.audioLevelID); len(ext) > 0 {
					(*fn)(ext[0] & 0x7f)
				}
			}
		}
		if r.muted.Load() {
			continue
		}
		kf := r.kind == webrtc.RTPCodecTypeVideo && isKeyframeStart(r.ck, payload)
		if st := r.sink.Load(); st != nil {
			r.toSink(st, l, pkt, kf)
		}
		downs := *r.downs.Load()
		for _, d := range downs {
			d.forward(l.slot, &hdr, payload, kf, now)
		}
		if r.stats != nil {
			r.stats.observe(now, len(downs))
		}
	}
}

func (r *Receiver) toSink(st *sinkState, l *layer, pkt []byte, kf bool) {
	slot := int(st.slot.Load())
	if slot < 0 {
		if l.slot != r.highest() {
			return
		}
		if r.kind == webrtc.RTPCodecTypeVideo && !kf {
			// Still waiting for the keyframe SetSink asked for: that request
			// may have been throttled or lost, and browsers send keyframes
			// only when asked. Ask again (throttled per layer).
			r.RequestKeyframe(l.slot)
			return
		}
		st.slot.Store(int32(l.slot))
		slot = l.slot
	}
	if slot == l.slot {
		st.s.WriteRTP(pkt)
	}
}

func (r *Receiver) highest() int {
	for i := numLayers - 1; i >= 0; i-- {
		if r.layers[i].Load() != nil {
			return i
		}
	}
	return -1
}

// account updates the layer's bitrate over one-second windows.
func (l *layer) account(now int64, n int) {
	if l.winStart == 0 {
		l.winStart = now
	}
	l.winBytes += uint64(n)
	if d := now - l.winStart; d >= int64(time.Second) {
		l.bitrate.Store(l.winBytes * 8 * uint64(time.Second) / uint64(d))
		l.winStart, l.winBytes = now, 0
	}
}

// readRTCP drains the layer's RTCP (sender reports, mostly): pion's
// interceptors need it read, and recorders want the sender reports.
func (r *Receiver) readRTCP(l *layer) {
	defer r.wg.Done()
	if l.rid != "" && !r.awaitLayers() {
		return
	}
	for {
		var (
			pkts []rtcp.Packet
			err  error
		)
		if l.rid != "" {
			pkts, _, err = r.rtpRecv.ReadSimulcastRTCP(l.rid)
		} else {
			pkts, _, err = r.rtpRecv.ReadRTCP()
		}
		if err != nil {
			return
		}
		st := r.sink.Load()
		if st == nil || int(st.slot.Load()) != l.slot {
			continue
		}
		var srs []rtcp.Packet
		for _, p := range pkts {
			if sr, ok := p.(*rtcp.SenderReport); ok && sr.SSRC == l.ssrc {
				srs = append(srs, sr)
			}
		}
		if len(srs) > 0 {
			st.s.WriteRTCP(srs)
		}
	}
}

// awaitLayers delays reading a simulcast layer's RTCP until every layer
// the offer announced has arrived (or 10 s have passed). pion v3.3.6's
// RTPReceiver.ReadSimulcast copies the receiver's track entries without
// its lock while receiveForRid fills in a newly arrived layer's entry: a
// data race inside pion. OnTrack (which adds our layer) runs after
// receiveForRid, so once all announced layers are ours no entry changes
// any more. It reports false if the receiver closed meanwhile.
func (r *Receiver) awaitLayers() bool {
	want := min(len(r.rtpRecv.Tracks()), numLayers)
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		have := 0
		for i := range numLayers {
			if r.layers[i].Load() != nil {
				have++
			}
		}
		if have >= want {
			return true
		}
		select {
		case <-r.closedCh:
			return false
		case <-t.C:
		}
	}
	return true
}

func (r *Receiver) layerDone() {
	r.mu.Lock()
	r.open--
	last := r.open == 0 && !r.closed
	var fns []func()
	if last {
		r.closed = true
		fns = r.onClose
		r.onClose = nil
	}
	r.mu.Unlock()
	if last {
		close(r.closedCh)
		for _, fn := range fns {
			fn()
		}
	}
}

// RequestSinkKeyframe asks for a keyframe on the layer being recorded
// (the highest until the recording has started), for a recorder that lost
// packets. It shares the per-layer throttle with the viewers' requests.
func (r *Receiver) RequestSinkKeyframe() {
	slot := -1
	if st := r.sink.Load(); st != nil {
		slot = int(st.slot.Load())
	}
	if slot < 0 {
		slot = r.highest()
	}
	if slot >= 0 {
		r.RequestKeyframe(slot)
	}
}

// RequestKeyframe sends a PLI for slot (or every layer for -1), at most
// once per KeyframeInterval per layer.
func (r *Receiver) RequestKeyframe(slot int) {
	if r.kind != webrtc.RTPCodecTypeVideo {
		return
	}
	now := time.Now().UnixNano()
	var pkts []rtcp.Packet
	for i := range numLayers {
		if slot >= 0 && i != slot {
			continue
		}
		l := r.layers[i].Load()
		if l == nil {
			continue
		}
		last := l.lastPLI.Load()
		if now-last < int64(r.kfEvery) || !l.lastPLI.CompareAndSwap(last, now) {
			continue
		}
		pkts = append(pkts, &rtcp.PictureLossIndication{MediaSSRC: l.ssrc})
	}
	if len(pkts) > 0 {
		_ = r.pc.WriteRTCP(pkts)
	}
}

// addDown and removeDown update the copy-on-write viewer list that the
// reader goroutines iterate without locking.
func (r *Receiver) addDown(d *DownTrack) {
	r.mu.Lock()
	old := *r.downs.Load()
	n := make([]*DownTrack, len(old), len(old)+1)
	copy(n, old)
	n = append(n, d)
	r.downs.Store(&n)
	r.mu.Unlock()
}

func (r *Receiver) removeDown(d *DownTrack) {
	r.mu.Lock()
	old := *r.downs.Load()
	n := make([]*DownTrack, 0, len(old))
	for _, x := range old {
		if x != d {
			n = append(n, x)
		}
	}
	r.downs.Store(&n)
	r.mu.Unlock()
}

// layerInfo reports, per slot, whether the layer exists and is active
// (a packet within the last second) and its bitrate.
func (r *Receiver) layerInfo(now int64) (active [numLayers]bool, bitrate [numLayers]uint64) {
	for i := range numLayers {
		l := r.layers[i].Load()
		if l == nil {
			continue
		}
		active[i] = now-l.lastPkt.Load() < int64(time.Second)
		bitrate[i] = l.bitrate.Load()
	}
	return
}

// cached copies the packet seq of slot from the cache into dst.
func (r *Receiver) cached(slot int, seq uint16, dst []byte) []byte {
	l := r.layers[slot].Load()
	if l == nil {
		return nil
	}
	return l.cache.get(seq, dst)
}

// wait blocks until the reader goroutines have stopped (after the peer
// connection closed).
func (r *Receiver) wait() { r.wg.Wait() }
