package demo

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/chat"
	"github.com/qunkit/qun/live"
	"github.com/qunkit/qun/replay"
	"go.uber.org/zap"
)

// Flags are the command-line settings both example apps take.
type Flags struct {
	Addr     string
	DataDir  string
	BaseURL  string // where users reach the app (links); "" means http://<addr>
	PublicIP string // the server's public address, for WebRTC behind 1:1 NAT
	UDPPort  int    // serve all WebRTC media on this one UDP port
	Verbose  bool
}

// ParseFlags reads the flags; addr and dataDir are their defaults.
func ParseFlags(addr, dataDir string) Flags {
	var f Flags
	flag.StringVar(&f.Addr, "addr", addr, "address to listen on")
	flag.StringVar(&f.DataDir, "data", dataDir, "directory for the SQLite database, token secret and replay files")
	flag.StringVar(&f.BaseURL, "base-url", "", "URL users reach the app at, for links (default http://<addr>)")
	flag.StringVar(&f.PublicIP, "public-ip", "", "public IP address to advertise for WebRTC (a cloud VM behind 1:1 NAT)")
	flag.IntVar(&f.UDPPort, "udp-port", 0, "serve all WebRTC media on this one UDP port (default: an ephemeral port per connection)")
	flag.BoolVar(&f.Verbose, "v", false, "log to stderr")
	flag.Parse()
	if f.BaseURL == "" {
		f.BaseURL = "http://" + displayAddr(f.Addr)
	}
	f.BaseURL = strings.TrimRight(f.BaseURL, "/")
	return f
}

// Logger is a development logger with -v, else none.
func (f Flags) Logger() *zap.Logger {
	if !f.Verbose {
		return zap.NewNop()
	}
	l, err := zap.NewDevelopment()
	if err != nil {
		return zap.NewNop()
	}
	return l
}

// Network is live's network settings from the flags. Loopback candidates
// are offered so that browsers on the same machine connect.
func (f Flags) Network() live.Network {
	n := live.Network{UDPPort: f.UDPPort, IncludeLoopback: true}
	if f.PublicIP != "" {
		n.NAT1To1IPs = []string{f.PublicIP}
	}
	return n
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

// StackConfig configures the qun services both apps run.
type StackConfig struct {
	DataDir string
	BaseURL string
	Tenant  qun.TenantID
	Users   []User
	Network live.Network
	Logger  *zap.Logger
	// InvitePage is the page invitation links open, under BaseURL.
	InvitePage string
	// LiveReview reviews live's Q&A text (live.Config.Review); nil: none.
	LiveReview live.ReviewFunc
}

// Stack is the part of a vendor server both example apps share: the Hub,
// group chat, live streaming and replay recording, all on one SQLite file.
// Each app adds its own packages (whiteboard, shop) to the same Hub.
type Stack struct {
	*Backend
	Hub    *qun.Hub
	Chat   *chat.Service
	Live   *live.Service
	Replay *replay.Service
	// Mux serves /qun/ (the Hub and the SDK), /demo/ (shared assets),
	// /api/ (the demo login) and /replays/ (replay playback).
	Mux        *http.ServeMux
	closers    []func() error // the stack's own, in creation order
	appClosers []func() error
}

// OpenStack opens the backend under cfg.DataDir and wires the services.
func OpenStack(cfg StackConfig) (*Stack, error) {
	b, err := Open(cfg.DataDir, cfg.Tenant, cfg.Users, cfg.Logger)
	if err != nil {
		return nil, err
	}
	s := &Stack{Backend: b, Mux: http.NewServeMux()}
	if err := s.wire(cfg); err != nil {
		s.Shutdown(context.Background())
		return nil, err
	}
	return s, nil
}

func (s *Stack) wire(cfg StackConfig) error {
	ctx := context.Background()
	hub, err := qun.NewHub(qun.Config{
		Authenticator: s.Tokens, Log: s.Log, Logger: s.Logger,
		// Whiteboard strokes stream ~12 ops a second while drawing, beside
		// signalling and chat: more than the default 20/s allows in bursts.
		OpsPerSecond: 60, OpBurst: 200,
	})
	if err != nil {
		return err
	}
	s.Hub = hub
	chatStore, err := chat.NewSQLiteStore(s.DB)
	if err != nil {
		return err
	}
	if s.Chat, err = chat.New(chat.Config{Hub: hub, Store: chatStore, Logger: s.Logger, InviteBaseURL: cfg.BaseURL + cfg.InvitePage}); err != nil {
		return err
	}
	s.closers = append(s.closers, s.Chat.Close)
	liveStore, err := live.NewSQLiteStore(s.DB)
	if err != nil {
		return err
	}
	// Only the group's owner and admins (the host, the teacher) go live.
	if s.Live, err = live.New(live.Config{Hub: hub, Store: liveStore, Logger: s.Logger, StartRole: qun.RoleModerator, Network: cfg.Network, Review: cfg.LiveReview}); err != nil {
		return err
	}
	s.closers = append(s.closers, s.Live.Close)
	replayStore, err := replay.NewSQLiteStore(s.DB)
	if err != nil {
		return err
	}
	files, err := replay.NewFSStorage(filepath.Join(cfg.DataDir, "replays"))
	if err != nil {
		return err
	}
	if s.Replay, err = replay.New(replay.Config{
		Hub: hub, Lives: s.Live, Store: replayStore, Storage: files, Authenticator: s.Tokens, Logger: s.Logger,
		Heartbeat: time.Second, // a live's end finalises its replay within a second
	}); err != nil {
		return err
	}
	s.closers = append(s.closers, s.Replay.Close)
	if _, err := s.Replay.Recover(ctx); err != nil {
		s.Logger.Warn("replay recovery", zap.Error(err))
	}

	s.Mux.Handle("/qun/", hub) // WebSocket at /qun/ws, SDK at /qun/qun.js
	s.Mux.Handle("/demo/", Assets())
	s.Mux.Handle("/api/", s.LoginHandler())
	s.Mux.Handle("/replays/", http.StripPrefix("/replays", s.Replay.Handler()))
	return nil
}

// OnClose adds a closer run at Shutdown, before the stack's own services
// (an app's whiteboard or shop, which use the Hub and the database).
func (s *Stack) OnClose(fn func() error) {
	s.appClosers = append(s.appClosers, fn)
}

// Shutdown closes connections first, then the app's services, then replay,
// live and chat, then the backend.
func (s *Stack) Shutdown(ctx context.Context) error {
	var errs []error
	if s.Hub != nil {
		errs = append(errs, s.Hub.Shutdown(ctx))
	}
	for i := len(s.appClosers) - 1; i >= 0; i-- {
		errs = append(errs, s.appClosers[i]())
	}
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	errs = append(errs, s.Backend.Close())
	return errors.Join(errs...)
}

// Banner is what the apps print at start: the URL and the demo logins.
func Banner(name, title string, f Flags, users []User) string {
	var b strings.Builder
	fmt.Fprintf(&b, "qun %s example — %s\n", name, title)
	fmt.Fprintf(&b, "open %s in two browser windows (or a normal and a private one)\n", f.BaseURL)
	fmt.Fprintf(&b, "demo logins (pick one per window):\n")
	for _, u := range users {
		fmt.Fprintf(&b, "  %-8s %s — %s\n", u.ID, u.Name, u.Role)
	}
	fmt.Fprintf(&b, "data: %s   (Ctrl-C to stop)\n", f.DataDir)
	return b.String()
}
