// Package livetest is the conformance suite every live.Store must pass.
package livetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/live"
)

// RunStoreTests runs the suite against stores made by newStore (a fresh,
// empty store per call).
func RunStoreTests(t *testing.T, newStore func(t *testing.T) live.Store) {
	ctx := context.Background()
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rec := func(tenant qun.TenantID, id string, group qun.RoomID, st live.State, at time.Time) *live.Record {
		return &live.Record{Tenant: tenant, ID: id, Group: group, Host: "h", Title: "T " + id, Mode: live.ModeLarge, StageLimit: 1, State: st, CreatedAt: at}
	}

	t.Run("CreateGetUpdate", func(t *testing.T) {
		s := newStore(t)
		r := rec("t1", "a", "g:1", live.StateScheduled, base)
		r.ScheduledAt = base.Add(time.Hour)
		if err := s.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := s.Create(ctx, r); qun.ErrorCode(err) != qun.CodeConflict {
			t.Fatalf("duplicate create: %v", err)
		}
		got, err := s.Get(ctx, "t1", "a")
		if err != nil {
			t.Fatal(err)
		}
		if got.Tenant != "t1" || got.Group != "g:1" || got.Title != "T a" || !got.ScheduledAt.Equal(r.ScheduledAt) || !got.CreatedAt.Equal(base) {
			t.Fatalf("got %+v", got)
		}
		if _, err := s.Get(ctx, "t2", "a"); qun.ErrorCode(err) != qun.CodeNotFound {
			t.Fatalf("other tenant: %v", err)
		}
		got.State, got.Relays, got.StartedAt = live.StateLive, []qun.RoomID{"g:2"}, base.Add(time.Minute)
		got.Host, got.Group = "mallory", "g:evil" // immutable: ignored
		if err := s.Update(ctx, got); err != nil {
			t.Fatal(err)
		}
		again, _ := s.Get(ctx, "t1", "a")
		if again.State != live.StateLive || len(again.Relays) != 1 || again.Host != "h" || again.Group != "g:1" || !again.StartedAt.Equal(got.StartedAt) {
			t.Fatalf("after update %+v", again)
		}
		if err := s.Update(ctx, rec("t2", "a", "g:1", live.StateLive, base)); qun.ErrorCode(err) != qun.CodeNotFound {
			t.Fatalf("update other tenant: %v", err)
		}
	})

	t.Run("ListByGroup", func(t *testing.T) {
		s := newStore(t)
		for i, r := range []*live.Record{
			rec("t1", "a", "g:1", live.StateLive, base),
			rec("t1", "b", "g:1", live.StateEnded, base.Add(time.Second)),
			rec("t1", "c", "g:2", live.StateScheduled, base.Add(2*time.Second)),
			rec("t2", "d", "g:1", live.StateLive, base.Add(3*time.Second)),
		} {
			if err := s.Create(ctx, r); err != nil {
				t.Fatal(i, err)
			}
		}
		c, _ := s.Get(ctx, "t1", "c")
		c.Relays = []qun.RoomID{"g:1"}
		if err := s.Update(ctx, c); err != nil {
			t.Fatal(err)
		}
		open := []live.State{live.StateScheduled, live.StateLive, live.StatePaused}
		got, err := s.ListByGroup(ctx, "t1", "g:1", open, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].ID != "c" || got[1].ID != "a" {
			t.Fatalf("list %+v", got)
		}
		got, _ = s.ListByGroup(ctx, "t1", "g:1", open, 1)
		if len(got) != 1 || got[0].ID != "c" {
			t.Fatalf("limited list %+v", got)
		}
		c.Relays = nil
		_ = s.Update(ctx, c)
		got, _ = s.ListByGroup(ctx, "t1", "g:1", open, 10)
		if len(got) != 1 || got[0].ID != "a" {
			t.Fatalf("after unrelay %+v", got)
		}
	})

	t.Run("Reminders", func(t *testing.T) {
		s := newStore(t)
		if err := s.Create(ctx, rec("t1", "a", "g:1", live.StateScheduled, base)); err != nil {
			t.Fatal(err)
		}
		if err := s.SetReminder(ctx, "t2", "a", "u1", true); qun.ErrorCode(err) != qun.CodeNotFound {
			t.Fatalf("other tenant: %v", err)
		}
		for _, u := range []qun.UserID{"u3", "u1", "u2", "u1"} {
			if err := s.SetReminder(ctx, "t1", "a", u, true); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.SetReminder(ctx, "t1", "a", "u2", false); err != nil {
			t.Fatal(err)
		}
		got, err := s.Reminders(ctx, "t1", "a", "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0] != "u1" || got[1] != "u3" {
			t.Fatalf("reminders %v", got)
		}
		got, _ = s.Reminders(ctx, "t1", "a", "u1", 10)
		if len(got) != 1 || got[0] != "u3" {
			t.Fatalf("after u1: %v", got)
		}
		got, _ = s.Reminders(ctx, "t1", "a", "", 1)
		if len(got) != 1 {
			t.Fatalf("limit: %v", got)
		}
	})

	t.Run("Questions", func(t *testing.T) {
		s := newStore(t)
		ask := func(tenant qun.TenantID, liveID string, user qun.UserID, text string) *live.Question {
			t.Helper()
			q := &live.Question{Tenant: tenant, Live: liveID, User: user, Name: "N " + string(user), Text: text, Created: base.UnixMilli()}
			if err := s.AddQuestion(ctx, q, 3); err != nil {
				t.Fatal(err)
			}
			return q
		}
		for i, want := range []int64{1, 2, 3} {
			if q := ask("t1", "a", qun.UserID([]string{"u1", "u2", "u1"}[i]), "q"); q.ID != want {
				t.Fatalf("question %d got id %d", i, q.ID)
			}
		}
		if q := ask("t2", "a", "u1", "other tenant"); q.ID != 1 {
			t.Fatalf("other tenant numbers from 1: %d", q.ID)
		}
		if q := ask("t1", "b", "u1", "other live"); q.ID != 1 {
			t.Fatalf("other live numbers from 1: %d", q.ID)
		}
		ask("t1", "a", "u1", "third")
		if err := s.AddQuestion(ctx, &live.Question{Tenant: "t1", Live: "a", User: "u1", Text: "fourth"}, 3); qun.ErrorCode(err) != qun.CodeExhausted {
			t.Fatalf("fourth question: %v", err)
		}
		q, err := s.AnswerQuestion(ctx, "t1", "a", 2, live.Question{Answer: "yes", AnsweredBy: "h", Answerer: "Host", AnsweredAt: base.UnixMilli() + 5})
		if err != nil {
			t.Fatal(err)
		}
		if q.ID != 2 || q.User != "u2" || q.Name != "N u2" || q.Answer != "yes" || q.AnsweredBy != "h" || q.Answerer != "Host" || q.AnsweredAt != base.UnixMilli()+5 || q.Featured || q.Tenant != "t1" || q.Live != "a" {
			t.Fatalf("answered %+v", q)
		}
		if _, err := s.AnswerQuestion(ctx, "t2", "a", 2, live.Question{Answer: "x"}); qun.ErrorCode(err) != qun.CodeNotFound {
			t.Fatalf("answer in other tenant: %v", err)
		}
		if _, err := s.FeatureQuestion(ctx, "t1", "a", 9, true); qun.ErrorCode(err) != qun.CodeNotFound {
			t.Fatalf("feature unknown: %v", err)
		}
		for _, id := range []int64{2, 4, 3} {
			if q, err := s.FeatureQuestion(ctx, "t1", "a", id, true); err != nil || !q.Featured || q.ID != id {
				t.Fatalf("feature %d: %+v %v", id, q, err)
			}
		}
		if q, err := s.FeatureQuestion(ctx, "t1", "a", 3, false); err != nil || q.Featured {
			t.Fatalf("unfeature: %+v %v", q, err)
		}
		ids := func(qs []*live.Question, err error) []int64 {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			out := []int64{}
			for _, q := range qs {
				out = append(out, q.ID)
			}
			return out
		}
		check := func(what string, got []int64, want ...int64) {
			t.Helper()
			if !slices.Equal(got, want) {
				t.Fatalf("%s: %v, want %v", what, got, want)
			}
		}
		check("all", ids(s.Questions(ctx, "t1", "a", live.QuestionQuery{Limit: 10})), 1, 2, 3, 4)
		check("page 1", ids(s.Questions(ctx, "t1", "a", live.QuestionQuery{Limit: 2})), 1, 2)
		check("page 2", ids(s.Questions(ctx, "t1", "a", live.QuestionQuery{After: 2, Limit: 2})), 3, 4)
		check("featured", ids(s.Questions(ctx, "t1", "a", live.QuestionQuery{FeaturedOnly: true, Limit: 10})), 2, 4)
		check("featured after 2", ids(s.Questions(ctx, "t1", "a", live.QuestionQuery{FeaturedOnly: true, After: 2, Limit: 10})), 4)
		check("other tenant", ids(s.Questions(ctx, "t2", "a", live.QuestionQuery{Limit: 10})), 1)
		check("unknown live", ids(s.Questions(ctx, "t1", "zz", live.QuestionQuery{Limit: 10})))
		all, _ := s.Questions(ctx, "t1", "a", live.QuestionQuery{Limit: 1})
		if q := all[0]; q.Text != "q" || q.User != "u1" || q.Created != base.UnixMilli() || q.Answer != "" {
			t.Fatalf("stored %+v", q)
		}
	})

	t.Run("ConcurrentQuestions", func(t *testing.T) {
		s := newStore(t)
		const n = 8
		errs := make(chan error, n)
		ids := make(chan int64, n)
		for i := range n {
			go func() {
				q := &live.Question{Tenant: "t1", Live: "a", User: qun.UserID(fmt.Sprint("u", i)), Text: "q"}
				errs <- s.AddQuestion(ctx, q, 1)
				ids <- q.ID
			}()
		}
		seen := map[int64]bool{}
		for range n {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
			seen[<-ids] = true
		}
		for id := int64(1); id <= n; id++ {
			if !seen[id] {
				t.Fatalf("ids %v: %d missing", seen, id)
			}
		}
	})
}
