package qun_test

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/qload"
	"github.com/qunkit/qun/internal/qtest"
)

const fanoutSubscribers = 10_000

// BenchmarkFanout10k measures one room with 10,000 real WebSocket
// subscribers on loopback, in a child process (see subscriberChild), and
// 200-byte messages published with Hub.Publish (in-memory log and broker).
// Each b.Loop iteration publishes one message; the subscribers time it
// from the send time at the start of its text.
//
//   - max: publish as fast as the slowest subscriber allows, keeping at
//     most fanoutWindow messages in flight (so no queue overflows): the most
//     deliveries per second the machine sustains.
//   - rate=150k: 15 messages/s, i.e. 150,000 deliveries/s, half the
//     300,000/s goal: the latency a room sees when the Hub is not saturated.
//   - rate=20k: 2 messages/s, each fanned out alone.
//
// BenchmarkFanoutFloor10k is the same without the Hub, for comparison.
//
// go test -run '^$' -bench 'Fanout' -benchtime 10s .
func BenchmarkFanout10k(b *testing.B) {
	if testing.Short() {
		b.Skip("opens 10,000 connections")
	}
	room := qun.RoomID("bench:fanout")
	e := qtest.NewEnv(b, qun.Config{}, func(e *qtest.Env) { qload.Register(e.Hub) })
	child := startSubscribers(b, e.URL, fanoutSubscribers, room)
	ref := qun.RoomRef{Tenant: benchTenant, Room: room}
	ctx := context.Background()
	publish := func() uint64 {
		ev, err := e.Hub.Publish(ctx, ref, qun.Draft{Type: qload.SaidType, Actor: "p", Data: struct {
			Text string `json:"text"`
		}{qload.Text(200, time.Now())}})
		if err != nil {
			b.Fatal(err)
		}
		return ev.Seq
	}
	var last uint64 // the room's last seq
	b.Run("max", func(b *testing.B) {
		var minSeq uint64
		last = measureFanout(b, child, func() uint64 {
			for last >= minSeq+fanoutWindow {
				if s := uint64(child.stats().minSeq); s > minSeq {
					minSeq = s
				} else {
					time.Sleep(100 * time.Microsecond)
				}
			}
			last = publish()
			return last
		})
	})
	b.Run("rate=150k", func(b *testing.B) { last = measureFanout(b, child, paced(150_000, publish)) })
	b.Run("rate=20k", func(b *testing.B) { last = measureFanout(b, child, paced(20_000, publish)) })
}

// fanoutWindow is how many messages BenchmarkFanout10k/max keeps in
// flight: enough for the Hub to batch several frames per write, far below
// the send queue's bound.
const fanoutWindow = 64

// paced returns a publish step that keeps deliveries to perSecond.
func paced(perSecond int, publish func() uint64) func() uint64 {
	interval := time.Second * fanoutSubscribers / time.Duration(perSecond)
	next := time.Now()
	return func() uint64 {
		time.Sleep(time.Until(next))
		next = next.Add(interval)
		return publish()
	}
}

// measureFanout runs step (which publishes one message and returns its
// seq) in b.Loop, waits until every subscriber has every message, and
// reports the figures. It returns the last seq.
func measureFanout(b *testing.B, child *subscriberProc, step func() uint64) uint64 {
	b.ReportAllocs()
	child.resetLatency()
	st0 := child.stats()
	serverCPU0, clientCPU0 := cpuTime(), child.cpuTime()
	start := time.Now()
	var last uint64
	for b.Loop() {
		last = step()
	}
	deadline := time.Now().Add(time.Minute)
	st := child.stats()
	for uint64(st.minSeq) < last {
		if time.Now().After(deadline) {
			b.Fatalf("subscribers stuck at seq %d of %d", st.minSeq, last)
		}
		time.Sleep(time.Millisecond)
		st = child.stats()
	}
	elapsed := time.Since(start)
	serverCPU, clientCPU := cpuTime()-serverCPU0, child.cpuTime()-clientCPU0
	if st.open != fanoutSubscribers || st.gaps != 0 {
		b.Fatalf("%d of %d subscribers open, %d gaps", st.open, fanoutSubscribers, st.gaps)
	}
	n := st.delivered - st0.delivered
	if want := int64(b.N) * fanoutSubscribers; n != want {
		b.Fatalf("%d deliveries, want %d", n, want)
	}
	p50, p99, maxLat, _ := child.latency()
	b.ReportMetric(float64(n)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(p50)/1e6, "p50-ms")
	b.ReportMetric(float64(p99)/1e6, "p99-ms")
	b.ReportMetric(float64(maxLat)/1e6, "max-ms")
	// CPU per delivery says how efficient each side is even when other
	// processes share the machine and blur the wall-clock figures.
	b.ReportMetric(float64(serverCPU)/1e3/float64(n), "server-cpu-µs/delivery")
	b.ReportMetric(float64(clientCPU)/1e3/float64(n), "client-cpu-µs/delivery")
	return last
}

// BenchmarkFanoutFloor10k is BenchmarkFanout10k's rate runs without the
// Hub: the same subscribers get the same frames, which a bare server writes
// to their sockets from floorWriters goroutines (each owning a share of the
// sockets, so that frames stay in order), one write per frame, nothing
// else. It is the floor this machine's loopback TCP sets for fanning a
// message out to 10,000 sockets.
//
// go test -run '^$' -bench 'FanoutFloor' -benchtime 10s .
func BenchmarkFanoutFloor10k(b *testing.B) {
	if testing.Short() {
		b.Skip("opens 10,000 connections")
	}
	f := &floorServer{}
	srv := httptest.NewServer(f)
	b.Cleanup(func() {
		f.stop()
		srv.Close()
	})
	child := startSubscribers(b, "ws"+strings.TrimPrefix(srv.URL, "http"), fanoutSubscribers, "bench:floor")
	f.start()
	var seq uint64
	publish := func() uint64 {
		seq++
		frame := floorFrame(seq, qload.Text(200, time.Now()))
		for _, ch := range f.frames {
			ch <- frame
		}
		return seq
	}
	b.Run("rate=150k", func(b *testing.B) { measureFanout(b, child, paced(150_000, publish)) })
	b.Run("rate=20k", func(b *testing.B) { measureFanout(b, child, paced(20_000, publish)) })
}

const floorWriters = 4

// floorServer accepts WebSocket clients with a hand-made handshake,
// answers their hello and sub, and keeps their sockets for writeAll.
type floorServer struct {
	mu     sync.Mutex
	conns  []net.Conn
	frames []chan []byte // one per writer
	wg     sync.WaitGroup
}

func (f *floorServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sum := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	fmt.Fprintf(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
		base64.StdEncoding.EncodeToString(sum[:]))
	for _, reply := range []string{`{"t":"res","id":1,"ok":{}}`, `{"t":"res","id":2,"ok":{"room":"bench:floor","head":0}}`} {
		if err := skipClientFrame(brw.Reader); err != nil {
			conn.Close()
			return
		}
		if _, err := conn.Write(wsTextFrame([]byte(reply))); err != nil {
			conn.Close()
			return
		}
	}
	f.mu.Lock()
	f.conns = append(f.conns, conn)
	f.mu.Unlock()
}

// skipClientFrame reads one masked client frame of under 64 KiB.
func skipClientFrame(r *bufio.Reader) error {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:2]); err != nil {
		return err
	}
	n := int(h[1] & 0x7f)
	if n == 126 {
		if _, err := io.ReadFull(r, h[2:4]); err != nil {
			return err
		}
		n = int(binary.BigEndian.Uint16(h[2:4]))
	}
	_, err := r.Discard(4 + n) // mask and payload
	return err
}

func wsTextFrame(p []byte) []byte {
	b := []byte{0x81}
	if len(p) < 126 {
		b = append(b, byte(len(p)))
	} else {
		b = binary.BigEndian.AppendUint16(append(b, 126), uint16(len(p)))
	}
	return append(b, p...)
}

// floorFrame is the frame the Hub would send for a bench.said event.
func floorFrame(seq uint64, text string) []byte {
	ev := `{"t":"ev","room":"bench:floor","seq":` + strconv.FormatUint(seq, 10) +
		`,"type":"bench.said","actor":"p","ts":` + strconv.FormatInt(time.Now().UnixMilli(), 10) +
		`,"d":{"text":"` + text + `"}}`
	return wsTextFrame([]byte(ev))
}

// start starts the writers, once every client is connected.
func (f *floorServer) start() {
	f.mu.Lock()
	conns := f.conns
	f.mu.Unlock()
	for w := range floorWriters {
		ch := make(chan []byte, 1024)
		f.frames = append(f.frames, ch)
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			for frame := range ch {
				for i := w; i < len(conns); i += floorWriters {
					_, _ = conns[i].Write(frame)
				}
			}
		}()
	}
}

func (f *floorServer) stop() {
	for _, ch := range f.frames {
		close(ch)
	}
	f.wg.Wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		c.Close()
	}
}
