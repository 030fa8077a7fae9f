package replay

import (
	"encoding/binary"

	"github.com/pion/rtp/codecs"
)

// frameOut receives a complete frame; data is only valid during the call
// (the assembler reuses its buffer for the next frame).
type frameOut func(ts uint32, key bool, data []byte)

// assembler turns in-order RTP packets into frames, without decoding: VP8
// and VP9 payload descriptors are stripped, H.264 NAL units are rewritten
// length-prefixed (AVCC, as MP4 stores them), Opus packets are frames.
// After a loss, video frames are dropped until the next keyframe, since
// decoding anything else would show corruption; wantKey (if set) is called
// when that starts and for every frame dropped meanwhile, so the recorder
// can ask the publisher for one (it throttles the requests).
//
// Not safe for concurrent use; trackRecorder serialises calls.
type assembler struct {
	codec   codec
	buf     []byte
	ts      uint32
	have    bool // collecting a frame
	key     bool
	needKey bool

	fuStart int // H.264: position of the FU-A NAL being reassembled, -1 if none
	sps     []byte
	pps     []byte
	vp9     codecs.VP9Packet

	frames  int64
	dropped int64 // frames dropped waiting for a keyframe or broken by loss

	wantKey func()
}

func newAssembler(c codec) *assembler {
	return &assembler{codec: c, needKey: c.video(), fuStart: -1, buf: make([]byte, 0, 4096)}
}

// push adds one in-order packet; gap says packets were lost before it.
func (a *assembler) push(p *pkt, gap bool, out frameOut) {
	if a.codec == codecOpus {
		if len(p.payload) == 0 {
			return
		}
		a.frames++
		out(p.ts, true, p.payload)
		return
	}
	if gap {
		a.abort()
		a.lost()
	}
	if a.have && p.ts != a.ts {
		a.finish(out) // the previous frame ended without a marker
	}
	var end bool
	switch a.codec {
	case codecVP8:
		payload, start, ok := vp8Payload(p.payload)
		if !ok {
			a.broken()
			return
		}
		if start {
			if a.have {
				a.finish(out)
			}
			a.begin(p.ts, len(payload) > 0 && payload[0]&1 == 0)
		} else if !a.have {
			return // the rest of a frame whose start we did not see
		}
		a.buf = append(a.buf, payload...)
	case codecVP9:
		payload, err := a.vp9.Unmarshal(p.payload)
		if err != nil {
			a.broken()
			return
		}
		if a.vp9.L && a.vp9.SID > 0 {
			// Only the base spatial layer is recorded: upper layers need a
			// superframe index to be stored, and the base plays on its own.
			if p.marker && a.have {
				a.finish(out)
			}
			return
		}
		if a.vp9.B {
			if a.have {
				a.finish(out)
			}
			a.begin(p.ts, !a.vp9.P)
		} else if !a.have {
			return
		}
		a.buf = append(a.buf, payload...)
		end = a.vp9.E
	case codecH264:
		if !a.have {
			a.begin(p.ts, false)
		}
		if !a.h264(p.payload) {
			a.broken()
			return
		}
	}
	if p.marker || end {
		a.finish(out)
	}
}

func (a *assembler) begin(ts uint32, key bool) {
	a.have, a.ts, a.key = true, ts, key
	a.buf = a.buf[:0]
	a.fuStart = -1
}

// abort drops the frame being collected.
func (a *assembler) abort() {
	if a.have {
		a.dropped++
	}
	a.have = false
	a.buf = a.buf[:0]
	a.fuStart = -1
}

// broken handles an unparsable packet like a loss.
func (a *assembler) broken() {
	a.abort()
	a.lost()
}

// lost notes that frames were lost: nothing decodes until a keyframe.
func (a *assembler) lost() {
	a.needKey = true
	a.askKey()
}

func (a *assembler) askKey() {
	if a.wantKey != nil {
		a.wantKey()
	}
}

func (a *assembler) finish(out frameOut) {
	if !a.have {
		return
	}
	a.have = false
	if a.fuStart >= 0 || len(a.buf) == 0 {
		a.abort() // an H.264 fragment never ended, or nothing was collected
		a.lost()
		return
	}
	if a.needKey && !a.key {
		a.dropped++
		a.buf = a.buf[:0]
		a.askKey()
		return
	}
	if a.codec == codecH264 && (a.sps == nil || a.pps == nil) {
		a.dropped++ // cannot describe the stream before its parameter sets
		a.buf = a.buf[:0]
		a.askKey() // a keyframe brings them
		return
	}
	a.needKey = false
	a.frames++
	out(a.ts, a.key, a.buf)
	a.buf = a.buf[:0]
}

// vp8Payload strips the VP8 payload descriptor (RFC 7741 §4.2). start is
// true for the first packet of a frame.
func vp8Payload(b []byte) (payload []byte, start, ok bool) {
	if len(b) < 1 {
		return nil, false, false
	}
	start = b[0]&0x10 != 0 && b[0]&0x07 == 0
	i := 1
	if b[0]&0x80 != 0 {
		if len(b) < 2 {
			return nil, false, false
		}
		x := b[1]
		i = 2
		if x&0x80 != 0 { // PictureID
			if len(b) <= i {
				return nil, false, false
			}
			if b[i]&0x80 != 0 {
				i += 2
			} else {
				i++
			}
		}
		if x&0x40 != 0 { // TL0PICIDX
			i++
		}
		if x&0x30 != 0 { // TID/Y/KEYIDX
			i++
		}
	}
	if len(b) < i {
		return nil, false, false
	}
	return b[i:], start, true
}

// h264 appends one RTP payload's NAL units to the frame (RFC 6184: single
// NAL, STAP-A, FU-A), each prefixed by its 4-byte length.
func (a *assembler) h264(b []byte) bool {
	if len(b) < 1 {
		return false
	}
	switch typ := b[0] & 0x1f; {
	case typ >= 1 && typ <= 23:
		if a.fuStart >= 0 {
			return false
		}
		a.nal(b)
	case typ == 24: // STAP-A
		if a.fuStart >= 0 {
			return false
		}
		for b = b[1:]; len(b) > 0; {
			if len(b) < 2 {
				return false
			}
			n := int(binary.BigEndian.Uint16(b))
			if n == 0 || len(b) < 2+n {
				return false
			}
			a.nal(b[2 : 2+n])
			b = b[2+n:]
		}
	case typ == 28: // FU-A
		if len(b) < 2 {
			return false
		}
		fu := b[1]
		if fu&0x80 != 0 {
			if a.fuStart >= 0 {
				return false
			}
			a.fuStart = len(a.buf)
			a.buf = append(a.buf, 0, 0, 0, 0, b[0]&0xe0|fu&0x1f)
		} else if a.fuStart < 0 {
			return false
		}
		a.buf = append(a.buf, b[2:]...)
		if fu&0x40 != 0 {
			nal := a.buf[a.fuStart+4:]
			binary.BigEndian.PutUint32(a.buf[a.fuStart:], uint32(len(nal)))
			a.fuStart = -1
			a.sawNAL(nal)
		}
	default:
		return false // STAP-B, MTAP, FU-B: not sent by WebRTC endpoints
	}
	return true
}

func (a *assembler) nal(n []byte) {
	a.buf = binary.BigEndian.AppendUint32(a.buf, uint32(len(n)))
	a.buf = append(a.buf, n...)
	a.sawNAL(n)
}

// sawNAL notes keyframes and keeps the latest parameter sets, which the MP4
// sample description needs.
func (a *assembler) sawNAL(n []byte) {
	switch n[0] & 0x1f {
	case 5:
		a.key = true
	case 7:
		a.sps = append(a.sps[:0], n...)
	case 8:
		a.pps = append(a.pps[:0], n...)
	}
}
