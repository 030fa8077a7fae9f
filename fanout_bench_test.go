package qun_test

import (
	"context"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/qload"
	"github.com/qunkit/qun/internal/qtest"
)

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
//
// go test -run '^$' -bench 'Fanout10k' -benchtime 10s .
func BenchmarkFanout10k(b *testing.B) {
	if testing.Short() {
		b.Skip("opens 10,000 connections")
	}
	const subscribers = 10_000
	room := qun.RoomID("bench:fanout")
	e := qtest.NewEnv(b, qun.Config{}, func(e *qtest.Env) { qload.Register(e.Hub) })
	child := startSubscribers(b, e.URL, subscribers, room)
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
	run := func(b *testing.B, pace func()) {
		b.ReportAllocs()
		child.resetLatency()
		st0 := child.stats()
		serverCPU0, clientCPU0 := cpuTime(), child.cpuTime()
		start := time.Now()
		for b.Loop() {
			pace()
			last = publish()
		}
		// Wait for every subscriber to have every message.
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
		if st.open != subscribers || st.gaps != 0 {
			b.Fatalf("%d of %d subscribers open, %d gaps", st.open, subscribers, st.gaps)
		}
		if want := int64(b.N) * subscribers; st.delivered-st0.delivered != want {
			b.Fatalf("%d deliveries, want %d", st.delivered-st0.delivered, want)
		}
		p50, p99, maxLat, _ := child.latency()
		b.ReportMetric(float64(st.delivered-st0.delivered)/elapsed.Seconds(), "deliveries/s")
		b.ReportMetric(float64(p50)/1e6, "p50-ms")
		b.ReportMetric(float64(p99)/1e6, "p99-ms")
		b.ReportMetric(float64(maxLat)/1e6, "max-ms")
		// CPU per delivery says how efficient each side is even when other
		// processes share the machine and blur the wall-clock figures.
		n := float64(st.delivered - st0.delivered)
		b.ReportMetric(float64(serverCPU)/1e3/n, "server-cpu-µs/delivery")
		b.ReportMetric(float64(clientCPU)/1e3/n, "client-cpu-µs/delivery")
	}

	b.Run("max", func(b *testing.B) {
		var minSeq uint64
		run(b, func() {
			for last >= minSeq+fanoutWindow {
				if s := uint64(child.stats().minSeq); s > minSeq {
					minSeq = s
				} else {
					time.Sleep(100 * time.Microsecond)
				}
			}
		})
	})
	b.Run("rate=150k", func(b *testing.B) {
		const perSecond = 150_000 / subscribers
		next := time.Now()
		run(b, func() {
			time.Sleep(time.Until(next))
			next = next.Add(time.Second / perSecond)
		})
	})
}

// fanoutWindow is how many messages BenchmarkFanout10k/max keeps in
// flight: enough for the Hub to batch several frames per write, far below
// the send queue's bound.
const fanoutWindow = 64
