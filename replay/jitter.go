package replay

import (
	"github.com/pion/rtp"
)

// jitterSize is the reorder window in packets (a power of two).
const jitterSize = 512

// pkt is the part of an RTP packet the depacketisers need.
type pkt struct {
	ts      uint32
	marker  bool
	payload []byte
}

type jslot struct {
	ext  uint64
	full bool
	pkt
}

// jitter restores sequence order. Packets that arrive in order go straight
// through without a copy; early ones wait in a ring (copied, since the
// caller reuses its buffers) until the gap before them fills, or until they
// span more than maxDelay of RTP time, when the missing packets are given
// up as lost and the next emitted packet carries gap = true.
//
// Not safe for concurrent use; trackRecorder serialises calls.
type jitter struct {
	ring     [jitterSize]jslot
	next     uint64 // extended sequence number expected next
	high     uint64 // highest extended sequence number seen
	waiting  int    // packets in the ring
	started  bool
	gap      bool   // packets were lost before the next one to emit
	maxDelay uint32 // RTP ticks
	lost     uint64 // packets given up
}

// push takes one packet and emits, in order, every packet that became
// ready. emit's payload is only valid during the call.
func (j *jitter) push(p *rtp.Packet, emit func(p *pkt, gap bool)) {
	seq := p.SequenceNumber
	if !j.started {
		j.started = true
		// Start high so unwrapping backwards never goes below zero.
		j.next = 1<<32 | uint64(seq)
		j.high = j.next
	}
	ext := uint64(int64(j.high) + int64(int16(seq-uint16(j.high))))
	if ext < j.next {
		return // late (already given up) or a duplicate
	}
	if ext == j.next && j.waiting == 0 {
		j.high = max(j.high, ext)
		j.next++
		pk := pkt{ts: p.Timestamp, marker: p.Marker, payload: p.Payload}
		gap := j.gap
		j.gap = false
		emit(&pk, gap)
		return
	}
	if ext-j.next >= jitterSize-1 {
		// Far ahead (a long loss or a sequence jump): release everything
		// waiting, then restart at this packet.
		j.flush(emit)
		j.lost += ext - j.next
		j.next, j.gap = ext, true
	}
	s := &j.ring[ext%jitterSize]
	if s.full {
		return // duplicate
	}
	s.ext, s.full = ext, true
	s.ts, s.marker = p.Timestamp, p.Marker
	s.payload = append(s.payload[:0], p.Payload...)
	j.waiting++
	j.high = max(j.high, ext)
	j.drain(emit)
	if j.waiting > 0 && j.expired() {
		j.skipGap()
		j.drain(emit)
	}
}

// drain emits the packets that are now in order.
func (j *jitter) drain(emit func(p *pkt, gap bool)) {
	for j.waiting > 0 {
		s := &j.ring[j.next%jitterSize]
		if !s.full || s.ext != j.next {
			return
		}
		s.full = false
		j.waiting--
		j.next++
		gap := j.gap
		j.gap = false
		emit(&s.pkt, gap)
	}
}

// expired reports whether the packets waiting behind the current gap span
// more than maxDelay, or the ring is nearly full.
func (j *jitter) expired() bool {
	if j.high-j.next >= jitterSize*3/4 {
		return true
	}
	first := j.firstWaiting()
	if first == nil {
		return false
	}
	last := &j.ring[j.high%jitterSize]
	return last.full && last.ts-first.ts > j.maxDelay && int32(last.ts-first.ts) > 0
}

func (j *jitter) firstWaiting() *jslot {
	for e := j.next; e <= j.high; e++ {
		if s := &j.ring[e%jitterSize]; s.full && s.ext == e {
			return s
		}
	}
	return nil
}

// skipGap gives up the missing packets before the first waiting one.
func (j *jitter) skipGap() {
	if s := j.firstWaiting(); s != nil {
		j.lost += s.ext - j.next
		j.next = s.ext
		j.gap = true
	}
}

// flush emits everything waiting, skipping gaps: the stream has ended or
// jumped.
func (j *jitter) flush(emit func(p *pkt, gap bool)) {
	for j.waiting > 0 {
		j.skipGap()
		j.drain(emit)
	}
}
