// Package demo holds what the example apps share: opening the embedded
// backends under a data directory, a persistent token secret, demo users who
// log in with one click, and running an http.Server until interrupted.
//
// A real vendor replaces the demo login with its own: its backend calls
// qun.Tokens.Issue for the user it has authenticated.
package demo

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/sqlite"
	"go.uber.org/zap"
)

// User is a demo login.
type User struct {
	ID     qun.UserID `json:"id"`
	Name   string     `json:"name"`
	Role   string     `json:"role"` // shown on the login page
	Grants []string   `json:"-"`
}

// Backend is the embedded backend of an example app.
type Backend struct {
	DB     *sql.DB
	Log    qun.LogStore
	Tokens *qun.Tokens
	Tenant qun.TenantID
	Users  []User
	Logger *zap.Logger
	Dir    string // the data directory
}

// Open opens (creating) the SQLite database and token secret under dir.
func Open(dir string, tenant qun.TenantID, users []User, logger *zap.Logger) (*Backend, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	secret, err := loadSecret(filepath.Join(dir, "token-secret"))
	if err != nil {
		return nil, err
	}
	tokens, err := qun.NewTokens(qun.TokenConfig{Secret: secret})
	if err != nil {
		return nil, err
	}
	db, err := sqlite.Open(filepath.Join(dir, "qun.db"))
	if err != nil {
		return nil, err
	}
	log, err := qun.NewSQLiteLogStore(db, qun.SQLiteLogStoreConfig{})
	if err != nil {
		db.Close()
		return nil, err
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	return &Backend{DB: db, Log: log, Tokens: tokens, Tenant: tenant, Users: users, Logger: logger, Dir: dir}, nil
}

// Close closes the log and the database.
func (b *Backend) Close() error {
	return errors.Join(b.Log.Close(), b.DB.Close())
}

// Secret returns the 32 random bytes kept in file name under the data
// directory, creating them the first time (share-link keys and the like
// must survive restarts).
func (b *Backend) Secret(name string) ([]byte, error) {
	return loadSecret(filepath.Join(b.Dir, name))
}

func loadSecret(path string) ([]byte, error) {
	if b, err := os.ReadFile(path); err == nil {
		return hex.DecodeString(strings.TrimSpace(string(b)))
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	return secret, os.WriteFile(path, []byte(hex.EncodeToString(secret)), 0o600)
}

// Token issues a 12-hour token for a demo user.
func (b *Backend) Token(id qun.UserID) (string, error) {
	for _, u := range b.Users {
		if u.ID == id {
			return b.Tokens.Issue(qun.Identity{Tenant: b.Tenant, User: u.ID, Name: u.Name, Grants: u.Grants}, 12*time.Hour)
		}
	}
	return "", qun.Errorf(qun.CodeNotFound, "no demo user %q", id)
}

// LoginHandler serves GET /api/users (the demo users) and
// POST /api/login {"user":"..."} → {"token":"...","user":{...}}.
func (b *Backend) LoginHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/users", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, b.Users)
	})
	mux.HandleFunc("POST /api/login", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			User qun.UserID `json:"user" validate:"required,max=64"`
		}
		body := http.MaxBytesReader(w, r.Body, 4096)
		if err := json.NewDecoder(body).Decode(&req); err != nil {
			qun.WriteError(w, qun.Errorf(qun.CodeInvalid, "bad login request"))
			return
		}
		tok, err := b.Token(req.User)
		if err != nil {
			qun.WriteError(w, err)
			return
		}
		for _, u := range b.Users {
			if u.ID == req.User {
				writeJSON(w, map[string]any{"token": tok, "user": u, "tenant": b.Tenant})
			}
		}
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// Serve runs srv until SIGINT/SIGTERM, then shuts it down and calls
// closers in order.
func Serve(srv *http.Server, banner string, closers ...func(context.Context) error) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	fmt.Print(banner)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	select {
	case err := <-errc:
		return err
	case <-sig:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var errs []error
	for _, c := range closers {
		errs = append(errs, c(ctx))
	}
	errs = append(errs, srv.Shutdown(ctx))
	return errors.Join(errs...)
}
