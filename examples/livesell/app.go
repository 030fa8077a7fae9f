package main

import (
	"context"
	"embed"
	"errors"
	"io/fs"
	"net/http"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/chat"
	"github.com/qunkit/qun/examples/internal/demo"
	"go.uber.org/zap"
)

//go:embed web
var web embed.FS

// tenant is the one merchant this demo deployment serves. A vendor's
// deployment serves many: the tenant comes from its login.
const tenant qun.TenantID = "demo-merchant"

var users = []demo.User{
	{ID: "host", Name: "主播小美 Mei (host)", Role: "店主 · 主播 Shop owner, host", Grants: []string{qun.GrantCreateGroup}},
	{ID: "guest", Name: "嘉宾阿林 Lin (co-host)", Role: "连麦嘉宾 Co-host"},
	{ID: "fan1", Name: "粉丝阿强 Qiang", Role: "粉丝 Fan"},
	{ID: "fan2", Name: "粉丝小红 Hong", Role: "粉丝 Fan"},
}

// config is what main's flags set.
type config struct {
	DataDir string
	BaseURL string // where users reach the app, for invitation links
	Logger  *zap.Logger
}

// app is the whole vendor server of this example: the qun packages wired to
// one Hub, the demo login, and the pages.
type app struct {
	backend *demo.Backend
	hub     *qun.Hub
	chat    *chat.Service
	handler http.Handler
}

func newApp(cfg config) (*app, error) {
	b, err := demo.Open(cfg.DataDir, tenant, users, cfg.Logger)
	if err != nil {
		return nil, err
	}
	a := &app{backend: b}
	if err := a.wire(cfg); err != nil {
		b.Close()
		return nil, err
	}
	return a, nil
}

func (a *app) wire(cfg config) error {
	hub, err := qun.NewHub(qun.Config{Authenticator: a.backend.Tokens, Log: a.backend.Log, Logger: cfg.Logger})
	if err != nil {
		return err
	}
	a.hub = hub
	store, err := chat.NewSQLiteStore(a.backend.DB)
	if err != nil {
		return err
	}
	a.chat, err = chat.New(chat.Config{Hub: hub, Store: store, Logger: cfg.Logger, InviteBaseURL: cfg.BaseURL + "/room.html"})
	if err != nil {
		return err
	}

	pages, _ := fs.Sub(web, "web")
	mux := http.NewServeMux()
	mux.Handle("/qun/", hub) // WebSocket at /qun/ws, SDK at /qun/qun.js
	mux.Handle("/demo/", demo.Assets())
	mux.Handle("/api/", a.backend.LoginHandler())
	mux.Handle("/", http.FileServer(http.FS(pages)))
	a.handler = mux
	return nil
}

// Shutdown closes connections first, then the services and the backend.
func (a *app) Shutdown(ctx context.Context) error {
	var errs []error
	if a.hub != nil {
		errs = append(errs, a.hub.Shutdown(ctx))
	}
	if a.chat != nil {
		errs = append(errs, a.chat.Close())
	}
	errs = append(errs, a.backend.Close())
	return errors.Join(errs...)
}
