package whiteboard_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/qclient"
	"github.com/qunkit/qun/whiteboard"
)

// raiseFDLimit lets one process hold both ends of n sockets.
func raiseFDLimit(b *testing.B, n uint64) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Fatal(err)
	}
	if lim.Cur < n {
		lim.Cur = min(n, lim.Max)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			b.Fatal(err)
		}
	}
}

// connectViewers opens n real WebSocket subscribers of board's room that
// count the frames they receive without decoding them.
func connectViewers(b *testing.B, e *env, board whiteboard.BoardID, n int, got *atomic.Int64) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := qclient.Connect(ctx, e.URL, e.Token(b, "t1", fmt.Sprintf("viewer%d", i)), qclient.Options{
				Origin:  e.Server.URL,
				OnFrame: func([]byte) { got.Add(1) },
			})
			if err != nil {
				errs <- err
				return
			}
			b.Cleanup(func() { c.Close() })
			if err := c.Call(ctx, "sub", m{"room": whiteboard.Room(board)}, nil); err != nil {
				errs <- err
			}
		}()
		if i%50 == 49 {
			wg.Wait() // do not overflow the listen backlog
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// BenchmarkStrokeFanout streams one presenter's stroke points
// (wb.stroke.append, 8 points each, up to 64 ops in flight) to 1,000
// WebSocket viewers on loopback and reports op deliveries per second,
// counted when the viewers have received every frame.
func BenchmarkStrokeFanout(b *testing.B) {
	const viewers = 1000
	raiseFDLimit(b, 3*viewers)
	e := newEnv(b, nil, qun.Config{OpsPerSecond: 1e9, OpBurst: 1 << 30, SendQueueFrames: 1 << 16, MaxSubscriptions: 4},
		whiteboard.Config{Limits: whiteboard.Limits{StrokePoints: 1 << 24}})
	board := e.create(b)
	page := e.state(b, board).Pages[0].ID
	var got atomic.Int64
	connectViewers(b, e, board, viewers, &got)

	teacher := e.Connect(b, "t1", "teacher")
	sid := idOf(b, call(b, teacher, "wb.stroke.begin", m{"board": board, "page": page, "tool": "pen", "c": "#000000", "w": 0.003, "pts": []float64{0.5, 0.5, 0.5}}))
	window := make(chan struct{}, 64)
	var failed atomic.Value
	drained := make(chan struct{})
	go func() { // replies to the pipelined ops
		defer close(drained)
		for f := range teacher.Frames() {
			if f.T == "res" {
				if f.Err != nil {
					failed.Store(f.Err)
				}
				<-window
			}
		}
	}()
	pts := make([]float64, 0, 24)
	for i := range 8 {
		pts = append(pts, 0.1+float64(i)/100, 0.2+float64(i)/200, 0.5)
	}
	frame, _ := json.Marshal(m{"id": 0, "op": "wb.stroke.append", "d": m{"board": board, "id": sid, "pts": pts}})
	got.Store(0)
	var start time.Time
	ops := 0
	b.ReportAllocs()
	for b.Loop() {
		if ops == 0 {
			start = time.Now()
		}
		select {
		case window <- struct{}{}:
		case <-time.After(30 * time.Second):
			b.Fatalf("no reply for 30 s after %d ops (viewers got %d frames)", ops, got.Load())
		}
		if err := teacher.SendRaw(context.Background(), frame); err != nil {
			b.Fatal(err)
		}
		ops++
	}
	want := int64(ops) * viewers
	deadline := time.Now().Add(2 * time.Minute)
	for got.Load() < want {
		if time.Now().After(deadline) {
			b.Fatalf("viewers received %d of %d frames", got.Load(), want)
		}
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	if err := failed.Load(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(want)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(ops)/elapsed.Seconds(), "ops/s")
	teacher.Close()
	<-drained
}

// buildLesson applies n operations to a board through the Go API: a
// presenter and a student drawing over 40 pages, turning to the next page
// every n/40 operations. Per 100 ops: 80 pen strokes of 24 points, 8
// shapes, 4 texts, 5 erasures of one's own recent item, 2 undos, 1 redo.
func buildLesson(b *testing.B, e *env, board whiteboard.BoardID, n int) {
	ctx := context.Background()
	teacher, alice := ident("t1", "teacher"), ident("t1", "alice")
	if _, err := e.svc.SetRights(ctx, teacher, board, "alice", true); err != nil {
		b.Fatal(err)
	}
	pages := []uint64{e.state(b, board).Pages[0].ID}
	for range 39 {
		p, _, err := e.svc.AddPage(ctx, teacher, board, nil, 0, 0)
		if err != nil {
			b.Fatal(err)
		}
		pages = append(pages, p.ID)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	coord := func() float64 { return 0.05 + 0.9*rng.Float64() }
	recent := map[*qun.Identity][]uint64{}
	page := pages[0]
	for i := range n {
		if i > 0 && i%(n/40) == 0 {
			page = pages[i/(n/40)]
			if _, err := e.svc.TurnPage(ctx, teacher, board, page); err != nil {
				b.Fatal(err)
			}
			recent = map[*qun.Identity][]uint64{}
			continue
		}
		who := teacher
		if i%3 == 2 {
			who = alice
		}
		var in whiteboard.ItemInput
		switch r := i % 100; {
		case r < 80:
			x, y := coord(), coord()
			pts := make([]float64, 0, 72)
			for range 24 {
				x = min(max(x+0.01*(rng.Float64()-0.5), 0), 1)
				y = min(max(y+0.01*(rng.Float64()-0.5), 0), 1)
				pts = append(pts, x, y, 0.3+0.7*rng.Float64())
			}
			in = whiteboard.ItemInput{K: "stroke", Tool: "pen", C: "#1e88e5", W: 0.003, Pts: pts}
		case r < 88:
			in = whiteboard.ItemInput{K: "shape", Shape: "rect", C: "#e53935", W: 0.002, Pts: []float64{coord(), coord(), coord(), coord()}}
		case r < 92:
			in = whiteboard.ItemInput{K: "text", C: "#000000", Size: 0.03, Text: "x² + y² = r²", Pts: []float64{coord(), coord()}}
		case r < 97:
			if ids := recent[who]; len(ids) > 0 {
				id := ids[len(ids)-1]
				recent[who] = ids[:len(ids)-1]
				if _, err := e.svc.Erase(ctx, who, board, page, []uint64{id}); err != nil {
					b.Fatal(err)
				}
			}
			continue
		case r < 99:
			_, _ = e.svc.Undo(ctx, who, board)
			continue
		default:
			_, _ = e.svc.Redo(ctx, who, board)
			continue
		}
		id, _, err := e.svc.Draw(ctx, who, board, page, in)
		if err != nil {
			b.Fatal(err)
		}
		recent[who] = append(recent[who], id)
	}
}

// rawConnect opens an authenticated WebSocket that the benchmark reads
// itself, so that client-side decoding is not part of what is measured.
func rawConnect(b *testing.B, e *env, user string) *websocket.Conn {
	ctx := context.Background()
	conn, _, err := websocket.Dial(ctx, e.URL, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {e.Server.URL}}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.CloseNow() })
	conn.SetReadLimit(64 << 20)
	hello, _ := json.Marshal(m{"id": 0, "op": "hello", "d": m{"v": qun.ProtocolVersion, "token": e.Token(b, "t1", user)}})
	if err := conn.Write(ctx, websocket.MessageText, hello); err != nil {
		b.Fatal(err)
	}
	if _, msg, err := conn.Read(ctx); err != nil || !bytes.Contains(msg, []byte(`"ok"`)) {
		b.Fatalf("hello: %v %s", err, msg)
	}
	return conn
}

// BenchmarkLateJoin100k measures a late joiner's wb.open on a board that
// took 100,000 operations: the server builds the snapshot from its
// in-memory state and sends it over a real WebSocket; the time is until
// the client has received the whole reply (not decoded it).
func BenchmarkLateJoin100k(b *testing.B) {
	e := newEnv(b, nil, qun.Config{OpsPerSecond: 1e9, OpBurst: 1 << 30}, whiteboard.Config{})
	board := e.create(b)
	buildLesson(b, e, board, 100_000)
	st := e.state(b, board)
	items, full := 0, 0
	for _, p := range st.Pages {
		items += len(p.Items)
		for _, raw := range p.Items {
			full += len(raw)
		}
	}
	// A cold start rebuilds the board from its newest persisted snapshot and
	// the log after it; measured once, for the record.
	cold := time.Now()
	if _, err := e.svc.StateAt(context.Background(), "t1", board, 0); err != nil {
		b.Fatal(err)
	}
	coldMS := float64(time.Since(cold).Microseconds()) / 1000
	conn := rawConnect(b, e, "viewer1")
	req, _ := json.Marshal(m{"id": 1, "op": "wb.open", "d": m{"board": board}})
	var size int
	b.ReportAllocs()
	for b.Loop() {
		if err := conn.Write(context.Background(), websocket.MessageText, req); err != nil {
			b.Fatal(err)
		}
		_, msg, err := conn.Read(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if !bytes.HasPrefix(msg, []byte(`{"t":"res","id":1,"ok":{"board"`)) {
			b.Fatalf("reply %.200s", msg)
		}
		size = len(msg)
	}
	b.ReportMetric(float64(size), "snapshot-bytes")
	b.ReportMetric(float64(full), "board-item-bytes")
	b.ReportMetric(float64(items), "board-items")
	b.ReportMetric(float64(st.Seq), "board-seq")
	b.ReportMetric(coldMS, "cold-load-ms")
}
