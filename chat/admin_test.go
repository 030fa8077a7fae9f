package chat_test

import (
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/chat"
	"github.com/qunkit/qun/internal/qclient"
	"github.com/qunkit/qun/internal/qtest"
)

// adminGroup: ann owns it, carl and dora are admins, bob and eve members.
type adminGroup struct {
	*env
	g                         qun.RoomID
	ann, carl, dora, bob, eve *qclient.Client
}

func newAdminGroup(t *testing.T) *adminGroup {
	e := newEnv(t, func(c *chat.Config) { c.MaxAdmins = 2 })
	a := &adminGroup{env: e, ann: e.owner(t, "t1", "ann"), carl: e.Connect(t, "t1", "carl"), dora: e.Connect(t, "t1", "dora"),
		bob: e.Connect(t, "t1", "bob"), eve: e.Connect(t, "t1", "eve")}
	a.g = createGroup(t, a.ann, "Admins at work", nil)
	for _, c := range []*qclient.Client{a.carl, a.dora, a.bob, a.eve} {
		join(t, a.ann, c, a.g)
	}
	for _, u := range []string{"carl", "dora"} {
		call[struct{}](t, a.ann, "chat.role", obj{"group": a.g, "user": u, "role": "admin"})
	}
	return a
}

func TestAdminActionsRefusedToMembers(t *testing.T) {
	a := newAdminGroup(t)
	g := a.g
	s := send(t, a.eve, g, "a message")
	auditLen := func() int {
		audit, err := a.chat.Audit(ctx(t), ident("t1", "ann"), chat.AuditQuery{Group: g, Limit: 200})
		if err != nil {
			t.Fatal(err)
		}
		return len(audit)
	}
	n := auditLen()
	for op, d := range map[string]obj{
		"chat.kick":            {"group": g, "user": "eve"},
		"chat.ban":             {"group": g, "user": "eve"},
		"chat.unban":           {"group": g, "user": "eve"},
		"chat.bans":            {"group": g},
		"chat.mute":            {"group": g, "user": "eve", "seconds": 60},
		"chat.mute_all":        {"group": g, "on": true},
		"chat.slow_mode":       {"group": g, "seconds": 10},
		"chat.role":            {"group": g, "user": "eve", "role": "admin"},
		"chat.transfer":        {"group": g, "to": "bob"},
		"chat.dissolve":        {"group": g},
		"chat.update":          {"group": g, "name": "mine now"},
		"chat.announce":        {"group": g, "text": "hello"},
		"chat.pin":             {"group": g, "seq": s, "on": true},
		"chat.designate":       {"group": g, "seq": s, "on": true},
		"chat.recall":          {"group": g, "seq": s},
		"chat.requests":        {"group": g},
		"chat.request.approve": {"group": g, "user": "zed"},
		"chat.request.reject":  {"group": g, "user": "zed"},
		"chat.reports":         {"group": g},
		"chat.report.resolve":  {"group": g, "id": 1},
		"chat.audit":           {"group": g},
		"chat.portrait":        {"group": g},
	} {
		t.Run(op, func(t *testing.T) { qtest.CallErr(t, a.bob, op, d, qun.CodeForbidden) })
	}
	// Nothing changed.
	if auditLen() != n {
		t.Fatal("a refused action was audited")
	}
	v := call[chat.GroupView](t, a.bob, "chat.get", obj{"group": g})
	if v.Group.Name != "Admins at work" || v.Group.MuteAll || v.Group.SlowMode != 0 || v.Group.MemberCount != 5 || len(v.Group.Pinned) != 0 {
		t.Fatalf("a refused action changed the group: %+v", v.Group)
	}
}

func TestAdminsCannotActOnOwnerOrAdmins(t *testing.T) {
	a := newAdminGroup(t)
	g := a.g
	for _, target := range []string{"ann", "dora"} {
		for _, op := range []string{"chat.kick", "chat.ban", "chat.mute"} {
			d := obj{"group": g, "user": target}
			if op == "chat.mute" {
				d["seconds"] = 60
			}
			qtest.CallErr(t, a.carl, op, d, qun.CodeForbidden)
		}
	}
	// Owner-only actions.
	qtest.CallErr(t, a.carl, "chat.role", obj{"group": g, "user": "bob", "role": "admin"}, qun.CodeForbidden)
	qtest.CallErr(t, a.carl, "chat.transfer", obj{"group": g, "to": "carl"}, qun.CodeForbidden)
	qtest.CallErr(t, a.carl, "chat.dissolve", obj{"group": g}, qun.CodeForbidden)
	s := send(t, a.ann, g, "the owner's message")
	qtest.CallErr(t, a.carl, "chat.designate", obj{"group": g, "seq": s, "on": true}, qun.CodeForbidden)
	qtest.CallErr(t, a.carl, "chat.recall", obj{"group": g, "seq": s}, qun.CodeForbidden)
	// The owner's role changes only by transfer; the admin limit holds.
	qtest.CallErr(t, a.ann, "chat.role", obj{"group": g, "user": "ann", "role": "member"}, qun.CodeConflict)
	qtest.CallErr(t, a.ann, "chat.role", obj{"group": g, "user": "bob", "role": "admin"}, qun.CodeExhausted)
	qtest.CallErr(t, a.ann, "chat.role", obj{"group": g, "user": "bob", "role": "owner"}, qun.CodeInvalid)
	// But an admin acts on members.
	call[struct{}](t, a.carl, "chat.mute", obj{"group": g, "user": "bob", "seconds": 60})
	qtest.CallErr(t, a.bob, "chat.send", obj{"group": g, "kind": "text", "text": "hi"}, qun.CodeForbidden)
	a.clock.Advance(61 * time.Second)
	send(t, a.bob, g, "free again")
	// The owner acts on admins.
	call[struct{}](t, a.ann, "chat.mute", obj{"group": g, "user": "carl", "seconds": 60})
	qtest.CallErr(t, a.carl, "chat.send", obj{"group": g, "kind": "text", "text": "hi"}, qun.CodeForbidden)
	call[struct{}](t, a.ann, "chat.mute", obj{"group": g, "user": "carl", "seconds": 0})
	send(t, a.carl, g, "unmuted")
	qtest.CallErr(t, a.ann, "chat.mute", obj{"group": g, "user": "carl", "seconds": 31 * 24 * 3600}, qun.CodeInvalid)
}

func TestKickBanEndSubscriptions(t *testing.T) {
	a := newAdminGroup(t)
	g := a.g
	sub(t, a.bob, g)
	sub(t, a.eve, g)
	sub(t, a.ann, g)

	call[struct{}](t, a.carl, "chat.kick", obj{"group": g, "user": "bob"})
	end := qtest.Next(t, a.bob, func(f qclient.Frame) bool { return f.T == "sub.end" })
	if end.Room != g || end.Err == nil || end.Err.Code != qun.CodeForbidden {
		t.Fatalf("sub.end %+v", end)
	}
	qtest.NextEvent(t, a.ann, chat.EvKicked)
	send(t, a.ann, g, "after the kick")
	qtest.NoFrame(t, a.bob, 150*time.Millisecond, isEvent(chat.EvMessage))
	// The group is private: to bob it no longer exists.
	qtest.CallErr(t, a.bob, "chat.send", obj{"group": g, "kind": "text", "text": "hi"}, qun.CodeNotFound)
	qtest.CallErr(t, a.bob, "chat.history", obj{"group": g}, qun.CodeNotFound)
	qtest.CallErr(t, a.bob, "sub", obj{"room": g}, qun.CodeNotFound)
	// A kicked member may come back with a code.
	join(t, a.ann, a.bob, g)

	// A ban ends the subscription and blocks every way back in.
	call[struct{}](t, a.carl, "chat.ban", obj{"group": g, "user": "eve", "reason": "spam"})
	qtest.Next(t, a.eve, func(f qclient.Frame) bool { return f.T == "sub.end" })
	qtest.CallErr(t, a.eve, "chat.send", obj{"group": g, "kind": "text", "text": "hi"}, qun.CodeNotFound)
	code := call[chat.InviteCode](t, a.ann, "chat.code.create", obj{"group": g})
	qtest.CallErr(t, a.eve, "chat.code.join", obj{"code": code.Code}, qun.CodeForbidden)
	inv := call[chat.InviteResult](t, a.bob, "chat.invite", obj{"group": g, "users": []string{"eve", "zoe"}})
	if len(inv.Invited) != 1 || inv.Invited[0] != "zoe" || len(inv.Skipped) != 1 || inv.Skipped[0].Reason != qun.CodeForbidden {
		t.Fatalf("invite %+v", inv)
	}
	call[struct{}](t, a.ann, "chat.update", obj{"group": g, "public": true})
	qtest.CallErr(t, a.eve, "chat.join", obj{"group": g}, qun.CodeForbidden)
	bans := call[[]chat.Ban](t, a.carl, "chat.bans", obj{"group": g})
	if len(bans) != 1 || bans[0].User != "eve" || bans[0].Reason != "spam" || bans[0].By != "carl" {
		t.Fatalf("bans %+v", bans)
	}
	// Banning a non-member keeps them out too; double bans conflict.
	call[struct{}](t, a.carl, "chat.ban", obj{"group": g, "user": "mallory"})
	qtest.CallErr(t, a.carl, "chat.ban", obj{"group": g, "user": "mallory"}, qun.CodeConflict)
	call[struct{}](t, a.carl, "chat.unban", obj{"group": g, "user": "eve"})
	call[chat.JoinResult](t, a.eve, "chat.join", obj{"group": g})

	// The audit log has every action, newest first.
	audit := call[[]chat.AuditEntry](t, a.ann, "chat.audit", obj{"group": g})
	var actions []string
	for _, e := range audit {
		actions = append(actions, e.Action+":"+string(e.Target))
	}
	want := []string{"member.unban:eve", "member.ban:mallory", "group.update:", "code.create:", "member.ban:eve", "code.create:", "member.kick:bob"}
	for i, w := range want {
		if i >= len(actions) || actions[i] != w {
			t.Fatalf("audit %v; want it to start with %v", actions, want)
		}
	}
	older := call[[]chat.AuditEntry](t, a.ann, "chat.audit", obj{"group": g, "before": audit[2].ID, "limit": 2})
	if len(older) != 2 || older[0].ID != audit[3].ID {
		t.Fatalf("audit paging %+v", older)
	}
}

func TestOwnerActions(t *testing.T) {
	a := newAdminGroup(t)
	g := a.g
	sub(t, a.bob, g)

	// Mute all: members silenced, admins not.
	call[struct{}](t, a.carl, "chat.mute_all", obj{"group": g, "on": true})
	qtest.NextEvent(t, a.bob, chat.EvMuteAll)
	qtest.CallErr(t, a.bob, "chat.send", obj{"group": g, "kind": "text", "text": "hi"}, qun.CodeForbidden)
	send(t, a.carl, g, "admins may speak")
	call[struct{}](t, a.carl, "chat.mute_all", obj{"group": g, "on": false})
	send(t, a.bob, g, "members again")

	// Profile update by an admin, seen by members.
	call[chat.Group](t, a.dora, "chat.update", obj{"group": g, "name": "  Renamed  ", "tags": []string{"a", "b", "a"}, "intro": "new intro"})
	ev := qtest.NextEvent(t, a.bob, chat.EvGroupUpdated)
	if !contains(string(ev.D), `"name":"Renamed"`) || !contains(string(ev.D), `"tags":["a","b"]`) {
		t.Fatalf("updated %s", ev.D)
	}
	qtest.CallErr(t, a.dora, "chat.update", obj{"group": g, "member_limit": 3}, qun.CodeConflict)
	qtest.CallErr(t, a.dora, "chat.update", obj{"group": g, "name": "two\nlines"}, qun.CodeInvalid)
	qtest.CallErr(t, a.dora, "chat.update", obj{"group": g, "tags": []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"}}, qun.CodeInvalid)

	// Transfer: bob becomes owner, ann a member; the owner cannot leave.
	qtest.CallErr(t, a.ann, "chat.leave", obj{"group": g}, qun.CodeConflict)
	call[struct{}](t, a.ann, "chat.transfer", obj{"group": g, "to": "bob"})
	qtest.NextEvent(t, a.bob, chat.EvOwner)
	v := call[chat.GroupView](t, a.ann, "chat.get", obj{"group": g})
	if v.Role != chat.RoleMember || v.Group.Owner != "bob" {
		t.Fatalf("after transfer %+v %+v", v, v.Group)
	}
	qtest.CallErr(t, a.ann, "chat.kick", obj{"group": g, "user": "eve"}, qun.CodeForbidden)
	call[struct{}](t, a.bob, "chat.kick", obj{"group": g, "user": "carl"})
	call[struct{}](t, a.ann, "chat.leave", obj{"group": g})

	// Dissolve: everyone's subscription ends and the group is gone.
	sub(t, a.eve, g)
	call[struct{}](t, a.bob, "chat.dissolve", obj{"group": g})
	qtest.Next(t, a.eve, func(f qclient.Frame) bool { return f.T == "sub.end" })
	for _, c := range []*qclient.Client{a.bob, a.eve} {
		qtest.CallErr(t, c, "chat.get", obj{"group": g}, qun.CodeNotFound)
		qtest.CallErr(t, c, "chat.send", obj{"group": g, "kind": "text", "text": "hi"}, qun.CodeNotFound)
	}
	if mine := call[[]chat.GroupView](t, a.eve, "chat.mine", obj{}); len(mine) != 0 {
		t.Fatalf("dissolved group still listed: %+v", mine)
	}
}

func TestTenantOperatorActsAsOwner(t *testing.T) {
	a := newAdminGroup(t)
	op := a.Connect(t, "t1", "ops", qun.GrantAdmin)
	other := a.Connect(t, "t2", "ops", qun.GrantAdmin)
	v := call[chat.GroupView](t, op, "chat.get", obj{"group": a.g})
	if v.Role != "" || v.Group.Name != "Admins at work" {
		t.Fatalf("operator view %+v", v)
	}
	call[struct{}](t, op, "chat.kick", obj{"group": a.g, "user": "carl"})
	call[struct{}](t, op, "chat.role", obj{"group": a.g, "user": "bob", "role": "admin"})
	qtest.CallErr(t, op, "chat.kick", obj{"group": a.g, "user": "ann"}, qun.CodeForbidden) // not over the owner
	sub(t, op, a.g)
	// Never across tenants.
	qtest.CallErr(t, other, "chat.get", obj{"group": a.g}, qun.CodeNotFound)
	qtest.CallErr(t, other, "chat.kick", obj{"group": a.g, "user": "bob"}, qun.CodeNotFound)
	qtest.CallErr(t, other, "sub", obj{"room": a.g}, qun.CodeNotFound)
}

// TestRoomRoles: other packages (live, whiteboard) ask the Hub what a user
// is in a group.
func TestRoomRoles(t *testing.T) {
	a := newAdminGroup(t)
	for user, want := range map[string]qun.Role{"ann": qun.RoleOwner, "carl": qun.RoleModerator, "bob": qun.RoleMember} {
		got, err := a.Hub.RoomRole(ctx(t), ident("t1", user), a.g)
		if err != nil || got != want {
			t.Errorf("%s: %v %v, want %v", user, got, err, want)
		}
	}
	if got, err := a.Hub.RoomRole(ctx(t), ident("t1", "ops", qun.GrantAdmin), a.g); err != nil || got != qun.RoleOwner {
		t.Errorf("operator: %v %v", got, err)
	}
	_, err := a.Hub.RoomRole(ctx(t), ident("t1", "stranger"), a.g)
	wantCode(t, err, qun.CodeNotFound) // a private group
	_, err = a.Hub.RoomRole(ctx(t), ident("t2", "ann"), a.g)
	wantCode(t, err, qun.CodeNotFound)
	call[struct{}](t, a.ann, "chat.update", obj{"group": a.g, "public": true})
	if got, err := a.Hub.RoomRole(ctx(t), ident("t1", "stranger"), a.g); err != nil || got != qun.RoleNone {
		t.Errorf("stranger in a public group: %v %v", got, err)
	}
}

func TestLeaveAndDissolvedLeftovers(t *testing.T) {
	a := newAdminGroup(t)
	g := a.g
	sub(t, a.bob, g)
	call[struct{}](t, a.bob, "chat.leave", obj{"group": g})
	qtest.Next(t, a.bob, func(f qclient.Frame) bool { return f.T == "sub.end" })
	qtest.CallErr(t, a.bob, "chat.leave", obj{"group": g}, qun.CodeNotFound)
	if v := call[chat.GroupView](t, a.ann, "chat.get", obj{"group": g}); v.Group.MemberCount != 4 {
		t.Fatalf("member count %d after leaving", v.Group.MemberCount)
	}
	// Codes and invitations of a dissolved group lead nowhere.
	code := call[chat.InviteCode](t, a.ann, "chat.code.create", obj{"group": g})
	call[chat.InviteResult](t, a.ann, "chat.invite", obj{"group": g, "users": []string{"zoe"}})
	zoe := a.Connect(t, "t1", "zoe")
	call[struct{}](t, a.ann, "chat.dissolve", obj{"group": g})
	qtest.CallErr(t, zoe, "chat.code.preview", obj{"code": code.Code}, qun.CodeNotFound)
	qtest.CallErr(t, zoe, "chat.code.join", obj{"code": code.Code}, qun.CodeNotFound)
	qtest.CallErr(t, zoe, "chat.invitation.accept", obj{"group": g}, qun.CodeNotFound)
	if invs := call[[]chat.Invitation](t, zoe, "chat.invitations", obj{}); len(invs) != 0 {
		t.Fatalf("invitations to a dissolved group: %+v", invs)
	}
	qtest.CallErr(t, a.ann, "chat.dissolve", obj{"group": g}, qun.CodeNotFound)
}
