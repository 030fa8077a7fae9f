package replay

import (
	"context"
	"encoding/binary"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v3"
	"github.com/qunkit/qun/internal/livepeer"
	"go.uber.org/zap"
)

// benchPackets returns 10 s of real VP8 video (640×480, 1 Mbit/s, 30 fps,
// a keyframe every 2 s) as the raw RTP packets a publisher sends
// (1200-byte MTU).
func benchPackets(b *testing.B) [][]byte {
	b.Helper()
	needFFmpeg(b)
	p := filepath.Join(b.TempDir(), "bench.ivf")
	out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=640x480:rate=30:duration=10",
		"-c:v", "libvpx", "-b:v", "1M", "-g", "60", "-deadline", "realtime", "-cpu-used", "8", p).CombinedOutput()
	if err != nil {
		b.Fatalf("ffmpeg: %v %s", err, out)
	}
	frames := readFrames(b, p)
	pay := &codecs.VP8Payloader{EnablePictureID: true}
	var pkts [][]byte
	seq := uint16(0)
	for i, f := range frames {
		ps := pay.Payload(1200, f.data)
		for j, pl := range ps {
			pk := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: uint32(i * 3000), SSRC: 42, Marker: j == len(ps)-1}, Payload: pl}
			raw, err := pk.Marshal()
			if err != nil {
				b.Fatal(err)
			}
			pkts = append(pkts, raw)
			seq++
		}
	}
	return pkts
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration { return rusage(syscall.RUSAGE_SELF) }

// threadCPU is the calling thread's user+system CPU time: with the
// benchmark goroutine locked to its thread, the work done inline for each
// packet, unaffected by other load on the machine.
func threadCPU() time.Duration { return rusage(1) } // RUSAGE_THREAD

func rusage(who int) time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(who, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRecordVP8 is the server's cost of recording one video track,
// per packet: what live's recorder hand-off does (copy the packet, parse
// it) and what the recorder does (reorder buffer, depacketise, map time,
// write WebM clusters to a file). cpu-ns/pkt is the process CPU time
// (user + system, so the file writes count) per packet.
func BenchmarkRecordVP8(b *testing.B) {
	pkts := benchPackets(b)
	st, err := NewFSStorage(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	s := &Service{cfg: Config{MaxTracks: 4, Now: time.Now}, storage: st, store: nopStore{}, log: nopLogger()}
	rec := newRecording(s, &Replay{ID: "bench", Tenant: "t", StartedAt: time.Now()})
	w, err := rec.TrackStarted(context.Background(), TrackInfo{Kind: "video", MimeType: "video/VP8", ClockRate: 90000, Publisher: "p"})
	if err != nil {
		b.Fatal(err)
	}
	var bytes int64
	for _, p := range pkts {
		bytes += int64(len(p))
	}
	b.SetBytes(bytes / int64(len(pkts)))
	b.ReportAllocs()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu0, th0 := cpuTime(), threadCPU()
	i, loop := 0, uint32(0)
	for b.Loop() {
		raw := pkts[i]
		// Later loops continue the sequence and timestamps.
		seq := binary.BigEndian.Uint16(raw[2:]) + uint16(loop*uint32(len(pkts)))
		ts := binary.BigEndian.Uint32(raw[4:]) + loop*300000
		cp := append([]byte(nil), raw...) // live's hand-off copies the packet
		binary.BigEndian.PutUint16(cp[2:], seq)
		binary.BigEndian.PutUint32(cp[4:], ts)
		p := &rtp.Packet{}
		if err := p.Unmarshal(cp); err != nil {
			b.Fatal(err)
		}
		if err := w.WriteRTP(p); err != nil {
			b.Fatal(err)
		}
		if i++; i == len(pkts) {
			i, loop = 0, loop+1
		}
	}
	b.ReportMetric(float64(threadCPU()-th0)/float64(b.N), "thread-cpu-ns/pkt")
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/pkt")
	_ = w.Close()
}

// BenchmarkForwardVP8ToOneViewer is the server's cost of forwarding the
// same packets to one viewer: SRTP encryption and the UDP write of pion's
// send path, to a real pion viewer on loopback. ns/op is the forwarding
// goroutine's time per packet (the viewer's receiving runs on other
// goroutines); live's own rewrite (BenchmarkForward in live/internal/sfu,
// ~54 ns) comes on top. thread-cpu-ns/pkt is that goroutine's CPU time.
func BenchmarkForwardVP8ToOneViewer(b *testing.B) {
	pkts := benchPackets(b)
	api, err := livepeer.NewAPI(livepeer.APIOptions{IncludeLoopback: true})
	if err != nil {
		b.Fatal(err)
	}
	sfu, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		b.Fatal(err)
	}
	defer sfu.Close()
	viewer, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		b.Fatal(err)
	}
	defer viewer.Close()
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "s")
	if err != nil {
		b.Fatal(err)
	}
	sender, err := sfu.AddTrack(track)
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			if _, _, err := sender.ReadRTCP(); err != nil {
				return
			}
		}
	}()
	got := make(chan struct{})
	var once sync.Once
	viewer.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		once.Do(func() { close(got) })
		buf := make([]byte, 1500)
		for {
			if _, _, err := t.Read(buf); err != nil {
				return
			}
		}
	})
	if err := signal(sfu, viewer); err != nil {
		b.Fatal(err)
	}
	p := &rtp.Packet{}
	for i := 0; ; i++ { // until the viewer gets media
		_ = p.Unmarshal(pkts[i%len(pkts)])
		_ = track.WriteRTP(p)
		select {
		case <-got:
		case <-time.After(10 * time.Millisecond):
			if i > 1000 {
				b.Fatal("the viewer never got media")
			}
			continue
		}
		break
	}
	parsed := make([]rtp.Packet, len(pkts))
	for i := range pkts {
		_ = parsed[i].Unmarshal(pkts[i])
	}
	b.SetBytes(int64(len(pkts[0])))
	b.ReportAllocs()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	th0 := threadCPU()
	i := 0
	for b.Loop() {
		if err := track.WriteRTP(&parsed[i]); err != nil {
			b.Fatal(err)
		}
		if i++; i == len(parsed) {
			i = 0
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(threadCPU()-th0)/float64(b.N), "thread-cpu-ns/pkt")
	sfu.Close()
	viewer.Close()
	wg.Wait()
}

// signal connects offerer and answerer in-process (no trickle).
func signal(off, ans *webrtc.PeerConnection) error {
	offer, err := off.CreateOffer(nil)
	if err != nil {
		return err
	}
	gather := webrtc.GatheringCompletePromise(off)
	if err := off.SetLocalDescription(offer); err != nil {
		return err
	}
	<-gather
	if err := ans.SetRemoteDescription(*off.LocalDescription()); err != nil {
		return err
	}
	answer, err := ans.CreateAnswer(nil)
	if err != nil {
		return err
	}
	gather = webrtc.GatheringCompletePromise(ans)
	if err := ans.SetLocalDescription(answer); err != nil {
		return err
	}
	<-gather
	return off.SetRemoteDescription(*ans.LocalDescription())
}

// nopStore takes metadata updates and forgets them (the benchmark measures
// media, not SQLite).
type nopStore struct{ Store }

func (nopStore) Update(context.Context, *Replay) error { return nil }

func nopLogger() *zap.Logger { return zap.NewNop() }
