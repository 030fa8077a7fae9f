package natsbroker_test

import (
	"context"
	"encoding/binary"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/logtest"
	"github.com/qunkit/qun/nats/natstest"
)

// BenchmarkPublishDeliver measures one node's broker publishing to a room
// that another node's broker is subscribed to, on an in-process server.
// "throughput" publishes as fast as the subscriber keeps up (events
// delivered per second); "latency" keeps one event in flight
// (publish-to-deliver time, no queueing).
func BenchmarkPublishDeliver(b *testing.B) {
	url := natstest.Start(b, 0).ClientURL()
	pub, sub := open(b, url), open(b, url)
	ctx := context.Background()
	data := make([]byte, 64)

	b.Run("throughput", func(b *testing.B) {
		ref := logtest.Ref("g:bench")
		var delivered atomic.Int64
		unsub, err := sub.Subscribe(ctx, ref, func(*qun.Event) { delivered.Add(1) })
		if err != nil {
			b.Fatal(err)
		}
		defer unsub()
		b.ReportAllocs()
		start := time.Now()
		n := int64(0)
		for b.Loop() {
			n++
			if err := pub.Publish(ctx, &qun.Event{Tenant: ref.Tenant, Room: ref.Room, Seq: uint64(n), Type: "chat.message", Data: data}); err != nil {
				b.Fatal(err)
			}
			for n-delivered.Load() > 4096 { // stay within the subscriber's pending limit
				time.Sleep(20 * time.Microsecond)
			}
		}
		for deadline := time.Now().Add(10 * time.Second); delivered.Load() < n; time.Sleep(100 * time.Microsecond) {
			if time.Now().After(deadline) {
				b.Fatalf("delivered %d of %d", delivered.Load(), n)
			}
		}
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "deliveries/s")
	})

	b.Run("latency", func(b *testing.B) {
		ref := logtest.Ref("g:lat")
		got := make(chan int64, 1)
		unsub, err := sub.Subscribe(ctx, ref, func(ev *qun.Event) { got <- int64(binary.BigEndian.Uint64(ev.Data)) })
		if err != nil {
			b.Fatal(err)
		}
		defer unsub()
		var lat []time.Duration
		b.ReportAllocs()
		for b.Loop() {
			d := binary.BigEndian.AppendUint64(make([]byte, 0, 64), uint64(time.Now().UnixNano()))
			if err := pub.Publish(ctx, &qun.Event{Tenant: ref.Tenant, Room: ref.Room, Seq: 1, Type: "chat.message", Data: append(d, data[8:]...)}); err != nil {
				b.Fatal(err)
			}
			sent := <-got
			lat = append(lat, time.Duration(time.Now().UnixNano()-sent))
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	})
}
