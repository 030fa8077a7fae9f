package clustertest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/clustertest"
	"github.com/qunkit/qun/postgres"
	"github.com/qunkit/qun/whiteboard"
)

// classRoles: in "t:" rooms, users named teacher* present; others are members.
func classRoles(n *clustertest.Node) {
	n.Hub.RegisterRooms("t", qun.RoomAccessFunc(func(_ context.Context, id *qun.Identity, _ qun.RoomID) (qun.Role, error) {
		if len(id.User) >= 7 && id.User[:7] == "teacher" {
			return qun.RoleModerator, nil
		}
		return qun.RoleMember, nil
	}))
}

// wbNodes starts n nodes with whiteboard on the shared PostgreSQL store
// and, with lock, the shared room locker.
func wbNodes(t *testing.T, n int, lock bool) []*whiteboard.Service {
	var svcs []*whiteboard.Service
	clustertest.New(t, clustertest.Options{Nodes: n, Setup: func(nd *clustertest.Node) {
		ctx := context.Background()
		classRoles(nd)
		store, err := postgres.NewWhiteboardStore(ctx, nd.Pool)
		if err != nil {
			t.Fatal(err)
		}
		cfg := whiteboard.Config{Hub: nd.Hub, Store: store}
		if lock {
			cfg.Locker = nd.RoomLocker(t)
		}
		svc, err := whiteboard.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { svc.Close() })
		svcs = append(svcs, svc)
	}})
	return svcs
}

func who(u string) *qun.Identity { return &qun.Identity{Tenant: tenant, User: qun.UserID(u), Name: u} }

var dot = whiteboard.ItemInput{K: "stroke", Tool: "pen", C: "#000000", W: 0.002, Pts: []float64{0.1, 0.1, 0.5, 0.2, 0.2, 0.5}}

// One board written through two nodes with the shared Locker: each node
// validates against the board as it is (rights revoked through the other
// node hold at once, undo reaches items drawn through the other node, a
// board deleted through the other node is gone), and concurrent drawing
// through both nodes gives one board, the same from either node, whose
// items all have distinct ids.
func TestWhiteboardAcrossNodes(t *testing.T) {
	svcs := wbNodes(t, 2, true)
	a, b := svcs[0], svcs[1]
	ctx := context.Background()
	board, err := a.CreateBoard(ctx, who("teacher"), "t:class", "maths")
	if err != nil {
		t.Fatal(err)
	}
	st, err := a.State(ctx, tenant, board.ID)
	if err != nil {
		t.Fatal(err)
	}
	page := st.Pages[0].ID

	// Rights granted on A, used on B, revoked on A: refused on B at once.
	if _, err := a.SetRights(ctx, who("teacher"), board.ID, "stu", true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Draw(ctx, who("stu"), board.ID, page, dot); err != nil {
		t.Fatalf("drawing with rights granted through the other node: %v", err)
	}
	if _, err := a.SetRights(ctx, who("teacher"), board.ID, "stu", false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Draw(ctx, who("stu"), board.ID, page, dot); qun.ErrorCode(err) != qun.CodeForbidden {
		t.Fatalf("drawing after rights were revoked through the other node: %v", err)
	}

	// Two presenters draw at once, one per node, whole items and streamed
	// strokes.
	const each = 25
	var wg sync.WaitGroup
	var mu sync.Mutex
	okOps := 0
	for i, svc := range svcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			me := who(fmt.Sprint("teacher", i))
			for k := range each {
				var err error
				if k%2 == 0 {
					_, _, err = svc.Draw(ctx, me, board.ID, page, dot)
				} else {
					var sid uint64
					sid, err = svc.BeginStroke(ctx, me, nil, board.ID, whiteboard.StrokeStart{Page: page, Tool: "pen", C: "#ff0000", W: 0.003, Pts: []float64{0.3, 0.3, 0.5}})
					if err == nil {
						err = svc.AppendStroke(ctx, me, board.ID, sid, []float64{0.35, 0.35, 0.5})
					}
					if err == nil {
						_, err = svc.EndStroke(ctx, me, board.ID, sid, []float64{0.4, 0.4, 0.5})
					}
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				okOps++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	var states [][]byte
	for _, svc := range svcs {
		live, err := svc.State(ctx, tenant, board.ID)
		if err != nil {
			t.Fatal(err)
		}
		rebuilt, err := svc.StateAt(ctx, tenant, board.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []*whiteboard.State{live, rebuilt} {
			j, _ := json.Marshal(s)
			states = append(states, j)
		}
		items := live.Pages[0].Items
		if len(items) != 1+okOps { // stu's first dot and the storm
			t.Fatalf("%d items on the page, want %d", len(items), 1+okOps)
		}
		var ids []uint64
		for _, raw := range items {
			var it struct{ ID uint64 }
			if err := json.Unmarshal(raw, &it); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, it.ID)
		}
		slices.Sort(ids)
		if len(slices.Compact(ids)) != len(items) {
			t.Fatalf("item ids repeat: %v", ids)
		}
	}
	for i := range states {
		if string(states[i]) != string(states[0]) {
			t.Fatalf("the board differs between nodes (or from its rebuild):\n%s\n%s", states[0], states[i])
		}
	}

	// Undo through B of what teacher0 drew through A.
	before, _ := a.State(ctx, tenant, board.ID)
	if _, err := b.Undo(ctx, who("teacher0"), board.ID); err != nil {
		t.Fatal(err)
	}
	after, _ := a.State(ctx, tenant, board.ID)
	if len(after.Pages[0].Items) != len(before.Pages[0].Items)-1 {
		t.Fatalf("undo through the other node: %d items, then %d", len(before.Pages[0].Items), len(after.Pages[0].Items))
	}

	// Deleted through A: gone through B.
	if err := a.DeleteBoard(ctx, who("teacher"), board.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Draw(ctx, who("teacher1"), board.ID, page, dot); qun.ErrorCode(err) != qun.CodeNotFound {
		t.Fatalf("drawing on a board deleted through the other node: %v", err)
	}
}

// Without the Locker, the node that did not see the revocation still lets
// the user draw: what TestWhiteboardAcrossNodes guards against.
func TestWhiteboardWithoutLockerValidatesAgainstAStaleBoard(t *testing.T) {
	svcs := wbNodes(t, 2, false)
	a, b := svcs[0], svcs[1]
	ctx := context.Background()
	board, err := a.CreateBoard(ctx, who("teacher"), "t:class", "maths")
	if err != nil {
		t.Fatal(err)
	}
	st, _ := a.State(ctx, tenant, board.ID)
	page := st.Pages[0].ID
	if _, err := a.SetRights(ctx, who("teacher"), board.ID, "stu", true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Draw(ctx, who("stu"), board.ID, page, dot); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SetRights(ctx, who("teacher"), board.ID, "stu", false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Draw(ctx, who("stu"), board.ID, page, dot); err != nil {
		t.Fatalf("without a Locker the stale node refused (%v): this test no longer shows what the Locker is for", err)
	}
}
