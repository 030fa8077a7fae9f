// Package e2e holds what the example apps' end-to-end tests share: running
// an app on a loopback port and driving its pages in headless Chromium
// (internal/browser) step by step, with a screenshot of each step.
package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/qunkit/qun/internal/browser"
)

// Serve runs the app build makes (given its base URL) on a loopback port
// until the test ends, shutting it down first; it returns the base URL.
func Serve(t *testing.T, build func(base string) (http.Handler, func(context.Context) error, error)) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	h, shutdown, err := build(base)
	if err != nil {
		srv.Listener.Close()
		t.Fatal(err)
	}
	srv.Config.Handler = h
	srv.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		srv.Close()
	})
	return base
}

// Page is one browser tab of a test: each method fails the test (with a
// screenshot and the page's console) when the page does not do what is asked.
type Page struct {
	T    *testing.T
	Ctx  context.Context
	P    *browser.Page
	Name string
}

// Do evaluates js.
func (s *Page) Do(js string) {
	s.T.Helper()
	if err := s.P.Eval(s.Ctx, js, nil); err != nil {
		s.Fail(err)
	}
}

// Eval evaluates js into out.
func (s *Page) Eval(js string, out any) {
	s.T.Helper()
	if err := s.P.Eval(s.Ctx, js, out); err != nil {
		s.Fail(err)
	}
}

// Click clicks the element selector names.
func (s *Page) Click(selector string) {
	s.T.Helper()
	s.Do(`(() => { const el = document.querySelector(` + JS(selector) + `); if (!el) throw new Error("no element " + ` + JS(selector) + `); el.click(); })()`)
}

// Fill sets an input's value.
func (s *Page) Fill(selector, value string) {
	s.T.Helper()
	s.Do(`document.querySelector(` + JS(selector) + `).value = ` + JS(value))
}

// Wait waits up to 45 s for a JavaScript condition, logging slow steps.
func (s *Page) Wait(cond string) {
	s.T.Helper()
	ctx, cancel := context.WithTimeout(s.Ctx, 45*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.P.WaitFor(ctx, cond); err != nil {
		s.Fail(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		s.T.Logf("%s: slow step (%s): %.80s", s.Name, d.Round(time.Millisecond), cond)
	}
}

// Visible is a condition: the element exists and is shown.
func Visible(selector string) string {
	return `(() => { const el = document.querySelector(` + JS(selector) + `); return !!el && el.getClientRects().length > 0 && !el.closest(".hidden"); })()`
}

// Shot writes a screenshot of the step.
func (s *Page) Shot(name string) {
	s.T.Helper()
	if _, err := s.P.Screenshot(s.Ctx, name); err != nil {
		s.T.Logf("screenshot %s: %v", name, err)
	}
}

// Fail ends the test with a screenshot and the page's console.
func (s *Page) Fail(err error) {
	s.T.Helper()
	s.Shot("failure")
	// A page may define window.qunDebug() to say more (media stats).
	var debug any
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.P.Eval(ctx, `window.qunDebug ? window.qunDebug() : null`, &debug)
	s.T.Fatalf("%v\nconsole of %s:\n%s\ndebug: %v", err, s.Name, strings.Join(s.P.Console(), "\n"), debug)
}

// Login opens base in a new tab and logs in as the demo user, then waits
// until path is loaded with a connected client (window.qunClient).
func Login(t *testing.T, ctx context.Context, b *browser.Browser, base, user, path string) *Page {
	t.Helper()
	p, err := b.NewPage(ctx, user, base+"/")
	if err != nil {
		t.Fatal(err)
	}
	s := &Page{T: t, Ctx: ctx, P: p, Name: user}
	s.Wait(`document.querySelector("button[data-user=` + user + `]")`)
	s.Click(`button[data-user=` + user + `]`)
	s.Wait(`location.pathname === ` + JS(path) + ` && window.qunClient && window.qunClient.state === "open"`)
	return s
}

// JS quotes s as a JavaScript string literal.
func JS(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Draw drags the pointer across a canvas through points given as fractions
// of its box, in about 50 ms steps, as a person drawing would.
func (s *Page) Draw(canvas string, pts [][2]float64) {
	s.T.Helper()
	b, _ := json.Marshal(pts)
	s.Do(`(async () => {
		const c = document.querySelector(` + JS(canvas) + `);
		const r = c.getBoundingClientRect();
		const pts = ` + string(b) + `;
		const ev = (type, [x, y]) => c.dispatchEvent(new PointerEvent(type, { bubbles: true, pointerId: 1, pointerType: "mouse", isPrimary: true,
			buttons: type === "pointerup" ? 0 : 1, pressure: type === "pointerup" ? 0 : 0.5, clientX: r.left + x * r.width, clientY: r.top + y * r.height }));
		ev("pointerdown", pts[0]);
		for (const p of pts.slice(1)) { await new Promise(f => setTimeout(f, 50)); ev("pointermove", p); }
		ev("pointerup", pts[pts.length - 1]);
	})()`)
}

// Pixel is a condition: the canvas pixel at (x, y) (fractions of its box)
// satisfies test, a JavaScript expression over r, g, b.
func Pixel(canvas string, x, y float64, test string) string {
	b, _ := json.Marshal([]float64{x, y})
	return `(() => { const c = document.querySelector(` + JS(canvas) + `); if (!c || !c.width) return false;
		const [x, y] = ` + string(b) + `;
		const [r, g, b] = c.getContext("2d").getImageData(Math.floor(x * c.width), Math.floor(y * c.height), 1, 1).data;
		return ` + test + `; })()`
}
