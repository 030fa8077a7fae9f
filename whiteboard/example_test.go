package whiteboard_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/sqlite"
	"github.com/qunkit/qun/whiteboard"
)

// A vendor wires the whiteboard to its Hub, mounts its HTTP handler for
// courseware, and (here, from its backend) draws on a board.
func Example() {
	dir, _ := os.MkdirTemp("", "wb-example")
	defer os.RemoveAll(dir)
	db, _ := sqlite.Open(filepath.Join(dir, "qun.db"))
	defer db.Close()

	tokens, _ := qun.NewTokens(qun.TokenConfig{Secret: []byte("example-secret-example-secret-example!")})
	hub, _ := qun.NewHub(qun.Config{Authenticator: tokens})
	defer hub.Close()
	// The chat or live package registers its rooms; a stand-in here: the
	// teacher owns every "class:" room.
	hub.RegisterRooms("class", qun.RoomAccessFunc(func(_ context.Context, id *qun.Identity, _ qun.RoomID) (qun.Role, error) {
		if id.User == "teacher" {
			return qun.RoleOwner, nil
		}
		return qun.RoleViewer, nil
	}))
	store, _ := whiteboard.NewSQLiteStore(db)
	wb, err := whiteboard.New(whiteboard.Config{Hub: hub, Store: store, Authenticator: tokens})
	if err != nil {
		panic(err)
	}
	defer wb.Close()
	// mux.Handle("/qun/ws", hub)
	// mux.Handle("/wb/", http.StripPrefix("/wb", wb.HTTPHandler()))

	ctx := context.Background()
	teacher := &qun.Identity{Tenant: "shop1", User: "teacher"}
	board, _ := wb.CreateBoard(ctx, teacher, "class:1", "Lesson 1")
	st, _ := wb.State(ctx, "shop1", board.ID)
	page := st.Pages[0].ID
	id, seq, err := wb.Draw(ctx, teacher, board.ID, page, whiteboard.ItemInput{
		K: "shape", Shape: "rect", C: "#E53935", W: 0.004, Pts: []float64{0.1, 0.1, 0.5, 0.4},
	})
	if err != nil {
		panic(err)
	}
	st, _ = wb.State(ctx, "shop1", board.ID)
	fmt.Println("room:", whiteboard.Room(board.ID) == qun.RoomID("wb:"+string(board.ID)))
	fmt.Println("seq:", seq, "item:", id)
	fmt.Println(string(st.Pages[0].Items[0]))
	// Output:
	// room: true
	// seq: 2 item: 2
	// {"id":2,"k":"shape","by":"teacher","shape":"rect","c":"#e53935","w":0.004,"pts":[0.1,0.1,0.5,0.4]}
}
