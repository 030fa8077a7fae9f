package chat_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/chat"
	"github.com/qunkit/qun/internal/qclient"
	"github.com/qunkit/qun/internal/qtest"
)

// ids are the things an op can name.
type ids struct {
	group  qun.RoomID
	code   string
	seq    uint64
	chain  string
	poll   string
	report int64
	user   qun.UserID
	name   string
}

// opPayloads gives, for every chat op, a valid payload naming the given
// ids. listOps answer lists (which must come back empty); createOp names
// nothing of anyone else's.
var opPayloads = map[string]func(ids) obj{
	"chat.get":                func(i ids) obj { return obj{"group": i.group} },
	"chat.update":             func(i ids) obj { return obj{"group": i.group, "name": "pwned"} },
	"chat.dissolve":           func(i ids) obj { return obj{"group": i.group} },
	"chat.transfer":           func(i ids) obj { return obj{"group": i.group, "to": i.user} },
	"chat.search":             func(i ids) obj { return obj{"q": i.name} },
	"chat.mine":               func(i ids) obj { return obj{} },
	"chat.profile.groups":     func(i ids) obj { return obj{"user": i.user} },
	"chat.profile.show":       func(i ids) obj { return obj{"group": i.group, "show": true} },
	"chat.members":            func(i ids) obj { return obj{"group": i.group} },
	"chat.leave":              func(i ids) obj { return obj{"group": i.group} },
	"chat.kick":               func(i ids) obj { return obj{"group": i.group, "user": i.user} },
	"chat.ban":                func(i ids) obj { return obj{"group": i.group, "user": i.user} },
	"chat.unban":              func(i ids) obj { return obj{"group": i.group, "user": i.user} },
	"chat.bans":               func(i ids) obj { return obj{"group": i.group} },
	"chat.mute":               func(i ids) obj { return obj{"group": i.group, "user": i.user, "seconds": 60} },
	"chat.mute_all":           func(i ids) obj { return obj{"group": i.group, "on": true} },
	"chat.slow_mode":          func(i ids) obj { return obj{"group": i.group, "seconds": 60} },
	"chat.role":               func(i ids) obj { return obj{"group": i.group, "user": i.user, "role": "admin"} },
	"chat.join":               func(i ids) obj { return obj{"group": i.group} },
	"chat.invite":             func(i ids) obj { return obj{"group": i.group, "users": []qun.UserID{i.user}} },
	"chat.invitations":        func(i ids) obj { return obj{} },
	"chat.invitation.accept":  func(i ids) obj { return obj{"group": i.group} },
	"chat.invitation.decline": func(i ids) obj { return obj{"group": i.group} },
	"chat.code.create":        func(i ids) obj { return obj{"group": i.group} },
	"chat.code.revoke":        func(i ids) obj { return obj{"code": i.code} },
	"chat.codes":              func(i ids) obj { return obj{"group": i.group} },
	"chat.code.preview":       func(i ids) obj { return obj{"code": i.code} },
	"chat.code.join":          func(i ids) obj { return obj{"code": i.code} },
	"chat.requests":           func(i ids) obj { return obj{"group": i.group} },
	"chat.request.approve":    func(i ids) obj { return obj{"group": i.group, "user": i.user} },
	"chat.request.reject":     func(i ids) obj { return obj{"group": i.group, "user": i.user} },
	"chat.announce":           func(i ids) obj { return obj{"group": i.group, "text": "hello"} },
	"chat.announcements":      func(i ids) obj { return obj{"group": i.group} },
	"chat.send":               func(i ids) obj { return obj{"group": i.group, "kind": "text", "text": "hi"} },
	"chat.edit":               func(i ids) obj { return obj{"group": i.group, "seq": i.seq, "text": "edited"} },
	"chat.recall":             func(i ids) obj { return obj{"group": i.group, "seq": i.seq} },
	"chat.pin":                func(i ids) obj { return obj{"group": i.group, "seq": i.seq, "on": true} },
	"chat.designate":          func(i ids) obj { return obj{"group": i.group, "seq": i.seq, "on": true} },
	"chat.history":            func(i ids) obj { return obj{"group": i.group} },
	"chat.message":            func(i ids) obj { return obj{"group": i.group, "seq": i.seq} },
	"chat.read":               func(i ids) obj { return obj{"group": i.group, "seq": i.seq} },
	"chat.report":             func(i ids) obj { return obj{"group": i.group, "seq": i.seq, "reason": "spam"} },
	"chat.reports":            func(i ids) obj { return obj{"group": i.group} },
	"chat.report.resolve":     func(i ids) obj { return obj{"group": i.group, "id": i.report} },
	"chat.audit":              func(i ids) obj { return obj{"group": i.group} },
	"chat.portrait":           func(i ids) obj { return obj{"group": i.group} },
	"chat.checkin":            func(i ids) obj { return obj{"group": i.group} },
	"chat.checkins":           func(i ids) obj { return obj{"group": i.group} },
	"chat.chain.create":       func(i ids) obj { return obj{"group": i.group, "title": "t"} },
	"chat.chain.join":         func(i ids) obj { return obj{"group": i.group, "chain": i.chain} },
	"chat.chain.leave":        func(i ids) obj { return obj{"group": i.group, "chain": i.chain} },
	"chat.chain.close":        func(i ids) obj { return obj{"group": i.group, "chain": i.chain} },
	"chat.chain.get":          func(i ids) obj { return obj{"group": i.group, "chain": i.chain} },
	"chat.poll.create":        func(i ids) obj { return obj{"group": i.group, "question": "q", "options": []string{"a", "b"}} },
	"chat.poll.vote":          func(i ids) obj { return obj{"group": i.group, "poll": i.poll, "choices": []int{0}} },
	"chat.poll.close":         func(i ids) obj { return obj{"group": i.group, "poll": i.poll} },
	"chat.poll.get":           func(i ids) obj { return obj{"group": i.group, "poll": i.poll} },
	"chat.poll.votes":         func(i ids) obj { return obj{"group": i.group, "poll": i.poll} },
}

var listOps = []string{"chat.search", "chat.mine", "chat.profile.groups", "chat.invitations"}

const createOp = "chat.create"

// TestTenantIsolation: a user of tenant A — a plain user who shares a user
// id with tenant B's owner, and tenant A's operator who passes every role
// check in A — cannot read, join, search, subscribe to, change, or learn
// the existence of tenant B's groups through any chat op: every answer
// about B's things is identical to the answer about made-up ones.
func TestTenantIsolation(t *testing.T) {
	e := newEnv(t, nil)

	// Tenant B: a public and a private group with a message, a code, a
	// chain, a poll, a report, an announcement; the owner shows the group.
	bob := e.owner(t, "tb", "bob")
	carl := e.Connect(t, "tb", "carl")
	gb := createGroup(t, bob, "Bravo secrets", obj{"public": true, "tags": []string{"bravo"}})
	private := createGroup(t, bob, "Bravo private", nil)
	join(t, bob, carl, gb)
	seq := send(t, carl, gb, "bravo message")
	code := call[chat.InviteCode](t, bob, "chat.code.create", obj{"group": gb})
	chain := call[chat.Chain](t, bob, "chat.chain.create", obj{"group": gb, "title": "b chain"})
	poll := call[chat.Poll](t, bob, "chat.poll.create", obj{"group": gb, "question": "b?", "options": []string{"x", "y"}})
	report := call[chat.Report](t, bob, "chat.report", obj{"group": gb, "seq": seq, "reason": "spam"})
	call[chat.Announcement](t, bob, "chat.announce", obj{"group": gb, "text": "bravo news"})
	call[struct{}](t, bob, "chat.profile.show", obj{"group": gb, "show": true})
	call[chat.InviteResult](t, bob, "chat.invite", obj{"group": private, "users": []string{"bob", "carl", "dave"}})
	headB, _ := e.log.Last(ctx(t), qun.RoomRef{Tenant: "tb", Room: gb})

	// Every op of the package has a payload here.
	for _, op := range e.chat.Ops() {
		if _, ok := opPayloads[op]; !ok && op != createOp {
			t.Fatalf("op %s has no payload in the isolation test", op)
		}
	}

	attackers := map[string]*qclient.Client{
		"same user id": e.Connect(t, "ta", "bob", qun.GrantCreateGroup),
		"operator":     e.Connect(t, "ta", "root", qun.GrantAdmin, qun.GrantCreateGroup),
	}
	for who, a := range attackers {
		sub(t, a, qun.UserRoom(map[string]qun.UserID{"same user id": "bob", "operator": "root"}[who]))
		// Tenant A has a group of its own with the same content, so that
		// empty answers are not empty merely because A has nothing.
		ga := createGroup(t, a, "Alpha", obj{"public": true})
		send(t, a, ga, "alpha message")
	}
	theirs := []ids{
		{group: gb, code: code.Code, seq: seq, chain: chain.ID, poll: poll.ID, report: report.ID, user: "carl", name: "Bravo"},
		{group: private, code: code.Code, seq: 1, chain: chain.ID, poll: poll.ID, report: report.ID, user: "dave", name: "secrets"},
	}
	madeUp := ids{group: qun.RoomID("g:" + qun.NewID()), code: qun.NewID()[:10], seq: seq, chain: qun.NewID(), poll: qun.NewID(), report: report.ID, user: "carl", name: "Bravo"}

	for who, a := range attackers {
		for op, payload := range opPayloads {
			for _, b := range theirs {
				got, gotErr := rawCall(t, a, op, payload(b))
				fake := madeUp
				fake.user = b.user
				want, wantErr := rawCall(t, a, op, payload(fake))
				if slices.Contains(listOps, op) {
					if string(got) != string(want) {
						t.Errorf("%s: %s lists %s for tenant B's ids but %s for made-up ones", who, op, got, want)
					}
					if gotErr != nil || containsText(got, "Bravo") || containsText(got, string(b.group)) {
						t.Errorf("%s: %s(%v) = %s, %v: lists tenant B's data", who, op, payload(b), got, gotErr)
					}
					continue
				}
				if gotErr == nil || gotErr.Code != qun.CodeNotFound {
					t.Errorf("%s: %s on tenant B's ids = %s, %v; want not_found", who, op, got, gotErr)
					continue
				}
				if wantErr == nil || *gotErr != *wantErr {
					t.Errorf("%s: %s answers %v for tenant B's ids but %v for made-up ones", who, op, gotErr, wantErr)
				}
			}
		}
		for _, g := range []qun.RoomID{gb, private} {
			_, gotErr := rawCall(t, a, "sub", obj{"room": g})
			_, wantErr := rawCall(t, a, "sub", obj{"room": madeUp.group})
			if gotErr == nil || wantErr == nil || *gotErr != *wantErr || gotErr.Code != qun.CodeNotFound {
				t.Errorf("%s: sub %s = %v, made-up = %v", who, g, gotErr, wantErr)
			}
		}
	}

	// Tenant B's rooms and inboxes are untouched, and nothing of B's
	// activity reaches tenant A's connections.
	call[chat.InviteResult](t, bob, "chat.invite", obj{"group": gb, "users": []string{"root", "bob2"}})
	send(t, bob, gb, "after the attack")
	for who, a := range attackers {
		qtest.NoFrame(t, a, 100*time.Millisecond, func(f qclient.Frame) bool {
			if f.T == "ev" && (f.Room == gb || containsText(f.D, "Bravo") || containsText(f.D, "bravo")) {
				t.Errorf("%s received tenant B's event %+v", who, f)
			}
			return false
		})
	}
	page := history(t, bob, obj{"group": gb, "limit": 200})
	if uint64(len(page.Events)) != headB+1 || page.Head != headB+1 {
		t.Errorf("tenant B's log has %d events (head %d); want %d", len(page.Events), page.Head, headB+1)
	}
	for _, ev := range page.Events {
		if ev.Actor != "bob" && ev.Actor != "carl" || containsText(ev.D, "pwned") {
			t.Errorf("tenant B's log changed: %d %s %s %s", ev.Seq, ev.Type, ev.Actor, ev.D)
		}
	}
	v := call[chat.GroupView](t, bob, "chat.get", obj{"group": gb})
	if v.Group.Name != "Bravo secrets" || v.Group.MemberCount != 2 || v.Group.MuteAll || len(v.Group.Pinned) != 0 {
		t.Errorf("tenant B's group changed: %+v", v.Group)
	}
}

// rawCall calls op and returns its raw result or its error.
func rawCall(t *testing.T, c *qclient.Client, op string, d obj) (json.RawMessage, *qun.Error) {
	t.Helper()
	var out json.RawMessage
	err := c.Call(ctx(t), op, d, &out)
	if err == nil {
		return out, nil
	}
	e, ok := err.(*qun.Error)
	if !ok {
		t.Fatalf("%s: %v", op, err)
	}
	return nil, e
}
