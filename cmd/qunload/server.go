package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/qload"
	"github.com/qunkit/qun/sqlite"
)

type serverConfig struct {
	addr, secret, db string
	opRate           float64
	queue            int
	pprof            bool
	stats            time.Duration
	ready            func(url string) // if set, called once the server listens
}

func runServer(ctx context.Context, cfg serverConfig) error {
	limit, err := qload.RaiseFileLimit()
	if err != nil {
		return fmt.Errorf("raise file limit: %w", err)
	}
	tokens, err := qun.NewTokens(qun.TokenConfig{Secret: []byte(cfg.secret)})
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	hcfg := qun.Config{Authenticator: tokens, OpsPerSecond: cfg.opRate, OpBurst: int(cfg.opRate), SendQueueFrames: cfg.queue, Registerer: reg}
	logName := "memory"
	if cfg.db != "" {
		db, err := sqlite.Open(cfg.db)
		if err != nil {
			return err
		}
		defer db.Close()
		log, err := qun.NewSQLiteLogStore(db, qun.SQLiteLogStoreConfig{})
		if err != nil {
			return err
		}
		defer log.Close()
		hcfg.Log, logName = log, "SQLite "+cfg.db
	}
	hub, err := qun.NewHub(hcfg)
	if err != nil {
		return err
	}
	qload.Register(hub)
	mux := http.NewServeMux()
	mux.Handle("/ws", hub)
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if cfg.pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("qunload: serving ws://%s/ws (log: %s, open files: %d, GOMAXPROCS %d); the Hub's metrics at http://%[1]s/metrics\n",
		ln.Addr(), logName, limit, runtime.GOMAXPROCS(0))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if cfg.ready != nil {
		cfg.ready("ws://" + ln.Addr().String() + "/ws")
	}

	var tick <-chan time.Time
	last := cpuSample{time.Now(), qload.CPUTime()}
	if cfg.stats > 0 {
		t := time.NewTicker(cfg.stats)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case err := <-errc:
			return err
		case <-tick:
			printServerStats(&last)
			continue
		case <-ctx.Done():
		}
		break
	}
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := hub.Shutdown(sctx); err != nil {
		return err
	}
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

type cpuSample struct {
	at  time.Time
	cpu time.Duration
}

// printServerStats prints the goroutines and the memory the process holds
// (with N idle connections open, an upper bound of their cost) and the CPU
// it used since the last time.
func printServerStats(last *cpuSample) {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	now := cpuSample{time.Now(), qload.CPUTime()}
	fmt.Printf("qunload: goroutines %d, heap in use %.1f MB, stacks %.1f MB, CPU %.0f%% of a core\n",
		runtime.NumGoroutine(), float64(m.HeapInuse)/(1<<20), float64(m.StackInuse)/(1<<20),
		100*float64(now.cpu-last.cpu)/float64(now.at.Sub(last.at)))
	*last = now
}
