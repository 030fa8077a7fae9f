package sfu

import (
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"
	"go.uber.org/zap"
)

// nopWriter stands in for pion's SRTP write path.
type nopWriter struct{ n int }

func (w *nopWriter) WriteRTP(h *rtp.Header, p []byte) (int, error) { w.n++; return len(p), nil }
func (w *nopWriter) Write(b []byte) (int, error)                   { w.n++; return len(b), nil }

func benchReceiver(viewers int) (*Receiver, []*DownTrack) {
	r := &Receiver{kind: webrtc.RTPCodecTypeVideo, ck: codecVP8, log: zap.NewNop(), closedCh: make(chan struct{})}
	r.codec.ClockRate = 90000
	l := &layer{slot: 0}
	r.layers[0].Store(l)
	var ds []*DownTrack
	for i := range viewers {
		d := newDownTrack(r, nil, LayerHigh)
		d.ws, d.ssrc, d.pt, d.clock, d.bound = &nopWriter{}, uint32(1000+i), 96, 90000, true
		d.target = 0
		ds = append(ds, d)
	}
	empty := []*DownTrack{}
	r.downs.Store(&empty)
	for _, d := range ds {
		r.addDown(d)
	}
	return r, ds
}

// BenchmarkForward measures the SFU's own per-viewer work for one packet:
// layer check, sequence/timestamp rewrite, NACK history, header rewrite.
// pion's SRTP encryption and the UDP write come on top (the load tool
// measures the whole).
func BenchmarkForward(b *testing.B) {
	_, ds := benchReceiver(1)
	d := ds[0]
	h := rtp.Header{Version: 2, PayloadType: 96, SSRC: 42, Timestamp: 1000, Marker: true}
	payload := make([]byte, 1100)
	payload[0] = 0x10 // keyframe start so the viewer starts
	now := time.Now().UnixNano()
	d.forward(0, &h, payload, true, now)
	payload[1] = 1
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		h.SequenceNumber++
		h.Timestamp += 3000
		d.forward(0, &h, payload, false, now)
	}
}

// BenchmarkFanout200 is one publisher packet fanned out to 200 viewers,
// as the reader goroutine does it.
func BenchmarkFanout200(b *testing.B) {
	r, ds := benchReceiver(200)
	h := rtp.Header{Version: 2, PayloadType: 96, SSRC: 42, Timestamp: 1000}
	payload := make([]byte, 1100)
	payload[0] = 0x10
	now := time.Now().UnixNano()
	for _, d := range ds {
		d.forward(0, &h, payload, true, now)
	}
	payload[1] = 1
	b.ReportAllocs()
	for b.Loop() {
		h.SequenceNumber++
		for _, d := range *r.downs.Load() {
			d.forward(0, &h, payload, false, now)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/200, "ns/viewer")
}

// BenchmarkKeyframeVP8 is the per-packet keyframe check.
func BenchmarkKeyframeVP8(b *testing.B) {
	p := []byte{0x90, 0x80, 0x12, 0x34, 0x01}
	b.ReportAllocs()
	for b.Loop() {
		_ = isKeyframeStart(codecVP8, p)
	}
}
