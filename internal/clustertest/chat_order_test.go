package clustertest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/chat"
	"github.com/qunkit/qun/internal/clustertest"
	"github.com/qunkit/qun/internal/qclient"
	"github.com/qunkit/qun/internal/qtest"
	"github.com/qunkit/qun/postgres"
)

// chatNodes starts n nodes with chat on the shared PostgreSQL store and,
// unless memLock, the shared PostgreSQL room locker.
func chatNodes(t *testing.T, n int, memLock bool) (*clustertest.Cluster, []*chat.Service) {
	var svcs []*chat.Service
	c := clustertest.New(t, clustertest.Options{Nodes: n, Setup: func(nd *clustertest.Node) {
		ctx := context.Background()
		store, err := postgres.NewChatStore(ctx, nd.Pool)
		if err != nil {
			t.Fatal(err)
		}
		cfg := chat.Config{Hub: nd.Hub, Store: store, SendRate: 10_000, SendBurst: 10_000,
			// A moderation service that takes a few milliseconds, as a
			// vendor's remote one does: a send is past its checks that long
			// before it is published.
			Reviewer: chat.ReviewerFunc(func(context.Context, *chat.ReviewRequest) (chat.Verdict, error) {
				time.Sleep(3 * time.Millisecond)
				return chat.Verdict{}, nil
			})}
		if !memLock {
			cfg.Locker = nd.RoomLocker(t)
		}
		svc, err := chat.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { svc.Close() })
		svcs = append(svcs, svc)
	}})
	return c, svcs
}

// Two nodes hammer one group: members send through both nodes as fast as
// they can while admins on both nodes mute and kick them. Every client, on
// either node, sees one order, the log's; and in it no message of a user
// comes after that user's mute or kick — nor was any send acknowledged
// with a later seq. Without a shared Locker a send checked on one node
// before a kick committed on the other could be published after the kick
// (TestChatWithoutSharedLockerMisorders shows it does).
func TestChatKicksAndSendsKeepOneOrderAcrossNodes(t *testing.T) {
	checkKicksAndSends(t, false)
}

func checkKicksAndSends(t *testing.T, memLock bool) (violations int) {
	c, svcs := chatNodes(t, 2, memLock)
	ctx := context.Background()
	ident := func(u string) *qun.Identity {
		return &qun.Identity{Tenant: tenant, User: qun.UserID(u), Name: u}
	}
	boss := &qun.Identity{Tenant: tenant, User: "boss", Name: "boss", Grants: []string{qun.GrantCreateGroup}}
	g, err := svcs[0].CreateGroup(ctx, boss, chat.CreateGroup{Name: "hammered", Public: true})
	if err != nil {
		t.Fatal(err)
	}
	const members = 12
	users := []string{"admin2", "watcher"}
	for i := range members {
		users = append(users, fmt.Sprint("m", i))
	}
	for i, u := range users {
		if _, err := svcs[i%2].Join(ctx, ident(u), chat.Join{Group: g.ID}); err != nil {
			t.Fatal(err)
		}
	}
	if err := svcs[1].SetRole(ctx, boss, chat.SetRole{Group: g.ID, User: "admin2", Role: chat.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	admins := []*qun.Identity{boss, ident("admin2")}

	// Observers on both nodes, subscribed before the storm.
	var observers []*qclient.Client
	for i, u := range []string{"boss", "watcher"} {
		cl := c.Connect(t, c.Nodes[i], tenant, u)
		qtest.Call(t, cl, "sub", map[string]any{"room": g.ID}, nil)
		observers = append(observers, cl)
	}
	start, err := c.Nodes[0].Log.Last(ctx, qun.RoomRef{Tenant: tenant, Room: g.ID})
	if err != nil {
		t.Fatal(err)
	}

	// Senders: each member sends through both nodes in turn until refused.
	acked := make([][]uint64, members)
	var wg sync.WaitGroup
	for i := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := ident(fmt.Sprint("m", i))
			for k := 0; ; k++ {
				sent, err := svcs[(i+k)%2].Send(ctx, id, chat.Send{Group: g.ID, Content: chat.Content{Kind: chat.KindText, Text: fmt.Sprint("hi ", k)}})
				if err != nil {
					if code := qun.ErrorCode(err); code != qun.CodeForbidden && code != qun.CodeNotFound {
						t.Errorf("m%d: %v", i, err)
					}
					return
				}
				acked[i] = append(acked[i], sent.Seq)
			}
		}()
	}
	// Admins on both nodes: mute even members, kick odd ones, while
	// they send.
	for i := range members {
		time.Sleep(15 * time.Millisecond)
		a, svc, target := admins[i%2], svcs[(i/2)%2], qun.UserID(fmt.Sprint("m", i))
		if i%2 == 0 {
			err = svc.Mute(ctx, a, chat.Mute{Group: g.ID, User: target, Seconds: 600})
		} else {
			err = svc.Kick(ctx, a, chat.Target{Group: g.ID, User: target})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	final, err := svcs[0].Send(ctx, boss, chat.Send{Group: g.ID, Content: chat.Content{Kind: chat.KindText, Text: "the end"}})
	if err != nil {
		t.Fatal(err)
	}

	// The log is the order.
	ref := qun.RoomRef{Tenant: tenant, Room: g.ID}
	evs, err := c.Nodes[1].Log.Read(ctx, ref, start, int(final.Seq-start))
	if err != nil || len(evs) != int(final.Seq-start) {
		t.Fatalf("read %d events of %d: %v", len(evs), final.Seq-start, err)
	}
	stopped := map[qun.UserID]uint64{} // user -> seq of their mute or kick
	for _, ev := range evs {
		switch ev.Type {
		case chat.EvMuted, chat.EvKicked:
			var d struct{ User qun.UserID }
			if err := json.Unmarshal(ev.Data, &d); err != nil {
				t.Fatal(err)
			}
			stopped[d.User] = ev.Seq
		case chat.EvMessage:
			if at, ok := stopped[ev.Actor]; ok {
				violations++
				if !memLock {
					t.Errorf("message %d from %s after their mute or kick at %d", ev.Seq, ev.Actor, at)
				}
			}
		}
	}
	if len(stopped) != members {
		t.Fatalf("%d members stopped, want %d", len(stopped), members)
	}
	total := 0
	for i, seqs := range acked {
		total += len(seqs)
		at := stopped[qun.UserID(fmt.Sprint("m", i))]
		for _, s := range seqs {
			if s > at && !memLock {
				t.Errorf("m%d's send acknowledged with seq %d after their mute or kick at %d", i, s, at)
			}
		}
	}
	// Every client saw exactly the log, in its order.
	for i, cl := range observers {
		var got []string
		for len(got) < len(evs) {
			f := qtest.Next(t, cl, func(f qclient.Frame) bool { return f.T == "ev" && f.Room == g.ID })
			got = append(got, fmt.Sprint(f.Seq, f.Type, f.Actor))
		}
		var want []string
		for _, ev := range evs {
			want = append(want, fmt.Sprint(ev.Seq, ev.Type, ev.Actor))
		}
		if !slices.Equal(got, want) {
			t.Fatalf("observer on node %d saw another order than the log's", i)
		}
	}
	t.Logf("%d messages acknowledged, %d mutes and kicks, %d events, %d out of order", total, members, len(evs), violations)
	return violations
}

// The failure the shared Locker prevents: with chat's in-memory lock on
// each node, the same storm publishes messages after their sender's mute
// or kick. (If a run happens to miss the race, it is repeated.)
func TestChatWithoutSharedLockerMisorders(t *testing.T) {
	if testing.Short() {
		t.Skip("demonstrates the bug the Locker fixes")
	}
	for range 3 {
		if checkKicksAndSends(t, true) > 0 {
			return
		}
	}
	t.Fatal("three storms with per-node locks kept the order: this test no longer shows what the Locker is for")
}
