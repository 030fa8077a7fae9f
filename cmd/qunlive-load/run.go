package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/qunkit/qun"
	peer "github.com/qunkit/qun/internal/livepeer"
	"github.com/qunkit/qun/internal/qclient"
	"github.com/qunkit/qun/live"
)

type runOpts struct {
	url        string
	secret     string
	tenant     string
	group      string
	publishers int
	viewers    int
	bitrate    int
	warmup     time.Duration
	duration   time.Duration
	pid        int
}

func run(args []string) {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	var o runOpts
	fs.StringVar(&o.url, "url", "ws://127.0.0.1:8090/ws", "the Hub's WebSocket URL")
	secret := secretFlag(fs)
	fs.StringVar(&o.tenant, "tenant", "load", "tenant of the load users")
	fs.StringVar(&o.group, "group", "g:load", "group the lives are started in")
	fs.IntVar(&o.publishers, "publishers", 1, "publishers (each starts its own live)")
	fs.IntVar(&o.viewers, "viewers", 200, "viewers (spread over the lives)")
	fs.IntVar(&o.bitrate, "bitrate", 1_500_000, "video bit/s per publisher (plus 50 audio packets/s)")
	fs.DurationVar(&o.warmup, "warmup", 5*time.Second, "time after the last viewer joined before measuring")
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "measurement window")
	fs.IntVar(&o.pid, "server-pid", 0, "server process id, for CPU time per forwarded packet (Linux /proc)")
	spawn := fs.Bool("spawn", false, "start `qunlive-load serve` as a child process and measure it")
	_ = fs.Parse(args)
	o.secret = *secret

	if *spawn {
		cmd, url, pid := spawnServer(o.secret)
		defer func() {
			_ = cmd.Process.Signal(os.Interrupt)
			_ = cmd.Wait()
		}()
		o.url, o.pid = url, pid
	}
	if err := load(o); err != nil {
		log.Fatal(err)
	}
}

func spawnServer(secret string) (*exec.Cmd, string, int) {
	cmd := exec.Command(os.Args[0], "serve", "-addr", "127.0.0.1:0", "-secret", secret)
	out, err := cmd.StdoutPipe()
	if err != nil {
		log.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 4 && f[0] == "READY" {
			go func() { _, _ = bufio.NewReader(out).WriteTo(os.Stdout) }()
			return cmd, f[1], cmd.Process.Pid
		}
	}
	log.Fatal("server did not start")
	return nil, "", 0
}

// cpuTime is the process's user+system CPU time from /proc/<pid>/stat.
// fetchStats reads the serve mode's /stats (live.Service.Stats).
func fetchStats(wsURL string) (live.Stats, error) {
	var st live.Stats
	u := strings.Replace(strings.Replace(wsURL, "ws://", "http://", 1), "wss://", "https://", 1)
	u = strings.TrimSuffix(u, "/ws") + "/stats"
	resp, err := http.Get(u)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("%s: %s", u, resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+2:])
	// fields after ")": state(0) ... utime(11) stime(12), in clock ticks.
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const hz = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / hz, nil
}

type client struct {
	c *qclient.Client
	h *peer.HubPeer
	v *peer.Viewer
}

func load(o runOpts) error {
	tokens, err := qun.NewTokens(qun.TokenConfig{Secret: []byte(o.secret)})
	if err != nil {
		return err
	}
	api, err := peer.NewAPI(peer.APIOptions{IncludeLoopback: true})
	if err != nil {
		return err
	}
	ctx := context.Background()
	// Browsers send their page's origin; the Hub accepts its own host by default.
	u, err := url.Parse(o.url)
	if err != nil {
		return err
	}
	origin := strings.Replace(u.Scheme, "ws", "http", 1) + "://" + u.Host
	connect := func(user string) (*qclient.Client, error) {
		tok, err := tokens.Issue(qun.Identity{Tenant: qun.TenantID(o.tenant), User: qun.UserID(user), Name: user}, time.Hour)
		if err != nil {
			return nil, err
		}
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		return qclient.Connect(cctx, o.url, tok, qclient.Options{Origin: origin})
	}

	var all []*client
	defer func() {
		var wg sync.WaitGroup
		for _, c := range all {
			wg.Add(1)
			go func() { defer wg.Done(); c.h.Close(); c.c.Close() }()
		}
		wg.Wait()
	}()

	var lives []string
	var pubs []*peer.Publisher
	for i := range o.publishers {
		c, err := connect(fmt.Sprint("host", i))
		if err != nil {
			return err
		}
		var info struct{ ID string }
		if err := c.Call(ctx, "live.start", map[string]any{"group": o.group, "title": "load"}, &info); err != nil {
			return fmt.Errorf("live.start: %w", err)
		}
		h := peer.NewHubPeer(c, api, info.ID)
		cl := &client{c: c, h: h}
		all = append(all, cl)
		if cl.v, err = h.Join(nil); err != nil {
			return fmt.Errorf("host join: %w", err)
		}
		p, err := h.Publish(peer.PublisherOptions{Audio: true, Video: true, VideoBitrate: o.bitrate}, nil)
		if err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		pubs = append(pubs, p)
		lives = append(lives, info.ID)
	}
	log.Printf("%d lives started; joining %d viewers", len(lives), o.viewers)

	viewers := make([]*client, o.viewers)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var joinErr error
	sem := make(chan struct{}, 16)
	for i := range o.viewers {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := connect(fmt.Sprint("viewer", i))
			if err != nil {
				mu.Lock()
				joinErr = err
				mu.Unlock()
				return
			}
			h := peer.NewHubPeer(c, api, lives[i%len(lives)])
			cl := &client{c: c, h: h}
			cl.v, err = h.Join(nil)
			mu.Lock()
			all = append(all, cl)
			viewers[i] = cl
			if err != nil {
				joinErr = err
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if joinErr != nil {
		return fmt.Errorf("viewer join: %w", joinErr)
	}
	log.Printf("viewers joined; warming up %s", o.warmup)
	time.Sleep(o.warmup)

	snap := func() map[*client]map[string]peer.TrackStats {
		m := map[*client]map[string]peer.TrackStats{}
		for _, v := range viewers {
			m[v] = v.v.Stats()
		}
		return m
	}
	var cpu0 time.Duration
	if o.pid > 0 {
		if cpu0, err = cpuTime(o.pid); err != nil {
			return err
		}
	}
	f0, _ := fetchStats(o.url)
	s0, t0 := snap(), time.Now()
	time.Sleep(o.duration)
	s1, elapsed := snap(), time.Since(t0)
	f1, ferr := fetchStats(o.url)
	var cpu1 time.Duration
	if o.pid > 0 {
		cpu1, _ = cpuTime(o.pid)
	}
	// Let late retransmissions arrive, then count what was lost for good
	// among the packets of the window.
	time.Sleep(time.Second)
	s2 := snap()

	var recv, lost, late, expected uint64
	var latSum time.Duration
	var latMax time.Duration
	var lossPerViewer []float64
	noMedia := 0
	for _, v := range viewers {
		var vr, ve uint64
		if len(s1[v]) < 2 {
			noMedia++
		}
		for id, b := range s1[v] {
			a := s0[v][id]
			c := s2[v][id]
			got := b.Packets - a.Packets
			exp := b.Expected - a.Expected
			recv += got
			expected += exp
			vr += got
			ve += exp
			late += b.Late - a.Late
			latSum += b.LatencySum - a.LatencySum
			latMax = max(latMax, b.LatencyMax)
			_ = c
		}
		if ve > 0 && ve > vr {
			lossPerViewer = append(lossPerViewer, float64(ve-vr)/float64(ve))
		} else {
			lossPerViewer = append(lossPerViewer, 0)
		}
	}
	if expected > recv {
		lost = expected - recv
	}
	sort.Float64s(lossPerViewer)
	var sent uint64
	for _, p := range pubs {
		sent += p.Sent.Load()
	}
	fmt.Printf("lives %d, publishers %d (%.1f Mbit/s video + audio), viewers %d, window %s\n",
		len(lives), o.publishers, float64(o.bitrate)/1e6, o.viewers, elapsed.Round(time.Millisecond))
	fmt.Printf("forwarded packets received: %d (%.0f/s); viewers without media: %d\n", recv, float64(recv)/elapsed.Seconds(), noMedia)
	fmt.Printf("loss: %.3f%% overall (%d of %d), worst viewer %.3f%%, median viewer %.3f%%\n",
		100*float64(lost)/float64(max(expected, 1)), lost, expected,
		100*lossPerViewer[len(lossPerViewer)-1], 100*lossPerViewer[len(lossPerViewer)/2])
	if recv > 0 {
		fmt.Printf("latency publisher→viewer: mean %s, max %s; late (>%s): %.3f%%\n",
			(latSum / time.Duration(recv)).Round(time.Microsecond), latMax.Round(time.Microsecond), peer.LateAfter, 100*float64(late)/float64(recv))
	}
	if ferr == nil && f1.Ingress > f0.Ingress {
		n := f1.Ingress - f0.Ingress
		fmt.Printf("server forwarding delay (read → last viewer's write): mean %s over %d packets to %.0f viewers each; max since start %s\n",
			((f1.FanoutTime - f0.FanoutTime) / time.Duration(n)).Round(time.Microsecond), n,
			float64(f1.Fanouts-f0.Fanouts)/float64(n), f1.FanoutMax.Round(time.Microsecond))
	}
	if o.pid > 0 && recv > 0 {
		cpu := cpu1 - cpu0
		fmt.Printf("server CPU: %s in %s (%.2f cores); %.2f µs per forwarded packet\n",
			cpu, elapsed.Round(time.Millisecond), cpu.Seconds()/elapsed.Seconds(), float64(cpu.Microseconds())/float64(recv))
	}
	return nil
}
