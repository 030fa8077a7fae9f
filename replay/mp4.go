package replay

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// H.264 is recorded as fragmented MP4, which browsers and ffmpeg play: an
// init segment (ftyp, moov with empty sample tables) and then one moof+mdat
// fragment per group of frames. Each fragment is written with one Write,
// so a recorder killed mid-live leaves a file that plays up to its last
// fragment. Close adds the total duration (mehd) and a fragment index
// (mfra) for seeking.

const mp4Timescale = 90000

type mp4Sample struct {
	ticks uint64 // decode time in mp4Timescale
	key   bool
	off   int // into mp4Writer.data
	size  int
}

type mp4Fragment struct {
	ticks  uint64
	offset int64 // of its moof
}

type mp4Writer struct {
	f             File
	width, height int

	pos     int64
	mehdAt  int64 // position of mehd's 64-bit fragment_duration
	samples []mp4Sample
	data    []byte
	seq     uint32
	frags   []mp4Fragment
	last    uint64 // ticks of the last sample
	delta   uint64 // last sample-to-sample interval
	n       int64
	closed  bool
}

// newMP4Writer writes the init segment for a stream with these parameter
// sets (NAL units without start codes).
func newMP4Writer(f File, sps, pps []byte) (*mp4Writer, error) {
	if len(sps) < 4 || len(pps) < 1 {
		return nil, errors.New("replay: H.264 stream without SPS/PPS")
	}
	w, h, ok := h264Size(sps)
	if !ok {
		w, h = 640, 480
	}
	m := &mp4Writer{f: f, width: w, height: h}
	b := box(nil, "ftyp", func(b []byte) []byte {
		b = append(b, "iso5"...)
		b = be32(b, 512)
		return append(b, "iso5iso6mp41avc1"...)
	})
	b = box(b, "moov", func(b []byte) []byte {
		b = fullBox(b, "mvhd", 0, 0, func(b []byte) []byte {
			b = be32(be32(b, 0), 0)    // creation, modification
			b = be32(be32(b, 1000), 0) // timescale, duration (in mehd)
			b = be32(b, 0x00010000)    // rate
			b = append(b, 1, 0, 0, 0)  // volume, reserved
			b = append(b, make([]byte, 8)...)
			b = matrix(b)
			b = append(b, make([]byte, 24)...)
			return be32(b, 2) // next track id
		})
		b = box(b, "trak", func(b []byte) []byte {
			b = fullBox(b, "tkhd", 0, 3, func(b []byte) []byte {
				b = be32(be32(b, 0), 0)
				b = be32(be32(b, 1), 0) // track id, reserved
				b = be32(b, 0)          // duration
				b = append(b, make([]byte, 8)...)
				b = append(b, 0, 0, 0, 0, 0, 0, 0, 0) // layer, group, volume, reserved
				b = matrix(b)
				return be32(be32(b, uint32(w)<<16), uint32(h)<<16)
			})
			return box(b, "mdia", func(b []byte) []byte {
				b = fullBox(b, "mdhd", 0, 0, func(b []byte) []byte {
					b = be32(be32(b, 0), 0)
					b = be32(be32(b, mp4Timescale), 0)
					return append(b, 0x55, 0xc4, 0, 0) // "und"
				})
				b = fullBox(b, "hdlr", 0, 0, func(b []byte) []byte {
					b = be32(b, 0)
					b = append(b, "vide"...)
					b = append(b, make([]byte, 12)...)
					return append(b, "VideoHandler\x00"...)
				})
				return box(b, "minf", func(b []byte) []byte {
					b = fullBox(b, "vmhd", 0, 1, func(b []byte) []byte { return append(b, make([]byte, 8)...) })
					b = box(b, "dinf", func(b []byte) []byte {
						return fullBox(b, "dref", 0, 0, func(b []byte) []byte {
							b = be32(b, 1)
							return fullBox(b, "url ", 0, 1, nil)
						})
					})
					return box(b, "stbl", func(b []byte) []byte {
						b = fullBox(b, "stsd", 0, 0, func(b []byte) []byte {
							b = be32(b, 1)
							return box(b, "avc1", func(b []byte) []byte {
								b = append(b, make([]byte, 6)...)
								b = append(b, 0, 1) // data reference index
								b = append(b, make([]byte, 16)...)
								b = append(b, byte(w>>8), byte(w), byte(h>>8), byte(h))
								b = be32(be32(b, 0x00480000), 0x00480000) // 72 dpi
								b = be32(b, 0)
								b = append(b, 0, 1) // frame count
								b = append(b, make([]byte, 32)...)
								b = append(b, 0, 0x18, 0xff, 0xff) // depth, pre_defined
								return box(b, "avcC", func(b []byte) []byte {
									b = append(b, 1, sps[1], sps[2], sps[3], 0xff, 0xe1)
									b = append(b, byte(len(sps)>>8), byte(len(sps)))
									b = append(b, sps...)
									b = append(b, 1, byte(len(pps)>>8), byte(len(pps)))
									return append(b, pps...)
								})
							})
						})
						b = fullBox(b, "stts", 0, 0, func(b []byte) []byte { return be32(b, 0) })
						b = fullBox(b, "stsc", 0, 0, func(b []byte) []byte { return be32(b, 0) })
						b = fullBox(b, "stsz", 0, 0, func(b []byte) []byte { return be32(be32(b, 0), 0) })
						return fullBox(b, "stco", 0, 0, func(b []byte) []byte { return be32(b, 0) })
					})
				})
			})
		})
		return box(b, "mvex", func(b []byte) []byte {
			b = fullBox(b, "mehd", 1, 0, func(b []byte) []byte {
				m.mehdAt = int64(len(b))
				return binary.BigEndian.AppendUint64(b, 0)
			})
			return fullBox(b, "trex", 0, 0, func(b []byte) []byte {
				b = be32(be32(b, 1), 1) // track id, sample description index
				return be32(be32(be32(b, 0), 0), 0)
			})
		})
	})
	if err := m.write(b); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *mp4Writer) write(b []byte) error {
	n, err := m.f.Write(b)
	m.pos += int64(n)
	return err
}

func toTicks(d time.Duration) uint64 {
	return uint64(d/time.Second)*mp4Timescale + uint64(d%time.Second)*mp4Timescale/uint64(time.Second)
}

// WriteFrame adds one access unit (AVCC: length-prefixed NAL units).
func (m *mp4Writer) WriteFrame(ts time.Duration, key bool, data []byte) error {
	if m.closed {
		return errors.New("replay: mp4 writer closed")
	}
	t := toTicks(ts)
	if m.n > 0 && t <= m.last {
		t = m.last + 1 // decode times must increase
	}
	if m.n > 0 {
		m.delta = t - m.last
	}
	if len(m.samples) > 0 {
		age := t - m.samples[0].ticks
		if age >= maxClusterMs*mp4Timescale/1000 || len(m.data) >= maxClusterSize || (key && age >= keyClusterMs*mp4Timescale/1000) {
			if err := m.flush(t); err != nil {
				return err
			}
		}
	}
	m.samples = append(m.samples, mp4Sample{ticks: t, key: key, off: len(m.data), size: len(data)})
	m.data = append(m.data, data...)
	m.last = t
	m.n++
	return nil
}

// flush writes the buffered samples as one fragment; next is the decode
// time of the sample after them (their last one's end).
func (m *mp4Writer) flush(next uint64) error {
	if len(m.samples) == 0 {
		return nil
	}
	m.seq++
	first := m.samples[0]
	if first.key {
		m.frags = append(m.frags, mp4Fragment{ticks: first.ticks, offset: m.pos})
	}
	var dataOffsetAt int
	b := box(nil, "moof", func(b []byte) []byte {
		b = fullBox(b, "mfhd", 0, 0, func(b []byte) []byte { return be32(b, m.seq) })
		return box(b, "traf", func(b []byte) []byte {
			b = fullBox(b, "tfhd", 0, 0x020000, func(b []byte) []byte { return be32(b, 1) }) // default-base-is-moof
			b = fullBox(b, "tfdt", 1, 0, func(b []byte) []byte { return binary.BigEndian.AppendUint64(b, first.ticks) })
			return fullBox(b, "trun", 0, 0x000701, func(b []byte) []byte { // data offset, duration, size, flags
				b = be32(b, uint32(len(m.samples)))
				dataOffsetAt = len(b)
				b = be32(b, 0)
				for i, s := range m.samples {
					end := next
					if i+1 < len(m.samples) {
						end = m.samples[i+1].ticks
					}
					b = be32(b, uint32(end-s.ticks))
					b = be32(b, uint32(s.size))
					flags := uint32(0x01010000) // depends on others, not a sync sample
					if s.key {
						flags = 0x02000000
					}
					b = be32(b, flags)
				}
				return b
			})
		})
	})
	binary.BigEndian.PutUint32(b[dataOffsetAt:], uint32(len(b)+8)) // mdat payload follows moof and mdat's header
	b = be32(b, uint32(8+len(m.data)))
	b = append(b, "mdat"...)
	b = append(b, m.data...)
	m.samples, m.data = m.samples[:0], m.data[:0]
	return m.write(b)
}

// Duration is the media time written, including the last frame.
func (m *mp4Writer) Duration() time.Duration {
	if m.n == 0 {
		return 0
	}
	return fromTicks(m.last + m.delta)
}

func fromTicks(t uint64) time.Duration {
	return time.Duration(t/mp4Timescale)*time.Second + time.Duration(t%mp4Timescale)*time.Second/mp4Timescale
}

// Size returns the bytes written to the file.
func (m *mp4Writer) Size() int64 { return m.pos }

// Close writes the last fragment, the duration and the fragment index.
func (m *mp4Writer) Close() error {
	if m.closed {
		return nil
	}
	m.closed = true
	err := m.finish()
	if cerr := m.f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (m *mp4Writer) finish() error {
	if err := m.flush(m.last + m.delta); err != nil {
		return err
	}
	b := box(nil, "mfra", func(b []byte) []byte {
		b = fullBox(b, "tfra", 1, 0, func(b []byte) []byte {
			b = be32(b, 1)
			b = be32(b, 0) // 1-byte traf, trun and sample numbers
			b = be32(b, uint32(len(m.frags)))
			for _, f := range m.frags {
				b = binary.BigEndian.AppendUint64(b, f.ticks)
				b = binary.BigEndian.AppendUint64(b, uint64(f.offset))
				b = append(b, 1, 1, 1)
			}
			return b
		})
		return fullBox(b, "mfro", 0, 0, func(b []byte) []byte { return be32(b, 0) })
	})
	binary.BigEndian.PutUint32(b[len(b)-4:], uint32(len(b))) // mfro holds the mfra's size
	if err := m.write(b); err != nil {
		return err
	}
	dur := binary.BigEndian.AppendUint64(nil, uint64(m.Duration()/time.Millisecond))
	if _, err := m.f.WriteAt(dur, m.mehdAt); err != nil {
		return err
	}
	return m.f.Sync()
}

// Abort closes the file without finalising it.
func (m *mp4Writer) Abort() error {
	if m.closed {
		return nil
	}
	m.closed = true
	return m.f.Close()
}

func be32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }

func box(b []byte, typ string, body func([]byte) []byte) []byte {
	start := len(b)
	b = append(b, 0, 0, 0, 0)
	b = append(b, typ...)
	if body != nil {
		b = body(b)
	}
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start))
	return b
}

func fullBox(b []byte, typ string, version byte, flags uint32, body func([]byte) []byte) []byte {
	return box(b, typ, func(b []byte) []byte {
		b = append(b, version, byte(flags>>16), byte(flags>>8), byte(flags))
		if body != nil {
			b = body(b)
		}
		return b
	})
}

func matrix(b []byte) []byte {
	for _, v := range []uint32{0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000} {
		b = be32(b, v)
	}
	return b
}

// readMP4 reads an MP4 written by mp4Writer, finalised or not, calling
// header with the stream's parameter sets and then frame for every sample
// of every complete fragment.
func readMP4(r io.Reader, header func(sps, pps []byte) error, frame func(ticks uint64, key bool, data []byte) error) error {
	var sps, pps []byte
	var hdr [8]byte
	var moof []byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			break
		}
		size := binary.BigEndian.Uint32(hdr[:])
		typ := string(hdr[4:8])
		if size < 8 || size > maxElementBody {
			break
		}
		body := make([]byte, size-8)
		if _, err := io.ReadFull(r, body); err != nil {
			break // truncated last box
		}
		switch typ {
		case "moov":
			if sps, pps = findAVCC(body); sps == nil || pps == nil {
				return fmt.Errorf("replay: MP4 without avcC")
			}
			if err := header(sps, pps); err != nil {
				return err
			}
		case "moof":
			moof = body
		case "mdat":
			if moof == nil {
				continue
			}
			if sps == nil {
				return fmt.Errorf("replay: MP4 fragment before moov")
			}
			if err := parseFragment(moof, body, frame); err != nil {
				return err
			}
			moof = nil
		}
	}
	if sps == nil {
		return fmt.Errorf("replay: MP4 without avcC")
	}
	return nil
}

// children calls fn for each box in b.
func children(b []byte, fn func(typ string, body []byte)) {
	for len(b) >= 8 {
		size := int(binary.BigEndian.Uint32(b))
		if size < 8 || size > len(b) {
			return
		}
		fn(string(b[4:8]), b[8:size])
		b = b[size:]
	}
}

func findAVCC(moov []byte) (sps, pps []byte) {
	var walkBox func(typ string, body []byte)
	walkBox = func(typ string, body []byte) {
		switch typ {
		case "trak", "mdia", "minf", "stbl":
			children(body, walkBox)
		case "stsd":
			if len(body) > 8 {
				children(body[8:], walkBox)
			}
		case "avc1":
			if len(body) > 78 {
				children(body[78:], walkBox)
			}
		case "avcC":
			if len(body) < 8 {
				return
			}
			n := int(binary.BigEndian.Uint16(body[6:]))
			if len(body) < 8+n+3 {
				return
			}
			sps = append([]byte(nil), body[8:8+n]...)
			rest := body[8+n:]
			m := int(binary.BigEndian.Uint16(rest[1:]))
			if len(rest) >= 3+m {
				pps = append([]byte(nil), rest[3:3+m]...)
			}
		}
	}
	children(moov, walkBox)
	return sps, pps
}

// parseFragment reads the samples of a fragment written by flush.
func parseFragment(moof, mdat []byte, frame func(ticks uint64, key bool, data []byte) error) error {
	var base uint64
	var trun []byte
	children(moof, func(typ string, body []byte) {
		if typ != "traf" {
			return
		}
		children(body, func(typ string, body []byte) {
			switch typ {
			case "tfdt":
				if len(body) >= 12 && body[0] == 1 {
					base = binary.BigEndian.Uint64(body[4:])
				}
			case "trun":
				trun = body
			}
		})
	})
	if len(trun) < 12 || binary.BigEndian.Uint32(trun)&0xffffff != 0x000701 {
		return fmt.Errorf("replay: unexpected MP4 fragment layout")
	}
	n := int(binary.BigEndian.Uint32(trun[4:]))
	entries := trun[12:]
	if len(entries) < 12*n {
		return fmt.Errorf("replay: short MP4 trun")
	}
	t, off := base, 0
	for i := range n {
		e := entries[12*i:]
		dur, size, flags := binary.BigEndian.Uint32(e), int(binary.BigEndian.Uint32(e[4:])), binary.BigEndian.Uint32(e[8:])
		if off+size > len(mdat) {
			return fmt.Errorf("replay: MP4 sample beyond mdat")
		}
		if err := frame(t, flags&0x00010000 == 0, mdat[off:off+size]); err != nil {
			return err
		}
		t += uint64(dur)
		off += size
	}
	return nil
}
