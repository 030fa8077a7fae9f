package livepeer

import (
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"
)

// TrackStats counts one received track.
type TrackStats struct {
	StreamID string
	Kind     string
	Packets  uint64 // distinct sequence numbers received
	Dups     uint64
	Expected uint64 // from the first to the highest sequence number
	Late     uint64 // arrived more than LateAfter after being sent
	// Gaps counts places where the sequence jumped forward by more than
	// one and the missing numbers never arrived.
	LatencySum time.Duration
	LatencyMax time.Duration
	Jumps      uint64 // sequence discontinuities >= 1000 (a broken rewrite)
	SSRCs      int
}

// LateAfter is when a packet counts as late.
const LateAfter = 100 * time.Millisecond

// Lost is Expected - Packets.
func (s TrackStats) Lost() uint64 {
	if s.Expected < s.Packets {
		return 0
	}
	return s.Expected - s.Packets
}

type trackState struct {
	mu    sync.Mutex
	st    TrackStats
	seen  map[uint32]bool // extended seq
	first bool
	base  uint32 // extended seq of first packet
	max   uint32
	cycle uint32
	last  uint16
	ssrcs map[uint32]bool
}

// Viewer receives and counts every track the server sends it.
type Viewer struct {
	PC *webrtc.PeerConnection

	mu     sync.Mutex
	tracks map[string]*trackState // by stream id
	onTrk  func(*webrtc.TrackRemote)
	wg     sync.WaitGroup
	once   sync.Once
	// Latency turns off latency accounting when false (the payload has no stamp).
	Latency bool
}

// NewViewer creates a receiving peer connection.
func NewViewer(api *webrtc.API) (*Viewer, error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{BundlePolicy: webrtc.BundlePolicyMaxBundle})
	if err != nil {
		return nil, err
	}
	v := &Viewer{PC: pc, tracks: map[string]*trackState{}, Latency: true}
	pc.OnTrack(v.onTrack)
	return v, nil
}

// OnTrack sets a callback for each new track (before counting starts).
func (v *Viewer) OnTrack(fn func(*webrtc.TrackRemote)) {
	v.mu.Lock()
	v.onTrk = fn
	v.mu.Unlock()
}

func (v *Viewer) onTrack(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
	v.mu.Lock()
	ts := v.tracks[t.StreamID()]
	if ts == nil {
		ts = &trackState{seen: map[uint32]bool{}, ssrcs: map[uint32]bool{}}
		ts.st.StreamID, ts.st.Kind = t.StreamID(), t.Kind().String()
		v.tracks[t.StreamID()] = ts
	}
	fn := v.onTrk
	v.wg.Add(2)
	v.mu.Unlock()
	if fn != nil {
		fn(t)
	}
	go func() {
		defer v.wg.Done()
		for {
			if _, _, err := r.ReadRTCP(); err != nil {
				return
			}
		}
	}()
	go func() {
		defer v.wg.Done()
		buf := make([]byte, 1600)
		var p rtp.Packet
		for {
			n, _, err := t.Read(buf)
			if err != nil {
				return
			}
			if p.Unmarshal(buf[:n]) != nil {
				continue
			}
			ts.add(&p, v.Latency)
		}
	}()
}

func (ts *trackState) add(p *rtp.Packet, latency bool) {
	now := time.Now()
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.ssrcs[p.SSRC] = true
	seq := p.SequenceNumber
	var ext uint32
	if !ts.first {
		ts.first = true
		ts.base = uint32(seq)
		ts.max = ts.base
		ts.last = seq
		ext = ts.base
	} else {
		d := int16(seq - ts.last)
		if d > 0 && seq < ts.last {
			ts.cycle += 1 << 16
		}
		ext = ts.cycle + uint32(seq)
		if d < 0 && seq > ts.last { // reordered across a wrap
			ext -= 1 << 16
		}
		if d > 0 {
			if d >= 1000 {
				ts.st.Jumps++
			}
			ts.last = seq
		} else if d < -1000 {
			ts.st.Jumps++
		}
	}
	if ts.seen[ext] {
		ts.st.Dups++
		return
	}
	ts.seen[ext] = true
	ts.st.Packets++
	if ts.st.Packets%4096 == 0 { // bound memory: forget what is too old to be retransmitted
		for k := range ts.seen {
			if k+8192 < ts.max {
				delete(ts.seen, k)
			}
		}
	}
	if ext > ts.max {
		ts.max = ext
	}
	if ext < ts.base {
		ts.base = ext
	}
	ts.st.Expected = uint64(ts.max-ts.base) + 1
	if latency && len(p.Payload) >= stampSize {
		lat := now.Sub(SentAt(p.Payload))
		if lat > 0 && lat < time.Minute {
			ts.st.LatencySum += lat
			ts.st.LatencyMax = max(ts.st.LatencyMax, lat)
			if lat > LateAfter {
				ts.st.Late++
			}
		}
	}
}

// Stats returns the counters of every track, by stream id.
func (v *Viewer) Stats() map[string]TrackStats {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := map[string]TrackStats{}
	for id, ts := range v.tracks {
		ts.mu.Lock()
		s := ts.st
		s.SSRCs = len(ts.ssrcs)
		ts.mu.Unlock()
		out[id] = s
	}
	return out
}

// SendPLI asks the server for a keyframe on every received video track.
func (v *Viewer) SendPLI() {
	for _, r := range v.PC.GetReceivers() {
		if t := r.Track(); t != nil && t.Kind() == webrtc.RTPCodecTypeVideo {
			_ = v.PC.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(t.SSRC())}})
		}
	}
}

// Close closes the peer connection and waits for the readers. Idempotent.
func (v *Viewer) Close() {
	v.once.Do(func() {
		_ = v.PC.Close()
		v.wg.Wait()
	})
}
