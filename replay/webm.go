package replay

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// webmTrack describes the one track of a recorded WebM file.
type webmTrack struct {
	Video        bool
	CodecID      string // V_VP8, V_VP9, A_OPUS
	CodecPrivate []byte
	Width        int
	Height       int
	SampleRate   float64
	Channels     int
	CodecDelay   uint64 // ns
	SeekPreRoll  uint64 // ns
}

// Cluster policy. A cluster is buffered in memory and written with one
// Write when it ends, so the file on disk always ends on a cluster boundary:
// a recorder killed mid-live leaves a WebM that plays up to its last
// cluster, losing at most maxClusterMs of media.
const (
	maxClusterMs   = 2000
	keyClusterMs   = 500 // a video keyframe starts a new cluster once the current one is this old
	maxClusterSize = 8 << 20
	seekHeadRegion = 80 // bytes reserved for the SeekHead (3 entries) plus Void
	durationRegion = 11 // Duration element: 2-byte id, 1-byte size, 8-byte float
)

type webmCue struct {
	ms      int64
	cluster int64 // cluster position relative to the segment data
	rel     int64 // block position relative to the cluster data
}

// webmWriter writes a single-track WebM as a live stream (unknown segment
// size, no cues) and finalises it on Close: Cues, SeekHead, Duration and
// the segment size are then written in place so that players can seek.
type webmWriter struct {
	f  File
	tr webmTrack

	pos        int64 // bytes written so far = file size
	segSizeAt  int64 // position of the segment's 8-byte size
	segStart   int64 // position of the segment data
	seekHeadAt int64
	durationAt int64
	infoAt     int64
	tracksAt   int64

	buf       []byte // clusterHead bytes reserved for the header, then the current cluster's body
	clusterMs int64
	open      bool
	keyRel    int64 // position of the cluster's first keyframe block in buf, -1 if none

	cues    []webmCue
	lastMs  int64
	frameMs int64 // last frame-to-frame interval, to estimate the last frame's duration
	frames  int64
	closed  bool
}

// newWebMWriter writes the file header for tr to f.
func newWebMWriter(f File, tr webmTrack) (*webmWriter, error) {
	w := &webmWriter{f: f, tr: tr, keyRel: -1, lastMs: -1}
	var b []byte
	hdr := appendUintEl(nil, idEBMLVersion, 1)
	hdr = appendUintEl(hdr, idEBMLReadVersion, 1)
	hdr = appendUintEl(hdr, idEBMLMaxIDLength, 4)
	hdr = appendUintEl(hdr, idEBMLMaxSizeLength, 8)
	hdr = appendStringEl(hdr, idDocType, "webm")
	hdr = appendUintEl(hdr, idDocTypeVersion, 4)
	hdr = appendUintEl(hdr, idDocTypeReadVersion, 2)
	b = appendMaster(b, idEBML, hdr)

	b = appendID(b, idSegment)
	w.segSizeAt = int64(len(b))
	b = appendSizeN(b, unknownSize&^(1<<56), 8) // all ones: unknown until Close
	w.segStart = int64(len(b))

	w.seekHeadAt = int64(len(b))
	b = append(b, make([]byte, seekHeadRegion)...) // filled below, once Info and Tracks have positions

	w.infoAt = int64(len(b))
	info := appendUintEl(nil, idTimestampScale, 1_000_000) // 1 ms
	info = appendStringEl(info, idMuxingApp, "qun/replay")
	info = appendStringEl(info, idWritingApp, "qun/replay")
	infoHead := len(appendMaster(nil, idInfo, append(info, make([]byte, durationRegion)...))) - len(info) - durationRegion
	w.durationAt = w.infoAt + int64(infoHead) + int64(len(info))
	info = appendVoid(info, durationRegion) // becomes Duration on Close
	b = appendMaster(b, idInfo, info)

	w.tracksAt = int64(len(b))
	b = appendMaster(b, idTracks, appendMaster(nil, idTrackEntry, tr.entry()))

	sh := w.seekHead(false)
	copy(b[w.seekHeadAt:], sh)
	if err := w.write(b); err != nil {
		return nil, err
	}
	return w, nil
}

func (tr webmTrack) entry() []byte {
	e := appendUintEl(nil, idTrackNumber, 1)
	e = appendUintEl(e, idTrackUID, 1)
	typ := uint64(2)
	if tr.Video {
		typ = 1
	}
	e = appendUintEl(e, idTrackType, typ)
	e = appendUintEl(e, idFlagLacing, 0)
	e = appendStringEl(e, idCodecID, tr.CodecID)
	if len(tr.CodecPrivate) > 0 {
		e = appendBytesEl(e, idCodecPrivate, tr.CodecPrivate)
	}
	if tr.CodecDelay > 0 {
		e = appendUintEl(e, idCodecDelay, tr.CodecDelay)
	}
	if tr.SeekPreRoll > 0 {
		e = appendUintEl(e, idSeekPreRoll, tr.SeekPreRoll)
	}
	if tr.Video {
		v := appendUintEl(nil, idPixelWidth, uint64(max(tr.Width, 1)))
		v = appendUintEl(v, idPixelHeight, uint64(max(tr.Height, 1)))
		e = appendMaster(e, idVideo, v)
	} else {
		a := appendFloatEl(nil, idSamplingFrequency, tr.SampleRate)
		a = appendUintEl(a, idChannels, uint64(max(tr.Channels, 1)))
		e = appendMaster(e, idAudio, a)
	}
	return e
}

// seekHead returns the seekHeadRegion bytes: a SeekHead pointing at Info,
// Tracks and (once written) Cues, padded with Void.
func (w *webmWriter) seekHead(cues bool) []byte {
	seek := func(b []byte, id uint32, pos int64) []byte {
		var s []byte
		s = appendBytesEl(s, idSeekID, appendID(nil, id))
		s = appendUint8El(s, idSeekPosition, uint64(pos-w.segStart))
		return appendMaster(b, idSeek, s)
	}
	body := seek(nil, idInfo, w.infoAt)
	body = seek(body, idTracks, w.tracksAt)
	if cues {
		body = seek(body, idCues, w.pos)
	}
	b := appendMaster(nil, idSeekHead, body)
	return appendVoid(b, seekHeadRegion-len(b))
}

func (w *webmWriter) write(b []byte) error {
	n, err := w.f.Write(b)
	w.pos += int64(n)
	return err
}

// WriteFrame adds one frame at ts (since the track's first frame).
// Timestamps must not decrease; a smaller one is clamped.
func (w *webmWriter) WriteFrame(ts time.Duration, key bool, data []byte) error {
	if w.closed {
		return errors.New("replay: webm writer closed")
	}
	ms := int64(ts / time.Millisecond)
	if ms < w.lastMs {
		ms = w.lastMs
	}
	if w.lastMs >= 0 && ms > w.lastMs {
		w.frameMs = ms - w.lastMs
	}
	if !w.open || ms-w.clusterMs >= maxClusterMs || len(w.buf) >= maxClusterSize+clusterHead ||
		(w.tr.Video && key && ms-w.clusterMs >= keyClusterMs) {
		if err := w.flushCluster(); err != nil {
			return err
		}
		w.open, w.clusterMs, w.keyRel = true, ms, -1
		w.buf = appendUintEl(append(w.buf[:0], make([]byte, clusterHead)...), idTimestamp, uint64(ms))
	}
	if key && w.keyRel < 0 {
		w.keyRel = int64(len(w.buf) - clusterHead)
	}
	// SimpleBlock: track number 1, 16-bit relative timestamp, flags.
	w.buf = appendID(w.buf, idSimpleBlock)
	w.buf = appendSize(w.buf, uint64(4+len(data)))
	flags := byte(0)
	if key {
		flags = 0x80
	}
	w.buf = append(w.buf, 0x81, byte(uint16(ms-w.clusterMs)>>8), byte(ms-w.clusterMs), flags)
	w.buf = append(w.buf, data...)
	w.lastMs = ms
	w.frames++
	return nil
}

// flushCluster writes the buffered cluster with one Write.
func (w *webmWriter) flushCluster() error {
	if !w.open {
		return nil
	}
	w.open = false
	start := w.pos
	var hdr [clusterHead]byte
	h := appendID(hdr[:0], idCluster)
	h = appendSize(h, uint64(len(w.buf)-clusterHead))
	if w.keyRel >= 0 {
		w.cues = append(w.cues, webmCue{ms: w.clusterMs + w.blockRelMs(w.keyRel), cluster: start - w.segStart, rel: w.keyRel})
	}
	// The header goes into the space reserved before the body, so that one
	// write, without a copy, keeps the file ending on a cluster boundary.
	at := clusterHead - len(h)
	copy(w.buf[at:], h)
	return w.write(w.buf[at:])
}

// clusterHead is the room reserved for a cluster's id and size.
const clusterHead = 12

// blockRelMs returns the relative timestamp of the SimpleBlock at rel in
// the cluster's body.
func (w *webmWriter) blockRelMs(rel int64) int64 {
	b := w.buf[clusterHead+rel:]
	if len(b) == 0 || b[0] != idSimpleBlock {
		return 0
	}
	_, n, _, ok := readVint(b[1:], true)
	if !ok || len(b) < 1+n+3 {
		return 0
	}
	return int64(int16(binary.BigEndian.Uint16(b[1+n+1:])))
}

// Duration is the media time written so far, including an estimate of the
// last frame's own duration.
func (w *webmWriter) Duration() time.Duration {
	if w.lastMs < 0 {
		return 0
	}
	return time.Duration(w.lastMs+w.frameMs) * time.Millisecond
}

// Size returns the bytes written to the file (buffered cluster excluded).
func (w *webmWriter) Size() int64 { return w.pos }

// Close writes the last cluster and the seeking index, then closes f.
func (w *webmWriter) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	err := w.finish()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (w *webmWriter) finish() error {
	if err := w.flushCluster(); err != nil {
		return err
	}
	cuesAt := w.pos
	if len(w.cues) > 0 {
		var body []byte
		for _, c := range w.cues {
			tp := appendUintEl(nil, idCueTrack, 1)
			tp = appendUintEl(tp, idCueClusterPosition, uint64(c.cluster))
			tp = appendUintEl(tp, idCueRelativePos, uint64(c.rel))
			cp := appendUintEl(nil, idCueTime, uint64(c.ms))
			cp = appendMaster(cp, idCueTrackPositions, tp)
			body = appendMaster(body, idCuePoint, cp)
		}
		if err := w.write(appendMaster(nil, idCues, body)); err != nil {
			return err
		}
	}
	end := w.pos
	w.pos = cuesAt // seekHead refers to w.pos for Cues
	sh := w.seekHead(len(w.cues) > 0)
	w.pos = end
	if _, err := w.f.WriteAt(sh, w.seekHeadAt); err != nil {
		return err
	}
	dur := appendFloatEl(nil, idDuration, float64(w.Duration()/time.Millisecond))
	if _, err := w.f.WriteAt(dur, w.durationAt); err != nil {
		return err
	}
	size := appendSizeN(nil, uint64(w.pos-w.segStart), 8)
	if _, err := w.f.WriteAt(size, w.segSizeAt); err != nil {
		return err
	}
	return w.f.Sync()
}

// Abort closes f without finalising: the file stays a playable live
// stream. Used when the writer's process must stop at once, and by tests
// that simulate a crash.
func (w *webmWriter) Abort() error {
	if w.closed {
		return nil
	}
	w.closed = true
	return w.f.Close()
}

// readWebMWith reads a WebM written by webmWriter, finalised or not (a
// crashed recording may end anywhere), calling header with the track and
// then frame for every block of every complete cluster, in order. A
// truncated tail ends the read without error.
func readWebMWith(r io.Reader, header func(webmTrack) error, frame func(ms int64, key bool, data []byte) error) (webmTrack, error) {
	var tr webmTrack
	br := &ebmlReader{r: r}
	id, size, _, err := br.header()
	if err != nil || id != idEBML {
		return tr, fmt.Errorf("replay: not a WebM file")
	}
	if err := br.skip(size); err != nil {
		return tr, err
	}
	if id, _, _, err = br.header(); err != nil || id != idSegment {
		return tr, fmt.Errorf("replay: WebM without segment")
	}
	haveTracks := false
	for {
		id, size, unknown, err := br.header()
		if err != nil {
			break // end of file or truncated element header
		}
		switch id {
		case idTracks:
			body, err := br.body(size)
			if err != nil {
				return tr, fmt.Errorf("replay: truncated track header")
			}
			tr, err = parseTracks(body)
			if err != nil {
				return tr, err
			}
			if header != nil {
				if err := header(tr); err != nil {
					return tr, err
				}
			}
			haveTracks = true
		case idCluster:
			if !haveTracks {
				return tr, fmt.Errorf("replay: cluster before tracks")
			}
			if unknown {
				return tr, fmt.Errorf("replay: unknown-size cluster not supported")
			}
			body, err := br.body(size)
			if err != nil {
				return tr, nil // truncated last cluster: stop at the last complete one
			}
			if err := parseCluster(body, frame); err != nil {
				return tr, err
			}
		default:
			if unknown {
				return tr, nil
			}
			if err := br.skip(size); err != nil {
				return tr, nil
			}
		}
	}
	if !haveTracks {
		return tr, fmt.Errorf("replay: WebM without tracks")
	}
	return tr, nil
}

func parseCluster(b []byte, frame func(ms int64, key bool, data []byte) error) error {
	var base int64
	for len(b) > 0 {
		id, n, _, ok := readVint(b, false)
		if !ok {
			return nil
		}
		size, m, _, ok := readVint(b[n:], true)
		if !ok || uint64(len(b)-n-m) < size {
			return nil
		}
		body := b[n+m : n+m+int(size)]
		b = b[n+m+int(size):]
		switch id {
		case idTimestamp:
			base = int64(readUint(body))
		case idSimpleBlock:
			_, tn, _, ok := readVint(body, true)
			if !ok || len(body) < tn+3 {
				return nil
			}
			rel := int64(int16(binary.BigEndian.Uint16(body[tn:])))
			if err := frame(base+rel, body[tn+2]&0x80 != 0, body[tn+3:]); err != nil {
				return err
			}
		}
	}
	return nil
}

func parseTracks(b []byte) (webmTrack, error) {
	var tr webmTrack
	err := walk(b, func(id uint32, body []byte) error {
		if id != idTrackEntry {
			return nil
		}
		return walk(body, func(id uint32, v []byte) error {
			switch id {
			case idTrackType:
				tr.Video = readUint(v) == 1
			case idCodecID:
				tr.CodecID = string(v)
			case idCodecPrivate:
				tr.CodecPrivate = append([]byte(nil), v...)
			case idCodecDelay:
				tr.CodecDelay = readUint(v)
			case idSeekPreRoll:
				tr.SeekPreRoll = readUint(v)
			case idVideo:
				return walk(v, func(id uint32, v []byte) error {
					switch id {
					case idPixelWidth:
						tr.Width = int(readUint(v))
					case idPixelHeight:
						tr.Height = int(readUint(v))
					}
					return nil
				})
			case idAudio:
				return walk(v, func(id uint32, v []byte) error {
					switch id {
					case idSamplingFrequency:
						if len(v) == 8 {
							tr.SampleRate = math.Float64frombits(binary.BigEndian.Uint64(v))
						} else if len(v) == 4 {
							tr.SampleRate = float64(math.Float32frombits(binary.BigEndian.Uint32(v)))
						}
					case idChannels:
						tr.Channels = int(readUint(v))
					}
					return nil
				})
			}
			return nil
		})
	})
	if err == nil && tr.CodecID == "" {
		err = fmt.Errorf("replay: WebM track without codec")
	}
	return tr, err
}

// walk calls fn for each child element in b.
func walk(b []byte, fn func(id uint32, body []byte) error) error {
	for len(b) > 0 {
		id, n, _, ok := readVint(b, false)
		if !ok {
			return fmt.Errorf("replay: malformed EBML")
		}
		size, m, _, ok := readVint(b[n:], true)
		if !ok || uint64(len(b)-n-m) < size {
			return fmt.Errorf("replay: malformed EBML")
		}
		if err := fn(uint32(id), b[n+m:n+m+int(size)]); err != nil {
			return err
		}
		b = b[n+m+int(size):]
	}
	return nil
}

// ebmlReader reads element headers and bodies from a stream.
type ebmlReader struct {
	r   io.Reader
	buf [8]byte
}

func (e *ebmlReader) vint(mask bool) (uint64, bool, error) {
	if _, err := io.ReadFull(e.r, e.buf[:1]); err != nil {
		return 0, false, err
	}
	if e.buf[0] == 0 {
		return 0, false, fmt.Errorf("replay: malformed EBML")
	}
	n := 1
	for e.buf[0]&(0x80>>(n-1)) == 0 {
		n++
	}
	if _, err := io.ReadFull(e.r, e.buf[1:n]); err != nil {
		return 0, false, err
	}
	v, _, unknown, _ := readVint(e.buf[:n], mask)
	return v, unknown, nil
}

func (e *ebmlReader) header() (id uint32, size uint64, unknown bool, err error) {
	v, _, err := e.vint(false)
	if err != nil {
		return 0, 0, false, err
	}
	size, unknown, err = e.vint(true)
	return uint32(v), size, unknown, err
}

const maxElementBody = 64 << 20

func (e *ebmlReader) body(size uint64) ([]byte, error) {
	if size > maxElementBody {
		return nil, fmt.Errorf("replay: element too large")
	}
	b := make([]byte, size)
	_, err := io.ReadFull(e.r, b)
	return b, err
}

func (e *ebmlReader) skip(size uint64) error {
	n, err := io.CopyN(io.Discard, e.r, int64(size))
	if err == nil && n != int64(size) {
		err = io.ErrUnexpectedEOF
	}
	return err
}
