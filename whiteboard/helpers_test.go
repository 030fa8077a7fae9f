package whiteboard_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/qclient"
	"github.com/qunkit/qun/internal/qtest"
	"github.com/qunkit/qun/whiteboard"
)

// roles are the fixed roles of the fake room kind "t" in every tenant.
var roles = map[qun.UserID]qun.Role{
	"teacher": qun.RoleOwner,
	"ta":      qun.RoleModerator,
	"alice":   qun.RoleMember,
	"bob":     qun.RoleMember,
	"eve":     qun.RoleViewer,
}

type env struct {
	*qtest.Env
	svc   *whiteboard.Service
	store whiteboard.Store
	db    *sql.DB
}

// newEnv starts a Hub with a whiteboard Service on a real SQLite store
// (db: nil opens a fresh one). Rooms "t:<id>" exist in every tenant;
// "t:secret" is invisible (not_found) to everyone.
func newEnv(t testing.TB, db *sql.DB, qcfg qun.Config, cfg whiteboard.Config) *env {
	t.Helper()
	if db == nil {
		db = qtest.SQLite(t)
	}
	store, err := whiteboard.NewSQLiteStore(db)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{store: store, db: db}
	e.Env = qtest.NewEnv(t, qcfg, func(qe *qtest.Env) {
		qe.Hub.RegisterRooms("t", qun.RoomAccessFunc(func(_ context.Context, id *qun.Identity, room qun.RoomID) (qun.Role, error) {
			if room == "t:secret" {
				return qun.RoleNone, qun.Errorf(qun.CodeNotFound, "no such room")
			}
			if strings.HasPrefix(string(id.User), "viewer") {
				return qun.RoleViewer, nil // the benchmarks' audience
			}
			return roles[id.User], nil
		}))
		cfg.Hub, cfg.Store, cfg.Authenticator = qe.Hub, store, qe.Tokens
		svc, err := whiteboard.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		e.svc = svc
		qe.Mux.Handle("/wb/", http.StripPrefix("/wb", svc.HTTPHandler()))
	})
	// Registered after NewEnv's cleanup, so it runs first: the service
	// closes before the Hub shuts down.
	t.Cleanup(func() {
		if err := e.svc.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return e
}

func ident(tenant, user string) *qun.Identity {
	return &qun.Identity{Tenant: qun.TenantID(tenant), User: qun.UserID(user), Name: user}
}

// create makes a board in room t:1 of tenant t1 as the teacher.
func (e *env) create(t testing.TB) whiteboard.BoardID {
	t.Helper()
	b, err := e.svc.CreateBoard(context.Background(), ident("t1", "teacher"), "t:1", "lesson")
	if err != nil {
		t.Fatal(err)
	}
	return b.ID
}

func (e *env) state(t testing.TB, board whiteboard.BoardID) *whiteboard.State {
	t.Helper()
	st, err := e.svc.State(context.Background(), "t1", board)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func call(t testing.TB, c *qclient.Client, op string, data any) json.RawMessage {
	t.Helper()
	var out json.RawMessage
	qtest.Call(t, c, op, data, &out)
	return out
}

func seqOf(t testing.TB, raw json.RawMessage) uint64 {
	t.Helper()
	var r struct {
		Seq uint64 `json:"seq"`
		ID  uint64 `json:"id"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	return r.Seq
}

func idOf(t testing.TB, raw json.RawMessage) uint64 {
	t.Helper()
	var r struct {
		ID uint64 `json:"id"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	return r.ID
}

type m = map[string]any

func pen(pts ...float64) m {
	return m{"k": "stroke", "tool": "pen", "c": "#112233", "w": 0.004, "pts": pts}
}

// draw adds a pen stroke through wb.draw and returns its item id.
func draw(t testing.TB, c *qclient.Client, board whiteboard.BoardID, page uint64, pts ...float64) uint64 {
	t.Helper()
	return idOf(t, call(t, c, "wb.draw", m{"board": board, "page": page, "item": pen(pts...)}))
}

func sub(t testing.TB, c *qclient.Client, board whiteboard.BoardID, after *uint64) {
	t.Helper()
	d := m{"room": whiteboard.Room(board)}
	if after != nil {
		d["after"] = *after
	}
	qtest.Call(t, c, "sub", d, nil)
}

// nextEv returns the next event in board's room of one of types.
func nextEv(t testing.TB, c *qclient.Client, board whiteboard.BoardID, types ...string) qclient.Frame {
	t.Helper()
	return qtest.Next(t, c, func(f qclient.Frame) bool {
		if f.T != "ev" || f.Room != whiteboard.Room(board) {
			return false
		}
		for _, typ := range types {
			if f.Type == typ {
				return true
			}
		}
		return len(types) == 0
	})
}
