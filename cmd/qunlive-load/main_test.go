package main

import (
	"context"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/qunkit/qun"
	peer "github.com/qunkit/qun/internal/livepeer"
	"github.com/qunkit/qun/internal/qtest"
	"github.com/qunkit/qun/live"
	"go.uber.org/goleak"
	"go.uber.org/zap"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestLoadSmall runs the load tool against an in-process server: one
// publisher, three viewers, a short window, CPU read from our own process.
func TestLoadSmall(t *testing.T) {
	var svc *live.Service
	e := qtest.NewEnv(t, qun.Config{OpsPerSecond: 1000, OpBurst: 1000}, func(e *qtest.Env) {
		e.Hub.RegisterRooms("g", qun.RoomAccessFunc(func(context.Context, *qun.Identity, qun.RoomID) (qun.Role, error) {
			return qun.RoleMember, nil
		}))
		var err error
		svc, err = live.New(live.Config{Hub: e.Hub, Logger: peer.TestLogger(t, zap.ErrorLevel), Network: live.Network{IncludeLoopback: true}})
		if err != nil {
			t.Fatal(err)
		}
		e.Mux.HandleFunc("/stats", func(w http.ResponseWriter, _ *http.Request) { writeStats(w, svc) })
	})
	t.Cleanup(func() { svc.Close() })
	err := load(runOpts{
		url: e.URL, secret: string(qtest.Secret), tenant: "load", group: "g:load",
		publishers: 1, viewers: 3, bitrate: 300_000, warmup: time.Second, duration: 2 * time.Second, pid: os.Getpid(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if st := svc.Stats(); st.Ingress == 0 || st.Fanouts < 3*st.Ingress/2 {
		t.Fatalf("server stats %+v", st)
	}
}
