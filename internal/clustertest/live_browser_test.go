package clustertest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/browser"
	"github.com/qunkit/qun/internal/clustertest"
	"github.com/qunkit/qun/internal/qtest"
	"github.com/qunkit/qun/live"
)

// sdkPages opens pages of testdata/live.html (the browser SDK watching or
// publishing one live) on the nodes of a cluster of live nodes.
type sdkPages struct {
	t    *testing.T
	ctx  context.Context
	b    *browser.Browser
	c    *clustertest.Cluster
	live string
}

// liveBrowserCluster launches Chromium (skipping without it) and starts n
// live nodes that serve the test page and the SDK.
func liveBrowserCluster(t *testing.T, n int) (*browser.Browser, *clustertest.Cluster, []*liveNode) {
	b := browser.Launch(t) // skips without Chromium, fails under CI=true
	c, lns := liveNodesWith(t, clustertest.Options{
		Nodes: n,
		Hub:   qun.Config{OriginPatterns: []string{"127.0.0.1:*"}}, // pages of one node call the other
		Setup: func(nd *clustertest.Node) {
			nd.Mux.HandleFunc("/live.html", func(w http.ResponseWriter, r *http.Request) {
				http.ServeFile(w, r, "testdata/live.html")
			})
			nd.Mux.HandleFunc("/qun.js", func(w http.ResponseWriter, r *http.Request) {
				http.ServeFile(w, r, "../../sdk/qun.js")
			})
		},
	})
	return b, c, lns
}

func (s *sdkPages) open(n *clustertest.Node, user, role string) *browser.Page {
	s.t.Helper()
	q := url.Values{"ws": {n.URL}, "token": {s.c.Token(s.t, tenant, user)}, "live": {s.live}, "role": {role}}
	p, err := s.b.NewPage(s.ctx, user, n.Server.URL+"/live.html?"+q.Encode())
	if err != nil {
		s.t.Fatal(err)
	}
	return p
}

// wait waits until cond (a JavaScript expression) holds on p, failing on
// the page's first error.
func (s *sdkPages) wait(p *browser.Page, what, cond string, timeout time.Duration) {
	s.t.Helper()
	c, cancel := context.WithTimeout(s.ctx, timeout)
	defer cancel()
	if err := p.WaitFor(c, "(() => { if (window.qstate && qstate.error) throw new Error(qstate.error); return "+cond+"; })()"); err != nil {
		var log string
		_ = p.Eval(s.ctx, "document.getElementById('log').textContent", &log)
		s.t.Fatalf("%s: %v; page log:\n%s", what, err, log)
	}
}

func (s *sdkPages) eval(p *browser.Page, expr string, out any) {
	s.t.Helper()
	c, cancel := context.WithTimeout(s.ctx, 15*time.Second)
	defer cancel()
	if err := p.Eval(c, expr, out); err != nil {
		s.t.Fatalf("evaluating %s: %v", expr, err)
	}
}

// TestBrowserSDKWatchesALiveOnAnotherNode: a host's page publishes a live
// through node A, which runs its media. A viewer's page of the browser SDK
// connects to node B only; live.join there answers node A's address, and
// the SDK opens a second connection to it for the live's signalling and
// media: the page decodes the host's video, its likes (an op on the
// running live) succeed, while its other calls stay on node B. Leaving
// closes the second connection and the viewer is gone from the live.
func TestBrowserSDKWatchesALiveOnAnotherNode(t *testing.T) {
	b, c, _ := liveBrowserCluster(t, 2)
	a, nb := c.Nodes[0], c.Nodes[1]
	hostC := c.Connect(t, a, tenant, "host")
	var info live.Info
	qtest.Call(t, hostC, "live.start", map[string]any{"group": "g:1", "title": "Across nodes"}, &info)

	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	s := &sdkPages{t: t, ctx: ctx, b: b, c: c, live: info.ID}
	viewers := func() int {
		var got live.Info
		qtest.Call(t, hostC, "live.get", map[string]any{"live": info.ID}, &got)
		return got.Viewers
	}

	host := s.open(a, "host", "pub")
	s.wait(host, "host publishes on node A", `qstate.status === "joined"`, 30*time.Second)
	view := s.open(nb, "fan", "view")
	s.wait(view, "viewer on node B decodes the video", `qstate.tracks === 2 && window.frames_() > 30`, 30*time.Second)

	var conns struct{ First, Media string }
	s.eval(view, "({first: client.url, media: live.mc && live.mc.url})", &conns)
	if conns.First != nb.URL || conns.Media != a.URL {
		t.Fatalf("the viewer's connections: %+v; want the first to node B %s, the media one to node A %s", conns, nb.URL, a.URL)
	}
	s.eval(view, "live.like(3).then(() => true)", nil)
	var get struct{ ID string }
	s.eval(view, fmt.Sprintf("client.call('live.get', {live: %q})", info.ID), &get)
	if get.ID != info.ID {
		t.Fatalf("live.get on node B: %+v", get)
	}
	if n := viewers(); n != 2 {
		t.Fatalf("%d viewers with the host and the fan", n)
	}

	s.eval(view, "live.leave().then(() => live.mc === null && live.pcs.sub === null)", nil)
	deadline := time.Now().Add(10 * time.Second)
	for viewers() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the fan left, yet %d viewers", viewers())
		}
		time.Sleep(100 * time.Millisecond)
	}
	var state string
	s.eval(view, "client.state", &state)
	if !strings.EqualFold(state, "open") {
		t.Fatalf("the first connection after leaving: %s", state)
	}
}

// TestBrowserSDKFollowsALiveWhenItsNodeDies: a live runs on node A; the
// host's page (first connection on node B) publishes and a viewer's page
// (on node C) watches it, both over media connections to A. Node A dies.
// Once its lease runs out, the SDK on each page, having lost its media
// connection, asks live.join again on its first connection: the first to
// ask runs the live on its own node, the other is pointed there. The host
// publishes again and the viewer decodes its video again, with
// "reconnecting" and "reconnected" emitted, while neither first connection
// dropped.
func TestBrowserSDKFollowsALiveWhenItsNodeDies(t *testing.T) {
	b, c, lns := liveBrowserCluster(t, 3)
	a, nb, nc := c.Nodes[0], c.Nodes[1], c.Nodes[2]
	starter := c.Connect(t, a, tenant, "host")
	var info live.Info
	qtest.Call(t, starter, "live.start", map[string]any{"group": "g:1", "title": "Moves"}, &info) // placed on A

	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	s := &sdkPages{t: t, ctx: ctx, b: b, c: c, live: info.ID}
	host := s.open(nb, "host", "pub")
	s.wait(host, "host publishes through node A", `qstate.status === "joined"`, 30*time.Second)
	view := s.open(nc, "fan", "view")
	s.wait(view, "viewer on node C decodes the video", `qstate.tracks === 2 && window.frames_() > 30`, 30*time.Second)
	for _, p := range []*browser.Page{host, view} {
		var media string
		s.eval(p, "live.mc && live.mc.url", &media)
		if media != a.URL {
			t.Fatalf("a page's media connection goes to %q, want node A %s", media, a.URL)
		}
	}
	var before int
	s.eval(view, "window.frames_()", &before)

	// Node A crashes: its connections drop, its media stops, and it no
	// longer renews its lease (its registry loses the database).
	a.Kill(t)
	lns[0].svc.Close()
	lns[0].regPool.Close()

	s.wait(view, "viewer decodes the video again after node A died",
		fmt.Sprintf(`qstate.tracks === 2 && window.frames_() > %d && qstate.reconnected > 0`, before+30), 60*time.Second)
	s.wait(host, "host reconnected", `qstate.reconnected >= 2`, 10*time.Second) // "pub" and "sub"

	type conns struct {
		First, Media, State, Log string
		Reconnecting, Drops      int
	}
	var h, v conns
	const q = `({first: client.url, media: live.mc ? live.mc.url : '', state: client.state,
		reconnecting: qstate.reconnecting, drops: qstate.drops, log: document.getElementById('log').textContent})`
	s.eval(host, q, &h)
	s.eval(view, q, &v)
	t.Logf("host page:\n%s\nviewer page:\n%s", h.Log, v.Log)
	// The live was followed over the first connections, not by their reconnects.
	if h.State != "open" || v.State != "open" || h.Drops+v.Drops != 0 || h.First != nb.URL || v.First != nc.URL {
		t.Fatalf("first connections: host %+v, viewer %+v", h, v)
	}
	if h.Reconnecting != 2 || v.Reconnecting != 1 {
		t.Fatalf("reconnecting events: host %d (want pub and sub), viewer %d (want sub)", h.Reconnecting, v.Reconnecting)
	}
	// One page runs the live on its own node; the other's media connection goes there.
	if !(h.Media == "" && v.Media == nb.URL) && !(v.Media == "" && h.Media == nc.URL) {
		t.Fatalf("after the move: host %+v, viewer %+v", h, v)
	}
}
