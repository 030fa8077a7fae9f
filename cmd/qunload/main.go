// Command qunload measures a qun Hub from outside, the way a vendor would:
// it connects many WebSocket subscribers to one room, publishes 200-byte
// messages through an op at a target rate, and reports deliveries per
// second and publish-to-receive latency percentiles.
//
// It also serves the Hub it measures, in a separate process:
//
//	go run ./cmd/qunload -serve -addr 127.0.0.1:8787 -secret "$SECRET"
//	go run ./cmd/qunload -url ws://127.0.0.1:8787/ws -secret "$SECRET" -clients 5000 -rate 15
//
// Both sides must share the token secret. Run them on the same machine:
// latency is measured from the send time carried in each message.
// docs/benchmarks.md has measured figures.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"
)

const defaultSecret = "qunload-secret-qunload-secret-qunload"

func main() {
	var (
		serve  = flag.Bool("serve", false, "serve a Hub with the bench op instead of generating load")
		secret = flag.String("secret", defaultSecret, "HS256 token secret shared by both sides (at least 32 bytes)")
		tenant = flag.String("tenant", "bench", "tenant of every connection")

		addr   = flag.String("addr", "127.0.0.1:8787", "serve: listen address")
		dbPath = flag.String("db", "", "serve: SQLite file for the room log (empty: in-memory log)")
		opRate = flag.Float64("op-rate", 10000, "serve: ops per second allowed per connection")
		queue  = flag.Int("queue", 0, "serve: send queue frames per connection (0: the Hub's default)")
		pprofF = flag.Bool("pprof", false, "serve: mount net/http/pprof under /debug/pprof/")
		statsF = flag.Duration("stats", 10*time.Second, "serve: how often to print connections and memory (0: never)")

		url        = flag.String("url", "ws://127.0.0.1:8787/ws", "load: the Hub's WebSocket URL")
		clients    = flag.Int("clients", 2000, "load: subscribers")
		publishers = flag.Int("publishers", 1, "load: publisher connections")
		room       = flag.String("room", "bench:1", "load: room (kind bench)")
		rate       = flag.Float64("rate", 15, "load: messages per second across publishers (0: as fast as -window allows)")
		window     = flag.Uint64("window", 32, "load: at -rate 0, messages in flight before publishers wait for the slowest subscriber")
		size       = flag.Int("size", 200, "load: message text bytes")
		duration   = flag.Duration("duration", 20*time.Second, "load: measured time")
		warmup     = flag.Duration("warmup", 3*time.Second, "load: publishing time before measuring")
		conc       = flag.Int("dial-concurrency", 64, "load: handshakes in flight while connecting")
		cpuProf    = flag.String("cpuprofile", "", "write this process's CPU profile to the file")
	)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *cpuProf != "" {
		f, err := os.Create(*cpuProf)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "qunload:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	var err error
	if *serve {
		err = runServer(ctx, serverConfig{addr: *addr, secret: *secret, db: *dbPath, opRate: *opRate, queue: *queue, pprof: *pprofF, stats: *statsF})
	} else {
		err = runLoad(ctx, loadConfig{url: *url, secret: *secret, tenant: *tenant, clients: *clients, publishers: *publishers,
			room: *room, rate: *rate, window: *window, size: *size, duration: *duration, warmup: *warmup, concurrency: *conc})
	}
	if err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "qunload:", err)
		os.Exit(1)
	}
}
