package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/live"
	"go.uber.org/zap"
)

// serve runs a minimal Hub with live, where every user of the tenant is a
// member of every group "g:*". It prints "READY <ws url>" when listening.
func serve(args []string) {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:8090", "HTTP listen address")
	secret := secretFlag(fs)
	udpPort := fs.Int("udp-port", 0, "serve all media on this single UDP port (0: a port per peer connection)")
	loopback := fs.Bool("loopback", true, "offer loopback ICE candidates")
	verbose := fs.Bool("v", false, "log at info level")
	_ = fs.Parse(args)

	logger := zap.NewNop()
	if *verbose {
		logger, _ = zap.NewProduction()
	}
	tokens, err := qun.NewTokens(qun.TokenConfig{Secret: []byte(*secret)})
	if err != nil {
		log.Fatal(err)
	}
	hub, err := qun.NewHub(qun.Config{Authenticator: tokens, Logger: logger, OriginPatterns: []string{"*"},
		OpsPerSecond: 1000, OpBurst: 1000})
	if err != nil {
		log.Fatal(err)
	}
	hub.RegisterRooms("g", qun.RoomAccessFunc(func(context.Context, *qun.Identity, qun.RoomID) (qun.Role, error) {
		return qun.RoleMember, nil
	}))
	svc, err := live.New(live.Config{Hub: hub, Logger: logger, Network: live.Network{UDPPort: *udpPort, IncludeLoopback: *loopback}})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", hub)
	mux.HandleFunc("/stats", func(w http.ResponseWriter, _ *http.Request) { writeStats(w, svc) })
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	fmt.Printf("READY ws://%s/ws pid %d\n", ln.Addr(), os.Getpid())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = svc.Close()
	_ = hub.Shutdown(ctx)
	_ = srv.Shutdown(ctx)
}

// writeStats serves live.Service.Stats as JSON: the load tool reads the
// server's own forwarding delay from it.
func writeStats(w http.ResponseWriter, svc *live.Service) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(svc.Stats())
}
