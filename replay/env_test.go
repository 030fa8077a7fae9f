package replay

import (
	"context"
	"database/sql"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/qtest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	code := m.Run()
	if mediaCache.dir != "" {
		os.RemoveAll(mediaCache.dir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

// roles is the test's RoomAccess for kinds "g" and "live": what each user
// is in each room, per tenant; unknown rooms and users are RoleNone.
type roles struct {
	mu sync.Mutex
	m  map[roleKey]qun.Role
}

type roleKey struct {
	tenant qun.TenantID
	user   qun.UserID
	room   qun.RoomID
}

func (r *roles) set(tenant qun.TenantID, room qun.RoomID, user qun.UserID, role qun.Role) {
	r.mu.Lock()
	r.m[roleKey{tenant, user, room}] = role
	r.mu.Unlock()
}

func (r *roles) RoomRole(_ context.Context, id *qun.Identity, room qun.RoomID) (qun.Role, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[roleKey{id.Tenant, id.User, room}], nil
}

type testEnv struct {
	*qtest.Env
	svc     *Service
	lives   *fakeLives
	clock   *fakeClock
	roles   *roles
	db      *sql.DB
	dir     string
	storage *FSStorage
}

// newTestEnv starts a Hub (with the fake clock and a SQLite room log) and
// a Service recording from fake lives into SQLite and t.TempDir().
func newTestEnv(t testing.TB, tweak func(*Config)) *testEnv {
	t.Helper()
	return newTestEnvAt(t, qtest.SQLite(t), t.TempDir(), tweak)
}

// newTestEnvAt is newTestEnv on an existing database and media directory:
// a process restarting after a crash.
func newTestEnvAt(t testing.TB, db *sql.DB, dir string, tweak func(*Config)) *testEnv {
	t.Helper()
	te := &testEnv{lives: newFakeLives(), clock: newFakeClock(), roles: &roles{m: map[roleKey]qun.Role{}}, db: db, dir: dir}
	logStore, err := qun.NewSQLiteLogStore(te.db, qun.SQLiteLogStoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logStore.Close() })
	te.Env = qtest.NewEnv(t, qun.Config{Now: te.clock.Now, Log: logStore}, func(e *qtest.Env) {
		e.Hub.RegisterRooms("g", te.roles)
		e.Hub.RegisterRooms("live", te.roles)
		te.svc = te.newService(t, e, tweak)
		e.Mux.Handle("/replays/", http.StripPrefix("/replays", te.svc.Handler()))
	})
	return te
}

func (te *testEnv) newService(t testing.TB, e *qtest.Env, tweak func(*Config)) *Service {
	t.Helper()
	store, err := NewSQLiteStore(te.db)
	if err != nil {
		t.Fatal(err)
	}
	if te.storage == nil {
		if te.storage, err = NewFSStorage(filepath.Join(te.dir, "media")); err != nil {
			t.Fatal(err)
		}
	}
	cfg := Config{Hub: e.Hub, Lives: te.lives, Store: store, Storage: te.storage, Authenticator: e.Tokens,
		Now: te.clock.Now, SweepInterval: -1, Heartbeat: time.Hour}
	if tweak != nil {
		tweak(&cfg)
	}
	svc, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := svc.Close(); err != nil {
			t.Errorf("replay close: %v", err)
		}
	})
	return svc
}

// path returns the file of track key.
func (te *testEnv) path(key string) string {
	return filepath.Join(te.dir, "media", filepath.FromSlash(key))
}

// record starts a recording of live in group, plays the tracks through the
// fake live, stops the recording at stopAt and returns the pending replay.
// during, if set, is called before each delivered item.
func (te *testEnv) record(t testing.TB, tenant qun.TenantID, live, group qun.RoomID, tracks []*simTrack, items []simItem, stopAt time.Duration, during func(at time.Duration)) *Replay {
	t.Helper()
	ctx := context.Background()
	r, err := te.svc.Start(ctx, StartOptions{Tenant: tenant, Live: live, Group: group, Host: "host"})
	if err != nil {
		t.Fatal(err)
	}
	te.play(t, live, tracks, items, during)
	te.clock.Set(simT0.Add(stopAt))
	r, err = te.svc.Stop(ctx, tenant, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != StatePending {
		t.Fatalf("state after stop: %s", r.State)
	}
	return r
}

// play delivers items, starting each track's writer at its start and
// closing it at its stop, as live does when publishers come and go.
func (te *testEnv) play(t testing.TB, live qun.RoomID, tracks []*simTrack, items []simItem, during func(at time.Duration)) {
	t.Helper()
	started := map[*simTrack]bool{}
	closed := map[*simTrack]bool{}
	step := func(at time.Duration) {
		for _, s := range tracks {
			if !started[s] && at >= s.start {
				started[s] = true
				s.w = te.lives.publish(t, live, s.info)
			}
			if started[s] && !closed[s] && at >= s.stop+s.delay {
				closed[s] = true
				if err := s.w.Close(); err != nil {
					t.Fatalf("close track: %v", err)
				}
				s.w = nil
			}
		}
		if during != nil {
			during(at)
		}
	}
	runSim(t, te.clock, items, step)
	var end time.Duration
	for _, s := range tracks {
		end = max(end, s.stop+s.delay)
	}
	te.clock.Set(simT0.Add(end))
	step(end)
}
