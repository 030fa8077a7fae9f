// Command livesell is the main qun example: a merchant's fan group (粉丝群)
// with group chat, announcement and invitation codes — the vendor app a
// provider builds with qun. Run it with
//
//	go run ./examples/livesell
//
// and open the URL it prints in two browser windows, logging in as two demo
// users. Everything is embedded: the data lives in SQLite under -data.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/qunkit/qun/examples/internal/demo"
	"go.uber.org/zap"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	data := flag.String("data", "data/livesell", "directory for the SQLite database and token secret")
	baseURL := flag.String("base-url", "", "URL users reach the app at (default http://<addr>)")
	verbose := flag.Bool("v", false, "log to stderr")
	flag.Parse()

	logger := zap.NewNop()
	if *verbose {
		logger, _ = zap.NewDevelopment()
	}
	base := *baseURL
	if base == "" {
		base = "http://" + displayAddr(*addr)
	}
	a, err := newApp(config{DataDir: *data, BaseURL: strings.TrimRight(base, "/"), Logger: logger})
	if err != nil {
		fmt.Fprintln(os.Stderr, "livesell:", err)
		os.Exit(1)
	}
	srv := &http.Server{Addr: *addr, Handler: a.handler, ReadHeaderTimeout: 10 * time.Second}
	var banner strings.Builder
	fmt.Fprintf(&banner, "qun livesell example — open %s in two browser windows\n", base)
	fmt.Fprintf(&banner, "demo logins (pick one per window):\n")
	for _, u := range users {
		fmt.Fprintf(&banner, "  %-6s %s\n", u.ID, u.Name)
	}
	fmt.Fprintf(&banner, "data: %s   (Ctrl-C to stop)\n", *data)
	if err := demo.Serve(srv, banner.String(), a.Shutdown); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "livesell:", err)
		os.Exit(1)
	}
}

// displayAddr turns a listen address into one a browser can open.
func displayAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}
