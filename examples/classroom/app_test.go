package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/chat"
	"github.com/qunkit/qun/examples/internal/demo"
	"github.com/qunkit/qun/examples/internal/e2e"
	"github.com/qunkit/qun/internal/qclient"
	"github.com/qunkit/qun/live"
)

// The class is seeded once: a second start finds it and changes nothing.
func TestSeedIsIdempotent(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	for range 2 {
		a, err := newApp(config{DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		mine, err := a.Chat.MyGroups(ctx, a.identity("teacher"), chat.Page{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(mine) != 1 || mine[0].Group.Name != className || mine[0].Group.MemberCount != len(users) {
			t.Fatalf("teacher's groups: %+v", mine)
		}
		if err := a.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// qaEnv runs the app with a class on air and connects users to its Hub.
type qaEnv struct {
	t    *testing.T
	a    *app
	ws   string
	live *live.Info
}

func newQAEnv(t *testing.T) *qaEnv {
	var a *app
	base := e2e.Serve(t, func(base string) (http.Handler, func(context.Context) error, error) {
		var err error
		a, err = newApp(config{DataDir: t.TempDir(), BaseURL: base, Network: demo.Flags{}.Network()})
		if err != nil {
			return nil, nil, err
		}
		return a.handler, a.Shutdown, nil
	})
	ctx := context.Background()
	mine, err := a.Chat.MyGroups(ctx, a.identity("teacher"), chat.Page{})
	if err != nil {
		t.Fatal(err)
	}
	info, err := a.Live.Start(ctx, a.identity("teacher"), live.StartInput{Group: mine[0].Group.ID, Title: "Lesson", Mode: live.ModeSmall})
	if err != nil {
		t.Fatal(err)
	}
	return &qaEnv{t: t, a: a, ws: "ws" + strings.TrimPrefix(base, "http") + "/qun/ws", live: info}
}

func (e *qaEnv) connect(id *qun.Identity) *qclient.Client {
	e.t.Helper()
	tok, err := e.a.Tokens.Issue(*id, time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := qclient.Connect(ctx, e.ws, tok, qclient.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

func call(t *testing.T, c *qclient.Client, op string, d any, out any) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Call(ctx, op, d, out)
}

func wantCode(t *testing.T, err error, code qun.Code) {
	t.Helper()
	if qun.ErrorCode(err) != code {
		t.Fatalf("got %v, want code %s", err, code)
	}
}

// nextEvent waits for the next room event of type typ on c.
func nextEvent(t *testing.T, c *qclient.Client, typ string) qclient.Frame {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case f := <-c.Frames():
			if f.T == "ev" && f.Type == typ {
				return f
			}
		case <-timeout:
			t.Fatalf("no %s event", typ)
		}
	}
}

// Q&A is live's (live.qa.*), reviewed by chat's keyword filter through the
// app's adapter: a student asks, the teacher (only) answers and features;
// everyone in class gets the events; the list has them; bad input and
// strangers change nothing.
func TestQA(t *testing.T) {
	e := newQAEnv(t)
	teacher := e.connect(e.a.identity("teacher"))
	amy := e.connect(e.a.identity("amy"))
	if err := call(t, teacher, "sub", map[string]any{"room": e.live.Room}, nil); err != nil {
		t.Fatal(err)
	}
	var q live.Question
	if err := call(t, amy, "live.qa.ask", map[string]any{"live": e.live.ID, "text": "  What is a channel?  "}, &q); err != nil {
		t.Fatal(err)
	}
	if q.ID != 1 || q.Text != "What is a channel?" || q.User != "amy" || q.Name == "" {
		t.Fatalf("question %+v", q)
	}
	ev := nextEvent(t, teacher, "live.qa.asked")
	if ev.Actor != "amy" || !strings.Contains(string(ev.D), "What is a channel?") {
		t.Fatalf("event %+v", ev)
	}

	wantCode(t, call(t, amy, "live.qa.answer", map[string]any{"live": e.live.ID, "id": 1, "text": "mine"}, nil), qun.CodeForbidden)
	wantCode(t, call(t, amy, "live.qa.feature", map[string]any{"live": e.live.ID, "id": 1}, nil), qun.CodeForbidden)
	wantCode(t, call(t, teacher, "live.qa.answer", map[string]any{"live": e.live.ID, "id": 9, "text": "?"}, nil), qun.CodeNotFound)
	wantCode(t, call(t, amy, "live.qa.ask", map[string]any{"live": e.live.ID, "text": "加我微信 wx: abc12345"}, nil), qun.CodeRejected)
	wantCode(t, call(t, teacher, "live.qa.answer", map[string]any{"live": e.live.ID, "id": 1, "text": "call me at 13812345678"}, nil), qun.CodeRejected)
	wantCode(t, call(t, amy, "live.qa.ask", map[string]any{"live": e.live.ID, "text": "   "}, nil), qun.CodeInvalid)
	wantCode(t, call(t, amy, "live.qa.ask", map[string]any{"live": e.live.ID, "text": strings.Repeat("x", 501)}, nil), qun.CodeInvalid)
	wantCode(t, call(t, amy, "live.qa.ask", map[string]any{"live": e.live.ID, "text": "hi", "extra": 1}, nil), qun.CodeInvalid)

	if err := call(t, teacher, "live.qa.answer", map[string]any{"live": e.live.ID, "id": 1, "text": "A typed pipe between goroutines."}, &q); err != nil {
		t.Fatal(err)
	}
	if q.Answer != "A typed pipe between goroutines." || q.AnsweredBy != "teacher" || q.Answerer == "" {
		t.Fatalf("answered %+v", q)
	}
	nextEvent(t, teacher, "live.qa.answered")
	if err := call(t, teacher, "live.qa.feature", map[string]any{"live": e.live.ID, "id": 1}, &q); err != nil || !q.Featured {
		t.Fatalf("featured %+v %v", q, err)
	}
	nextEvent(t, teacher, "live.qa.featured")

	var list live.QuestionPage
	if err := call(t, amy, "live.qa.list", map[string]any{"live": e.live.ID, "featured": true}, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Questions) != 1 || !list.Questions[0].Featured || list.Questions[0].Answer == "" {
		t.Fatalf("list %+v", list)
	}

	// Another school's user sees nothing of this class.
	other := e.connect(&qun.Identity{Tenant: "other-school", User: "amy", Name: "Amy"})
	wantCode(t, call(t, other, "live.qa.list", map[string]any{"live": e.live.ID}, nil), qun.CodeNotFound)
	wantCode(t, call(t, other, "live.qa.ask", map[string]any{"live": e.live.ID, "text": "hello"}, nil), qun.CodeNotFound)
	raw, _ := json.Marshal(list)
	if err := call(t, amy, "live.qa.list", map[string]any{"live": e.live.ID}, &list); err != nil || len(list.Questions) != 1 {
		t.Fatalf("after refusals: %s %v", raw, err)
	}
}
