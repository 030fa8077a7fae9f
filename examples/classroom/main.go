// Command classroom is a qun example: an online class (在线课堂). The teacher
// goes live with camera and screen share, turns courseware pages (upload a
// PDF) and draws on the whiteboard; students watch, ask questions (Q&A with
// featured answers), raise hands to come on stage (small class), and watch
// the replay afterwards. Run it with
//
//	go run ./examples/classroom
//
// and open the URL it prints in two browser windows, one as the teacher and
// one as a student. Everything is embedded: the data lives in SQLite under -data.
package main

import (
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/qunkit/qun/examples/internal/demo"
)

func main() {
	f := demo.ParseFlags("127.0.0.1:8081", "data/classroom")
	a, err := newApp(config{DataDir: f.DataDir, BaseURL: f.BaseURL, Network: f.Network(), Logger: f.Logger()})
	if err != nil {
		fmt.Fprintln(os.Stderr, "classroom:", err)
		os.Exit(1)
	}
	srv := &http.Server{Addr: f.Addr, Handler: a.handler, ReadHeaderTimeout: 10 * time.Second}
	banner := demo.Banner("classroom", "在线课堂 an online class", f, users)
	if err := demo.Serve(srv, banner, a.Shutdown); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "classroom:", err)
		os.Exit(1)
	}
}
