package main

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/qunkit/qun/internal/browser"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startApp runs the example's whole server on a loopback port.
func startApp(t *testing.T) (*app, string) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	a, err := newApp(config{DataDir: t.TempDir(), BaseURL: base})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = a.handler
	srv.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		srv.Close()
	})
	return a, base
}

type step struct {
	t    *testing.T
	ctx  context.Context
	page *browser.Page
}

func (s step) do(js string) {
	s.t.Helper()
	if err := s.page.Eval(s.ctx, js, nil); err != nil {
		s.fail(err)
	}
}

func (s step) wait(cond string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.page.WaitFor(ctx, cond); err != nil {
		s.fail(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		s.t.Logf("slow step (%s): %.60s", d.Round(time.Millisecond), cond)
	}
}

func (s step) shot(name string) {
	s.t.Helper()
	if _, err := s.page.Screenshot(s.ctx, name); err != nil {
		s.t.Logf("screenshot %s: %v", name, err)
	}
}

func (s step) fail(err error) {
	s.t.Helper()
	s.shot("failure")
	s.t.Fatalf("%v\nconsole:\n%s", err, strings.Join(s.page.Console(), "\n"))
}

func loginAs(t *testing.T, ctx context.Context, b *browser.Browser, base, user string) step {
	t.Helper()
	p, err := b.NewPage(ctx, user, base+"/")
	if err != nil {
		t.Fatal(err)
	}
	s := step{t, ctx, p}
	s.wait(`document.querySelector("button[data-user=` + user + `]")`)
	s.shot("login")
	s.do(`document.querySelector("button[data-user=` + user + `]").click()`)
	s.wait(`location.pathname === "/room.html" && window.qunClient && window.qunClient.state === "open"`)
	return s
}

// TestFanGroupChatInBrowser is the chat story of the example, as two people
// would do it in two browser windows: the host creates a fan group and an
// invitation code, a fan joins with the code, and each sees the other's
// messages live; a recall disappears for both.
func TestFanGroupChatInBrowser(t *testing.T) {
	b := browser.Launch(t)
	_, base := startApp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	host := loginAs(t, ctx, b, base, "host")
	host.do(`document.getElementById("create-name").value = "小美的粉丝群"`)
	host.do(`document.getElementById("create").click()`)
	host.wait(`document.getElementById("group-name").textContent === "小美的粉丝群"`)
	host.do(`document.getElementById("announce-text").value = "今晚8点直播 Live at 8pm"`)
	host.do(`document.getElementById("announce").click()`)
	host.wait(`document.querySelector("[data-role=announcement]").textContent.includes("今晚8点直播")`)
	host.do(`document.getElementById("invite").click()`)
	host.wait(`document.querySelector("[data-code]")`)
	var code string
	if err := host.page.Eval(ctx, `document.querySelector("[data-code]").textContent.trim()`, &code); err != nil || code == "" {
		t.Fatalf("no invite code: %v", err)
	}
	host.shot("invite-code")

	fan := loginAs(t, ctx, b, base, "fan1")
	fan.do(`document.getElementById("code").value = "` + code + `"`)
	fan.do(`document.getElementById("join-code").click()`)
	fan.wait(`document.getElementById("confirm-join")`)
	fan.shot("preview")
	fan.do(`document.getElementById("confirm-join").click()`)
	fan.wait(`document.getElementById("group-name").textContent === "小美的粉丝群"`)
	fan.wait(`document.querySelector("[data-role=announcement]").textContent.includes("今晚8点直播")`)

	send := func(s step, text string) {
		s.do(`document.querySelector("[data-role=text]").value = ` + jsString(text))
		s.do(`document.querySelector("[data-role=composer] button").click()`)
	}
	hasMsg := func(text string) string {
		return `[...document.querySelectorAll(".msg .bubble")].some(b => b.textContent === ` + jsString(text) + `)`
	}
	send(fan, "主播好！Hello from a fan")
	host.wait(hasMsg("主播好！Hello from a fan"))
	send(host, "欢迎欢迎 Welcome!")
	fan.wait(hasMsg("欢迎欢迎 Welcome!"))
	host.wait(`document.getElementById("group-meta").textContent.startsWith("2 ")`)
	host.shot("chatting")
	fan.shot("chatting")

	// Moderation: an off-platform contact is refused and never shown.
	send(fan, "加我微信 wx: fan_abc123")
	fan.wait(`document.querySelector(".toast") && document.querySelector(".toast").textContent.includes("Not sent")`)
	time.Sleep(300 * time.Millisecond)
	host.do(`void 0`)
	var leaked bool
	host.page.Eval(ctx, `[...document.querySelectorAll(".msg .bubble")].some(b => b.textContent.includes("fan_abc123"))`, &leaked)
	if leaked {
		t.Fatal("a rejected message reached the host")
	}

	// Recall: the fan takes a message back; both see it recalled.
	send(fan, "发错了 oops")
	host.wait(hasMsg("发错了 oops"))
	fan.do(`[...document.querySelectorAll(".msg.mine")].find(m => m.textContent.includes("发错了")).querySelector("[data-act=recall]").click()`)
	host.wait(`!(` + hasMsg("发错了 oops") + `) && document.querySelector(".recalled")`)
	fan.wait(`!(` + hasMsg("发错了 oops") + `)`)
	host.shot("recalled")

	// Reload: history comes back from the durable log, recall included.
	if err := fan.page.Navigate(ctx, base+"/room.html"); err != nil {
		t.Fatal(err)
	}
	fan.wait(hasMsg("欢迎欢迎 Welcome!") + ` && ` + hasMsg("主播好！Hello from a fan") + ` && !(` + hasMsg("发错了 oops") + `)`)
	fan.shot("reloaded")
}

func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}
