package live_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/browser"
	"github.com/qunkit/qun/live"
)

// TestBrowserPublishAndPlay: a headless Chromium page publishes its fake
// camera and microphone; a second page plays the live, and the video
// element must decode frames.
func TestBrowserPublishAndPlay(t *testing.T) {
	b := browser.Launch(t) // skips without Chromium, fails under CI=true
	e := newEnv(t, live.Config{})
	e.Mux.HandleFunc("/live.html", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, "testdata/live.html")
	})
	e.groups.set("g:1", "host", qun.RoleMember)
	e.groups.set("g:1", "viewer", qun.RoleMember)
	hostC := e.Connect(t, "t1", "host")
	info := startLive(t, hostC, "g:1")

	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	page := func(user, role string, extra ...string) *browser.Page {
		q := url.Values{"ws": {e.URL}, "token": {e.Token(t, "t1", user)}, "live": {info.ID}, "role": {role}}
		for i := 0; i+1 < len(extra); i += 2 {
			q.Set(extra[i], extra[i+1])
		}
		p, err := b.NewPage(ctx, user, e.Server.URL+"/live.html?"+q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	type pageState struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Tracks int    `json:"tracks"`
	}
	// eval bounds each DevTools call on its own, so a stuck one names itself.
	eval := func(p *browser.Page, expr string, out any) error {
		c, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if err := p.Eval(c, expr, out); err != nil {
			return fmt.Errorf("evaluating %s: %w", expr, err)
		}
		return nil
	}
	wait := func(p *browser.Page, what string, cond func(s pageState, frames int) bool) {
		t.Helper()
		var s pageState
		var frames int
		for {
			if err := eval(p, "window.qstate || {status:'loading'}", &s); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			_ = eval(p, "window.frames_ ? window.frames_() : -1", &frames)
			if s.Error != "" {
				t.Fatalf("%s: page error: %s", what, s.Error)
			}
			if cond(s, frames) {
				return
			}
			select {
			case <-ctx.Done():
				var logText string
				c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_ = p.Eval(c, "document.getElementById('log').textContent", &logText)
				cancel()
				t.Fatalf("%s: timed out; page state %+v, frames %d, page log:\n%s", what, s, frames, logText)
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	pub := page("host", "pub", "simulcast", "1")
	wait(pub, "publisher connected", func(s pageState, _ int) bool { return s.Status == "pub:connected" })
	view := page("viewer", "view")
	wait(view, "viewer decodes video", func(s pageState, frames int) bool { return s.Tracks == 2 && frames > 30 })

	// Simulcast: the viewer starts on a high layer (640 or 1280 wide: Chrome
	// adapts under CPU load); asking for the low layer switches it to a
	// smaller one, and it keeps decoding.
	width := func() int {
		var w int
		if err := eval(view, "document.getElementById('v').videoWidth", &w); err != nil {
			t.Fatal(err)
		}
		return w
	}
	waitWidth := func(what string, ok func(int) bool) int {
		t.Helper()
		for {
			w := width()
			if ok(w) {
				return w
			}
			select {
			case <-ctx.Done():
				t.Fatalf("%s: the viewer's video is %d wide", what, w)
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	w0 := waitWidth("high layer", func(w int) bool { return w >= 640 })
	if err := eval(view, "window.layer_('low')", nil); err != nil {
		t.Fatal(err)
	}
	waitWidth("switch to the low layer", func(w int) bool { return w > 0 && w <= w0/2 })
	var f0 int
	_ = eval(view, "window.frames_()", &f0)
	wait(view, "viewer decodes after the switch", func(_ pageState, frames int) bool { return frames > f0+30 })

	var got live.Info
	if err := func() error {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return hostC.Call(c, "live.get", map[string]any{"live": info.ID}, &got)
	}(); err != nil {
		t.Fatal(err)
	}
	if got.Viewers < 2 || len(got.Tracks) != 2 {
		t.Fatalf("live after the browsers joined: %+v", got)
	}
}

// TestBrowserSDKRecoversFailedConnections: pages of the browser SDK
// (sdk/qun.js) publish and watch a live. Each connection is then made to
// fail for real: the page restarts its ICE with credentials it does not
// use, so the server's ICE cannot succeed and, after MediaTimeout, it gives
// the connection up and pushes live.failed. The SDK says it is
// reconnecting and starts over — the publisher publishes again on a new
// connection, the viewer joins again for a new viewer connection — and
// the viewer decodes new frames after each.
func TestBrowserSDKRecoversFailedConnections(t *testing.T) {
	b := browser.Launch(t) // skips without Chromium, fails under CI=true
	e := newEnv(t, live.Config{MediaTimeout: 3 * time.Second})
	e.Mux.HandleFunc("/sdk.html", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, "testdata/sdk.html")
	})
	e.Mux.HandleFunc("/qun.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, "../sdk/qun.js")
	})
	e.groups.set("g:1", "host", qun.RoleMember)
	e.groups.set("g:1", "viewer", qun.RoleMember)
	info := startLive(t, e.Connect(t, "t1", "host"), "g:1")

	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	page := func(user, role string) *browser.Page {
		q := url.Values{"ws": {e.URL}, "token": {e.Token(t, "t1", user)}, "live": {info.ID}, "role": {role}}
		p, err := b.NewPage(ctx, user, e.Server.URL+"/sdk.html?"+q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	eval := func(p *browser.Page, expr string, out any) {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if err := p.Eval(c, expr, out); err != nil {
			t.Fatalf("evaluating %s: %v", expr, err)
		}
	}
	// wait polls cond on p for up to 30 s; the page must report no error.
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
	frames := func(p *browser.Page) int {
		var n int
		eval(p, "window.frames_()", &n)
		return n
	}

	pub := page("host", "pub")
	wait(pub, "host publishes", `qstate.status === "published"`)
	view := page("viewer", "view")
	wait(view, "viewer decodes video", `qstate.tracks === 2 && window.frames_() > 30`)

	// The publishing connection fails.
	eval(pub, `breakNext_("live.offer"), live._offer([], true).then(() => "restarting")`, nil)
	wait(pub, "publisher told and republished", `qstate.events.includes("reconnected:pub")`)
	f0 := frames(view)
	wait(view, "viewer decodes the republished video", fmt.Sprintf("qstate.tracks === 2 && window.frames_() > %d", f0+30))

	// The viewer connection fails.
	eval(view, `breakNext_("live.answer"), live._call("live.restart", {live: live.id}).then(() => "restarting")`, nil)
	wait(view, "viewer told and joined again", `qstate.events.includes("reconnected:sub")`)
	f1 := frames(view)
	wait(view, "viewer decodes on its new connection", fmt.Sprintf("qstate.tracks === 2 && window.frames_() > %d", f1+30))

	var events []string
	eval(view, "qstate.events", &events)
	if len(events) != 2 || events[0] != "reconnecting:sub" {
		t.Fatalf("viewer's events: %v", events)
	}
}
