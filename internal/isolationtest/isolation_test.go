package isolationtest_test

import (
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/qclient"
)

// opCases holds, for every op registered on the Hub, its payload with
// placeholders for tenant B's ids (see seedB). An op whose payload has no
// placeholder acts on the caller's own tenant: its answer must only not
// carry B's data.
var opCases = map[string]string{
	// chat: groups
	"chat.create":         `{"name":"mine"}`,
	"chat.get":            `{"group":"$G"}`,
	"chat.update":         `{"group":"$G","name":"taken"}`,
	"chat.dissolve":       `{"group":"$G"}`,
	"chat.transfer":       `{"group":"$G","to":"$U"}`,
	"chat.search":         `{"q":"` + marker + `"}`,
	"chat.mine":           `{}`,
	"chat.profile.groups": `{"user":"$U"}`,
	"chat.profile.show":   `{"group":"$G","show":true}`,
	// chat: members and admin actions
	"chat.members":   `{"group":"$G"}`,
	"chat.leave":     `{"group":"$G"}`,
	"chat.kick":      `{"group":"$G","user":"$U"}`,
	"chat.ban":       `{"group":"$G","user":"$U"}`,
	"chat.unban":     `{"group":"$G","user":"$U"}`,
	"chat.bans":      `{"group":"$G"}`,
	"chat.mute":      `{"group":"$G","user":"$U","seconds":60}`,
	"chat.mute_all":  `{"group":"$G","on":true}`,
	"chat.slow_mode": `{"group":"$G","seconds":10}`,
	"chat.role":      `{"group":"$G","user":"$U","role":"admin"}`,
	// chat: joining
	"chat.join":               `{"group":"$G"}`,
	"chat.invite":             `{"group":"$G","users":["$U"]}`,
	"chat.invitations":        `{}`,
	"chat.invitation.accept":  `{"group":"$G"}`,
	"chat.invitation.decline": `{"group":"$G"}`,
	"chat.code.create":        `{"group":"$G"}`,
	"chat.code.revoke":        `{"code":"$CODE"}`,
	"chat.codes":              `{"group":"$G"}`,
	"chat.code.preview":       `{"code":"$CODE"}`,
	"chat.code.join":          `{"code":"$CODE"}`,
	"chat.requests":           `{"group":"$G"}`,
	"chat.request.approve":    `{"group":"$G","user":"$U"}`,
	"chat.request.reject":     `{"group":"$G","user":"$U"}`,
	// chat: announcements, messages, moderation, tools
	"chat.announce":       `{"group":"$G","text":"taken"}`,
	"chat.announcements":  `{"group":"$G"}`,
	"chat.send":           `{"group":"$G","kind":"text","text":"taken"}`,
	"chat.edit":           `{"group":"$G","seq":$SEQ,"text":"taken"}`,
	"chat.recall":         `{"group":"$G","seq":$SEQ}`,
	"chat.pin":            `{"group":"$G","seq":$SEQ,"on":true}`,
	"chat.designate":      `{"group":"$G","seq":$SEQ,"on":true}`,
	"chat.history":        `{"group":"$G"}`,
	"chat.message":        `{"group":"$G","seq":$SEQ}`,
	"chat.read":           `{"group":"$G","seq":$SEQ}`,
	"chat.report":         `{"group":"$G","seq":$SEQ,"reason":"spam"}`,
	"chat.reports":        `{"group":"$G"}`,
	"chat.report.resolve": `{"group":"$G","id":$RP}`,
	"chat.audit":          `{"group":"$G"}`,
	"chat.portrait":       `{"group":"$G"}`,
	"chat.checkin":        `{"group":"$G"}`,
	"chat.checkins":       `{"group":"$G"}`,
	"chat.chain.create":   `{"group":"$G","title":"taken"}`,
	"chat.chain.join":     `{"group":"$G","chain":"$CH"}`,
	"chat.chain.leave":    `{"group":"$G","chain":"$CH"}`,
	"chat.chain.close":    `{"group":"$G","chain":"$CH"}`,
	"chat.chain.get":      `{"group":"$G","chain":"$CH"}`,
	"chat.poll.create":    `{"group":"$G","question":"taken?","options":["a","b"]}`,
	"chat.poll.vote":      `{"group":"$G","poll":"$PO","choices":[0]}`,
	"chat.poll.close":     `{"group":"$G","poll":"$PO"}`,
	"chat.poll.get":       `{"group":"$G","poll":"$PO"}`,
	"chat.poll.votes":     `{"group":"$G","poll":"$PO"}`,

	// live
	"live.start":         `{"group":"$G"}`,
	"live.schedule":      `{"group":"$G","title":"taken","at":4102444800000}`,
	"live.pause":         `{"live":"$L"}`,
	"live.resume":        `{"live":"$L"}`,
	"live.end":           `{"live":"$L"}`,
	"live.get":           `{"live":"$L"}`,
	"live.list":          `{"group":"$G"}`,
	"live.remind":        `{"live":"$L","on":true}`,
	"live.share":         `{"live":"$L","group":"$G"}`,
	"live.join":          `{"live":"$L"}`,
	"live.leave":         `{"live":"$L"}`,
	"live.offer":         `{"live":"$L","sdp":"v=0"}`,
	"live.answer":        `{"live":"$L","sdp":"v=0"}`,
	"live.candidate":     `{"live":"$L","pc":"pub","candidate":{"candidate":""}}`,
	"live.restart":       `{"live":"$L"}`,
	"live.layer":         `{"live":"$L","layer":"low"}`,
	"live.stage.request": `{"live":"$L"}`,
	"live.stage.cancel":  `{"live":"$L"}`,
	"live.stage.accept":  `{"live":"$L","user":"$U"}`,
	"live.stage.reject":  `{"live":"$L","user":"$U"}`,
	"live.stage.remove":  `{"live":"$L","user":"$U"}`,
	"live.stage.mute":    `{"live":"$L","user":"$U","source":"camera","muted":true}`,
	"live.media":         `{"live":"$L","source":"camera","on":false}`,
	"live.kick":          `{"live":"$L","user":"$U"}`,
	"live.like":          `{"live":"$L","count":1}`,
	"live.qa.ask":        `{"live":"$L","text":"taken"}`,
	"live.qa.answer":     `{"live":"$L","id":$Q,"text":"taken"}`,
	"live.qa.feature":    `{"live":"$L","id":$Q}`,
	"live.qa.unfeature":  `{"live":"$L","id":$Q}`,
	"live.qa.list":       `{"live":"$L"}`,

	// whiteboard
	"wb.create":        `{"room":"$LR","title":"taken"}`,
	"wb.list":          `{"room":"$LR"}`,
	"wb.delete":        `{"board":"$B"}`,
	"wb.open":          `{"board":"$B"}`,
	"wb.items":         `{"board":"$B","page":$P}`,
	"wb.page":          `{"board":"$B","page":$P}`,
	"wb.page.add":      `{"board":"$B","w":0,"h":0}`,
	"wb.page.remove":   `{"board":"$B","page":$P}`,
	"wb.view":          `{"board":"$B","page":$P,"x":0,"y":0,"zoom":1}`,
	"wb.rights":        `{"board":"$B","user":"$U","draw":true}`,
	"wb.stroke.begin":  `{"board":"$B","page":$P,"tool":"pen","c":"#000000","w":0.01,"pts":[0.1,0.1,0.5]}`,
	"wb.stroke.append": `{"board":"$B","id":$ITEM,"pts":[0.2,0.2,0.5]}`,
	"wb.stroke.end":    `{"board":"$B","id":$ITEM,"pts":[0.2,0.2,0.5]}`,
	"wb.stroke.cancel": `{"board":"$B","id":$ITEM}`,
	"wb.draw":          `{"board":"$B","page":$P,"item":{"k":"text","c":"#000000","size":0.02,"text":"taken","pts":[0.1,0.1]}}`,
	"wb.erase":         `{"board":"$B","page":$P,"ids":[$ITEM]}`,
	"wb.clear":         `{"board":"$B","page":$P}`,
	"wb.undo":          `{"board":"$B"}`,
	"wb.redo":          `{"board":"$B"}`,
	"wb.laser":         `{"board":"$B","page":$P,"x":0.5,"y":0.5}`,

	// shop
	"shop.create":          `{"kind":"individual","name":"mine","key":"ka"}`,
	"shop.get":             `{"shop":"$S"}`,
	"shop.verify":          `{"shop":"$S","verified":false}`,
	"shop.products":        `{"shop":"$S"}`,
	"shop.shelf.open":      `{"room":"$LR","shop":"$S"}`,
	"shop.shelf":           `{"room":"$LR"}`,
	"shop.shelf.add":       `{"room":"$LR","product":"$PR"}`,
	"shop.shelf.remove":    `{"room":"$LR","product":"$PR"}`,
	"shop.shelf.reorder":   `{"room":"$LR","products":["$PR"]}`,
	"shop.explain.start":   `{"room":"$LR","product":"$PR"}`,
	"shop.explain.stop":    `{"room":"$LR"}`,
	"shop.coupon.issue":    `{"room":"$LR","title":"taken","discount":{"amount":1,"currency":"CNY"},"total":1,"per_user":1,"ends_at":$ENDS,"key":"ka"}`,
	"shop.coupon.claim":    `{"coupon":"$C","key":"ka"}`,
	"shop.coupons":         `{"room":"$LR"}`,
	"shop.buy":             `{"room":"$LR","product":"$PR","qty":1,"key":"ka"}`,
	"shop.order":           `{"order":"$O"}`,
	"shop.order.cancel":    `{"order":"$O"}`,
	"shop.orders.ship":     `{"rows":[{"order":"$O","carrier":"sf","tracking":"SF123"}]}`,
	"shop.tip":             `{"room":"$LR","amount":{"amount":100,"currency":"CNY"},"key":"ka"}`,
	"shop.redpacket.send":  `{"room":"$LR","total":{"amount":100,"currency":"CNY"},"count":1,"key":"ka"}`,
	"shop.redpacket.claim": `{"packet":"$K","key":"ka"}`,
	"shop.redpacket":       `{"packet":"$K"}`,
	"shop.redpackets":      `{"room":"$LR"}`,
	"shop.leaderboard":     `{"room":"$LR"}`,
	"shop.share.link":      `{"room":"$LR"}`,
	"shop.share.visit":     `{"room":"$LR","token":"$TOK"}`,
	"shop.share.stats":     `{"room":"$LR"}`,

	// replay
	"replay.start":    `{"live":"$LR"}`,
	"replay.stop":     `{"id":"$R"}`,
	"replay.get":      `{"id":"$R"}`,
	"replay.discard":  `{"id":"$R"}`,
	"replay.keep":     `{"id":"$R"}`,
	"replay.list":     `{"live":"$LR"}`,
	"replay.timeline": `{"id":"$R"}`,
}

// notNotFound lists the ops whose answer to another tenant's id (and to a
// made-up one, identically) is not not_found, and why that is right.
var notNotFound = map[string]qun.Code{
	// A share token is checked (signature, expiry, tenant) before the room:
	// another tenant's token is as invalid as a forged one.
	"shop.share.visit": qun.CodeInvalid,
}

// emptyOK lists the ops that answer another tenant's id (and a made-up
// one) with an empty success, and that answer, ids scrubbed.
var emptyOK = map[string]string{
	"chat.profile.groups": `[]`,                                                                                       // the user's groups in the caller's tenant
	"replay.list":         `{"replays":[]}`,                                                                           // the caller's tenant's replays of that live
	"shop.products":       `{"products":[]}`,                                                                          // the caller's tenant's catalogue
	"shop.orders.ship":    `{"results":[{"order":"$O","ok":false,"err":{"code":"not_found","msg":"no such order"}}]}`, // per-row outcomes
}

var placeholder = regexp.MustCompile(`\$[A-Z]+`)

// fill replaces the placeholders in tpl with d's values.
func fill(tpl string, d bData) string {
	return placeholder.ReplaceAllStringFunc(tpl, func(p string) string { return d[p] })
}

// scrub replaces every value of b and f in s by its placeholder, so that
// answers about B's ids and made-up ones compare equal when they say the
// same thing.
func scrub(s string, b, f bData) string {
	keys := make([]string, 0, len(b))
	for k := range b {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return len(b[keys[i]]) > len(b[keys[j]]) }) // longest first: "live:x" before "x"
	for _, k := range keys {
		switch k {
		case "$P", "$SEQ", "$RP", "$ITEM", "$ENDS", "$Q":
			continue
		}
		s = strings.ReplaceAll(s, b[k], k)
		s = strings.ReplaceAll(s, f[k], k)
	}
	return s
}

// snapshot is what tenant B sees of its own data, through its own ops,
// plus the heads of its rooms' logs.
func snapshot(t *testing.T, st *stack, d bData, rooms []qun.RoomRef) string {
	t.Helper()
	host := st.Connect(t, tenantB, "bhost")
	defer host.Close()
	var b strings.Builder
	for _, q := range []struct{ op, data string }{
		{"chat.get", `{"group":"$G"}`}, {"chat.members", `{"group":"$G"}`}, {"chat.history", `{"group":"$G"}`},
		{"chat.codes", `{"group":"$G"}`}, {"chat.chain.get", `{"group":"$G","chain":"$CH"}`},
		{"chat.poll.get", `{"group":"$G","poll":"$PO"}`}, {"chat.reports", `{"group":"$G"}`}, {"chat.bans", `{"group":"$G"}`},
		{"chat.announcements", `{"group":"$G"}`}, {"chat.audit", `{"group":"$G"}`},
		{"live.get", `{"live":"$L"}`}, {"live.qa.list", `{"live":"$L"}`}, {"shop.redpackets", `{"room":"$LR"}`}, {"wb.open", `{"board":"$B"}`}, {"wb.list", `{"room":"$LR"}`},
		{"shop.get", `{"shop":"$S"}`}, {"shop.shelf", `{"room":"$LR"}`}, {"shop.coupons", `{"room":"$LR"}`},
		{"shop.order", `{"order":"$O"}`}, {"shop.redpacket", `{"packet":"$K"}`}, {"shop.leaderboard", `{"room":"$LR"}`},
		{"shop.share.stats", `{"room":"$LR"}`}, {"replay.get", `{"id":"$R"}`}, {"replay.timeline", `{"id":"$R"}`},
	} {
		a := ask(host, q.op, []byte(fill(q.data, d)))
		if a.Code != "" {
			t.Fatalf("tenant B's own %s: %s %s", q.op, a.Code, a.Msg)
		}
		b.WriteString(q.op + " " + string(a.OK) + "\n")
	}
	for _, r := range rooms {
		last, err := st.log.Last(context.Background(), r)
		check(t, err)
		b.WriteString(r.String() + " head " + strings.Repeat("|", int(last)) + "\n")
	}
	return b.String()
}

// Tenant isolation on SQLite and on PostgreSQL: tenant A's admin calls
// every registered op and every HTTP route with tenant B's ids; each answer
// is the one a made-up id gets and carries none of B's data; tenant A's
// webhook endpoint receives none of B's messages; and B's data is
// unchanged afterwards.
func TestTenantIsolation(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			st := newStack(t, backend)
			hooks := watchWebhooks(t, st)
			d, rooms := seedB(t, st)
			f := d.fake()
			before := snapshot(t, st, d, rooms)
			a := st.Connect(t, tenantA, "aadmin", qun.GrantAdmin, qun.GrantCreateGroup)
			t.Run("ops", func(t *testing.T) { checkOps(t, a, st.Hub.Ops(), d, f) })
			t.Run("http", func(t *testing.T) { checkHTTP(t, st, d, f) })
			t.Run("webhooks", func(t *testing.T) { hooks.check(t) })
			if after := snapshot(t, st, d, rooms); after != before {
				t.Errorf("tenant B's data changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

// checkOps calls every op registered on the Hub as a, with B's ids and
// made-up ones.
func checkOps(t *testing.T, a *qclient.Client, ops []string, d, f bData) {
	if len(ops) < 100 {
		t.Fatalf("the Hub lists %d ops", len(ops))
	}
	var missing []string
	codes := map[qun.Code]int{}
	for _, op := range ops {
		tpl, ok := opCases[op]
		if !ok {
			missing = append(missing, op)
			continue
		}
		got := ask(a, op, []byte(fill(tpl, d)))
		codes[got.Code]++
		gotJSON := must(json.Marshal(got))
		if strings.Contains(string(gotJSON), marker) {
			t.Errorf("%s with B's ids answered B's data: %s", op, gotJSON)
		}
		if !placeholder.MatchString(tpl) {
			continue // acts on A's own tenant
		}
		req := fill(tpl, d)
		for k, v := range d {
			if len(v) > 6 && !strings.Contains(req, v) && strings.Contains(string(gotJSON), v) {
				t.Errorf("%s answered B's %s: %s", op, k, gotJSON)
			}
		}
		want := ask(a, op, []byte(fill(tpl, f)))
		g, w := scrub(string(gotJSON), d, f), scrub(string(must(json.Marshal(want))), d, f)
		if g != w {
			t.Errorf("%s: B's ids and made-up ids answer differently:\n  B's:     %s\n  made-up: %s", op, g, w)
		}
		wantCode := qun.CodeNotFound
		if c, ok := notNotFound[op]; ok {
			wantCode = c
		}
		if e, ok := emptyOK[op]; ok {
			if got.Code != "" || scrub(string(got.OK), d, f) != e {
				t.Errorf("%s with B's ids answered %s, want %s", op, g, e)
			}
		} else if got.Code != wantCode {
			t.Errorf("%s with B's ids answered %s (%s), want %s", op, got.Code, got.Msg, wantCode)
		}
	}
	if len(missing) > 0 {
		t.Errorf("registered ops without an isolation case: %v", missing)
	}
	for op := range opCases {
		if !slices.Contains(ops, op) {
			t.Errorf("case for %s, which is not registered", op)
		}
	}
	t.Logf("%d ops; answers by code: %v", len(ops), codes)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
