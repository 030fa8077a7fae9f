package chat_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/chat"
	"github.com/qunkit/qun/internal/qclient"
	"github.com/qunkit/qun/internal/qtest"
)

func TestCheckIn(t *testing.T) {
	e := newEnv(t, nil)
	ann := e.owner(t, "t1", "ann")
	bob := e.Connect(t, "t1", "bob")
	g := createGroup(t, ann, "Morning run", nil)
	join(t, ann, bob, g)
	sub(t, ann, g)

	// The clock starts at 09:00 UTC = 17:00 in China: "today" is Beijing's.
	c1 := call[chat.CheckIn](t, bob, "chat.checkin", obj{"group": g})
	if c1.Day != "2025-11-20" || c1.Streak != 1 || c1.N != 1 {
		t.Fatalf("check-in %+v", c1)
	}
	qtest.NextEvent(t, ann, chat.EvCheckIn)
	qtest.CallErr(t, bob, "chat.checkin", obj{"group": g}, qun.CodeConflict)
	call[chat.CheckIn](t, ann, "chat.checkin", obj{"group": g})

	// 16:00 UTC is past midnight in Beijing: a new day continues the streak.
	e.clock.Advance(7 * time.Hour)
	if c := call[chat.CheckIn](t, bob, "chat.checkin", obj{"group": g}); c.Day != "2025-11-21" || c.Streak != 2 || c.N != 1 {
		t.Fatalf("day 2 %+v", c)
	}
	// Skipping a day restarts it.
	e.clock.Advance(48 * time.Hour)
	if c := call[chat.CheckIn](t, bob, "chat.checkin", obj{"group": g}); c.Streak != 1 {
		t.Fatalf("after a gap %+v", c)
	}
	att := call[chat.Attendance](t, ann, "chat.checkins", obj{"group": g, "day": "2025-11-20"})
	if att.Count != 2 || att.Members != 2 || len(att.CheckIns) != 2 || att.CheckIns[0].User != "bob" || att.CheckIns[1].User != "ann" {
		t.Fatalf("attendance %+v", att)
	}
	if today := call[chat.Attendance](t, ann, "chat.checkins", obj{"group": g}); today.Day != "2025-11-23" || today.Count != 1 {
		t.Fatalf("today %+v", today)
	}
	qtest.CallErr(t, ann, "chat.checkins", obj{"group": g, "day": "20-11-2025"}, qun.CodeInvalid)
}

func TestChain(t *testing.T) {
	e := newEnv(t, nil)
	ann := e.owner(t, "t1", "ann")
	bob, carl, dan := e.Connect(t, "t1", "bob"), e.Connect(t, "t1", "carl"), e.Connect(t, "t1", "dan")
	g := createGroup(t, ann, "Sign-ups", nil)
	for _, c := range []*qclientT{bob, carl, dan} {
		join(t, ann, c, g)
	}
	sub(t, ann, g)
	ch := call[chat.Chain](t, bob, "chat.chain.create", obj{"group": g, "title": "Saturday hike", "limit": 2})
	qtest.NextEvent(t, ann, chat.EvChain)
	call[chat.ChainEntry](t, bob, "chat.chain.join", obj{"group": g, "chain": ch.ID, "note": "+1 friend"})
	qtest.CallErr(t, bob, "chat.chain.join", obj{"group": g, "chain": ch.ID}, qun.CodeConflict)
	call[chat.ChainEntry](t, carl, "chat.chain.join", obj{"group": g, "chain": ch.ID})
	qtest.CallErr(t, dan, "chat.chain.join", obj{"group": g, "chain": ch.ID}, qun.CodeExhausted)
	call[struct{}](t, bob, "chat.chain.leave", obj{"group": g, "chain": ch.ID})
	call[chat.ChainEntry](t, dan, "chat.chain.join", obj{"group": g, "chain": ch.ID, "note": "late"})
	ev := qtest.NextEvent(t, ann, chat.EvChainEntry)
	if !contains(string(ev.D), `"count":1`) {
		t.Fatalf("entry event %s", ev.D)
	}
	v := call[chat.ChainView](t, ann, "chat.chain.get", obj{"group": g, "chain": ch.ID})
	if v.Chain.Count != 2 || len(v.Entries) != 2 || v.Entries[0].User != "carl" || v.Entries[1].User != "dan" || v.Entries[1].Note != "late" {
		t.Fatalf("chain %+v %+v", v.Chain, v.Entries)
	}
	// Only the creator or an admin closes it; then it takes no entries.
	qtest.CallErr(t, carl, "chat.chain.close", obj{"group": g, "chain": ch.ID}, qun.CodeForbidden)
	call[struct{}](t, bob, "chat.chain.close", obj{"group": g, "chain": ch.ID})
	qtest.CallErr(t, dan, "chat.chain.leave", obj{"group": g, "chain": ch.ID}, qun.CodeConflict)
	qtest.CallErr(t, bob, "chat.chain.join", obj{"group": g, "chain": ch.ID}, qun.CodeConflict)
	if v := call[chat.ChainView](t, ann, "chat.chain.get", obj{"group": g, "chain": ch.ID}); !v.Chain.Closed || len(v.Entries) != 2 {
		t.Fatalf("closed chain %+v", v)
	}
}

// qclientT shortens the client type in tables.
type qclientT = qclient.Client

func TestChainDeadlineAndBounds(t *testing.T) {
	e := newEnv(t, nil)
	ann := e.owner(t, "t1", "ann")
	g := createGroup(t, ann, "Deadlines", nil)
	now := e.clock.Now().UnixMilli()
	qtest.CallErr(t, ann, "chat.chain.create", obj{"group": g, "title": "past", "deadline": now - 1}, qun.CodeInvalid)
	qtest.CallErr(t, ann, "chat.chain.create", obj{"group": g, "title": "far", "deadline": now + 91*24*3600*1000}, qun.CodeInvalid)
	qtest.CallErr(t, ann, "chat.chain.create", obj{"group": g, "title": "huge", "limit": 1001}, qun.CodeInvalid)
	ch := call[chat.Chain](t, ann, "chat.chain.create", obj{"group": g, "title": "soon", "deadline": now + 60_000})
	if ch.Limit != chat.DefaultChainSize {
		t.Fatalf("default limit %d", ch.Limit)
	}
	e.clock.Advance(time.Minute)
	qtest.CallErr(t, ann, "chat.chain.join", obj{"group": g, "chain": ch.ID}, qun.CodeExpired)
	for i := 1; i < chat.MaxOpenChains; i++ {
		call[chat.Chain](t, ann, "chat.chain.create", obj{"group": g, "title": "c"})
	}
	qtest.CallErr(t, ann, "chat.chain.create", obj{"group": g, "title": "one too many"}, qun.CodeExhausted)
}

func TestPolls(t *testing.T) {
	e := newEnv(t, nil)
	ann := e.owner(t, "t1", "ann")
	bob, carl := e.Connect(t, "t1", "bob"), e.Connect(t, "t1", "carl")
	g := createGroup(t, ann, "Polls", nil)
	join(t, ann, bob, g)
	join(t, ann, carl, g)
	sub(t, carl, g)

	// Single choice, public.
	p := call[chat.Poll](t, bob, "chat.poll.create", obj{"group": g, "question": "Where?", "options": []string{"West Lake", "Lingyin", "Xixi"}})
	if p.MaxChoices != 1 || len(p.Counts) != 3 {
		t.Fatalf("poll %+v", p)
	}
	qtest.CallErr(t, ann, "chat.poll.vote", obj{"group": g, "poll": p.ID, "choices": []int{0, 1}}, qun.CodeInvalid)
	qtest.CallErr(t, ann, "chat.poll.vote", obj{"group": g, "poll": p.ID, "choices": []int{3}}, qun.CodeInvalid)
	call[chat.Poll](t, ann, "chat.poll.vote", obj{"group": g, "poll": p.ID, "choices": []int{1}})
	qtest.CallErr(t, ann, "chat.poll.vote", obj{"group": g, "poll": p.ID, "choices": []int{2}}, qun.CodeConflict)
	call[chat.Poll](t, bob, "chat.poll.vote", obj{"group": g, "poll": p.ID, "choices": []int{1}})
	ev := qtest.NextEvent(t, carl, chat.EvPollVoted)
	ev = qtest.NextEvent(t, carl, chat.EvPollVoted)
	var voted struct {
		Counts []int
		Voters int
		User   string
	}
	_ = json.Unmarshal(ev.D, &voted)
	if !slices.Equal(voted.Counts, []int{0, 2, 0}) || voted.Voters != 2 || voted.User != "bob" {
		t.Fatalf("voted %+v", voted)
	}
	pv := call[chat.PollView](t, ann, "chat.poll.get", obj{"group": g, "poll": p.ID})
	if !slices.Equal(pv.Mine, []int{1}) || pv.Poll.Voters != 2 {
		t.Fatalf("poll view %+v", pv)
	}
	votes := call[[]chat.Vote](t, carl, "chat.poll.votes", obj{"group": g, "poll": p.ID})
	if len(votes) != 2 || votes[0].User != "ann" {
		t.Fatalf("votes %+v", votes)
	}
	qtest.CallErr(t, carl, "chat.poll.close", obj{"group": g, "poll": p.ID}, qun.CodeForbidden)
	call[struct{}](t, ann, "chat.poll.close", obj{"group": g, "poll": p.ID}) // an admin may
	qtest.CallErr(t, carl, "chat.poll.vote", obj{"group": g, "poll": p.ID, "choices": []int{0}}, qun.CodeConflict)

	// Multi choice, anonymous, with a deadline.
	deadline := e.clock.Now().Add(time.Hour).UnixMilli()
	a := call[chat.Poll](t, ann, "chat.poll.create", obj{"group": g, "question": "Snacks?", "options": []string{"tea", "cake", "fruit", "nuts"},
		"multi": true, "max_choices": 2, "anonymous": true, "deadline": deadline})
	qtest.CallErr(t, bob, "chat.poll.vote", obj{"group": g, "poll": a.ID, "choices": []int{0, 1, 2}}, qun.CodeInvalid)
	qtest.CallErr(t, bob, "chat.poll.vote", obj{"group": g, "poll": a.ID, "choices": []int{1, 1}}, qun.CodeInvalid)
	call[chat.Poll](t, bob, "chat.poll.vote", obj{"group": g, "poll": a.ID, "choices": []int{2, 0}})
	res := call[chat.Poll](t, carl, "chat.poll.vote", obj{"group": g, "poll": a.ID, "choices": []int{0}})
	if !slices.Equal(res.Counts, []int{2, 0, 1, 0}) || res.Voters != 2 {
		t.Fatalf("anonymous results %+v", res)
	}
	for {
		ev := qtest.NextEvent(t, carl, chat.EvPollVoted)
		if contains(string(ev.D), a.ID) {
			if contains(string(ev.D), `"user"`) || ev.Actor != "bob" && ev.Actor != "carl" {
				t.Fatalf("anonymous vote event names the voter in its data: %s", ev.D)
			}
			break
		}
	}
	qtest.CallErr(t, carl, "chat.poll.votes", obj{"group": g, "poll": a.ID}, qun.CodeForbidden)
	e.clock.Advance(time.Hour)
	qtest.CallErr(t, ann, "chat.poll.vote", obj{"group": g, "poll": a.ID, "choices": []int{3}}, qun.CodeExpired)

	// Bounds.
	qtest.CallErr(t, ann, "chat.poll.create", obj{"group": g, "question": "one?", "options": []string{"only"}}, qun.CodeInvalid)
	many := make([]string, 21)
	for i := range many {
		many[i] = string(rune('a' + i))
	}
	qtest.CallErr(t, ann, "chat.poll.create", obj{"group": g, "question": "many?", "options": many}, qun.CodeInvalid)
	qtest.CallErr(t, ann, "chat.poll.create", obj{"group": g, "question": "same?", "options": []string{"x", "x"}}, qun.CodeInvalid)
	qtest.CallErr(t, ann, "chat.poll.create", obj{"group": g, "question": "q", "options": []string{"x", "y"}, "max_choices": 2}, qun.CodeInvalid)
}

// profiles is a test Profiles provider.
type profiles map[qun.UserID]chat.Profile

func (p profiles) Profiles(_ context.Context, _ qun.TenantID, users []qun.UserID) (map[qun.UserID]chat.Profile, error) {
	out := map[qun.UserID]chat.Profile{}
	for _, u := range users {
		if pr, ok := p[u]; ok {
			out[u] = pr
		}
	}
	return out, nil
}

func TestPortrait(t *testing.T) {
	e := newEnv(t, func(c *chat.Config) {
		c.Profiles = profiles{
			"ann":  {Gender: chat.GenderFemale, BirthYear: 1990}, // 35 in 2025
			"bob":  {Gender: chat.GenderMale, BirthYear: 2000},   // 25
			"carl": {Gender: chat.GenderMale},                    // age unknown
			"dan":  {BirthYear: 1980},                            // 45, gender unknown
		}
	})
	ann := e.owner(t, "t1", "ann")
	g := createGroup(t, ann, "Portrait", nil)
	users := map[string]*qclientT{}
	for _, u := range []string{"bob", "carl", "dan", "eve"} {
		users[u] = e.Connect(t, "t1", u)
		join(t, ann, users[u], g)
	}
	// Activity: bob posts now; carl checked in 3 days ago; dan posted 10 days ago.
	send(t, users["dan"], g, "old news")
	e.clock.Advance(7 * 24 * time.Hour)
	call[chat.CheckIn](t, users["carl"], "chat.checkin", obj{"group": g})
	e.clock.Advance(3 * 24 * time.Hour)
	send(t, users["bob"], g, "fresh")

	p := call[chat.Portrait](t, ann, "chat.portrait", obj{"group": g})
	want := chat.Portrait{Members: 5, Male: 2, Female: 1, Unknown: 2, MaleRatio: 2.0 / 3, AverageAge: (35 + 25 + 45) / 3.0, AgeKnown: 3, Active24h: 1, Active7d: 2}
	if p != want {
		t.Fatalf("portrait\n got %+v\nwant %+v", p, want)
	}
	qtest.CallErr(t, users["bob"], "chat.portrait", obj{"group": g}, qun.CodeForbidden)
}
