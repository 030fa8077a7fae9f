package qun_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/qload"
	"github.com/qunkit/qun/internal/qtest"
)

// The benchmarks that need thousands of WebSocket clients run them in a
// child process (this test binary, re-executed): the server's heap and
// goroutines are then the Hub's alone, the client side does not share its
// scheduler, and each process stays under the open-file limit.

const (
	childEnv  = "QUN_BENCH_SUBSCRIBERS" // subscriber count; set only in the child
	childURL  = "QUN_BENCH_URL"
	childRoom = "QUN_BENCH_ROOM"
)

// benchTenant is the tenant of every benchmark connection.
const benchTenant = "bench"

func init() {
	if os.Getenv(childEnv) != "" {
		os.Exit(subscriberChild())
	}
}

// subscriberChild connects the subscribers, says "ready", then answers
// commands on stdin until it closes: "s" stats, "l" latency, "r" reset
// latency, "c" CPU time used.
func subscriberChild() int {
	if _, err := qload.RaiseFileLimit(); err != nil {
		fmt.Println("error:", err)
		return 1
	}
	n, err := strconv.Atoi(os.Getenv(childEnv))
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	tokens, err := qun.NewTokens(qun.TokenConfig{Secret: qtest.Secret})
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	subs, err := qload.Subscribe(ctx, qload.SubConfig{
		URL: os.Getenv(childURL), Room: qun.RoomID(os.Getenv(childRoom)), N: n, Concurrency: 64,
		Token: func(i int) (string, error) {
			return tokens.Issue(qun.Identity{Tenant: benchTenant, User: qun.UserID("s" + strconv.Itoa(i))}, time.Hour)
		},
	})
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	defer subs.Close()
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(out, "ready")
	out.Flush()
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "s":
			st := subs.Stats()
			fmt.Fprintln(out, st.Delivered, st.MinSeq, st.Gaps, st.Open)
		case "l":
			l := subs.Latency().Summary()
			fmt.Fprintln(out, int64(l.P50), int64(l.P99), int64(l.Max), l.Count)
		case "r":
			subs.Latency().Reset()
			fmt.Fprintln(out, "ok")
		case "c":
			fmt.Fprintln(out, int64(cpuTime()))
		}
		out.Flush()
	}
	return 0
}

// subscriberProc is the parent's handle on a subscriber child.
type subscriberProc struct {
	b   testing.TB
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

// startSubscribers starts a child process with n subscribers to room on
// the Hub at url, and waits until all are subscribed.
func startSubscribers(b testing.TB, url string, n int, room qun.RoomID) *subscriberProc {
	b.Helper()
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+strconv.Itoa(n), childURL+"="+url, childRoom+"="+string(room))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	p := &subscriberProc{b: b, cmd: cmd, in: in, out: bufio.NewScanner(out)}
	b.Cleanup(func() {
		in.Close()
		if err := cmd.Wait(); err != nil {
			b.Errorf("subscriber process: %v", err)
		}
	})
	if line := p.line(); line != "ready" {
		b.Fatalf("subscriber process: %s", line)
	}
	return p
}

func (p *subscriberProc) line() string {
	if !p.out.Scan() {
		p.b.Fatalf("subscriber process ended: %v", p.out.Err())
	}
	return p.out.Text()
}

func (p *subscriberProc) ask(cmd string) []int64 {
	if _, err := io.WriteString(p.in, cmd+"\n"); err != nil {
		p.b.Fatal(err)
	}
	var vals []int64
	for _, f := range strings.Fields(p.line()) {
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			p.b.Fatalf("subscriber process: %q", f)
		}
		vals = append(vals, v)
	}
	return vals
}

type childStats struct{ delivered, minSeq, gaps, open int64 }

func (p *subscriberProc) stats() childStats {
	v := p.ask("s")
	return childStats{v[0], v[1], v[2], v[3]}
}

// latency returns p50, p99 and max, and the number of samples.
func (p *subscriberProc) latency() (p50, p99, maxLat time.Duration, n int64) {
	v := p.ask("l")
	return time.Duration(v[0]), time.Duration(v[1]), time.Duration(v[2]), v[3]
}

// cpuTime is the child's CPU time so far.
func (p *subscriberProc) cpuTime() time.Duration { return time.Duration(p.ask("c")[0]) }

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (p *subscriberProc) resetLatency() {
	if _, err := io.WriteString(p.in, "r\n"); err != nil {
		p.b.Fatal(err)
	}
	p.line()
}
