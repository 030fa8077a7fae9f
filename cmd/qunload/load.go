package main

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/qload"
)

type loadConfig struct {
	url, secret, tenant, room string
	clients, publishers, size int
	rate                      float64
	window                    uint64
	duration, warmup          time.Duration
	concurrency               int
}

func runLoad(ctx context.Context, cfg loadConfig) error {
	limit, err := qload.RaiseFileLimit()
	if err != nil {
		return fmt.Errorf("raise file limit: %w", err)
	}
	if need := uint64(cfg.clients + cfg.publishers + 64); limit != 0 && limit < need {
		return fmt.Errorf("%d clients need about %d open files; the limit is %d", cfg.clients, need, limit)
	}
	tokens, err := qun.NewTokens(qun.TokenConfig{Secret: []byte(cfg.secret)})
	if err != nil {
		return err
	}
	token := func(prefix string) func(int) (string, error) {
		return func(i int) (string, error) {
			u := fmt.Sprintf("%s%d", prefix, i)
			return tokens.Issue(qun.Identity{Tenant: qun.TenantID(cfg.tenant), User: qun.UserID(u), Name: u}, time.Hour)
		}
	}
	fmt.Printf("qunload: %d subscribers and %d publishers on %s, room %s, %d-byte messages, rate %s, GOMAXPROCS %d\n",
		cfg.clients, cfg.publishers, cfg.url, cfg.room, cfg.size, rateString(cfg.rate, cfg.window), runtime.GOMAXPROCS(0))

	start := time.Now()
	subs, err := qload.Subscribe(ctx, qload.SubConfig{URL: cfg.url, Token: token("s"), Room: qun.RoomID(cfg.room), N: cfg.clients, Concurrency: cfg.concurrency})
	if err != nil {
		return err
	}
	defer subs.Close()
	fmt.Printf("qunload: %d subscribers connected and subscribed in %s\n", cfg.clients, time.Since(start).Round(time.Millisecond))

	pcfg := qload.PubConfig{URL: cfg.url, Token: token("p"), Room: qun.RoomID(cfg.room), N: cfg.publishers, Rate: cfg.rate, Size: cfg.size}
	var pubs *qload.Publishers
	if cfg.rate <= 0 {
		pcfg.Allow = func() bool { return pubs.LastSeq() < subs.MinSeq()+cfg.window }
	}
	pubs, err = qload.DialPublishers(ctx, pcfg)
	if err != nil {
		return err
	}
	defer pubs.Close()

	runCtx, stopPubs := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); pubs.Run(runCtx) }()

	// Warm up, then measure from a clean histogram.
	select {
	case <-time.After(cfg.warmup):
	case <-ctx.Done():
	}
	subs.Latency().Reset()
	t0, st0, sent0, cpu0 := time.Now(), subs.Stats(), pubs.Sent(), qload.CPUTime()
	tick := time.NewTicker(time.Second)
	prev, prevT := st0, t0
	deadline := time.After(cfg.duration)
measure:
	for {
		select {
		case now := <-tick.C:
			st := subs.Stats()
			fmt.Printf("  %5.1fs  %9.0f deliveries/s  open %d  gaps %d  latency %s\n", now.Sub(t0).Seconds(),
				float64(st.Delivered-prev.Delivered)/now.Sub(prevT).Seconds(), st.Open, st.Gaps, latString(subs.Latency().Summary()))
			prev, prevT = st, now
		case <-deadline:
			break measure
		case <-ctx.Done():
			break measure
		}
	}
	tick.Stop()
	t1, st1, sent1, cpu1 := time.Now(), subs.Stats(), pubs.Sent(), qload.CPUTime()
	lat := subs.Latency().Summary()
	stopPubs()
	<-done

	// Let what was published arrive, to check nothing was lost.
	drainBy := time.Now().Add(10 * time.Second)
	for subs.MinSeq() < pubs.LastSeq() && time.Now().Before(drainBy) {
		time.Sleep(10 * time.Millisecond)
	}
	final := subs.Stats()
	secs := t1.Sub(t0).Seconds()
	fmt.Printf("qunload: measured %.1fs: %.0f messages/s published, %.0f deliveries/s, latency %s\n",
		secs, float64(sent1-sent0)/secs, float64(st1.Delivered-st0.Delivered)/secs, latString(lat))
	fmt.Printf("qunload: %d of %d subscribers open; gaps %d; caught up to seq %d of %d; ended by server: %s; publish errors: %s\n",
		final.Open, final.Subscribers, final.Gaps, final.MinSeq, pubs.LastSeq(), mapString(final.Ended), mapString(pubs.Errors()))
	if n := st1.Delivered - st0.Delivered; n > 0 && cpu1 > cpu0 {
		fmt.Printf("qunload: this process used %.2f µs of CPU per delivery (%.0f%% of a core)\n",
			float64(cpu1-cpu0)/1e3/float64(n), 100*float64(cpu1-cpu0)/float64(t1.Sub(t0)))
	}
	// A run that lost or reordered anything fails, whatever its speed.
	switch {
	case st1.Delivered == st0.Delivered:
		return fmt.Errorf("nothing was delivered")
	case final.Gaps > 0:
		return fmt.Errorf("%d events arrived out of sequence", final.Gaps)
	case final.Open < final.Subscribers:
		return fmt.Errorf("%d subscribers were disconnected", final.Subscribers-final.Open)
	case final.MinSeq < pubs.LastSeq():
		return fmt.Errorf("subscribers did not catch up: seq %d of %d", final.MinSeq, pubs.LastSeq())
	}
	return nil
}

func rateString(rate float64, window uint64) string {
	if rate <= 0 {
		return fmt.Sprintf("max (window %d messages)", window)
	}
	return fmt.Sprintf("%g messages/s", rate)
}

func latString(s qload.Summary) string {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond)) }
	return fmt.Sprintf("p50 %s p90 %s p99 %s max %s (n=%d)", ms(s.P50), ms(s.P90), ms(s.P99), ms(s.Max), s.Count)
}

func mapString(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}
