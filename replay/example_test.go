package replay_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/replay"
	"github.com/qunkit/qun/sqlite"
)

// noLives stands in for *live.Service, which a vendor passes as
// Config.Lives: here the live has no tracks yet.
type noLives struct{}

func (noLives) AttachRecorder(context.Context, qun.TenantID, qun.RoomID, replay.Recorder) (func(), error) {
	return func() {}, nil
}

// A vendor wires replay next to live: it records a live, the host keeps
// the replay, and the playback API is mounted for the replay page.
func Example() {
	dir, _ := os.MkdirTemp("", "replay-example")
	defer os.RemoveAll(dir)
	db, _ := sqlite.Open(filepath.Join(dir, "qun.db"))
	defer db.Close()
	tokens, _ := qun.NewTokens(qun.TokenConfig{Secret: []byte("example-secret-example-secret-example!")})
	hub, _ := qun.NewHub(qun.Config{Authenticator: tokens})
	defer hub.Close()
	ctx := context.Background()

	store, _ := replay.NewSQLiteStore(db)
	storage, _ := replay.NewFSStorage(filepath.Join(dir, "media"))
	svc, err := replay.New(replay.Config{Hub: hub, Lives: noLives{}, Store: store, Storage: storage, Authenticator: tokens})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer svc.Close()
	mux := http.NewServeMux()
	mux.Handle("/replays/", http.StripPrefix("/replays", svc.Handler()))

	r, _ := svc.Start(ctx, replay.StartOptions{Tenant: "shop1", Live: "live:x1", Group: "g:fans", Host: "anna"})
	fmt.Println(r.State)
	r, _ = svc.Stop(ctx, "shop1", r.ID) // or: the live ends, or the host calls replay.stop
	fmt.Println(r.State)
	r, _ = svc.Keep(ctx, &qun.Identity{Tenant: "shop1", User: "anna"}, r.ID, replay.KeepOptions{})
	fmt.Println(r.State)
	// Output:
	// recording
	// pending
	// kept
}
