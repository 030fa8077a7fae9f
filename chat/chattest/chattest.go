// Package chattest is the conformance suite for chat.Store. Every
// implementation (the SQLite one in chat, a PostgreSQL adapter later) runs
// RunStoreTests and must pass it unchanged.
package chattest

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/chat"
)

// RunStoreTests runs the suite; newStore returns an empty store for each subtest.
func RunStoreTests(t *testing.T, newStore func(t *testing.T) chat.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, chat.Store)
	}{
		{"Groups", testGroups},
		{"Search", testSearch},
		{"Members", testMembers},
		{"Bans", testBans},
		{"Invitations", testInvitations},
		{"Codes", testCodes},
		{"Requests", testRequests},
		{"Announcements", testAnnouncements},
		{"Patches", testPatches},
		{"Reports", testReports},
		{"Audit", testAudit},
		{"CheckIns", testCheckIns},
		{"Chains", testChains},
		{"Polls", testPolls},
		{"Rollback", testRollback},
		{"TenantIsolation", testTenants},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

const (
	ten   qun.TenantID = "tenant-a"
	other qun.TenantID = "tenant-b"
	g1    qun.RoomID   = "g:one"
	g2    qun.RoomID   = "g:two"
)

// update runs fn in a transaction of tenant and fails the test on error.
func update(t *testing.T, s chat.Store, tenant qun.TenantID, fn func(chat.Tx) error) {
	t.Helper()
	if err := s.Update(context.Background(), tenant, fn); err != nil {
		t.Fatal(err)
	}
}

// view runs fn in a read of tenant and fails the test on error.
func view(t *testing.T, s chat.Store, tenant qun.TenantID, fn func(chat.Tx) error) {
	t.Helper()
	if err := s.View(context.Background(), tenant, fn); err != nil {
		t.Fatal(err)
	}
}

func code(err error) qun.Code { return qun.ErrorCode(err) }

func wantCode(t *testing.T, what string, err error, c qun.Code) {
	t.Helper()
	if code(err) != c {
		t.Fatalf("%s: got %v, want %s", what, err, c)
	}
}

func group(id qun.RoomID, name string, public bool, tags ...string) *chat.Group {
	return &chat.Group{ID: id, Name: name, Owner: "owner", Public: public, Tags: tags, MemberLimit: 500, Created: 1, MembersInvite: true}
}

func testGroups(t *testing.T, s chat.Store) {
	g := group(g1, "Tea", true, "tea", "green")
	g.Pinned = []uint64{3}
	update(t, s, ten, func(tx chat.Tx) error { return tx.InsertGroup(g) })
	update(t, s, ten, func(tx chat.Tx) error {
		wantCode(t, "duplicate group", tx.InsertGroup(group(g1, "again", false)), qun.CodeConflict)
		return nil
	})
	view(t, s, ten, func(tx chat.Tx) error {
		got, err := tx.Group(g1)
		if err != nil {
			return err
		}
		if got.Name != "Tea" || !got.Public || !slices.Equal(got.Tags, []string{"tea", "green"}) || !slices.Equal(got.Pinned, []uint64{3}) || got.MemberCount != 0 || !got.MembersInvite {
			t.Fatalf("group %+v", got)
		}
		_, err = tx.Group(g2)
		wantCode(t, "missing group", err, qun.CodeNotFound)
		return nil
	})
	update(t, s, ten, func(tx chat.Tx) error {
		g.Name, g.Tags, g.MuteAll, g.SlowMode, g.Designated, g.Dissolved, g.Owner = "Black tea", []string{"black"}, true, 30, []uint64{5, 6}, 99, "heir"
		g.MemberCount = 1000 // ignored: only member inserts and deletes change it
		return tx.UpdateGroup(g)
	})
	view(t, s, ten, func(tx chat.Tx) error {
		got, _ := tx.Group(g1)
		if got.Name != "Black tea" || !got.MuteAll || got.SlowMode != 30 || !slices.Equal(got.Designated, []uint64{5, 6}) || got.Dissolved != 99 || got.Owner != "heir" || got.MemberCount != 0 {
			t.Fatalf("updated group %+v", got)
		}
		n, err := tx.CountOwned("heir")
		if n != 0 || err != nil { // dissolved groups do not count
			t.Fatalf("count owned %d %v", n, err)
		}
		return nil
	})
	update(t, s, ten, func(tx chat.Tx) error {
		wantCode(t, "update missing", tx.UpdateGroup(group(g2, "x", false)), qun.CodeNotFound)
		for i, id := range []qun.RoomID{"g:a", "g:b"} {
			gg := group(id, "x", false)
			gg.Owner = "heir"
			if i == 1 {
				gg.Owner = "someone"
			}
			if err := tx.InsertGroup(gg); err != nil {
				return err
			}
		}
		n, err := tx.CountOwned("heir")
		if n != 1 || err != nil {
			t.Fatalf("count owned %d %v", n, err)
		}
		return nil
	})
}

func testSearch(t *testing.T, s chat.Store) {
	update(t, s, ten, func(tx chat.Tx) error {
		for _, g := range []*chat.Group{
			group("g:1", "Green Tea", true, "Tea"), group("g:2", "Tea house", true, "tea", "hz"),
			group("g:3", "Private tea", false, "tea"), group("g:4", "Coffee", true), group("g:5", "50%_off", true),
		} {
			if err := tx.InsertGroup(g); err != nil {
				return err
			}
		}
		for _, u := range []qun.UserID{"a", "b"} { // g:2 has the most members
			if err := tx.InsertMember("g:2", &chat.Member{User: u, Role: chat.RoleMember}); err != nil {
				return err
			}
		}
		dead := group("g:6", "Dead tea", true, "tea")
		dead.Dissolved = 1
		return tx.InsertGroup(dead)
	})
	ids := func(q chat.GroupQuery) (out []qun.RoomID) {
		view(t, s, ten, func(tx chat.Tx) error {
			gs, err := tx.SearchGroups(q)
			for _, g := range gs {
				out = append(out, g.ID)
			}
			return err
		})
		return out
	}
	for _, c := range []struct {
		q    chat.GroupQuery
		want []qun.RoomID
	}{
		{chat.GroupQuery{Name: "tea", Limit: 10}, []qun.RoomID{"g:2", "g:1"}},
		{chat.GroupQuery{Name: "TEA", Limit: 1}, []qun.RoomID{"g:2"}},
		{chat.GroupQuery{Name: "tea", Limit: 10, Offset: 1}, []qun.RoomID{"g:1"}},
		{chat.GroupQuery{Tag: "tea", Limit: 10}, []qun.RoomID{"g:2", "g:1"}},
		{chat.GroupQuery{Tag: "hz", Name: "house", Limit: 10}, []qun.RoomID{"g:2"}},
		{chat.GroupQuery{Tag: "te", Limit: 10}, nil},
		{chat.GroupQuery{Name: "%", Limit: 10}, []qun.RoomID{"g:5"}},
		{chat.GroupQuery{Name: "_", Limit: 10}, []qun.RoomID{"g:5"}},
		{chat.GroupQuery{Limit: 10}, []qun.RoomID{"g:2", "g:1", "g:4", "g:5"}},
	} {
		if got := ids(c.q); !slices.Equal(got, c.want) {
			t.Errorf("search %+v: got %v, want %v", c.q, got, c.want)
		}
	}
}

func testMembers(t *testing.T, s chat.Store) {
	update(t, s, ten, func(tx chat.Tx) error {
		for _, g := range []qun.RoomID{g1, g2} {
			if err := tx.InsertGroup(group(g, string(g), false)); err != nil {
				return err
			}
		}
		for i, u := range []qun.UserID{"carl", "ann", "bob", "dan"} {
			role := chat.RoleMember
			if u == "ann" {
				role = chat.RoleOwner
			} else if u == "carl" {
				role = chat.RoleAdmin
			}
			if err := tx.InsertMember(g1, &chat.Member{User: u, Name: string(u), Role: role, Joined: int64(i), LastActive: int64(i * 100)}); err != nil {
				return err
			}
		}
		wantCode(t, "duplicate member", tx.InsertMember(g1, &chat.Member{User: "bob", Role: chat.RoleMember}), qun.CodeConflict)
		wantCode(t, "member of a missing group", tx.InsertMember("g:none", &chat.Member{User: "bob", Role: chat.RoleMember}), qun.CodeNotFound)
		return tx.InsertMember(g2, &chat.Member{User: "bob", Role: chat.RoleMember, Shown: true})
	})
	view(t, s, ten, func(tx chat.Tx) error {
		g, _ := tx.Group(g1)
		if g.MemberCount != 4 {
			t.Fatalf("member count %d", g.MemberCount)
		}
		m, err := tx.Member(g1, "carl")
		if err != nil || m.Role != chat.RoleAdmin || m.Name != "carl" || m.LastActive != 0 {
			t.Fatalf("member %+v %v", m, err)
		}
		_, err = tx.Member(g1, "zed")
		wantCode(t, "missing member", err, qun.CodeNotFound)
		ms, _ := tx.Members(g1, chat.MemberQuery{Limit: 2})
		if len(ms) != 2 || ms[0].User != "ann" || ms[1].User != "bob" {
			t.Fatalf("members page 1 %+v", ms)
		}
		ms, _ = tx.Members(g1, chat.MemberQuery{After: "bob", Limit: 10})
		if len(ms) != 2 || ms[0].User != "carl" {
			t.Fatalf("members page 2 %+v", ms)
		}
		ms, _ = tx.Members(g1, chat.MemberQuery{MinRole: chat.RoleAdmin, Limit: 10})
		if len(ms) != 2 || ms[0].User != "ann" || ms[1].User != "carl" {
			t.Fatalf("admins %+v", ms)
		}
		ex, _ := tx.ExistingMembers(g1, []qun.UserID{"dan", "zed", "ann"})
		if !slices.Equal(ex, []qun.UserID{"ann", "dan"}) {
			t.Fatalf("existing %v", ex)
		}
		n, _ := tx.CountActive(g1, 200)
		if n != 2 {
			t.Fatalf("active %d", n)
		}
		return nil
	})
	update(t, s, ten, func(tx chat.Tx) error {
		m, _ := tx.Member(g1, "bob")
		m.Role, m.MutedUntil, m.Shown, m.ReadSeq, m.LastActive, m.Name = chat.RoleAdmin, 77, true, 12, 999, "Bob"
		if err := tx.UpdateMember(g1, m); err != nil {
			return err
		}
		wantCode(t, "update missing member", tx.UpdateMember(g1, &chat.Member{User: "zed", Role: chat.RoleMember}), qun.CodeNotFound)
		if err := tx.DeleteMember(g1, "dan"); err != nil {
			return err
		}
		wantCode(t, "delete missing member", tx.DeleteMember(g1, "dan"), qun.CodeNotFound)
		return nil
	})
	view(t, s, ten, func(tx chat.Tx) error {
		m, _ := tx.Member(g1, "bob")
		if m.Role != chat.RoleAdmin || m.MutedUntil != 77 || !m.Shown || m.ReadSeq != 12 || m.LastActive != 999 || m.Name != "Bob" {
			t.Fatalf("updated member %+v", m)
		}
		g, _ := tx.Group(g1)
		if g.MemberCount != 3 {
			t.Fatalf("member count after delete %d", g.MemberCount)
		}
		all, _ := tx.UserGroups("bob", false, "", 10)
		if len(all) != 2 || all[0].Group.ID != g1 || all[1].Group.ID != g2 || all[0].Member.ReadSeq != 12 || all[0].Group.Name != string(g1) {
			t.Fatalf("user groups %+v", all)
		}
		shown, _ := tx.UserGroups("bob", true, g1, 10)
		if len(shown) != 1 || shown[0].Group.ID != g2 {
			t.Fatalf("shown after g1 %+v", shown)
		}
		return nil
	})
	update(t, s, ten, func(tx chat.Tx) error {
		g, _ := tx.Group(g2)
		g.Dissolved = 5
		return tx.UpdateGroup(g)
	})
	view(t, s, ten, func(tx chat.Tx) error {
		all, _ := tx.UserGroups("bob", false, "", 10)
		if len(all) != 1 {
			t.Fatalf("dissolved group listed: %+v", all)
		}
		return nil
	})
}

func testBans(t *testing.T, s chat.Store) {
	update(t, s, ten, func(tx chat.Tx) error {
		for _, u := range []qun.UserID{"eve", "dan"} {
			if err := tx.InsertBan(g1, &chat.Ban{User: u, By: "ann", Reason: "spam", At: 5}); err != nil {
				return err
			}
		}
		wantCode(t, "double ban", tx.InsertBan(g1, &chat.Ban{User: "eve", By: "x"}), qun.CodeConflict)
		b, err := tx.Ban(g1, "eve")
		if err != nil || b.By != "ann" || b.Reason != "spam" || b.At != 5 {
			t.Fatalf("ban %+v %v", b, err)
		}
		_, err = tx.Ban(g2, "eve")
		wantCode(t, "ban elsewhere", err, qun.CodeNotFound)
		bs, _ := tx.Bans(g1, "", 10)
		if len(bs) != 2 || bs[0].User != "dan" {
			t.Fatalf("bans %+v", bs)
		}
		if bs, _ := tx.Bans(g1, "dan", 10); len(bs) != 1 || bs[0].User != "eve" {
			t.Fatalf("bans after dan %+v", bs)
		}
		if err := tx.DeleteBan(g1, "eve"); err != nil {
			return err
		}
		wantCode(t, "unban twice", tx.DeleteBan(g1, "eve"), qun.CodeNotFound)
		return nil
	})
}

func testInvitations(t *testing.T, s chat.Store) {
	update(t, s, ten, func(tx chat.Tx) error {
		if err := tx.PutInvitation(&chat.Invitation{Group: g1, User: "bob", By: "ann", At: 1}); err != nil {
			return err
		}
		if err := tx.PutInvitation(&chat.Invitation{Group: g2, User: "bob", By: "carl", At: 2}); err != nil {
			return err
		}
		if err := tx.PutInvitation(&chat.Invitation{Group: g1, User: "bob", By: "dan", ByAdmin: true, At: 3}); err != nil { // replaces
			return err
		}
		inv, err := tx.Invitation(g1, "bob")
		if err != nil || inv.By != "dan" || !inv.ByAdmin || inv.At != 3 {
			t.Fatalf("invitation %+v %v", inv, err)
		}
		list, _ := tx.Invitations("bob", 10)
		if len(list) != 2 || list[0].Group != g1 || list[1].Group != g2 {
			t.Fatalf("invitations %+v", list)
		}
		if err := tx.DeleteInvitation(g1, "bob"); err != nil {
			return err
		}
		wantCode(t, "delete twice", tx.DeleteInvitation(g1, "bob"), qun.CodeNotFound)
		_, err = tx.Invitation(g1, "bob")
		wantCode(t, "deleted invitation", err, qun.CodeNotFound)
		return nil
	})
}

func testCodes(t *testing.T, s chat.Store) {
	update(t, s, ten, func(tx chat.Tx) error {
		for i, c := range []string{"aaa", "bbb"} {
			if err := tx.InsertCode(&chat.InviteCode{Code: c, Group: g1, By: "ann", Created: int64(i), Expires: 100, MaxUses: 3}); err != nil {
				return err
			}
		}
		wantCode(t, "duplicate code", tx.InsertCode(&chat.InviteCode{Code: "aaa", Group: g2}), qun.CodeConflict)
		c, _ := tx.Code("aaa")
		c.Uses, c.Revoked = 2, true
		if err := tx.UpdateCode(c); err != nil {
			return err
		}
		got, err := tx.Code("aaa")
		if err != nil || got.Uses != 2 || !got.Revoked || got.Group != g1 || got.Expires != 100 || got.MaxUses != 3 || got.By != "ann" {
			t.Fatalf("code %+v %v", got, err)
		}
		_, err = tx.Code("zzz")
		wantCode(t, "missing code", err, qun.CodeNotFound)
		cs, _ := tx.Codes(g1, 10)
		if len(cs) != 2 || cs[0].Code != "bbb" {
			t.Fatalf("codes %+v", cs)
		}
		return nil
	})
}

func testRequests(t *testing.T, s chat.Store) {
	update(t, s, ten, func(tx chat.Tx) error {
		for i, u := range []qun.UserID{"bob", "ann"} {
			if err := tx.PutRequest(&chat.JoinRequest{Group: g1, User: u, Note: "hi", Via: "search", At: int64(i)}); err != nil {
				return err
			}
		}
		if err := tx.PutRequest(&chat.JoinRequest{Group: g1, User: "bob", Note: "again", Via: "code", Code: "c1", At: 0}); err != nil {
			return err
		}
		r, err := tx.Request(g1, "bob")
		if err != nil || r.Note != "again" || r.Via != "code" || r.Code != "c1" {
			t.Fatalf("request %+v %v", r, err)
		}
		rs, _ := tx.Requests(g1, 10)
		if len(rs) != 2 || rs[0].User != "bob" {
			t.Fatalf("requests %+v", rs)
		}
		if n, _ := tx.CountRequests(g1); n != 2 {
			t.Fatalf("count %d", n)
		}
		if err := tx.DeleteRequest(g1, "bob"); err != nil {
			return err
		}
		wantCode(t, "delete twice", tx.DeleteRequest(g1, "bob"), qun.CodeNotFound)
		return nil
	})
}

func testAnnouncements(t *testing.T, s chat.Store) {
	var ids []int64
	update(t, s, ten, func(tx chat.Tx) error {
		for _, text := range []string{"one", "two", "three"} {
			a := &chat.Announcement{Text: text, By: "ann", At: 1}
			if err := tx.InsertAnnouncement(g1, a); err != nil {
				return err
			}
			ids = append(ids, a.ID)
		}
		return tx.InsertAnnouncement(g2, &chat.Announcement{Text: "elsewhere"})
	})
	if !(ids[0] < ids[1] && ids[1] < ids[2]) {
		t.Fatalf("ids not increasing: %v", ids)
	}
	view(t, s, ten, func(tx chat.Tx) error {
		as, _ := tx.Announcements(g1, 0, 2)
		if len(as) != 2 || as[0].Text != "three" || as[1].Text != "two" {
			t.Fatalf("announcements %+v", as)
		}
		as, _ = tx.Announcements(g1, ids[1], 10)
		if len(as) != 1 || as[0].Text != "one" || as[0].By != "ann" {
			t.Fatalf("older %+v", as)
		}
		return nil
	})
}

func testPatches(t *testing.T, s chat.Store) {
	update(t, s, ten, func(tx chat.Tx) error {
		if err := tx.PutPatch(g1, &chat.Patch{Seq: 4, Text: "v2", Edited: 9, EditSeqs: []uint64{5}}); err != nil {
			return err
		}
		if err := tx.PutPatch(g1, &chat.Patch{Seq: 7, Recalled: true, By: "ann", At: 3}); err != nil {
			return err
		}
		return tx.PutPatch(g1, &chat.Patch{Seq: 4, Text: "v3", Edited: 10, EditSeqs: []uint64{5, 8}})
	})
	view(t, s, ten, func(tx chat.Tx) error {
		p, err := tx.Patch(g1, 4)
		if err != nil || p.Text != "v3" || !slices.Equal(p.EditSeqs, []uint64{5, 8}) {
			t.Fatalf("patch %+v %v", p, err)
		}
		_, err = tx.Patch(g2, 4)
		wantCode(t, "patch elsewhere", err, qun.CodeNotFound)
		ps, _ := tx.Patches(g1, []uint64{1, 4, 7})
		if len(ps) != 2 || !ps[7].Recalled || ps[7].By != "ann" || ps[4].Edited != 10 {
			t.Fatalf("patches %+v", ps)
		}
		return nil
	})
}

func testReports(t *testing.T, s chat.Store) {
	update(t, s, ten, func(tx chat.Tx) error {
		r1 := &chat.Report{Group: g1, Seq: 3, Reporter: "bob", Reason: "spam", At: 1}
		r2 := &chat.Report{Group: g1, Seq: 3, Reporter: "carl", Reason: "fraud", Note: "n", At: 2}
		for _, r := range []*chat.Report{r1, r2} {
			if err := tx.InsertReport(r); err != nil {
				return err
			}
		}
		if r1.ID == 0 || r2.ID <= r1.ID {
			t.Fatalf("report ids %d %d", r1.ID, r2.ID)
		}
		wantCode(t, "duplicate report", tx.InsertReport(&chat.Report{Group: g1, Seq: 3, Reporter: "bob", Reason: "x"}), qun.CodeConflict)
		r1.Resolved, r1.By = 9, "ann"
		if err := tx.UpdateReport(r1); err != nil {
			return err
		}
		got, err := tx.Report(g1, r1.ID)
		if err != nil || got.Resolved != 9 || got.By != "ann" || got.Reason != "spam" {
			t.Fatalf("report %+v %v", got, err)
		}
		_, err = tx.Report(g2, r1.ID)
		wantCode(t, "report of another group", err, qun.CodeNotFound)
		open, _ := tx.Reports(g1, true, 0, 10)
		if len(open) != 1 || open[0].ID != r2.ID || open[0].Note != "n" {
			t.Fatalf("open %+v", open)
		}
		all, _ := tx.Reports(g1, false, 0, 10)
		if len(all) != 2 || all[0].ID != r2.ID {
			t.Fatalf("all %+v", all)
		}
		if older, _ := tx.Reports(g1, false, r2.ID, 10); len(older) != 1 || older[0].ID != r1.ID {
			t.Fatalf("older %+v", older)
		}
		return nil
	})
}

func testAudit(t *testing.T, s chat.Store) {
	update(t, s, ten, func(tx chat.Tx) error {
		for i, a := range []string{"member.kick", "member.ban", "group.mute_all"} {
			e := &chat.AuditEntry{Actor: "ann", Action: a, Target: "bob", Detail: json.RawMessage(`{"n":1}`), At: int64(i)}
			if err := tx.InsertAudit(g1, e); err != nil {
				return err
			}
			if e.ID == 0 {
				t.Fatal("audit id not set")
			}
		}
		return tx.InsertAudit(g1, &chat.AuditEntry{Actor: "ann", Action: "announce"})
	})
	view(t, s, ten, func(tx chat.Tx) error {
		es, _ := tx.Audit(g1, 0, 3)
		if len(es) != 3 || es[0].Action != "announce" || es[1].Action != "group.mute_all" || string(es[1].Detail) != `{"n":1}` || es[0].Detail != nil {
			t.Fatalf("audit %+v", es)
		}
		older, _ := tx.Audit(g1, es[2].ID, 10)
		if len(older) != 1 || older[0].Action != "member.kick" || older[0].Target != "bob" {
			t.Fatalf("older %+v", older)
		}
		return nil
	})
}

func testCheckIns(t *testing.T, s chat.Store) {
	update(t, s, ten, func(tx chat.Tx) error {
		for i, u := range []qun.UserID{"bob", "ann"} {
			if err := tx.InsertCheckIn(g1, &chat.CheckIn{User: u, Day: "2025-01-02", Streak: i + 1, At: int64(i), N: i + 1}); err != nil {
				return err
			}
		}
		wantCode(t, "twice a day", tx.InsertCheckIn(g1, &chat.CheckIn{User: "bob", Day: "2025-01-02"}), qun.CodeConflict)
		if err := tx.InsertCheckIn(g1, &chat.CheckIn{User: "bob", Day: "2025-01-03", Streak: 2, N: 1}); err != nil {
			return err
		}
		c, err := tx.CheckIn(g1, "ann", "2025-01-02")
		if err != nil || c.Streak != 2 || c.N != 2 {
			t.Fatalf("check-in %+v %v", c, err)
		}
		_, err = tx.CheckIn(g1, "ann", "2025-01-03")
		wantCode(t, "no check-in", err, qun.CodeNotFound)
		cs, _ := tx.CheckIns(g1, "2025-01-02", 10)
		if len(cs) != 2 || cs[0].User != "bob" || cs[1].User != "ann" {
			t.Fatalf("check-ins %+v", cs)
		}
		if n, _ := tx.CountCheckIns(g1, "2025-01-02"); n != 2 {
			t.Fatalf("count %d", n)
		}
		return nil
	})
}

func testChains(t *testing.T, s chat.Store) {
	update(t, s, ten, func(tx chat.Tx) error {
		c := &chat.Chain{ID: "c1", Group: g1, Title: "hike", By: "ann", Limit: 10, Created: 1, Next: 1}
		if err := tx.InsertChain(c); err != nil {
			return err
		}
		wantCode(t, "duplicate chain", tx.InsertChain(c), qun.CodeConflict)
		if err := tx.InsertChain(&chat.Chain{ID: "c2", Group: g1, Closed: true}); err != nil {
			return err
		}
		if n, _ := tx.CountOpenChains(g1); n != 1 {
			t.Fatalf("open chains %d", n)
		}
		for i, u := range []qun.UserID{"zed", "amy"} {
			if err := tx.InsertEntry("c1", &chat.ChainEntry{User: u, Note: "n", N: i + 1}); err != nil {
				return err
			}
		}
		wantCode(t, "duplicate entry", tx.InsertEntry("c1", &chat.ChainEntry{User: "zed", N: 3}), qun.CodeConflict)
		c.Count, c.Next, c.Closed = 2, 3, true
		if err := tx.UpdateChain(c); err != nil {
			return err
		}
		got, err := tx.Chain(g1, "c1")
		if err != nil || got.Count != 2 || got.Next != 3 || !got.Closed || got.Title != "hike" || got.Limit != 10 {
			t.Fatalf("chain %+v %v", got, err)
		}
		_, err = tx.Chain(g2, "c1")
		wantCode(t, "chain of another group", err, qun.CodeNotFound)
		es, _ := tx.Entries("c1", 10)
		if len(es) != 2 || es[0].User != "zed" || es[1].User != "amy" {
			t.Fatalf("entries %+v", es)
		}
		if err := tx.DeleteEntry("c1", "zed"); err != nil {
			return err
		}
		wantCode(t, "delete twice", tx.DeleteEntry("c1", "zed"), qun.CodeNotFound)
		return nil
	})
}

func testPolls(t *testing.T, s chat.Store) {
	update(t, s, ten, func(tx chat.Tx) error {
		p := &chat.Poll{ID: "p1", Group: g1, Question: "q", Options: []string{"a", "b"}, Multi: true, MaxChoices: 2, Anonymous: true, Deadline: 50, By: "ann", Created: 1, Counts: []int{0, 0}}
		if err := tx.InsertPoll(p); err != nil {
			return err
		}
		wantCode(t, "duplicate poll", tx.InsertPoll(p), qun.CodeConflict)
		if n, _ := tx.CountOpenPolls(g1); n != 1 {
			t.Fatalf("open polls %d", n)
		}
		for _, u := range []qun.UserID{"bob", "amy"} {
			if err := tx.InsertVote("p1", &chat.Vote{User: u, Choices: []int{0, 1}, At: 3}); err != nil {
				return err
			}
		}
		wantCode(t, "second vote", tx.InsertVote("p1", &chat.Vote{User: "bob", Choices: []int{1}}), qun.CodeConflict)
		p.Counts, p.Voters, p.Closed = []int{2, 2}, 2, true
		if err := tx.UpdatePoll(p); err != nil {
			return err
		}
		got, err := tx.Poll(g1, "p1")
		if err != nil || !slices.Equal(got.Counts, []int{2, 2}) || got.Voters != 2 || !got.Closed || !got.Anonymous || !got.Multi || got.MaxChoices != 2 || !slices.Equal(got.Options, []string{"a", "b"}) {
			t.Fatalf("poll %+v %v", got, err)
		}
		if n, _ := tx.CountOpenPolls(g1); n != 0 {
			t.Fatalf("open polls after close %d", n)
		}
		v, err := tx.Vote("p1", "bob")
		if err != nil || !slices.Equal(v.Choices, []int{0, 1}) {
			t.Fatalf("vote %+v %v", v, err)
		}
		_, err = tx.Vote("p1", "zed")
		wantCode(t, "no vote", err, qun.CodeNotFound)
		vs, _ := tx.Votes("p1", "", 10)
		if len(vs) != 2 || vs[0].User != "amy" {
			t.Fatalf("votes %+v", vs)
		}
		if vs, _ := tx.Votes("p1", "amy", 10); len(vs) != 1 || vs[0].User != "bob" {
			t.Fatalf("votes after amy %+v", vs)
		}
		return nil
	})
}

func testRollback(t *testing.T, s chat.Store) {
	boom := errors.New("boom")
	err := s.Update(context.Background(), ten, func(tx chat.Tx) error {
		if err := tx.InsertGroup(group(g1, "half", true)); err != nil {
			return err
		}
		if err := tx.InsertMember(g1, &chat.Member{User: "ann", Role: chat.RoleOwner}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update returned %v, want fn's error", err)
	}
	view(t, s, ten, func(tx chat.Tx) error {
		_, err := tx.Group(g1)
		wantCode(t, "rolled back group", err, qun.CodeNotFound)
		_, err = tx.Member(g1, "ann")
		wantCode(t, "rolled back member", err, qun.CodeNotFound)
		return nil
	})
}

func testTenants(t *testing.T, s chat.Store) {
	// The same ids in two tenants are two different things.
	for _, tn := range []qun.TenantID{ten, other} {
		update(t, s, tn, func(tx chat.Tx) error {
			if err := tx.InsertGroup(group(g1, string(tn), true, "shared")); err != nil {
				return err
			}
			if err := tx.InsertMember(g1, &chat.Member{User: "ann", Name: string(tn), Role: chat.RoleOwner}); err != nil {
				return err
			}
			if err := tx.InsertCode(&chat.InviteCode{Code: "same", Group: g1, Expires: 1}); err != nil {
				return err
			}
			if err := tx.InsertChain(&chat.Chain{ID: "c", Group: g1, Title: string(tn)}); err != nil {
				return err
			}
			return tx.InsertPoll(&chat.Poll{ID: "p", Group: g1, Question: string(tn), Options: []string{"a"}, Counts: []int{0}})
		})
	}
	update(t, s, other, func(tx chat.Tx) error {
		if err := tx.InsertGroup(group(g2, "only in B", true, "shared")); err != nil {
			return err
		}
		if err := tx.InsertBan(g1, &chat.Ban{User: "eve"}); err != nil {
			return err
		}
		if err := tx.PutInvitation(&chat.Invitation{Group: g1, User: "bob"}); err != nil {
			return err
		}
		if err := tx.PutRequest(&chat.JoinRequest{Group: g1, User: "bob"}); err != nil {
			return err
		}
		if err := tx.InsertVote("p", &chat.Vote{User: "ann", Choices: []int{0}}); err != nil {
			return err
		}
		if err := tx.InsertEntry("c", &chat.ChainEntry{User: "ann", N: 1}); err != nil {
			return err
		}
		return tx.InsertCheckIn(g1, &chat.CheckIn{User: "ann", Day: "2025-01-01"})
	})
	view(t, s, ten, func(tx chat.Tx) error {
		g, _ := tx.Group(g1)
		m, _ := tx.Member(g1, "ann")
		c, _ := tx.Chain(g1, "c")
		p, _ := tx.Poll(g1, "p")
		if g.Name != string(ten) || m.Name != string(ten) || c.Title != string(ten) || p.Question != string(ten) || g.MemberCount != 1 {
			t.Fatalf("tenant A sees %+v %+v %+v %+v", g, m, c, p)
		}
		misses := map[string]error{}
		_, misses["group"] = tx.Group(g2)
		_, misses["ban"] = tx.Ban(g1, "eve")
		_, misses["invitation"] = tx.Invitation(g1, "bob")
		_, misses["request"] = tx.Request(g1, "bob")
		_, misses["vote"] = tx.Vote("p", "ann")
		_, misses["checkin"] = tx.CheckIn(g1, "ann", "2025-01-01")
		for what, err := range misses {
			wantCode(t, "tenant B's "+what+" from tenant A", err, qun.CodeNotFound)
		}
		if gs, _ := tx.SearchGroups(chat.GroupQuery{Tag: "shared", Limit: 10}); len(gs) != 1 {
			t.Fatalf("search across tenants: %d", len(gs))
		}
		if es, _ := tx.Entries("c", 10); len(es) != 0 {
			t.Fatalf("entries across tenants: %+v", es)
		}
		if ug, _ := tx.UserGroups("ann", false, "", 10); len(ug) != 1 || ug[0].Group.Name != string(ten) {
			t.Fatalf("user groups across tenants: %+v", ug)
		}
		if n, _ := tx.CountRequests(g1); n != 0 {
			t.Fatalf("requests across tenants: %d", n)
		}
		return nil
	})
	update(t, s, ten, func(tx chat.Tx) error {
		wantCode(t, "delete tenant B's ban", tx.DeleteBan(g1, "eve"), qun.CodeNotFound)
		return tx.DeleteMember(g1, "ann")
	})
	view(t, s, other, func(tx chat.Tx) error {
		if _, err := tx.Member(g1, "ann"); err != nil {
			t.Fatalf("tenant A's delete reached tenant B: %v", err)
		}
		return nil
	})
}
