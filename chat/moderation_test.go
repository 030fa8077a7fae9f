package chat_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/chat"
	"github.com/qunkit/qun/internal/qtest"
)

func TestModerationRejectsContacts(t *testing.T) {
	e := newEnv(t, nil)
	ann := e.owner(t, "t1", "ann")
	bob := e.Connect(t, "t1", "bob")
	g := createGroup(t, ann, "Trade", nil)
	join(t, ann, bob, g)
	sub(t, ann, g)
	head := send(t, bob, g, "hello")
	qtest.NextEvent(t, ann, chat.EvMessage)

	for _, text := range []string{
		"call me 13812345678",
		"加我微信 wxid_abc123",
		"wx: abc123 for a discount",
	} {
		err := qtest.CallErr(t, bob, "chat.send", obj{"group": g, "kind": "text", "text": text}, qun.CodeRejected)
		if !strings.Contains(err.Message, "contact") {
			t.Errorf("%q: reason %q", text, err.Message)
		}
	}
	// Never fanned out, never stored.
	qtest.NoFrame(t, ann, 150*time.Millisecond, isEvent(chat.EvMessage))
	if last, _ := e.log.Last(ctx(t), qun.RoomRef{Tenant: "t1", Room: g}); last != head {
		t.Fatalf("log head moved from %d to %d", head, last)
	}
	// Edits, product cards and announcements are reviewed too.
	qtest.CallErr(t, bob, "chat.edit", obj{"group": g, "seq": head, "text": "QQ 123456789"}, qun.CodeRejected)
	qtest.CallErr(t, bob, "chat.send", obj{"group": g, "kind": "product", "product": obj{"id": "p", "title": "V信 seller888 cheap", "price": 1}}, qun.CodeRejected)
	qtest.CallErr(t, ann, "chat.announce", obj{"group": g, "text": "联系电话 0571-88886666"}, qun.CodeRejected)
	if m := call[chat.Entry](t, bob, "chat.message", obj{"group": g, "seq": head}); contains(string(m.D), "QQ") {
		t.Fatalf("rejected edit applied: %s", m.D)
	}
	// Oversize text is too large and changes nothing either.
	qtest.CallErr(t, bob, "chat.send", obj{"group": g, "kind": "text", "text": strings.Repeat("长", 4001)}, qun.CodeTooLarge)
	send(t, bob, g, strings.Repeat("长", 4000))
}

func TestKeywordReviewer(t *testing.T) {
	r := chat.NewKeywordReviewer(chat.KeywordConfig{Words: []string{"赌博", "casino"}, Patterns: []*regexp.Regexp{regexp.MustCompile(`dm me`)}})
	cases := map[string]chat.Action{
		"hello everyone":                chat.Allow,
		"the price is 128 yuan, 3 left": chat.Allow,
		"order no. 20251120":            chat.Allow,
		"I saw it on 微信 yesterday":      chat.Allow,
		"wx is short for wechat":        chat.Allow,
		"my phone 138 1234 5678":        chat.Reject,
		"+86-138-1234-5678":             chat.Reject,
		"手机：１３８１２３４５６７８":                chat.Reject, // full-width digits
		"一三八一二三四五六七八":                   chat.Reject, // Chinese numerals
		"tel 0571 8888 6666":            chat.Reject,
		"whatsapp +44 7700 900123":      chat.Reject,
		"微信号: tea_lover88":              chat.Reject,
		"VX：Abc12345":                   chat.Reject,
		"加v 详聊":                         chat.Reject,
		"add me on wechat":              chat.Reject,
		"QQ号 12345678":                  chat.Reject,
		"扣扣：98765432":                   chat.Reject,
		"私聊加我qq":                        chat.Reject,
		"free casino chips":             chat.Reject,
		"网上赌博":                          chat.Reject,
		"ｃａｓｉｎｏ":                        chat.Reject,
		"just dm me":                    chat.Reject,
	}
	for text, want := range cases {
		v, err := r.Review(context.Background(), &chat.ReviewRequest{Content: &chat.Content{Kind: chat.KindText, Text: text}})
		if err != nil || v.Action != want {
			t.Errorf("%q: got %v (%s), want %v", text, v.Action, v.Reason, want)
		}
	}
	off := chat.NewKeywordReviewer(chat.KeywordConfig{AllowContacts: true})
	if v, _ := off.Review(context.Background(), &chat.ReviewRequest{Content: &chat.Content{Kind: chat.KindText, Text: "13812345678"}}); v.Action != chat.Allow {
		t.Error("AllowContacts still rejects")
	}
	mask := chat.NewKeywordReviewer(chat.KeywordConfig{Words: []string{"damn"}, MaskWords: true})
	v, _ := mask.Review(context.Background(), &chat.ReviewRequest{Content: &chat.Content{Kind: chat.KindText, Text: "Damn, it's late, damn"}})
	if v.Action != chat.Mask || v.Text != "****, it's late, ****" {
		t.Errorf("mask: %+v", v)
	}
}

// notifier records what it is told.
type notifier struct {
	mu       sync.Mutex
	mentions []chat.Mention
	anns     []string
}

func (n *notifier) Mentioned(_ context.Context, m chat.Mention) {
	n.mu.Lock()
	n.mentions = append(n.mentions, m)
	n.mu.Unlock()
}

func (n *notifier) Announced(_ context.Context, _ qun.TenantID, _ qun.RoomID, a *chat.Announcement) {
	n.mu.Lock()
	n.anns = append(n.anns, a.Text)
	n.mu.Unlock()
}

func TestReviewerHookMaskAndFailure(t *testing.T) {
	fail := false
	n := &notifier{}
	e := newEnv(t, func(c *chat.Config) {
		c.Notifier = n
		c.Reviewer = chat.ReviewerFunc(func(_ context.Context, r *chat.ReviewRequest) (chat.Verdict, error) {
			if fail {
				return chat.Verdict{}, errors.New("moderation API down")
			}
			if strings.Contains(r.Content.Text, "secret") {
				return chat.Verdict{Action: chat.Mask, Text: strings.ReplaceAll(r.Content.Text, "secret", "******")}, nil
			}
			return chat.Verdict{Action: chat.Allow}, nil
		})
	})
	ann := e.owner(t, "t1", "ann")
	bob := e.Connect(t, "t1", "bob")
	g := createGroup(t, ann, "Hooks", nil)
	join(t, ann, bob, g)
	sub(t, bob, g)
	res := call[chat.Sent](t, ann, "chat.send", obj{"group": g, "kind": "text", "text": "the secret is out", "mentions": []string{"bob"}, "mention_all": true})
	_, m := nextMessage(t, bob)
	if !res.Masked || m.Text != "the ****** is out" || !m.MentionAll {
		t.Fatalf("masked %+v %+v", res, m)
	}
	call[chat.Announcement](t, ann, "chat.announce", obj{"group": g, "text": "Rules: be kind"})
	n.mu.Lock()
	if len(n.mentions) != 1 || !n.mentions[0].All || n.mentions[0].Users[0] != "bob" || n.mentions[0].Seq != res.Seq || len(n.anns) != 1 {
		t.Fatalf("notifier %+v %+v", n.mentions, n.anns)
	}
	n.mu.Unlock()
	fail = true
	qtest.CallErr(t, bob, "chat.send", obj{"group": g, "kind": "text", "text": "hi"}, qun.CodeUnavailable)
}

func TestRateLimitAndSlowMode(t *testing.T) {
	e := newEnv(t, func(c *chat.Config) { c.SendRate, c.SendBurst = 1, 3 })
	ann := e.owner(t, "t1", "ann")
	bob := e.Connect(t, "t1", "bob")
	g := createGroup(t, ann, "Slow", nil)
	join(t, ann, bob, g)

	for i := range 3 {
		send(t, bob, g, "burst "+string(rune('a'+i)))
	}
	qtest.CallErr(t, bob, "chat.send", obj{"group": g, "kind": "text", "text": "too fast"}, qun.CodeRateLimited)
	e.clock.Advance(time.Second)
	send(t, bob, g, "one more")

	e.clock.Advance(10 * time.Second) // refill
	call[struct{}](t, ann, "chat.slow_mode", obj{"group": g, "seconds": 30})
	qtest.CallErr(t, ann, "chat.slow_mode", obj{"group": g, "seconds": 3601}, qun.CodeInvalid)
	send(t, bob, g, "slow 1")
	err := qtest.CallErr(t, bob, "chat.send", obj{"group": g, "kind": "text", "text": "slow 2"}, qun.CodeRateLimited)
	if !strings.Contains(err.Message, "slow mode") {
		t.Fatalf("message %q", err.Message)
	}
	send(t, ann, g, "admins are not slowed")
	send(t, ann, g, "admins are not slowed, again")
	e.clock.Advance(30 * time.Second)
	send(t, bob, g, "slow 2")
	call[struct{}](t, ann, "chat.slow_mode", obj{"group": g, "seconds": 0})
	send(t, bob, g, "fast again")
}

func TestReports(t *testing.T) {
	e := newEnv(t, nil)
	ann := e.owner(t, "t1", "ann")
	bob, eve := e.Connect(t, "t1", "bob"), e.Connect(t, "t1", "eve")
	g := createGroup(t, ann, "Reports", nil)
	join(t, ann, bob, g)
	join(t, ann, eve, g)
	bad := send(t, eve, g, "buy followers cheap")
	r := call[chat.Report](t, bob, "chat.report", obj{"group": g, "seq": bad, "reason": "spam", "note": "again"})
	qtest.CallErr(t, bob, "chat.report", obj{"group": g, "seq": bad, "reason": "spam"}, qun.CodeConflict)
	qtest.CallErr(t, bob, "chat.report", obj{"group": g, "seq": bad, "reason": "boring"}, qun.CodeInvalid)
	qtest.CallErr(t, bob, "chat.report", obj{"group": g, "seq": 999, "reason": "spam"}, qun.CodeNotFound)
	call[chat.Report](t, ann, "chat.report", obj{"group": g, "seq": bad, "reason": "fraud"})

	list := call[[]chat.Report](t, ann, "chat.reports", obj{"group": g, "open": true})
	if len(list) != 2 || list[1].ID != r.ID || list[1].Reporter != "bob" || list[1].Seq != bad || list[1].Note != "again" {
		t.Fatalf("reports %+v", list)
	}
	call[struct{}](t, ann, "chat.report.resolve", obj{"group": g, "id": r.ID})
	if open := call[[]chat.Report](t, ann, "chat.reports", obj{"group": g, "open": true}); len(open) != 1 {
		t.Fatalf("open reports %+v", open)
	}
	if all := call[[]chat.Report](t, ann, "chat.reports", obj{"group": g}); len(all) != 2 || all[1].Resolved == 0 || all[1].By != "ann" {
		t.Fatalf("all reports %+v", all)
	}
	// The admin recalls the reported message; the recall is audited.
	call[struct{}](t, ann, "chat.recall", obj{"group": g, "seq": bad})
	audit := call[[]chat.AuditEntry](t, ann, "chat.audit", obj{"group": g, "limit": 2})
	if audit[0].Action != "message.recall" || audit[0].Target != "eve" || audit[1].Action != "report.resolve" {
		t.Fatalf("audit %+v", audit)
	}
}

func TestAnnouncements(t *testing.T) {
	e := newEnv(t, nil)
	ann := e.owner(t, "t1", "ann")
	bob := e.Connect(t, "t1", "bob")
	g := createGroup(t, ann, "News", nil)
	join(t, ann, bob, g)
	sub(t, bob, g)
	for _, text := range []string{"v1: welcome", "v2: meet at 8", ""} {
		call[chat.Announcement](t, ann, "chat.announce", obj{"group": g, "text": text})
		ev := qtest.NextEvent(t, bob, chat.EvAnnouncement)
		if !contains(string(ev.D), `"text":"`+text+`"`) {
			t.Fatalf("announcement event %s", ev.D)
		}
	}
	hist := call[[]chat.Announcement](t, bob, "chat.announcements", obj{"group": g})
	if len(hist) != 3 || hist[1].Text != "v2: meet at 8" || hist[2].Text != "v1: welcome" || hist[0].By != "ann" {
		t.Fatalf("history %+v", hist)
	}
	call[chat.Announcement](t, ann, "chat.announce", obj{"group": g, "text": "v4"})
	if v := call[chat.GroupView](t, bob, "chat.get", obj{"group": g}); v.Announcement == nil || v.Announcement.Text != "v4" {
		t.Fatalf("current announcement %+v", v.Announcement)
	}
	if older := call[[]chat.Announcement](t, bob, "chat.announcements", obj{"group": g, "before": hist[1].ID}); len(older) != 1 || older[0].Text != "v1: welcome" {
		t.Fatalf("older %+v", older)
	}
	qtest.CallErr(t, ann, "chat.announce", obj{"group": g, "text": strings.Repeat("x", 2001)}, qun.CodeInvalid)
}
