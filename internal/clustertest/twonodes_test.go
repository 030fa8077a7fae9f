package clustertest_test

import (
	"fmt"
	"testing"

	"github.com/qunkit/qun/internal/clustertest"
	"github.com/qunkit/qun/internal/qtest"
)

// A client on node 0 speaks; a client on node 1 hears it.
func TestTwoNodes(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Nodes: 2, Setup: openRooms})
	a := c.Connect(t, c.Nodes[0], tenant, "ann")
	b := c.Connect(t, c.Nodes[1], tenant, "bob")
	qtest.Call(t, b, "sub", map[string]any{"room": room}, nil)
	qtest.Call(t, a, "test.say", map[string]any{"room": room, "text": "hi"}, nil)
	f := qtest.NextEvent(t, b, "test.said")
	if got := fmt.Sprintf("%d %s %s", f.Seq, f.Actor, f.D); got != `1 ann {"text":"hi"}` {
		t.Fatalf("bob got %s", got)
	}
}
