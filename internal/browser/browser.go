// Package browser drives a real headless Chromium over the DevTools
// protocol for qun's end-to-end tests: open pages, evaluate JavaScript, wait
// for conditions, take screenshots. Chromium starts with fake camera and
// microphone devices so WebRTC pages can publish.
//
// Tests call Launch, which skips the test when Chromium is missing — except
// under CI=true, where a missing browser is a failure.
package browser

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Path finds the Chromium binary, or "".
func Path() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Browser is one Chromium process.
type Browser struct {
	cmd    *exec.Cmd
	conn   *websocket.Conn
	nextID atomic.Int64
	mu     sync.Mutex
	wait   map[int64]chan reply
	pages  map[string]*Page // by session id
	done   chan struct{}
	outDir string
}

type reply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

type message struct {
	ID        int64           `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	reply
}

var listening = regexp.MustCompile(`DevTools listening on (ws://\S+)`)

// Launch starts Chromium for t and closes it when t ends. Screenshots go
// to testout/<test name>/ under the module root's working directory of the
// test (the package directory), or $QUN_TEST_OUT if set.
func Launch(t testing.TB) *Browser {
	t.Helper()
	bin := Path()
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is required under CI=true (apt-get install chromium)")
		}
		t.Skip("chromium not installed (apt-get install chromium); skipping browser test")
	}
	dir := t.TempDir()
	cmd := exec.Command(bin,
		"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
		"--autoplay-policy=no-user-gesture-required",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-quic", "--no-first-run", "--no-default-browser-check", "--mute-audio",
		"--disable-features=Translate,MediaRouter,OptimizationHints",
		// Every page of a test plays a part at once (host, viewer, co-host):
		// none may be throttled or have its media suspended for being a
		// background tab.
		"--disable-background-timer-throttling", "--disable-backgrounding-occluded-windows",
		"--disable-renderer-backgrounding", "--disable-background-media-suspend",
		"--remote-debugging-port=0", "--user-data-dir="+dir, "about:blank")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil && !sent {
				urlc <- m[1]
				sent = true
			}
		}
	}()
	var wsURL string
	select {
	case wsURL = <-urlc:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("chromium did not start within 30s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, wsURL, nil)
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal(err)
	}
	conn.SetReadLimit(64 << 20)
	out := os.Getenv("QUN_TEST_OUT")
	if out == "" {
		out = "testout"
	}
	b := &Browser{cmd: cmd, conn: conn, wait: map[int64]chan reply{}, pages: map[string]*Page{}, done: make(chan struct{}),
		outDir: filepath.Join(out, strings.ReplaceAll(t.Name(), "/", "_"))}
	os.RemoveAll(b.outDir) // this run's screenshots only
	go b.read()
	t.Cleanup(b.Close)
	return b
}

// Close ends the browser process.
func (b *Browser) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_, _ = b.call(ctx, "", "Browser.close", nil)
	cancel()
	b.conn.CloseNow()
	<-b.done
	exited := make(chan struct{})
	go func() { b.cmd.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		b.cmd.Process.Kill()
		<-exited
	}
}

func (b *Browser) read() {
	defer close(b.done)
	for {
		_, data, err := b.conn.Read(context.Background())
		if err != nil {
			b.mu.Lock()
			for id, ch := range b.wait {
				ch <- reply{Error: &struct {
					Message string `json:"message"`
				}{"browser connection closed"}}
				delete(b.wait, id)
			}
			b.mu.Unlock()
			return
		}
		var m message
		if json.Unmarshal(data, &m) != nil {
			continue
		}
		if m.ID != 0 {
			b.mu.Lock()
			ch := b.wait[m.ID]
			delete(b.wait, m.ID)
			b.mu.Unlock()
			if ch != nil {
				ch <- m.reply
			}
			continue
		}
		b.mu.Lock()
		p := b.pages[m.SessionID]
		b.mu.Unlock()
		if p != nil {
			p.event(m.Method, m.Params)
		}
	}
}

func (b *Browser) call(ctx context.Context, session, method string, params any) (json.RawMessage, error) {
	id := b.nextID.Add(1)
	var raw json.RawMessage
	if params != nil {
		raw, _ = json.Marshal(params)
	}
	msg, _ := json.Marshal(struct {
		ID        int64           `json:"id"`
		Method    string          `json:"method"`
		Params    json.RawMessage `json:"params,omitempty"`
		SessionID string          `json:"sessionId,omitempty"`
	}{id, method, raw, session})
	ch := make(chan reply, 1)
	b.mu.Lock()
	b.wait[id] = ch
	b.mu.Unlock()
	if err := b.conn.Write(ctx, websocket.MessageText, msg); err != nil {
		b.mu.Lock()
		delete(b.wait, id)
		b.mu.Unlock()
		return nil, err
	}
	select {
	case r := <-ch:
		if r.Error != nil {
			return nil, fmt.Errorf("%s: %s", method, r.Error.Message)
		}
		return r.Result, nil
	case <-ctx.Done():
		b.mu.Lock()
		delete(b.wait, id)
		b.mu.Unlock()
		return nil, ctx.Err()
	}
}

// Page is one tab.
type Page struct {
	b       *Browser
	session string
	name    string
	mu      sync.Mutex
	console []string
	shots   int
}

// NewPage opens url in a new tab; name labels its screenshots and logs.
func (b *Browser) NewPage(ctx context.Context, name, url string) (*Page, error) {
	res, err := b.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"})
	if err != nil {
		return nil, err
	}
	var target struct {
		TargetID string `json:"targetId"`
	}
	json.Unmarshal(res, &target)
	res, err = b.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true})
	if err != nil {
		return nil, err
	}
	var att struct {
		SessionID string `json:"sessionId"`
	}
	json.Unmarshal(res, &att)
	p := &Page{b: b, session: att.SessionID, name: name}
	b.mu.Lock()
	b.pages[p.session] = p
	b.mu.Unlock()
	for _, m := range []string{"Runtime.enable", "Page.enable"} {
		if _, err := b.call(ctx, p.session, m, nil); err != nil {
			return nil, err
		}
	}
	if err := p.SetViewport(ctx, 1280, 800, false); err != nil {
		return nil, err
	}
	return p, p.Navigate(ctx, url)
}

// SetViewport sizes the page's window in CSS pixels; mobile emulates a
// phone (touch, mobile viewport rules).
func (p *Page) SetViewport(ctx context.Context, width, height int, mobile bool) error {
	scale := 1
	if mobile {
		scale = 2
	}
	_, err := p.b.call(ctx, p.session, "Emulation.setDeviceMetricsOverride",
		map[string]any{"width": width, "height": height, "deviceScaleFactor": scale, "mobile": mobile})
	return err
}

// Close closes the tab (a person leaving).
func (p *Page) Close(ctx context.Context) error {
	_, err := p.b.call(ctx, p.session, "Page.close", nil)
	p.b.mu.Lock()
	delete(p.b.pages, p.session)
	p.b.mu.Unlock()
	return err
}

// Navigate loads url and waits for the document to be ready.
func (p *Page) Navigate(ctx context.Context, url string) error {
	if _, err := p.b.call(ctx, p.session, "Page.navigate", map[string]any{"url": url}); err != nil {
		return err
	}
	return p.WaitFor(ctx, `document.readyState === "complete"`)
}

func (p *Page) event(method string, params json.RawMessage) {
	switch method {
	case "Runtime.consoleAPICalled":
		var e struct {
			Type string `json:"type"`
			Args []struct {
				Value       any    `json:"value"`
				Description string `json:"description"`
			} `json:"args"`
		}
		json.Unmarshal(params, &e)
		parts := []string{e.Type + ":"}
		for _, a := range e.Args {
			if a.Value != nil {
				parts = append(parts, fmt.Sprint(a.Value))
			} else {
				parts = append(parts, a.Description)
			}
		}
		p.log(strings.Join(parts, " "))
	case "Runtime.exceptionThrown":
		var e struct {
			Details struct {
				Text      string `json:"text"`
				Exception struct {
					Description string `json:"description"`
				} `json:"exception"`
			} `json:"exceptionDetails"`
		}
		json.Unmarshal(params, &e)
		p.log("exception: " + e.Details.Text + " " + e.Details.Exception.Description)
	}
}

func (p *Page) log(s string) {
	p.mu.Lock()
	p.console = append(p.console, s)
	p.mu.Unlock()
}

// Console returns what the page logged (console calls and uncaught exceptions).
func (p *Page) Console() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.console...)
}

// Eval evaluates a JavaScript expression (awaiting a returned promise) and
// decodes its JSON-able value into out (if not nil).
func (p *Page) Eval(ctx context.Context, expr string, out any) error {
	res, err := p.b.call(ctx, p.session, "Runtime.evaluate", map[string]any{
		"expression": expr, "awaitPromise": true, "returnByValue": true, "userGesture": true,
	})
	if err != nil {
		return err
	}
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		return err
	}
	if r.Exception != nil {
		return fmt.Errorf("%s: %s %s", p.name, r.Exception.Text, r.Exception.Exception.Description)
	}
	if out != nil && len(r.Result.Value) > 0 {
		return json.Unmarshal(r.Result.Value, out)
	}
	return nil
}

// WaitFor polls a JavaScript condition until it is truthy or ctx ends.
func (p *Page) WaitFor(ctx context.Context, cond string) error {
	var lastErr error
	for {
		var ok bool
		err := p.Eval(ctx, "!!("+cond+")", &ok)
		if err == nil && ok {
			return nil
		}
		if err != nil {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return fmt.Errorf("%s: waiting for %s: %w (last error: %v)", p.name, cond, ctx.Err(), lastErr)
			}
			return fmt.Errorf("%s: waiting for %s: %w", p.name, cond, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Screenshot writes a PNG of the page under the test's output directory,
// numbered in order, and returns its path.
func (p *Page) Screenshot(ctx context.Context, step string) (string, error) {
	// A background tab may never produce the frame a screenshot waits for:
	// bring the page to the front first, and never wait long.
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := p.b.call(ctx, p.session, "Page.bringToFront", nil); err != nil {
		return "", err
	}
	res, err := p.b.call(ctx, p.session, "Page.captureScreenshot", map[string]any{"format": "png"})
	if err != nil {
		return "", err
	}
	var r struct {
		Data string `json:"data"`
	}
	json.Unmarshal(res, &r)
	png, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(p.b.outDir, 0o755); err != nil {
		return "", err
	}
	p.mu.Lock()
	p.shots++
	n := p.shots
	p.mu.Unlock()
	path := filepath.Join(p.b.outDir, fmt.Sprintf("%s-%02d-%s.png", p.name, n, step))
	return path, os.WriteFile(path, png, 0o644)
}

// ErrNoBrowser is returned where a browser is needed but missing.
var ErrNoBrowser = errors.New("browser: chromium not found")
