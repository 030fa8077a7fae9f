// Package clustertest runs several qun nodes in one test, as a deployment
// runs them on several machines: each node has its own Hub on its own
// loopback HTTP server, its own PostgreSQL pool and LogStore (all on one
// schema) and its own NATS connection (all to one server). Nodes can be
// killed abruptly mid-test.
package clustertest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/qclient"
	"github.com/qunkit/qun/internal/qtest"
	natsbroker "github.com/qunkit/qun/nats"
	"github.com/qunkit/qun/nats/natstest"
	"github.com/qunkit/qun/postgres"
	"github.com/qunkit/qun/postgres/pgtest"
)

// Options configure New.
type Options struct {
	// Nodes is how many nodes to start. Zero means 2.
	Nodes int
	// NATSURL is the NATS server. Empty means an in-process server.
	NATSURL string
	// MemoryBroker replaces NATS with qun.NewMemoryBroker: a one-node
	// baseline for benchmarks (nodes would not reach each other).
	MemoryBroker bool
	// Hub is the base Config of every node's Hub; New fills Authenticator,
	// Log and Broker. Zero rate limits are raised to 10,000 ops/s, since
	// test clients send in bursts.
	Hub qun.Config
	// Setup registers feature packages on a node's Hub and mux before its
	// server starts.
	Setup func(n *Node)
	// PoolConns is each node's pool size (pool_max_conns). Zero means
	// pgxpool's default, max(4, CPUs).
	PoolConns int
}

// Cluster is a running set of nodes sharing one database and NATS server.
type Cluster struct {
	Tokens  *qun.Tokens
	Nodes   []*Node
	PGURL   string // the schema's connection URL
	NATSURL string
}

// Node is one node of the cluster.
type Node struct {
	Index  int
	Hub    *qun.Hub
	Mux    *http.ServeMux
	Server *httptest.Server
	URL    string // ws:// URL of the Hub
	Log    *postgres.LogStore
	Pool   *pgxpool.Pool // the node's own pool, for its feature stores
	// PoolURL is Pool's connection URL, for further pools on the schema.
	PoolURL string
	Broker  qun.Broker // a *natsbroker.Broker unless Options.MemoryBroker

	mu   sync.Mutex
	dead bool
}

// New starts the cluster; everything is stopped when t ends. It skips the
// test (fails it under CI=true) when PostgreSQL is unreachable.
func New(t testing.TB, o Options) *Cluster {
	t.Helper()
	if o.Nodes <= 0 {
		o.Nodes = 2
	}
	if o.NATSURL == "" && !o.MemoryBroker {
		o.NATSURL = natstest.Start(t, 0).ClientURL()
	}
	if o.Hub.OpsPerSecond == 0 {
		o.Hub.OpsPerSecond, o.Hub.OpBurst = 10_000, 10_000
	}
	tokens, err := qun.NewTokens(qun.TokenConfig{Secret: qtest.Secret})
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{Tokens: tokens, PGURL: pgtest.Schema(t), NATSURL: o.NATSURL}
	for i := range o.Nodes {
		c.Nodes = append(c.Nodes, c.start(t, i, o))
	}
	return c
}

func (c *Cluster) start(t testing.TB, i int, o Options) *Node {
	t.Helper()
	ctx := context.Background()
	url := c.PGURL
	if o.PoolConns > 0 {
		url += "&pool_max_conns=" + strconv.Itoa(o.PoolConns)
	}
	n := &Node{Index: i, Pool: pgtest.Pool(t, url), PoolURL: url, Mux: http.NewServeMux()}
	var err error
	if n.Log, err = postgres.NewLogStore(ctx, n.Pool, postgres.LogStoreConfig{}); err != nil {
		t.Fatal(err)
	}
	if o.MemoryBroker {
		n.Broker = qun.NewMemoryBroker()
	} else if n.Broker, err = natsbroker.New(natsbroker.Config{URL: c.NATSURL, Log: n.Log}); err != nil {
		t.Fatal(err)
	}
	cfg := o.Hub
	cfg.Authenticator, cfg.Log, cfg.Broker = c.Tokens, n.Log, n.Broker
	if n.Hub, err = qun.NewHub(cfg); err != nil {
		t.Fatal(err)
	}
	n.Mux.Handle("/ws", n.Hub)
	// The server listens before Setup, so that Setup knows the node's URL
	// (a registry hands it out); it serves once Setup is done.
	n.Server = httptest.NewUnstartedServer(n.Mux)
	n.URL = "ws://" + n.Server.Listener.Addr().String() + "/ws"
	if o.Setup != nil {
		o.Setup(n)
	}
	n.Server.Start()
	t.Cleanup(func() { n.stop(t) })
	return n
}

// Kill stops the node as a crash would: its clients' connections and its
// NATS connection drop at once, without close frames or flushing. What it
// had not committed to PostgreSQL is lost (its clients got no reply for it).
func (n *Node) Kill(t testing.TB) {
	t.Helper()
	n.mu.Lock()
	n.dead = true
	n.mu.Unlock()
	if nb, ok := n.Broker.(*natsbroker.Broker); ok {
		nb.Conn().Close()
	}
	n.Server.CloseClientConnections()
	n.stop(t)
}

// Alive reports whether the node has not been killed.
func (n *Node) Alive() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return !n.dead
}

// stop releases the node's resources. Idempotent.
func (n *Node) stop(t testing.TB) {
	n.Server.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Hub.Shutdown(ctx); err != nil {
		t.Errorf("node %d: hub shutdown: %v", n.Index, err)
	}
	_ = n.Broker.Close()
	if err := n.Log.Close(); err != nil {
		t.Errorf("node %d: log close: %v", n.Index, err)
	}
	n.Pool.Close()
}

// Token issues a one-hour token valid on every node.
func (c *Cluster) Token(t testing.TB, tenant, user string, grants ...string) string {
	t.Helper()
	tok, err := c.Tokens.Issue(qun.Identity{Tenant: qun.TenantID(tenant), User: qun.UserID(user), Name: user, Grants: grants}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Dial connects an authenticated client to node n; the caller closes it.
func (c *Cluster) Dial(ctx context.Context, t testing.TB, n *Node, tenant, user string, grants ...string) (*qclient.Client, error) {
	return qclient.Connect(ctx, n.URL, c.Token(t, tenant, user, grants...), qclient.Options{Origin: n.Server.URL})
}

// Connect is Dial that fails the test on error and closes the client when
// the test ends.
func (c *Cluster) Connect(t testing.TB, n *Node, tenant, user string, grants ...string) *qclient.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := c.Dial(ctx, t, n, tenant, user, grants...)
	if err != nil {
		t.Fatalf("connect to node %d: %v", n.Index, err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// RoomLocker returns a postgres.RoomLocker on the node's database, closed
// when t ends: the lock per room that the node's chat, whiteboard and shop
// share with the other nodes.
func (n *Node) RoomLocker(t testing.TB) *postgres.RoomLocker {
	t.Helper()
	l, err := postgres.NewRoomLocker(context.Background(), n.Pool, postgres.RoomLockerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}
