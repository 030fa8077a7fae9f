package replay

import (
	"encoding/binary"
	"math"
)

// Matroska/WebM element ids used by the writer and the recovery reader.
// The ids include their length marker bits, as the specification lists them.
const (
	idEBML               = 0x1A45DFA3
	idEBMLVersion        = 0x4286
	idEBMLReadVersion    = 0x42F7
	idEBMLMaxIDLength    = 0x42F2
	idEBMLMaxSizeLength  = 0x42F3
	idDocType            = 0x4282
	idDocTypeVersion     = 0x4287
	idDocTypeReadVersion = 0x4285
	idSegment            = 0x18538067
	idSeekHead           = 0x114D9B74
	idSeek               = 0x4DBB
	idSeekID             = 0x53AB
	idSeekPosition       = 0x53AC
	idInfo               = 0x1549A966
	idTimestampScale     = 0x2AD7B1
	idDuration           = 0x4489
	idMuxingApp          = 0x4D80
	idWritingApp         = 0x5741
	idDateUTC            = 0x4461
	idTracks             = 0x1654AE6B
	idTrackEntry         = 0xAE
	idTrackNumber        = 0xD7
	idTrackUID           = 0x73C5
	idTrackType          = 0x83
	idFlagLacing         = 0x9C
	idCodecID            = 0x86
	idCodecPrivate       = 0x63A2
	idCodecDelay         = 0x56AA
	idSeekPreRoll        = 0x56BB
	idVideo              = 0xE0
	idPixelWidth         = 0xB0
	idPixelHeight        = 0xBA
	idAudio              = 0xE1
	idSamplingFrequency  = 0xB5
	idChannels           = 0x9F
	idCluster            = 0x1F43B675
	idTimestamp          = 0xE7
	idSimpleBlock        = 0xA3
	idCues               = 0x1C53BB6B
	idCuePoint           = 0xBB
	idCueTime            = 0xB3
	idCueTrackPositions  = 0xB7
	idCueTrack           = 0xF7
	idCueClusterPosition = 0xF1
	idCueRelativePos     = 0xF0
	idVoid               = 0xEC
)

// unknownSize is the 8-byte "size unknown" marker: a live stream's segment
// until it is finalised.
const unknownSize = 0x01FFFFFFFFFFFFFF

func appendID(b []byte, id uint32) []byte {
	switch {
	case id < 1<<8:
		return append(b, byte(id))
	case id < 1<<16:
		return append(b, byte(id>>8), byte(id))
	case id < 1<<24:
		return append(b, byte(id>>16), byte(id>>8), byte(id))
	}
	return append(b, byte(id>>24), byte(id>>16), byte(id>>8), byte(id))
}

// appendSize appends n as the shortest EBML variable-length size.
func appendSize(b []byte, n uint64) []byte {
	l := 1
	// A size of all ones in its length is reserved for "unknown".
	for l < 8 && n >= (1<<(7*l))-1 {
		l++
	}
	return appendSizeN(b, n, l)
}

// appendSizeN appends n as an EBML size of exactly l bytes.
func appendSizeN(b []byte, n uint64, l int) []byte {
	v := n | 1<<(7*l)
	for i := l - 1; i >= 0; i-- {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

func uintLen(v uint64) int {
	n := 1
	for v >= 1<<8 && n < 8 {
		v >>= 8
		n++
	}
	return n
}

func appendUintEl(b []byte, id uint32, v uint64) []byte {
	b = appendID(b, id)
	n := uintLen(v)
	b = append(b, byte(0x80|n))
	for i := n - 1; i >= 0; i-- {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

// appendUint8El appends an unsigned element with a fixed 8-byte body, so
// that it can be patched in place later.
func appendUint8El(b []byte, id uint32, v uint64) []byte {
	b = appendID(b, id)
	b = append(b, 0x88)
	return binary.BigEndian.AppendUint64(b, v)
}

func appendFloatEl(b []byte, id uint32, v float64) []byte {
	b = appendID(b, id)
	b = append(b, 0x88)
	return binary.BigEndian.AppendUint64(b, math.Float64bits(v))
}

func appendBytesEl(b []byte, id uint32, v []byte) []byte {
	b = appendID(b, id)
	b = appendSize(b, uint64(len(v)))
	return append(b, v...)
}

func appendStringEl(b []byte, id uint32, s string) []byte {
	b = appendID(b, id)
	b = appendSize(b, uint64(len(s)))
	return append(b, s...)
}

// appendMaster appends a master element whose body is body.
func appendMaster(b []byte, id uint32, body []byte) []byte {
	b = appendID(b, id)
	b = appendSize(b, uint64(len(body)))
	return append(b, body...)
}

// appendVoid appends a Void element of exactly n bytes (n ≥ 2).
func appendVoid(b []byte, n int) []byte {
	if n < 9 {
		b = append(b, idVoid)
		b = appendSizeN(b, uint64(n-2), 1)
		return append(b, make([]byte, n-2)...)
	}
	b = append(b, idVoid)
	b = appendSizeN(b, uint64(n-9), 8)
	return append(b, make([]byte, n-9)...)
}

// readVint decodes an EBML variable-length integer at b. It returns the
// value (with the marker removed when mask is true), its length, and false
// if b is too short or malformed. unknown reports the all-ones value.
func readVint(b []byte, mask bool) (v uint64, n int, unknown bool, ok bool) {
	if len(b) == 0 || b[0] == 0 {
		return 0, 0, false, false
	}
	n = 1
	for b[0]&(0x80>>(n-1)) == 0 {
		n++
	}
	if len(b) < n {
		return 0, 0, false, false
	}
	for i := 0; i < n; i++ {
		v = v<<8 | uint64(b[i])
	}
	marker := uint64(1) << (7 * n)
	if mask {
		v &^= marker
		unknown = v == marker-1
	}
	return v, n, unknown, true
}

func readUint(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}
