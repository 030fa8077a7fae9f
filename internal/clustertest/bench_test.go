package clustertest_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/chat"
	"github.com/qunkit/qun/internal/clustertest"
	"github.com/qunkit/qun/internal/qclient"
	"github.com/qunkit/qun/postgres"
)

// listener is a client that counts the events it receives and records their
// latency from the publish time carried in the data ({"ns":<unix nanos>}).
type listener struct {
	count atomic.Int64
	mu    sync.Mutex
	lat   []time.Duration
}

var nsKey = []byte(`"ns":`)

func (l *listener) onFrame(raw []byte) {
	now := time.Now().UnixNano()
	if i := bytes.Index(raw, nsKey); i >= 0 {
		rest := raw[i+len(nsKey):]
		j := bytes.IndexByte(rest, '}')
		if ns, err := strconv.ParseInt(string(rest[:j]), 10, 64); err == nil {
			l.mu.Lock()
			l.lat = append(l.lat, time.Duration(now-ns))
			l.mu.Unlock()
		}
	}
	l.count.Add(1)
}

// listen connects a client to node n and subscribes it to room.
func listen(b *testing.B, c *clustertest.Cluster, n *clustertest.Node, user string, room qun.RoomID) *listener {
	l := &listener{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := qclient.Connect(ctx, n.URL, c.Token(b, tenant, user), qclient.Options{Origin: n.Server.URL, OnFrame: l.onFrame})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cl.Close() })
	if err := cl.Call(ctx, "sub", map[string]any{"room": room}, nil); err != nil {
		b.Fatal(err)
	}
	return l
}

func publishNow(b *testing.B, n *clustertest.Node, room qun.RoomID, ephemeral bool) {
	ref := qun.RoomRef{Tenant: tenant, Room: room}
	d := qun.Draft{Type: "bench", Data: []byte(`{"ns":` + strconv.FormatInt(time.Now().UnixNano(), 10) + `}`)}
	var err error
	if ephemeral {
		err = n.Hub.PublishEphemeral(context.Background(), ref, d)
	} else {
		_, err = n.Hub.Publish(context.Background(), ref, d)
	}
	if err != nil {
		b.Error(err)
	}
}

func waitCount(b *testing.B, ls []*listener, want int64) {
	deadline := time.Now().Add(30 * time.Second)
	for _, l := range ls {
		for l.count.Load() < want {
			if time.Now().After(deadline) {
				b.Fatalf("a client got %d events of %d", l.count.Load(), want)
			}
			time.Sleep(50 * time.Microsecond)
		}
	}
}

func percentile(ls []*listener, p int) time.Duration {
	var all []time.Duration
	for _, l := range ls {
		l.mu.Lock()
		all = append(all, l.lat...)
		l.mu.Unlock()
	}
	if len(all) == 0 {
		return 0
	}
	slices.Sort(all)
	return all[min(len(all)-1, len(all)*p/100)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// BenchmarkCrossNode measures events published on node 0 (Hub.Publish:
// append to PostgreSQL, then NATS) and delivered to WebSocket clients.
//
// "latency": one event in flight at a time, 10 clients on each node in the
// room; it reports the publish-to-client latency on the publishing node and
// on the other node. Both go through NATS (the Hub fans out what its broker
// delivers, even locally). "latency-ephemeral" does the same without the
// PostgreSQL append, isolating the NATS hop; "latency-one-node" is the
// baseline: one node, memory broker, 20 clients.
//
// "fanout": 16 publishers into 10 rooms, 20 clients per room on node 1; it
// reports the frames those clients receive per second. "fanout-one-node"
// is the same with every client on the one publishing node.
func BenchmarkCrossNode(b *testing.B) {
	latency := func(ephemeral, oneNode bool) func(b *testing.B) {
		return func(b *testing.B) {
			nodes := 2
			if oneNode {
				nodes = 1
			}
			c := clustertest.New(b, clustertest.Options{Nodes: nodes, MemoryBroker: oneNode, Setup: openRooms})
			var local, remote []*listener
			for i := range 10 {
				local = append(local, listen(b, c, c.Nodes[0], fmt.Sprint("l", i), "t:lat"))
				remote = append(remote, listen(b, c, c.Nodes[nodes-1], fmt.Sprint("r", i), "t:lat"))
			}
			all := append(append([]*listener(nil), local...), remote...)
			n := int64(0)
			b.ReportAllocs()
			for b.Loop() {
				publishNow(b, c.Nodes[0], "t:lat", ephemeral)
				n++
				waitCount(b, all, n)
			}
			if oneNode {
				b.ReportMetric(ms(percentile(all, 50)), "p50-ms")
				b.ReportMetric(ms(percentile(all, 99)), "p99-ms")
				return
			}
			b.ReportMetric(ms(percentile(local, 50)), "local-p50-ms")
			b.ReportMetric(ms(percentile(local, 99)), "local-p99-ms")
			b.ReportMetric(ms(percentile(remote, 50)), "remote-p50-ms")
			b.ReportMetric(ms(percentile(remote, 99)), "remote-p99-ms")
		}
	}
	b.Run("latency", latency(false, false))
	b.Run("latency-ephemeral", latency(true, false))
	b.Run("latency-one-node", latency(false, true))

	fanout := func(oneNode bool) func(b *testing.B) {
		return func(b *testing.B) {
			nodes := 2
			if oneNode {
				nodes = 1
			}
			c := clustertest.New(b, clustertest.Options{Nodes: nodes, MemoryBroker: oneNode, Setup: openRooms})
			const rooms, perRoom = 10, 20
			var ls []*listener
			for r := range rooms {
				for i := range perRoom {
					ls = append(ls, listen(b, c, c.Nodes[nodes-1], fmt.Sprint("u", r, "-", i), qun.RoomID(fmt.Sprint("t:f", r))))
				}
			}
			var published atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(8)
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := published.Add(1)
					publishNow(b, c.Nodes[0], qun.RoomID(fmt.Sprint("t:f", i%rooms)), false)
				}
			})
			// Every room got published/rooms events (±1); wait for the slowest.
			var total int64
			deadline := time.Now().Add(30 * time.Second)
			for {
				total = 0
				for _, l := range ls {
					total += l.count.Load()
				}
				if total >= (published.Load()/rooms)*rooms*perRoom || time.Now().After(deadline) {
					break
				}
				time.Sleep(time.Millisecond)
			}
			el := time.Since(start)
			b.ReportMetric(float64(total)/el.Seconds(), "deliveries/s")
			b.ReportMetric(float64(published.Load())/el.Seconds(), "events/s")
			b.ReportMetric(ms(percentile(ls, 99)), "p99-ms")
		}
	}
	b.Run("fanout", fanout(false))
	b.Run("fanout-one-node", fanout(true))
}

// BenchmarkChatSend measures chat.Service.Send on two nodes sharing
// PostgreSQL (store and room log), senders spread over both nodes, with
// the per-node in-memory lock ("memlock", which does not order events
// across nodes) and with postgres.RoomLocker ("roomlocker"): the cost of
// the shared lock, two round trips and a held connection per send.
func BenchmarkChatSend(b *testing.B) {
	for _, lock := range []string{"memlock", "roomlocker"} {
		for _, groups := range []int{1, 16} {
			b.Run(fmt.Sprintf("%s/groups=%d", lock, groups), func(b *testing.B) {
				var svcs []*chat.Service
				clustertest.New(b, clustertest.Options{Nodes: 2, PoolConns: 32, Setup: func(nd *clustertest.Node) {
					ctx := context.Background()
					store, err := postgres.NewChatStore(ctx, nd.Pool)
					if err != nil {
						b.Fatal(err)
					}
					cfg := chat.Config{Hub: nd.Hub, Store: store, SendRate: 1e6, SendBurst: 1e6}
					if lock == "roomlocker" {
						cfg.Locker = nd.RoomLocker(b)
					}
					svc, err := chat.New(cfg)
					if err != nil {
						b.Fatal(err)
					}
					svcs = append(svcs, svc)
				}})
				ctx := context.Background()
				boss := &qun.Identity{Tenant: tenant, User: "boss", Name: "boss", Grants: []string{qun.GrantCreateGroup}}
				var ids []qun.RoomID
				for range groups {
					g, err := svcs[0].CreateGroup(ctx, boss, chat.CreateGroup{Name: "bench", Public: true})
					if err != nil {
						b.Fatal(err)
					}
					ids = append(ids, g.ID)
				}
				var n atomic.Int64
				b.ReportAllocs()
				b.SetParallelism(8)
				start := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := n.Add(1)
						_, err := svcs[i%2].Send(ctx, boss, chat.Send{Group: ids[int(i)%groups], Content: chat.Content{Kind: chat.KindText, Text: "hi"}})
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(n.Load())/time.Since(start).Seconds(), "sends/s")
			})
		}
	}
}
