package clustertest_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/chat"
	"github.com/qunkit/qun/internal/clustertest"
	"github.com/qunkit/qun/internal/qclient"
	"github.com/qunkit/qun/internal/qtest"
	"github.com/qunkit/qun/postgres"
)

// chat on two nodes sharing its PostgreSQL store: a group created through
// node A is joined through node B, and messages sent through either node
// reach both members with the same seqs.
func TestChatAcrossNodes(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 2, Setup: func(n *clustertest.Node) {
		store, err := postgres.NewChatStore(context.Background(), n.Pool)
		if err != nil {
			t.Fatal(err)
		}
		svc, err := chat.New(chat.Config{Hub: n.Hub, Store: store})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { svc.Close() })
	}})
	ann := c.Connect(t, c.Nodes[0], tenant, "ann", qun.GrantCreateGroup)
	bob := c.Connect(t, c.Nodes[1], tenant, "bob")
	var g struct{ ID qun.RoomID }
	qtest.Call(t, ann, "chat.create", map[string]any{"name": "Tea lovers", "public": true}, &g)
	qtest.Call(t, bob, "chat.join", map[string]any{"group": g.ID}, nil)
	qtest.Call(t, ann, "sub", map[string]any{"room": g.ID}, nil)
	qtest.Call(t, bob, "sub", map[string]any{"room": g.ID}, nil)

	texts := []string{"hello from A", "hello from B", "again from A"}
	for i, text := range texts {
		sender := ann
		if i == 1 {
			sender = bob
		}
		qtest.Call(t, sender, "chat.send", map[string]any{"group": g.ID, "kind": "text", "text": text}, nil)
	}
	seen := func(cl *qclient.Client) (seqs []uint64, got []string) {
		for range texts {
			f := qtest.NextEvent(t, cl, "chat.message")
			var d struct{ Text string }
			if err := json.Unmarshal(f.D, &d); err != nil {
				t.Fatal(err)
			}
			seqs, got = append(seqs, f.Seq), append(got, d.Text)
		}
		return seqs, got
	}
	annSeqs, annTexts := seen(ann)
	bobSeqs, bobTexts := seen(bob)
	if !slices.Equal(annSeqs, bobSeqs) || !slices.Equal(annTexts, texts) || !slices.Equal(bobTexts, texts) {
		t.Fatalf("ann saw %v %q, bob %v %q", annSeqs, annTexts, bobSeqs, bobTexts)
	}
	var members []struct{ User qun.UserID }
	qtest.Call(t, bob, "chat.members", map[string]any{"group": g.ID}, &members)
	if len(members) != 2 {
		t.Fatalf("node B sees %d members, want 2", len(members))
	}
}
