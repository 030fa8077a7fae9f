package sfu

// isKeyframeStart reports whether an RTP payload is the first packet of a
// keyframe, for the codecs the SFU accepts. Switching a viewer between
// simulcast layers (and starting a new viewer) must happen at such a packet.
func isKeyframeStart(codec codecKind, payload []byte) bool {
	switch codec {
	case codecVP8:
		return vp8KeyframeStart(payload)
	case codecH264:
		return h264Keyframe(payload)
	}
	return false
}

// vp8KeyframeStart parses the VP8 payload descriptor (RFC 7741 §4.2) and the
// first byte of the VP8 payload header (P bit clear = key frame).
func vp8KeyframeStart(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	b0 := p[0]
	if b0&0x10 == 0 || b0&0x07 != 0 { // S bit, partition 0
		return false
	}
	i := 1
	if b0&0x80 != 0 { // X
		if len(p) <= i {
			return false
		}
		x := p[i]
		i++
		if x&0x80 != 0 { // I: picture id
			if len(p) <= i {
				return false
			}
			if p[i]&0x80 != 0 { // M: 15-bit picture id
				i += 2
			} else {
				i++
			}
		}
		if x&0x40 != 0 { // L: TL0PICIDX
			i++
		}
		if x&0x30 != 0 { // T or K: TID/KEYIDX
			i++
		}
	}
	if len(p) <= i {
		return false
	}
	return p[i]&0x01 == 0
}

// h264Keyframe reports an IDR slice or SPS at the start of an access unit,
// in single NAL, STAP-A and FU-A (start fragment) packets (RFC 6184).
func h264Keyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	switch t := p[0] & 0x1f; t {
	case 5, 7:
		return true
	case 24: // STAP-A
		for i := 1; i+2 < len(p); {
			size := int(p[i])<<8 | int(p[i+1])
			i += 2
			if i >= len(p) {
				return false
			}
			if nt := p[i] & 0x1f; nt == 5 || nt == 7 {
				return true
			}
			i += size
		}
	case 28: // FU-A
		if len(p) < 2 {
			return false
		}
		nt := p[1] & 0x1f
		return p[1]&0x80 != 0 && (nt == 5 || nt == 7)
	}
	return false
}
