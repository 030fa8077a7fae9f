package replay

import (
	"encoding/binary"
	"strings"
)

// codec is a track's codec as the recorder handles it.
type codec int

const (
	codecUnknown codec = iota
	codecVP8
	codecVP9
	codecH264
	codecOpus
)

func codecOf(mime string) codec {
	switch strings.ToLower(mime) {
	case "video/vp8":
		return codecVP8
	case "video/vp9":
		return codecVP9
	case "video/h264":
		return codecH264
	case "audio/opus":
		return codecOpus
	}
	return codecUnknown
}

func (c codec) String() string {
	return [...]string{"unknown", "vp8", "vp9", "h264", "opus"}[c]
}

func (c codec) video() bool { return c == codecVP8 || c == codecVP9 || c == codecH264 }

// container returns the file extension and MIME type (with codecs
// parameter, as a <video> element's canPlayType wants it).
func (c codec) container() (ext, mime string) {
	switch c {
	case codecVP8:
		return "webm", `video/webm; codecs="vp8"`
	case codecVP9:
		return "webm", `video/webm; codecs="vp9"`
	case codecOpus:
		return "webm", `audio/webm; codecs="opus"`
	case codecH264:
		return "mp4", `video/mp4; codecs="avc1.42E01F"`
	}
	return "", ""
}

// opusHead is the Opus identification header a WebM track carries as
// CodecPrivate (RFC 7845 §5.1). Pre-skip is 0: the recording starts in the
// middle of the encoder's stream, whose priming samples went out long ago
// or belong to the live's first instant.
func opusHead(channels int) []byte {
	if channels < 1 || channels > 2 {
		channels = 2
	}
	b := []byte("OpusHead")
	b = append(b, 1, byte(channels))
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint32(b, 48000)
	b = binary.LittleEndian.AppendUint16(b, 0)
	return append(b, 0) // channel mapping family 0
}

// vp8Size returns the dimensions in a VP8 keyframe's header (RFC 6386 §9.1).
func vp8Size(frame []byte) (w, h int, ok bool) {
	if len(frame) < 10 || frame[0]&1 != 0 || frame[3] != 0x9d || frame[4] != 0x01 || frame[5] != 0x2a {
		return 0, 0, false
	}
	w = int(binary.LittleEndian.Uint16(frame[6:]) & 0x3fff)
	h = int(binary.LittleEndian.Uint16(frame[8:]) & 0x3fff)
	return w, h, w > 0 && h > 0
}

// bitReader reads big-endian bits, as VP9 and H.264 headers need.
type bitReader struct {
	b   []byte
	pos int // in bits
	bad bool
}

func (r *bitReader) bit() uint32 {
	if r.pos >= 8*len(r.b) {
		r.bad = true
		return 0
	}
	v := r.b[r.pos/8] >> (7 - r.pos%8) & 1
	r.pos++
	return uint32(v)
}

func (r *bitReader) bits(n int) uint32 {
	var v uint32
	for range n {
		v = v<<1 | r.bit()
	}
	return v
}

// ue reads an unsigned Exp-Golomb code (H.264 §9.1).
func (r *bitReader) ue() uint32 {
	zeros := 0
	for r.bit() == 0 && !r.bad {
		zeros++
		if zeros > 31 {
			r.bad = true
			return 0
		}
	}
	return (1<<zeros - 1) + r.bits(zeros)
}

func (r *bitReader) se() int32 {
	v := r.ue()
	if v&1 == 1 {
		return int32(v+1) / 2
	}
	return -int32(v / 2)
}

// vp9Size returns the dimensions in a VP9 keyframe's uncompressed header
// (VP9 bitstream specification §6.2).
func vp9Size(frame []byte) (w, h int, ok bool) {
	r := &bitReader{b: frame}
	if r.bits(2) != 2 {
		return 0, 0, false
	}
	profile := r.bit() | r.bit()<<1
	if profile == 3 {
		r.bit()
	}
	if r.bit() == 1 { // show_existing_frame
		return 0, 0, false
	}
	if r.bit() != 0 { // frame_type: 0 is a keyframe
		return 0, 0, false
	}
	r.bit() // show_frame
	r.bit() // error_resilient_mode
	if r.bits(24) != 0x498342 {
		return 0, 0, false
	}
	if profile >= 2 {
		r.bit() // ten_or_twelve_bit
	}
	if cs := r.bits(3); cs != 7 { // not sRGB
		r.bit() // color_range
		if profile == 1 || profile == 3 {
			r.bits(3)
		}
	} else if profile == 1 || profile == 3 {
		r.bit()
	}
	w = int(r.bits(16)) + 1
	h = int(r.bits(16)) + 1
	return w, h, !r.bad
}

// h264Size returns the picture size a sequence parameter set describes
// (H.264 §7.3.2.1.1), after cropping.
func h264Size(sps []byte) (w, h int, ok bool) {
	if len(sps) < 4 {
		return 0, 0, false
	}
	r := &bitReader{b: unescapeRBSP(sps[1:])}
	profile := r.bits(8)
	r.bits(16) // constraint flags, level
	r.ue()     // seq_parameter_set_id
	chroma := uint32(1)
	if profile == 100 || profile == 110 || profile == 122 || profile == 244 || profile == 44 ||
		profile == 83 || profile == 86 || profile == 118 || profile == 128 || profile == 138 || profile == 139 || profile == 134 {
		chroma = r.ue()
		if chroma == 3 {
			r.bit()
		}
		r.ue()            // bit_depth_luma
		r.ue()            // bit_depth_chroma
		r.bit()           // qpprime_y_zero_transform_bypass
		if r.bit() == 1 { // seq_scaling_matrix_present
			n := 8
			if chroma == 3 {
				n = 12
			}
			for i := range n {
				if r.bit() == 1 {
					size := 16
					if i >= 6 {
						size = 64
					}
					last, next := int32(8), int32(8)
					for range size {
						if next != 0 {
							next = (last + r.se() + 256) % 256
						}
						if next != 0 {
							last = next
						}
					}
				}
			}
		}
	}
	r.ue() // log2_max_frame_num
	switch r.ue() {
	case 0:
		r.ue()
	case 1:
		r.bit()
		r.se()
		r.se()
		n := r.ue()
		for range min(n, 256) {
			r.se()
		}
	}
	r.ue()  // max_num_ref_frames
	r.bit() // gaps_in_frame_num_allowed
	wMbs := r.ue() + 1
	hMapUnits := r.ue() + 1
	frameMbsOnly := r.bit()
	if frameMbsOnly == 0 {
		r.bit()
	}
	r.bit() // direct_8x8_inference
	w = int(wMbs) * 16
	h = int(2-frameMbsOnly) * int(hMapUnits) * 16
	if r.bit() == 1 { // frame_cropping
		cl, cr, ct, cb := r.ue(), r.ue(), r.ue(), r.ue()
		cx, cy := 2, 2*int(2-frameMbsOnly)
		switch chroma {
		case 0:
			cx, cy = 1, int(2-frameMbsOnly)
		case 2:
			cx, cy = 2, int(2-frameMbsOnly)
		case 3:
			cx, cy = 1, int(2-frameMbsOnly)
		}
		w -= cx * int(cl+cr)
		h -= cy * int(ct+cb)
	}
	return w, h, !r.bad && w > 0 && h > 0
}

// unescapeRBSP removes emulation prevention bytes (00 00 03 → 00 00).
func unescapeRBSP(b []byte) []byte {
	out := make([]byte, 0, len(b))
	zeros := 0
	for _, c := range b {
		if zeros >= 2 && c == 3 {
			zeros = 0
			continue
		}
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
		out = append(out, c)
	}
	return out
}
