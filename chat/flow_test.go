package chat_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/chat"
	"github.com/qunkit/qun/internal/qclient"
	"github.com/qunkit/qun/internal/qtest"
)

// TestFlow walks a group's life over real WebSockets and real SQLite:
// create, invite by code, join with approval, chat (edit, recall, reply,
// mention, pin, designate), history paging, read position, and resume
// after a reconnect with nothing lost or duplicated.
func TestFlow(t *testing.T) {
	e := newEnv(t, func(c *chat.Config) { c.InviteBaseURL = "https://vendor.example/join?src=share" })
	ann := e.owner(t, "t1", "ann")
	bob := e.Connect(t, "t1", "bob")

	g := createGroup(t, ann, "Tea lovers", obj{"approval": true, "tags": []string{"tea"}, "intro": "茶友群"})
	sub(t, ann, g)
	sub(t, ann, qun.UserRoom("ann"))
	sub(t, bob, qun.UserRoom("bob"))

	// An invite code, shared as a link; bob previews it and asks to join.
	code := call[chat.InviteCode](t, ann, "chat.code.create", obj{"group": g, "ttl": 3600, "max_uses": 5})
	if code.Link != "https://vendor.example/join?invite="+code.Code+"&src=share" {
		t.Fatalf("link %q", code.Link)
	}
	card := call[chat.Card](t, bob, "chat.code.preview", obj{"code": code.Code})
	if card.Name != "Tea lovers" || card.MemberCount != 1 {
		t.Fatalf("preview %+v", card)
	}
	res := call[chat.JoinResult](t, bob, "chat.code.join", obj{"code": code.Code, "note": "hi, I like tea"})
	if res.Status != "pending" {
		t.Fatalf("status %s", res.Status)
	}
	// Not a member yet: the group is not visible to bob, and not subscribable.
	qtest.CallErr(t, bob, "chat.send", obj{"group": g, "kind": "text", "text": "hello?"}, qun.CodeNotFound)
	qtest.CallErr(t, bob, "sub", obj{"room": g}, qun.CodeNotFound)

	// The owner is told, sees the queue, approves; bob is told.
	f := qtest.NextEvent(t, ann, chat.EvRequest)
	if f.Room != qun.UserRoom("ann") {
		t.Fatalf("request event in %s", f.Room)
	}
	reqs := call[[]chat.JoinRequest](t, ann, "chat.requests", obj{"group": g})
	if len(reqs) != 1 || reqs[0].User != "bob" || reqs[0].Note != "hi, I like tea" || reqs[0].Via != "code" {
		t.Fatalf("requests %+v", reqs)
	}
	call[struct{}](t, ann, "chat.request.approve", obj{"group": g, "user": "bob"})
	qtest.NextEvent(t, bob, chat.EvApproved)
	joined := qtest.NextEvent(t, ann, chat.EvJoined)
	var jd struct{ User, Via, By string }
	_ = json.Unmarshal(joined.D, &jd)
	if jd.User != "bob" || jd.Via != "approval" || jd.By != "ann" {
		t.Fatalf("joined %+v", jd)
	}
	sub(t, bob, g)

	// Chat: a message reaches both; bob replies and mentions ann.
	s1 := call[chat.Sent](t, ann, "chat.send", obj{"group": g, "kind": "text", "text": "welcome bob", "cid": "ann-local-1"}).Seq
	for _, c := range []*qclient.Client{ann, bob} {
		f, m := nextMessage(t, c)
		if f.Seq != s1 || f.Actor != "ann" || m.Text != "welcome bob" || m.Kind != chat.KindText || m.Name != "ann" || m.ClientID != "ann-local-1" {
			t.Fatalf("message %+v %+v", f, m)
		}
	}
	s2 := call[chat.Sent](t, bob, "chat.send", obj{"group": g, "kind": "text", "text": "thanks @ann", "reply_to": s1, "mentions": []string{"ann", "nobody"}}).Seq
	_, m := nextMessage(t, ann)
	if m.ReplyTo != s1 || !slices.Equal(m.Mentions, []qun.UserID{"ann"}) {
		t.Fatalf("reply %+v", m)
	}
	qtest.CallErr(t, bob, "chat.send", obj{"group": g, "kind": "text", "text": "x", "reply_to": 999}, qun.CodeInvalid)
	qtest.CallErr(t, bob, "chat.send", obj{"group": g, "kind": "text", "text": "hey all", "mention_all": true}, qun.CodeForbidden)

	// Other kinds: an image and a product card; money cards are the backend's.
	call[chat.Sent](t, bob, "chat.send", obj{"group": g, "kind": "image", "media": obj{"url": "https://cdn.example/a.jpg", "width": 640, "height": 480}})
	call[chat.Sent](t, ann, "chat.send", obj{"group": g, "kind": "product", "product": obj{"id": "p1", "title": "Longjing 250g", "price": 12800, "currency": "CNY"}})
	qtest.CallErr(t, ann, "chat.send", obj{"group": g, "kind": "red_packet", "money": obj{"ref": "x", "amount": 100}}, qun.CodeForbidden)
	qtest.CallErr(t, ann, "chat.send", obj{"group": g, "kind": "image"}, qun.CodeInvalid)
	if _, err := e.chat.Send(ctx(t), ident("t1", "ann"), chat.Send{Group: g, Content: chat.Content{Kind: chat.KindRedPacket, Money: &chat.MoneyCard{Ref: "pay-1", Amount: 888, Currency: "CNY", Note: "恭喜发财"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.chat.PostNotice(ctx(t), "t1", g, "Tasting at 8pm"); err != nil {
		t.Fatal(err)
	}

	// Edit: the sender only, within the window.
	qtest.CallErr(t, ann, "chat.edit", obj{"group": g, "seq": s2, "text": "hacked"}, qun.CodeForbidden)
	call[chat.Sent](t, bob, "chat.edit", obj{"group": g, "seq": s2, "text": "thanks a lot @ann"})
	ed := qtest.NextEvent(t, ann, chat.EvEdited)
	if ed.Actor != "bob" || !json.Valid(ed.D) {
		t.Fatalf("edited %+v", ed)
	}
	// Recall: bob's own message within the window; the content is gone from history.
	s3 := send(t, bob, g, "oops, wrong group")
	call[struct{}](t, bob, "chat.recall", obj{"group": g, "seq": s3})
	qtest.NextEvent(t, ann, chat.EvRecalled)
	e.clock.Advance(3 * time.Minute)
	s4 := send(t, bob, g, "too late to recall")
	e.clock.Advance(3 * time.Minute)
	qtest.CallErr(t, bob, "chat.recall", obj{"group": g, "seq": s4}, qun.CodeExpired)
	e.clock.Advance(15 * time.Minute)
	qtest.CallErr(t, bob, "chat.edit", obj{"group": g, "seq": s4, "text": "edited late"}, qun.CodeExpired)

	// Pin (admins) and designate (owner) a message.
	qtest.CallErr(t, bob, "chat.pin", obj{"group": g, "seq": s1, "on": true}, qun.CodeForbidden)
	call[struct{}](t, ann, "chat.pin", obj{"group": g, "seq": s1, "on": true})
	call[struct{}](t, ann, "chat.designate", obj{"group": g, "seq": s1, "on": true})
	qtest.CallErr(t, ann, "chat.pin", obj{"group": g, "seq": s3, "on": true}, qun.CodeConflict) // recalled
	view := call[chat.GroupView](t, bob, "chat.get", obj{"group": g})
	if !slices.Equal(view.Group.Pinned, []uint64{s1}) || !slices.Equal(view.Group.Designated, []uint64{s1}) {
		t.Fatalf("marks %+v", view.Group)
	}
	qtest.NextEvent(t, bob, chat.EvPinned)
	qtest.NextEvent(t, bob, chat.EvDesignated)

	// History shows the edit, hides the recalled text, and pages by seq.
	page := history(t, bob, obj{"group": g, "limit": 200})
	byseq := map[uint64]*chat.Entry{}
	for _, ev := range page.Events {
		byseq[ev.Seq] = ev
	}
	var m2, m3 chat.Message
	_ = json.Unmarshal(byseq[s2].D, &m2)
	_ = json.Unmarshal(byseq[s3].D, &m3)
	if m2.Text != "thanks a lot @ann" || m2.Edited == 0 {
		t.Fatalf("edited message in history %+v", m2)
	}
	if !m3.Recalled || m3.Text != "" {
		t.Fatalf("recalled message in history %+v", m3)
	}
	for _, ev := range page.Events {
		if json.Valid(ev.D) && containsText(ev.D, "wrong group") {
			t.Fatalf("recalled text served in %s", ev.Type)
		}
	}
	msg := call[chat.Entry](t, bob, "chat.message", obj{"group": g, "seq": s3})
	if containsText(msg.D, "wrong group") {
		t.Fatal("recalled text served by chat.message")
	}

	for i := range 30 {
		send(t, ann, g, fmt.Sprint("m", i))
	}
	var seen []uint64
	before := uint64(0)
	for {
		p := history(t, bob, obj{"group": g, "before": before, "limit": 7})
		if len(p.Events) == 0 {
			break
		}
		for i := len(p.Events) - 1; i >= 0; i-- {
			seen = append(seen, p.Events[i].Seq)
		}
		before = p.Events[0].Seq
	}
	head := view.Head
	_ = head
	for i, s := range seen { // newest to oldest, every seq once
		if s != seen[0]-uint64(i) {
			t.Fatalf("history pages not contiguous at %d: %v", i, seen)
		}
	}
	if seen[len(seen)-1] != 1 {
		t.Fatalf("history does not reach seq 1: %v", seen[len(seen)-1])
	}
	fwd := history(t, bob, obj{"group": g, "after": seen[0] - 3})
	if len(fwd.Events) != 3 || fwd.Events[2].Seq != seen[0] || fwd.Head != seen[0] {
		t.Fatalf("forward page %+v", fwd)
	}

	// Read position and unread count.
	bv := call[chat.GroupView](t, bob, "chat.get", obj{"group": g})
	if bv.Unread < 30 || bv.Head != seen[0] {
		t.Fatalf("unread %d head %d", bv.Unread, bv.Head)
	}
	call[struct{}](t, bob, "chat.read", obj{"group": g, "seq": bv.Head - 5})
	call[struct{}](t, bob, "chat.read", obj{"group": g, "seq": 2}) // never moves back
	qtest.CallErr(t, bob, "chat.read", obj{"group": g, "seq": bv.Head + 1}, qun.CodeInvalid)
	bv = call[chat.GroupView](t, bob, "chat.get", obj{"group": g})
	if bv.ReadSeq != bv.Head-5 || bv.Unread != 5 {
		t.Fatalf("after read: read %d unread %d", bv.ReadSeq, bv.Unread)
	}
	mine := call[[]chat.GroupView](t, bob, "chat.mine", obj{})
	if len(mine) != 1 || mine[0].Group.ID != g || mine[0].Unread != 5 || mine[0].Role != chat.RoleMember {
		t.Fatalf("mine %+v", mine)
	}

	// Resume: bob drains his stream up to the head, disconnects, misses
	// three messages, reconnects and resumes: exactly the missed ones, then live.
	last := drainTo(t, bob, g, bv.Head)
	bob.Close()
	var missed []uint64
	for i := range 3 {
		missed = append(missed, send(t, ann, g, fmt.Sprint("while away ", i)))
	}
	bob2 := e.Connect(t, "t1", "bob")
	var sres struct{ Head uint64 }
	qtest.Call(t, bob2, "sub", obj{"room": g, "after": last}, &sres)
	if sres.Head != missed[2] {
		t.Fatalf("resume head %d, want %d", sres.Head, missed[2])
	}
	live := send(t, ann, g, "you are back")
	for _, want := range append(missed, live) {
		f, _ := nextMessage(t, bob2)
		if f.Seq != want {
			t.Fatalf("resume: got seq %d, want %d", f.Seq, want)
		}
	}
	qtest.NoFrame(t, bob2, 100*time.Millisecond, func(f qclient.Frame) bool { return f.T == "ev" })
}

// drainTo reads c's events in room up to seq and returns the last seq seen.
func drainTo(t *testing.T, c *qclient.Client, room qun.RoomID, seq uint64) uint64 {
	t.Helper()
	var last uint64
	for last < seq {
		f := qtest.Next(t, c, func(f qclient.Frame) bool { return f.T == "ev" && f.Room == room })
		if f.Seq <= last {
			t.Fatalf("duplicate or out of order: %d after %d", f.Seq, last)
		}
		last = f.Seq
	}
	return last
}

func containsText(b []byte, s string) bool {
	return json.Valid(b) && string(b) != "" && contains(string(b), s)
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
