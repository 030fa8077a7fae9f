package qun_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/qload"
	"github.com/qunkit/qun/internal/qtest"
)

// BenchmarkIdleConnMemory measures what an idle connection costs the
// server: 5,000 clients in a child process (so none of their memory is
// counted) say hello and subscribe to a room, then sit idle. The figure is
// the growth of the server process's HeapInuse + StackInuse (after GC)
// divided by the connection count, so it includes everything a connection
// holds: the TCP socket, net/http's state, the WebSocket library's buffers,
// the Session, its subscription and timers, and its goroutine's stack.
// Each b.Loop iteration is one measurement (GC and ReadMemStats).
//
// go test -run '^$' -bench IdleConnMemory .
func BenchmarkIdleConnMemory(b *testing.B) {
	if testing.Short() {
		b.Skip("opens 5,000 connections")
	}
	const conns = 5000
	e := qtest.NewEnv(b, qun.Config{}, func(e *qtest.Env) { qload.Register(e.Hub) })
	// Warm up: the first connections initialise pools and the room.
	warm := startSubscribers(b, e.URL, 10, "bench:idle")
	_ = warm
	before := memNow()
	startSubscribers(b, e.URL, conns, "bench:idle")
	time.Sleep(time.Second) // let handshakes' garbage become garbage
	var after mem
	b.ReportAllocs()
	for b.Loop() {
		after = memNow()
	}
	heap := float64(after.heap) - float64(before.heap)
	stack := float64(after.stack) - float64(before.stack)
	b.ReportMetric((heap+stack)/conns, "B/conn")
	b.ReportMetric(heap/conns, "heap-B/conn")
	b.ReportMetric(stack/conns, "stack-B/conn")
	b.ReportMetric(float64(after.goroutines-before.goroutines)/conns, "goroutines/conn")
}

type mem struct {
	heap, stack uint64
	goroutines  int
}

func memNow() mem {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return mem{m.HeapInuse, m.StackInuse, runtime.NumGoroutine()}
}
