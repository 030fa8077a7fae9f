package shop_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/qunkit/qun/shop"
)

// BenchmarkBuyOneHotProduct measures durable reservations per second on the
// embedded SQLite store, all buyers contending for one product: each Buy
// reserves (commit), calls Checkout, and records its payment reference
// (commit), returning only once both are durable. 256 buyers run at a time.
func BenchmarkBuyOneHotProduct(b *testing.B) {
	e := newEnv(b, nil)
	_, room := e.liveShop(b, "t1", 1, 1)
	ctx := context.Background()
	if err := e.svc.SetStock(ctx, "t1", "p1", 100_000_000); err != nil {
		b.Fatal(err)
	}
	const buyers, perBuyer = 256, 4
	var seq atomic.Int64
	b.ReportAllocs()
	start, cpu := time.Now(), cpuTime()
	for b.Loop() {
		var wg sync.WaitGroup
		for range buyers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range perBuyer {
					n := seq.Add(1)
					if _, err := e.svc.Buy(ctx, ident("t1", fmt.Sprint("u", n)), shop.BuyInput{Room: room, Product: "p1", Qty: 1, Key: "k"}); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
	}
	b.ReportMetric(float64(seq.Load())/time.Since(start).Seconds(), "reservations/s")
	b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(seq.Load()), "cpu-µs/reservation")
}

// BenchmarkWebhookDelivery measures signed deliveries per second to a
// local endpoint: messages are enqueued 1,000 at a time and each iteration
// waits until the endpoint has received them all (each attempt's outcome is
// written back through the store as well).
func BenchmarkWebhookDelivery(b *testing.B) {
	e := newEnv(b, func(c *shop.Config) { c.Webhooks.PollInterval = time.Millisecond; c.Webhooks.Concurrency = 32 })
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		w.WriteHeader(204)
	}))
	defer srv.Close()
	ctx := context.Background()
	if _, err := e.svc.AddEndpoint(ctx, shop.EndpointInput{URL: srv.URL}); err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"type":"order.paid","timestamp":"2026-01-01T00:00:00Z","data":{"id":"o_1","tenant":"t1","total":{"amount":1999,"currency":"CNY"}}}`)
	const batch = 1000
	sent := 0
	b.ReportAllocs()
	start, cpu := time.Now(), cpuTime()
	for b.Loop() {
		err := e.svc.Store().Update(ctx, func(tx shop.Tx) error {
			for i := range batch {
				if err := tx.Enqueue(&shop.Message{ID: fmt.Sprint("msg_", sent+i), Tenant: "t1", Type: "order.paid", TS: time.Now().UnixMilli(), Body: body}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		sent += batch
		for got.Load() < int64(sent) {
			time.Sleep(time.Millisecond)
		}
	}
	b.ReportMetric(float64(sent)/time.Since(start).Seconds(), "deliveries/s")
	b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(sent), "cpu-µs/delivery")
}

// cpuTime is the process's user and system CPU time so far. On a machine
// shared with other jobs, CPU per operation is steadier than wall-clock
// rates; for the webhook benchmark it includes the receiving server.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
