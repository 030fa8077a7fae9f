package main

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestServeAndLoad runs both sides for a moment, as two processes would,
// and checks that the load run succeeds against the server.
func TestServeAndLoad(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url := make(chan string, 1)
	served := make(chan error, 1)
	go func() {
		served <- runServer(ctx, serverConfig{addr: "127.0.0.1:0", secret: defaultSecret, opRate: 1000, ready: func(u string) { url <- u }})
	}()
	var u string
	select {
	case u = <-url:
	case err := <-served:
		t.Fatal(err)
	}
	for _, rate := range []float64{50, 0} {
		err := runLoad(ctx, loadConfig{url: u, secret: defaultSecret, tenant: "bench", room: "bench:t", clients: 20, publishers: 2,
			rate: rate, window: 8, size: 200, duration: 500 * time.Millisecond, warmup: 100 * time.Millisecond, concurrency: 8})
		if err != nil {
			t.Fatalf("rate %v: %v", rate, err)
		}
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}
