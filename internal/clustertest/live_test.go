package clustertest_test

import (
	"context"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/clustertest"
	"github.com/qunkit/qun/internal/livepeer"
	"github.com/qunkit/qun/internal/qclient"
	"github.com/qunkit/qun/internal/qtest"
	"github.com/qunkit/qun/live"
	"github.com/qunkit/qun/postgres"
	"github.com/qunkit/qun/postgres/pgtest"
	"go.uber.org/zap"
)

// liveNode is a node's live service and registry (on a pool of its own).
type liveNode struct {
	svc     *live.Service
	reg     *postgres.Registry
	regPool interface{ Close() }
}

// liveNodes starts n nodes with live on the shared PostgreSQL store, each
// placing lives through a Registry whose address is the node's own URL.
func liveNodes(t *testing.T, n int) (*clustertest.Cluster, []*liveNode) {
	return liveNodesWith(t, clustertest.Options{Nodes: n})
}

// liveNodesWith is liveNodes with o's Hub config and o.Setup (run after
// live's) on every node.
func liveNodesWith(t *testing.T, o clustertest.Options) (*clustertest.Cluster, []*liveNode) {
	var lns []*liveNode
	more := o.Setup
	o.Setup = func(nd *clustertest.Node) {
		ctx := context.Background()
		nd.Hub.RegisterRooms("g", qun.RoomAccessFunc(func(context.Context, *qun.Identity, qun.RoomID) (qun.Role, error) {
			return qun.RoleMember, nil
		}))
		store, err := postgres.NewLiveStore(ctx, nd.Pool)
		if err != nil {
			t.Fatal(err)
		}
		// The registry has its own pool, closed after it (cleanups run
		// last first), since it outlives the node's pool at shutdown.
		pool := pgtest.Pool(t, nd.PoolURL)
		reg, err := postgres.NewRegistry(ctx, pool, postgres.RegistryConfig{Node: nd.URL, Addr: nd.URL, TTL: 3 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { reg.Close() })
		svc, err := live.New(live.Config{Hub: nd.Hub, Store: store, Placement: reg.LivePlacement(),
			Logger: livepeer.TestLogger(t, zap.ErrorLevel), Network: live.Network{IncludeLoopback: true}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { svc.Close() })
		lns = append(lns, &liveNode{svc: svc, reg: reg, regPool: pool})
		if more != nil {
			more(nd)
		}
	}
	c := clustertest.New(t, o)
	return c, lns
}

// waitPackets waits until v receives tracks tracks, each with at least
// packets packets, and returns the total.
func waitPackets(t *testing.T, v *livepeer.Viewer, tracks int, packets uint64) uint64 {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st := v.Stats()
		ok, total := len(st) >= tracks, uint64(0)
		for _, s := range st {
			total += s.Packets
			if s.Packets < packets {
				ok = false
			}
		}
		if ok {
			return total
		}
		if time.Now().After(deadline) {
			t.Fatalf("viewer media: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A live runs on the node that started it. A viewer and a co-host whose
// connections reach the other node are sent to it (live.join answers its
// address) and do their signalling there; ops that act on the running live
// answer unavailable on the other node. When the other node — which only
// carried their first connections — dies, the live goes on: the viewer
// keeps receiving the host's and the co-host's media.
func TestLiveRunsOnOneNodeAndSurvivesASignallingNode(t *testing.T) {
	c, _ := liveNodes(t, 2)
	a, b := c.Nodes[0], c.Nodes[1]
	api, err := livepeer.NewAPI(livepeer.APIOptions{IncludeLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	hostC := c.Connect(t, a, tenant, "host")
	var info live.Info
	qtest.Call(t, hostC, "live.start", map[string]any{"group": "g:1", "title": "Across nodes"}, &info)
	host := livepeer.NewHubPeer(hostC, api, info.ID)
	t.Cleanup(host.Close)
	if _, err := host.Join(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := host.Publish(livepeer.PublisherOptions{Audio: true, Video: true, VideoBitrate: 300_000, StreamID: "host"}, nil); err != nil {
		t.Fatal(err)
	}

	// The viewer's first connection reaches node B.
	fanB := c.Connect(t, b, tenant, "fan")
	var res struct {
		Node string `json:"node"`
		ID   string `json:"id"`
	}
	qtest.Call(t, fanB, "live.join", map[string]any{"live": info.ID}, &res)
	if res.Node != a.URL || res.ID != "" {
		t.Fatalf("live.join on node B answered %+v, want node %s", res, a.URL)
	}
	qtest.CallErr(t, fanB, "live.stage.request", map[string]any{"live": info.ID}, qun.CodeUnavailable)
	hostB := c.Connect(t, b, tenant, "host")
	qtest.CallErr(t, hostB, "live.pause", map[string]any{"live": info.ID}, qun.CodeUnavailable)
	var got live.Info // reads work anywhere
	qtest.Call(t, hostB, "live.get", map[string]any{"live": info.ID}, &got)
	if got.State != live.StateLive {
		t.Fatalf("live.get on node B: %+v", got)
	}

	// It follows the address: a second connection, to node A.
	dial := func(user string) *qclient.Client {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cl, err := qclient.Connect(ctx, res.Node, c.Token(t, tenant, user), qclient.Options{Origin: a.Server.URL})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cl.Close() })
		return cl
	}
	fan := livepeer.NewHubPeer(dial("fan"), api, info.ID)
	t.Cleanup(fan.Close)
	viewer, err := fan.Join(nil)
	if err != nil {
		t.Fatal(err)
	}
	waitPackets(t, viewer, 2, 20)

	// A co-host comes through node B too, and is sent to node A.
	coB := c.Connect(t, b, tenant, "co")
	res.Node = ""
	qtest.Call(t, coB, "live.join", map[string]any{"live": info.ID}, &res)
	if res.Node != a.URL {
		t.Fatalf("co-host's live.join on node B answered node %q", res.Node)
	}
	co := livepeer.NewHubPeer(dial("co"), api, info.ID)
	t.Cleanup(co.Close)
	if _, err := co.Join(nil); err != nil {
		t.Fatal(err)
	}
	qtest.Call(t, co.C, "live.stage.request", map[string]any{"live": info.ID}, nil)
	qtest.Call(t, hostC, "live.stage.accept", map[string]any{"live": info.ID, "user": "co"}, nil)
	if _, err := co.Publish(livepeer.PublisherOptions{Audio: true, Video: true, VideoBitrate: 300_000, StreamID: "co"}, nil); err != nil {
		t.Fatal(err)
	}
	waitPackets(t, viewer, 4, 20)

	// Node B dies. The live, on node A, goes on.
	b.Kill(t)
	before := waitPackets(t, viewer, 4, 20)
	time.Sleep(time.Second)
	after := waitPackets(t, viewer, 4, 20)
	if after < before+50 {
		t.Fatalf("media stalled after node B died: %d packets, then %d", before, after)
	}
	qtest.Call(t, hostC, "live.get", map[string]any{"live": info.ID}, &got)
	if got.State != live.StateLive || got.Viewers < 2 || len(got.Stage) != 1 {
		t.Fatalf("the live after node B died: state %s, %d viewers, stage %v", got.State, got.Viewers, got.Stage)
	}
	qtest.Call(t, hostC, "live.end", map[string]any{"live": info.ID}, nil)
}

// When the node running a live dies, its lease runs out and the live's
// media moves: live.join on another node then runs it there, and the host
// publishes again.
func TestLiveMovesWhenItsNodeDies(t *testing.T) {
	c, lns := liveNodes(t, 2)
	a, b := c.Nodes[0], c.Nodes[1]
	api, err := livepeer.NewAPI(livepeer.APIOptions{IncludeLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	hostA := c.Connect(t, a, tenant, "host")
	var info live.Info
	qtest.Call(t, hostA, "live.start", map[string]any{"group": "g:1"}, &info)

	// Node A crashes: its connections drop, its media stops, and it no
	// longer renews its lease (its registry loses the database).
	a.Kill(t)
	lns[0].svc.Close()
	lns[0].regPool.Close()
	died := time.Now()

	hostC := c.Connect(t, b, tenant, "host")
	var res struct {
		Node string `json:"node"`
		ID   string `json:"id"`
	}
	for {
		res.Node, res.ID = "", ""
		qtest.Call(t, hostC, "live.join", map[string]any{"live": info.ID}, &res)
		if res.Node == "" {
			break
		}
		if res.Node != a.URL || time.Since(died) > 10*time.Second {
			t.Fatalf("live.join on node B answered node %q %v after node A died", res.Node, time.Since(died))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if el := time.Since(died); el < 2*time.Second {
		t.Fatalf("the live moved %v after its node died, before the lease (3 s) could run out", el)
	}
	host := livepeer.NewHubPeer(hostC, api, info.ID)
	t.Cleanup(host.Close)
	if _, err := host.Publish(livepeer.PublisherOptions{Audio: true, StreamID: "host"}, nil); err != nil {
		t.Fatal(err)
	}
	fan := livepeer.NewHubPeer(c.Connect(t, b, tenant, "fan"), api, info.ID)
	t.Cleanup(fan.Close)
	viewer, err := fan.Join(nil)
	if err != nil {
		t.Fatal(err)
	}
	waitPackets(t, viewer, 1, 20)
}
