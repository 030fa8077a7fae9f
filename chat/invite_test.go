package chat_test

import (
	"context"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/chat"
	"github.com/qunkit/qun/internal/qtest"
)

func TestInviteCodes(t *testing.T) {
	e := newEnv(t, nil)
	ann := e.owner(t, "t1", "ann")
	bob, carl, dan := e.Connect(t, "t1", "bob"), e.Connect(t, "t1", "carl"), e.Connect(t, "t1", "dan")
	g := createGroup(t, ann, "Codes", obj{"members_invite": false})

	// Expiry.
	short := call[chat.InviteCode](t, ann, "chat.code.create", obj{"group": g, "ttl": 60})
	e.clock.Advance(61 * time.Second)
	qtest.CallErr(t, bob, "chat.code.preview", obj{"code": short.Code}, qun.CodeExpired)
	qtest.CallErr(t, bob, "chat.code.join", obj{"code": short.Code}, qun.CodeExpired)

	// Max uses: two redemptions, then exhausted.
	two := call[chat.InviteCode](t, ann, "chat.code.create", obj{"group": g, "max_uses": 2})
	call[chat.JoinResult](t, bob, "chat.code.join", obj{"code": two.Code})
	qtest.CallErr(t, bob, "chat.code.join", obj{"code": two.Code}, qun.CodeConflict) // already in: not a use
	call[chat.JoinResult](t, carl, "chat.code.join", obj{"code": two.Code})
	qtest.CallErr(t, dan, "chat.code.join", obj{"code": two.Code}, qun.CodeExhausted)

	// Revoke: by an admin (or the creator); then it is gone.
	e.clock.Advance(time.Second)
	open := call[chat.InviteCode](t, ann, "chat.code.create", obj{"group": g})
	qtest.CallErr(t, bob, "chat.code.revoke", obj{"code": open.Code}, qun.CodeForbidden)
	call[struct{}](t, ann, "chat.code.revoke", obj{"code": open.Code})
	qtest.CallErr(t, dan, "chat.code.preview", obj{"code": open.Code}, qun.CodeNotFound)
	qtest.CallErr(t, dan, "chat.code.join", obj{"code": open.Code}, qun.CodeNotFound)
	qtest.CallErr(t, dan, "chat.code.join", obj{"code": "nosuchcode"}, qun.CodeNotFound)
	qtest.CallErr(t, dan, "chat.code.join", obj{"code": "bad code!"}, qun.CodeInvalid)

	// Members may not make codes here; the admins see every code.
	qtest.CallErr(t, bob, "chat.code.create", obj{"group": g}, qun.CodeForbidden)
	codes := call[[]chat.InviteCode](t, ann, "chat.codes", obj{"group": g})
	if len(codes) != 3 || codes[0].Code != open.Code || !codes[0].Revoked || codes[1].Uses != 2 {
		t.Fatalf("codes %+v", codes)
	}
	if mine := call[[]chat.InviteCode](t, bob, "chat.codes", obj{"group": g}); len(mine) != 0 {
		t.Fatalf("a member sees others' codes: %+v", mine)
	}
	// A member who may invite makes codes, sees and revokes their own.
	call[chat.Group](t, ann, "chat.update", obj{"group": g, "members_invite": true})
	own := call[chat.InviteCode](t, bob, "chat.code.create", obj{"group": g})
	if mine := call[[]chat.InviteCode](t, bob, "chat.codes", obj{"group": g}); len(mine) != 1 || mine[0].Code != own.Code {
		t.Fatalf("own codes %+v", mine)
	}
	call[struct{}](t, bob, "chat.code.revoke", obj{"code": own.Code})
	qtest.CallErr(t, bob, "chat.code.create", obj{"group": g, "ttl": 400 * 24 * 3600}, qun.CodeInvalid)
}

func TestInviteLink(t *testing.T) {
	for base, want := range map[string]string{
		"https://v.example/join":           "https://v.example/join?invite=abc",
		"https://v.example/j?from=wechat":  "https://v.example/j?from=wechat&invite=abc",
		"https://v.example/j?invite=old#x": "https://v.example/j?invite=abc#x",
	} {
		if got := chat.InviteLink(base, "abc"); got != want {
			t.Errorf("InviteLink(%q) = %q, want %q", base, got, want)
		}
	}
}

func TestInvitations(t *testing.T) {
	e := newEnv(t, nil)
	ann := e.owner(t, "t1", "ann")
	bob, carl, dan := e.Connect(t, "t1", "bob"), e.Connect(t, "t1", "carl"), e.Connect(t, "t1", "dan")
	g := createGroup(t, ann, "Invites", obj{"approval": true})
	sub(t, carl, qun.UserRoom("carl"))

	// The owner's invitation skips approval.
	inv := call[chat.InviteResult](t, ann, "chat.invite", obj{"group": g, "users": []string{"bob", "bob", "ann"}})
	if len(inv.Invited) != 1 || len(inv.Skipped) != 1 || inv.Skipped[0].Reason != qun.CodeConflict {
		t.Fatalf("invite %+v", inv)
	}
	list := call[[]chat.Invitation](t, bob, "chat.invitations", obj{})
	if len(list) != 1 || list[0].Group != g || list[0].Card == nil || list[0].Card.Name != "Invites" || !list[0].ByAdmin {
		t.Fatalf("invitations %+v", list)
	}
	if res := call[chat.JoinResult](t, bob, "chat.invitation.accept", obj{"group": g}); res.Status != "joined" {
		t.Fatalf("accept %+v", res)
	}
	qtest.CallErr(t, bob, "chat.invitation.accept", obj{"group": g}, qun.CodeNotFound)

	// A member's invitation into an approval group queues the invitee.
	call[chat.InviteResult](t, bob, "chat.invite", obj{"group": g, "users": []string{"carl", "dan"}})
	ev := qtest.NextEvent(t, carl, chat.EvInvited)
	if ev.Actor != "bob" || !contains(string(ev.D), `"name":"Invites"`) {
		t.Fatalf("invited event %+v", ev)
	}
	if res := call[chat.JoinResult](t, carl, "chat.invitation.accept", obj{"group": g}); res.Status != "pending" {
		t.Fatalf("accept %+v", res)
	}
	call[struct{}](t, dan, "chat.invitation.decline", obj{"group": g})
	if l := call[[]chat.Invitation](t, dan, "chat.invitations", obj{}); len(l) != 0 {
		t.Fatalf("declined invitation still listed: %+v", l)
	}
	// Reject tells the user why.
	call[struct{}](t, ann, "chat.request.reject", obj{"group": g, "user": "carl", "reason": "members only"})
	rej := qtest.NextEvent(t, carl, chat.EvRejected)
	if !contains(string(rej.D), "members only") {
		t.Fatalf("rejected %s", rej.D)
	}
	qtest.CallErr(t, ann, "chat.request.approve", obj{"group": g, "user": "carl"}, qun.CodeNotFound)
	qtest.CallErr(t, bob, "chat.invite", obj{"group": g, "users": []string{}}, qun.CodeInvalid)
}

func TestSearchJoinAndProfile(t *testing.T) {
	e := newEnv(t, nil)
	ann := e.owner(t, "t1", "ann")
	bob := e.Connect(t, "t1", "bob")
	tea := createGroup(t, ann, "Green Tea Club", obj{"public": true, "tags": []string{"Tea", "Hangzhou"}})
	createGroup(t, ann, "Coffee corner", obj{"public": true, "tags": []string{"coffee"}})
	secret := createGroup(t, ann, "Secret tea", obj{"tags": []string{"tea"}})
	createGroup(t, ann, "100% tea_fans", obj{"public": true})

	names := func(d obj) []string {
		var out []string
		for _, c := range call[[]chat.Card](t, bob, "chat.search", d) {
			out = append(out, c.Name)
		}
		return out
	}
	if got := names(obj{"q": "tea"}); len(got) != 2 {
		t.Fatalf("search tea: %v", got) // not the private group
	}
	if got := names(obj{"tag": "tea"}); len(got) != 1 || got[0] != "Green Tea Club" {
		t.Fatalf("search tag: %v", got)
	}
	if got := names(obj{"q": "%"}); len(got) != 1 || got[0] != "100% tea_fans" {
		t.Fatalf("search %%: %v", got)
	}
	if got := names(obj{"q": "nothing like it"}); len(got) != 0 {
		t.Fatalf("search: %v", got)
	}
	qtest.CallErr(t, bob, "chat.get", obj{"group": secret}, qun.CodeNotFound)
	qtest.CallErr(t, bob, "chat.join", obj{"group": secret}, qun.CodeNotFound)

	// Non-members see a public group but may not subscribe or read it.
	v := call[chat.GroupView](t, bob, "chat.get", obj{"group": tea})
	if v.Role != "" || v.Group.Name != "Green Tea Club" {
		t.Fatalf("public view %+v", v)
	}
	qtest.CallErr(t, bob, "sub", obj{"room": tea}, qun.CodeForbidden)
	qtest.CallErr(t, bob, "chat.history", obj{"group": tea}, qun.CodeForbidden)
	if res := call[chat.JoinResult](t, bob, "chat.join", obj{"group": tea}); res.Status != "joined" {
		t.Fatalf("join %+v", res)
	}
	qtest.CallErr(t, bob, "chat.join", obj{"group": tea}, qun.CodeConflict)

	// Shown on the profile page only when the member says so.
	if got := call[[]chat.Card](t, ann, "chat.profile.groups", obj{"user": "bob"}); len(got) != 0 {
		t.Fatalf("shown before opting in: %+v", got)
	}
	call[struct{}](t, bob, "chat.profile.show", obj{"group": tea, "show": true})
	got := call[[]chat.Card](t, ann, "chat.profile.groups", obj{"user": "bob"})
	if len(got) != 1 || got[0].ID != tea {
		t.Fatalf("profile groups %+v", got)
	}

	// The member limit holds.
	call[chat.Group](t, ann, "chat.update", obj{"group": tea, "member_limit": 2})
	qtest.CallErr(t, e.Connect(t, "t1", "carl"), "chat.join", obj{"group": tea}, qun.CodeExhausted)
}

func TestCreatePolicy(t *testing.T) {
	e := newEnv(t, func(c *chat.Config) { c.MaxOwnedGroups = 2 })
	qtest.CallErr(t, e.Connect(t, "t1", "nobody"), "chat.create", obj{"name": "x"}, qun.CodeForbidden)
	ann := e.owner(t, "t1", "ann")
	createGroup(t, ann, "one", nil)
	createGroup(t, ann, "two", nil)
	qtest.CallErr(t, ann, "chat.create", obj{"name": "three"}, qun.CodeExhausted)
	qtest.CallErr(t, ann, "chat.create", obj{"name": ""}, qun.CodeInvalid)
	qtest.CallErr(t, ann, "chat.create", obj{"name": "   "}, qun.CodeInvalid)
	qtest.CallErr(t, ann, "chat.create", obj{"name": "x", "member_limit": 100001}, qun.CodeInvalid)
	qtest.CallErr(t, ann, "chat.create", obj{"name": "x", "surprise": 1}, qun.CodeInvalid)

	// A vendor policy (say, two mutual follows) decides instead.
	e2 := newEnv(t, func(c *chat.Config) {
		c.CreatePolicy = chat.CreatePolicyFunc(func(_ context.Context, id *qun.Identity) error {
			if id.User != "popular" {
				return qun.Errorf(qun.CodeForbidden, "you need two mutual follows")
			}
			return nil
		})
	})
	e2err := qtest.CallErr(t, e2.Connect(t, "t1", "ann", qun.GrantCreateGroup), "chat.create", obj{"name": "x"}, qun.CodeForbidden)
	if e2err.Message != "you need two mutual follows" {
		t.Fatalf("policy message %q", e2err.Message)
	}
	createGroup(t, e2.Connect(t, "t1", "popular"), "mine", nil)
}
