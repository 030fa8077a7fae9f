// Package cdp starts a headless Chromium and drives pages over the
// DevTools protocol: just enough (open a page, evaluate JavaScript) for
// live's browser test.
package cdp

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Find returns the Chromium binary: $CHROMIUM, else chromium,
// chromium-browser, google-chrome on PATH, or "".
func Find() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// Browser is a running headless Chromium.
type Browser struct {
	cmd  *exec.Cmd
	conn *websocket.Conn

	mu      sync.Mutex
	nextID  int64
	waiting map[int64]chan reply
	done    chan struct{}
	err     error
}

type reply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// Launch starts Chromium with fake media devices and connects to it.
func Launch(ctx context.Context, bin, userDataDir string, extraArgs ...string) (*Browser, error) {
	args := []string{
		"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
		"--autoplay-policy=no-user-gesture-required",
		"--disable-features=WebRtcHideLocalIpsWithMdns",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--no-first-run", "--no-default-browser-check",
		"--user-data-dir=" + userDataDir, "--remote-debugging-port=0", "about:blank",
	}
	cmd := exec.Command(bin, append(args, extraArgs...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	b := &Browser{cmd: cmd, waiting: map[int64]chan reply{}, done: make(chan struct{})}
	url := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			if i := strings.Index(line, "DevTools listening on "); i >= 0 {
				select {
				case url <- strings.TrimSpace(line[i+len("DevTools listening on "):]):
				default:
				}
			}
		}
	}()
	var u string
	select {
	case u = <-url:
	case <-ctx.Done():
		b.kill()
		return nil, fmt.Errorf("chromium did not start: %w", ctx.Err())
	}
	conn, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		b.kill()
		return nil, err
	}
	conn.SetReadLimit(64 << 20)
	b.conn = conn
	go b.read()
	return b, nil
}

func (b *Browser) kill() {
	_ = b.cmd.Process.Kill()
	_ = b.cmd.Wait()
}

func (b *Browser) read() {
	defer close(b.done)
	for {
		_, data, err := b.conn.Read(context.Background())
		if err != nil {
			b.err = err
			return
		}
		var m struct {
			ID int64 `json:"id"`
			reply
		}
		if json.Unmarshal(data, &m) != nil || m.ID == 0 {
			continue // an event
		}
		b.mu.Lock()
		ch := b.waiting[m.ID]
		delete(b.waiting, m.ID)
		b.mu.Unlock()
		if ch != nil {
			ch <- m.reply
		}
	}
}

// Call sends a DevTools command (to a page when session is not "").
func (b *Browser) Call(ctx context.Context, session, method string, params any, out any) error {
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	ch := make(chan reply, 1)
	b.waiting[id] = ch
	b.mu.Unlock()
	msg := map[string]any{"id": id, "method": method, "params": params}
	if session != "" {
		msg["sessionId"] = session
	}
	data, _ := json.Marshal(msg)
	if err := b.conn.Write(ctx, websocket.MessageText, data); err != nil {
		return err
	}
	select {
	case r := <-ch:
		if r.Error != nil {
			return fmt.Errorf("%s: %s", method, r.Error.Message)
		}
		if out != nil {
			return json.Unmarshal(r.Result, out)
		}
		return nil
	case <-b.done:
		return fmt.Errorf("%s: browser connection ended: %v", method, b.err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Page is one tab.
type Page struct {
	b       *Browser
	session string
}

// Open opens url in a new tab.
func (b *Browser) Open(ctx context.Context, url string) (*Page, error) {
	var t struct {
		TargetID string `json:"targetId"`
	}
	if err := b.Call(ctx, "", "Target.createTarget", map[string]any{"url": url}, &t); err != nil {
		return nil, err
	}
	var s struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.Call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": t.TargetID, "flatten": true}, &s); err != nil {
		return nil, err
	}
	return &Page{b: b, session: s.SessionID}, nil
}

// Eval evaluates a JavaScript expression (awaiting a promise) into out.
func (p *Page) Eval(ctx context.Context, expr string, out any) error {
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := p.b.Call(ctx, p.session, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &r); err != nil {
		return err
	}
	if r.Exception != nil {
		return errors.New("javascript: " + r.Exception.Text)
	}
	if out != nil && len(r.Result.Value) > 0 {
		return json.Unmarshal(r.Result.Value, out)
	}
	return nil
}

// Close closes the browser and waits for it to exit. Idempotent enough:
// call once.
func (b *Browser) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = b.Call(ctx, "", "Browser.close", nil, nil)
	cancel()
	_ = b.conn.Close(websocket.StatusNormalClosure, "")
	<-b.done
	exited := make(chan struct{})
	go func() { _ = b.cmd.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = b.cmd.Process.Kill()
		<-exited
	}
}
