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

// TestBrowserSDKWatchesALiveOnAnotherNode: a host's page publishes a live
// through node A, which runs its media. A viewer's page of the browser SDK
// connects to node B only; live.join there answers node A's address, and
// the SDK opens a second connection to it for the live's signalling and
// media: the page decodes the host's video, its likes (an op on the
// running live) succeed, while its other calls stay on node B. Leaving
// closes the second connection and the viewer is gone from the live.
func TestBrowserSDKWatchesALiveOnAnotherNode(t *testing.T) {
	b := browser.Launch(t) // skips without Chromium, fails under CI=true
	c, _ := liveNodesWith(t, clustertest.Options{
		Hub: qun.Config{OriginPatterns: []string{"127.0.0.1:*"}}, // pages of one node call the other
		Setup: func(nd *clustertest.Node) {
			nd.Mux.HandleFunc("/live.html", func(w http.ResponseWriter, r *http.Request) {
				http.ServeFile(w, r, "testdata/live.html")
			})
			nd.Mux.HandleFunc("/qun.js", func(w http.ResponseWriter, r *http.Request) {
				http.ServeFile(w, r, "../../sdk/qun.js")
			})
		},
	})
	a, nb := c.Nodes[0], c.Nodes[1]
	hostC := c.Connect(t, a, tenant, "host")
	var info live.Info
	qtest.Call(t, hostC, "live.start", map[string]any{"group": "g:1", "title": "Across nodes"}, &info)

	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	page := func(n *clustertest.Node, user, role string) *browser.Page {
		q := url.Values{"ws": {n.URL}, "token": {c.Token(t, tenant, user)}, "live": {info.ID}, "role": {role}}
		p, err := b.NewPage(ctx, user, n.Server.URL+"/live.html?"+q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	wait := func(p *browser.Page, what, cond string) {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := p.WaitFor(c, "(() => { if (window.qstate && qstate.error) throw new Error(qstate.error); return "+cond+"; })()"); err != nil {
			var log string
			_ = p.Eval(ctx, "document.getElementById('log').textContent", &log)
			t.Fatalf("%s: %v; page log:\n%s", what, err, log)
		}
	}
	eval := func(p *browser.Page, expr string, out any) {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if err := p.Eval(c, expr, out); err != nil {
			t.Fatalf("evaluating %s: %v", expr, err)
		}
	}
	viewers := func() int {
		var got live.Info
		qtest.Call(t, hostC, "live.get", map[string]any{"live": info.ID}, &got)
		return got.Viewers
	}

	host := page(a, "host", "pub")
	wait(host, "host publishes on node A", `qstate.status === "joined"`)
	view := page(nb, "fan", "view")
	wait(view, "viewer on node B decodes the video", `qstate.tracks === 2 && window.frames_() > 30`)

	var conns struct{ First, Media string }
	eval(view, "({first: client.url, media: live.mc && live.mc.url})", &conns)
	if conns.First != nb.URL || conns.Media != a.URL {
		t.Fatalf("the viewer's connections: %+v; want the first to node B %s, the media one to node A %s", conns, nb.URL, a.URL)
	}
	eval(view, "live.like(3).then(() => true)", nil)
	var get struct{ ID string }
	eval(view, fmt.Sprintf("client.call('live.get', {live: %q})", info.ID), &get)
	if get.ID != info.ID {
		t.Fatalf("live.get on node B: %+v", get)
	}
	if n := viewers(); n != 2 {
		t.Fatalf("%d viewers with the host and the fan", n)
	}

	eval(view, "live.leave().then(() => live.mc === null && live.pcs.sub === null)", nil)
	deadline := time.Now().Add(10 * time.Second)
	for viewers() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the fan left, yet %d viewers", viewers())
		}
		time.Sleep(100 * time.Millisecond)
	}
	var state string
	eval(view, "client.state", &state)
	if !strings.EqualFold(state, "open") {
		t.Fatalf("the first connection after leaving: %s", state)
	}
}
