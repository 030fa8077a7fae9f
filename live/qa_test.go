package live_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/qclient"
	"github.com/qunkit/qun/internal/qtest"
	"github.com/qunkit/qun/live"
)

// reviewQA refuses contact details, masks a rude word and fails on "boom".
func reviewQA(_ context.Context, _ *qun.Identity, text string) (string, error) {
	switch {
	case strings.Contains(text, "wx:"):
		return "", qun.Errorf(qun.CodeRejected, "no contact details")
	case strings.Contains(text, "boom"):
		return "", errors.New("reviewer down")
	}
	return strings.ReplaceAll(text, "darn", "****"), nil
}

func question(t *testing.T, f qclient.Frame) live.Question {
	t.Helper()
	var q live.Question
	if err := json.Unmarshal(f.D, &q); err != nil {
		t.Fatal(err)
	}
	return q
}

func TestQA(t *testing.T) {
	store, err := live.NewSQLiteStore(qtest.SQLite(t))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, live.Config{Store: store, Review: reviewQA, QuestionBurst: 3, QuestionsPerMinute: 0.001, MaxQuestionsPerUser: 4})
	e.groups.set("g:1", "host", qun.RoleMember)
	e.groups.set("g:1", "mod", qun.RoleModerator)
	e.groups.set("g:1", "amy", qun.RoleViewer)
	e.groups.set("g:1", "bob", qun.RoleMember)
	e.groups.set("g:2", "eve", qun.RoleMember)
	hostC := e.Connect(t, "t1", "host")
	modC := e.Connect(t, "t1", "mod")
	amy := e.Connect(t, "t1", "amy")
	bob := e.Connect(t, "t1", "bob")
	eve := e.Connect(t, "t1", "eve")
	foreign := e.Connect(t, "t2", "amy")

	var sched live.Record
	qtest.Call(t, hostC, "live.schedule", map[string]any{"group": "g:1", "title": "Later", "at": time.Now().Add(time.Hour).UnixMilli()}, &sched)
	qtest.CallErr(t, amy, "live.qa.ask", map[string]any{"live": sched.ID, "text": "early?"}, qun.CodeConflict)

	info := startLive(t, hostC, "g:1")
	lv := info.ID
	qtest.Call(t, amy, "sub", map[string]any{"room": info.Room}, nil)

	// Any viewer asks; the text is trimmed and reviewed; everyone in the room sees it.
	var q live.Question
	qtest.Call(t, amy, "live.qa.ask", map[string]any{"live": lv, "text": "  Why, darn it?  "}, &q)
	if q.ID != 1 || q.Text != "Why, **** it?" || q.User != "amy" || q.Name != "amy" || q.Featured || q.Live != lv {
		t.Fatalf("asked %+v", q)
	}
	if ev := qtest.NextEvent(t, amy, "live.qa.asked"); question(t, ev).ID != 1 || ev.Room != info.Room || ev.Actor != "amy" {
		t.Fatalf("asked event %+v", ev)
	}

	// Bad input changes nothing.
	qtest.CallErr(t, amy, "live.qa.ask", map[string]any{"live": lv, "text": "add me wx: abc"}, qun.CodeRejected)
	qtest.CallErr(t, amy, "live.qa.ask", map[string]any{"live": lv, "text": "boom"}, qun.CodeUnavailable)
	qtest.CallErr(t, amy, "live.qa.ask", map[string]any{"live": lv, "text": "   "}, qun.CodeInvalid)
	qtest.CallErr(t, amy, "live.qa.ask", map[string]any{"live": lv, "text": strings.Repeat("问", 501)}, qun.CodeInvalid)
	qtest.CallErr(t, amy, "live.qa.ask", map[string]any{"live": lv, "text": "hi", "extra": 1}, qun.CodeInvalid)

	// Roles: viewers and co-hosts neither answer nor feature; the host and moderators do.
	qtest.Call(t, bob, "live.stage.request", map[string]any{"live": lv}, nil)
	qtest.Call(t, hostC, "live.stage.accept", map[string]any{"live": lv, "user": "bob"}, nil)
	for _, c := range []*qclient.Client{amy, bob} {
		qtest.CallErr(t, c, "live.qa.answer", map[string]any{"live": lv, "id": 1, "text": "mine"}, qun.CodeForbidden)
		qtest.CallErr(t, c, "live.qa.feature", map[string]any{"live": lv, "id": 1}, qun.CodeForbidden)
	}
	qtest.CallErr(t, hostC, "live.qa.answer", map[string]any{"live": lv, "id": 9, "text": "?"}, qun.CodeNotFound)
	qtest.CallErr(t, hostC, "live.qa.answer", map[string]any{"live": lv, "id": 1, "text": strings.Repeat("x", 2001)}, qun.CodeInvalid)
	qtest.Call(t, modC, "live.qa.answer", map[string]any{"live": lv, "id": 1, "text": "Because."}, &q)
	if q.Answer != "Because." || q.AnsweredBy != "mod" || q.Answerer != "mod" || q.AnsweredAt == 0 {
		t.Fatalf("answered %+v", q)
	}
	if a := question(t, qtest.NextEvent(t, amy, "live.qa.answered")); a.Answer != "Because." {
		t.Fatalf("answered event %+v", a)
	}
	qtest.Call(t, hostC, "live.qa.feature", map[string]any{"live": lv, "id": 1}, &q)
	if !q.Featured || !question(t, qtest.NextEvent(t, amy, "live.qa.featured")).Featured {
		t.Fatalf("featured %+v", q)
	}

	// Others in the live ask too; the featured filter and paging.
	qtest.Call(t, bob, "live.qa.ask", map[string]any{"live": lv, "text": "q2"}, nil)
	qtest.Call(t, amy, "live.qa.ask", map[string]any{"live": lv, "text": "q3"}, nil)
	qtest.Call(t, hostC, "live.qa.feature", map[string]any{"live": lv, "id": 3}, nil)
	var page live.QuestionPage
	qtest.Call(t, bob, "live.qa.list", map[string]any{"live": lv, "limit": 2}, &page)
	if len(page.Questions) != 2 || page.Questions[0].ID != 1 || page.Questions[1].ID != 2 || !page.More {
		t.Fatalf("page 1 %+v", page)
	}
	page = live.QuestionPage{}
	qtest.Call(t, bob, "live.qa.list", map[string]any{"live": lv, "limit": 2, "after": 2}, &page)
	if len(page.Questions) != 1 || page.Questions[0].ID != 3 || page.More {
		t.Fatalf("page 2 %+v", page)
	}
	page = live.QuestionPage{}
	qtest.Call(t, amy, "live.qa.list", map[string]any{"live": lv, "featured": true}, &page)
	if len(page.Questions) != 2 || page.Questions[0].ID != 1 || page.Questions[1].ID != 3 || page.Questions[0].Answer != "Because." {
		t.Fatalf("featured %+v", page)
	}
	qtest.Call(t, modC, "live.qa.unfeature", map[string]any{"live": lv, "id": 3}, &q)
	if q.Featured || question(t, qtest.NextEvent(t, amy, "live.qa.unfeatured")).ID != 3 {
		t.Fatalf("unfeatured %+v", q)
	}
	qtest.CallErr(t, amy, "live.qa.list", map[string]any{"live": lv, "limit": 201}, qun.CodeInvalid)

	// Rate: amy's bucket (burst 3) is empty after her third accepted ask.
	qtest.Call(t, amy, "live.qa.ask", map[string]any{"live": lv, "text": "q4"}, nil)
	qtest.CallErr(t, amy, "live.qa.ask", map[string]any{"live": lv, "text": "q5"}, qun.CodeRateLimited)

	// Tenants and outsiders: not found, as everywhere.
	for _, c := range []*qclient.Client{eve, foreign} {
		qtest.CallErr(t, c, "live.qa.list", map[string]any{"live": lv}, qun.CodeNotFound)
		qtest.CallErr(t, c, "live.qa.ask", map[string]any{"live": lv, "text": "hello"}, qun.CodeNotFound)
	}

	// After the end: no more questions; the teacher still curates.
	qtest.Call(t, hostC, "live.end", map[string]any{"live": lv}, nil)
	qtest.CallErr(t, bob, "live.qa.ask", map[string]any{"live": lv, "text": "late"}, qun.CodeConflict)
	qtest.Call(t, hostC, "live.qa.feature", map[string]any{"live": lv, "id": 2}, nil)
	page = live.QuestionPage{}
	qtest.Call(t, bob, "live.qa.list", map[string]any{"live": lv}, &page)
	if len(page.Questions) != 4 || !page.Questions[1].Featured || page.More {
		t.Fatalf("after end %+v", page)
	}
}

// TestQAPerUserCap: a user's questions in one live are capped, rate aside.
func TestQAPerUserCap(t *testing.T) {
	e := newEnv(t, live.Config{MaxQuestionsPerUser: 2, QuestionBurst: 10})
	e.groups.set("g:1", "host", qun.RoleMember)
	hostC := e.Connect(t, "t1", "host")
	info := startLive(t, hostC, "g:1")
	for range 2 {
		qtest.Call(t, hostC, "live.qa.ask", map[string]any{"live": info.ID, "text": "q"}, nil)
	}
	qtest.CallErr(t, hostC, "live.qa.ask", map[string]any{"live": info.ID, "text": "q"}, qun.CodeExhausted)
}

// BenchmarkSQLiteAddQuestion measures storing a question (count, number,
// insert in one transaction) with 1,000 questions already in the live.
func BenchmarkSQLiteAddQuestion(b *testing.B) {
	ctx := context.Background()
	s, err := live.NewSQLiteStore(qtest.SQLite(b))
	if err != nil {
		b.Fatal(err)
	}
	ask := func(i int) {
		q := &live.Question{Tenant: "t1", Live: "a", User: qun.UserID("u" + strconv.Itoa(i%100)), Text: "What is a channel?"}
		if err := s.AddQuestion(ctx, q, 1<<30); err != nil {
			b.Fatal(err)
		}
	}
	for i := range 1000 {
		ask(i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ask(i)
		i++
	}
}
