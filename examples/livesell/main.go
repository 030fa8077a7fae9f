// Command livesell is the main qun example: a merchant's fan group (粉丝群)
// and its live shop — group chat with announcement and invitation codes; the
// host goes live with a co-host, explains products, issues coupons; fans tip,
// send red packets, buy through a pretend checkout and share links that
// credit them; the replay shows the explained products on its timeline.
// Run it with
//
//	go run ./examples/livesell
//
// and open the URL it prints in two browser windows, logging in as two demo
// users. Everything is embedded: the data lives in SQLite under -data.
package main

import (
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/qunkit/qun/examples/internal/demo"
)

func main() {
	f := demo.ParseFlags("127.0.0.1:8080", "data/livesell")
	a, err := newApp(config{DataDir: f.DataDir, BaseURL: f.BaseURL, Network: f.Network(), Logger: f.Logger()})
	if err != nil {
		fmt.Fprintln(os.Stderr, "livesell:", err)
		os.Exit(1)
	}
	srv := &http.Server{Addr: f.Addr, Handler: a.handler, ReadHeaderTimeout: 10 * time.Second}
	banner := demo.Banner("livesell", "粉丝群直播带货 a fan group's live shop", f, users)
	if err := demo.Serve(srv, banner, a.Shutdown); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "livesell:", err)
		os.Exit(1)
	}
}
