package qload_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/qload"
	"github.com/qunkit/qun/internal/qtest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestLoad runs subscribers (both implementations) and publishers against
// a real Hub: every message reaches every subscriber once, in order, and the
// subscribers answer the Hub's pings.
func TestLoad(t *testing.T) {
	for _, portable := range []bool{false, true} {
		t.Run(fmt.Sprintf("portable=%v", portable), func(t *testing.T) {
			e := qtest.NewEnv(t, qun.Config{OpsPerSecond: 1000, OpBurst: 1000, PingInterval: 50 * time.Millisecond, PingTimeout: time.Second},
				func(e *qtest.Env) { qload.Register(e.Hub) })
			token := func(prefix string) func(int) (string, error) {
				return func(i int) (string, error) { return e.Token(t, "ten", fmt.Sprint(prefix, i)), nil }
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			const n, msgs = 20, 50
			subs, err := qload.Subscribe(ctx, qload.SubConfig{URL: e.URL, Token: token("s"), Room: "bench:1", N: n, Portable: portable})
			if err != nil {
				t.Fatal(err)
			}
			defer subs.Close()
			time.Sleep(200 * time.Millisecond) // several pings
			var pubs *qload.Publishers
			pubs, err = qload.DialPublishers(ctx, qload.PubConfig{URL: e.URL, Token: token("p"), Room: "bench:1", N: 2,
				Count: msgs, Allow: func() bool { return pubs.LastSeq() < subs.MinSeq()+8 }})
			if err != nil {
				t.Fatal(err)
			}
			defer pubs.Close()
			pubs.Run(ctx)
			for subs.MinSeq() < pubs.LastSeq() && ctx.Err() == nil {
				time.Sleep(time.Millisecond)
			}
			st := subs.Stats()
			sent := pubs.LastSeq()
			if st.Open != n || st.Gaps != 0 || st.Delivered != n*msgs || len(st.Ended) != 0 || sent != msgs || pubs.Sent() != msgs {
				t.Fatalf("sent %d: %+v; errors %v", sent, st, pubs.Errors())
			}
			if lat := subs.Latency().Summary(); lat.Count != st.Delivered || lat.P50 <= 0 {
				t.Fatalf("latency %+v", lat)
			}
		})
	}
}

// TestEndedReason checks that a connection the Hub ends is counted
// with its close reason.
func TestEndedReason(t *testing.T) {
	for _, portable := range []bool{false, true} {
		t.Run(fmt.Sprintf("portable=%v", portable), func(t *testing.T) {
			e := qtest.NewEnv(t, qun.Config{}, func(e *qtest.Env) { qload.Register(e.Hub) })
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			subs, err := qload.Subscribe(ctx, qload.SubConfig{URL: e.URL, Room: "bench:1", N: 3, Portable: portable,
				Token: func(i int) (string, error) { return e.Token(t, "ten", fmt.Sprint("s", i)), nil }})
			if err != nil {
				t.Fatal(err)
			}
			defer subs.Close()
			if err := e.Hub.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			for subs.Stats().Open > 0 && ctx.Err() == nil {
				time.Sleep(time.Millisecond)
			}
			if st := subs.Stats(); st.Ended[string(qun.CodeUnavailable)] != 3 {
				t.Fatalf("ended: %v", st.Ended)
			}
		})
	}
}
