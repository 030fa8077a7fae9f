package isolationtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/qclient"
	"github.com/qunkit/qun/shop"
)

// Tenant B's data carries this marker in every name and text: no answer to
// tenant A may contain it.
const marker = "bsecret"

const tenantA, tenantB = "ta", "tb"

// bData is tenant B's data: placeholder → id. String ids are swapped for
// made-up ones; numbers ($P, $SEQ, $RP, $ITEM, $ENDS) stay as they are.
type bData map[string]string

// seedB gives tenant B a group with messages, an announcement, an invite
// code, a chain, a poll, a report and a check-in; a live in the group; a
// board with an item and uploaded courseware in the live; a verified shop
// whose shelf is open in the live, with a coupon, an order, a tip, a red
// packet and a share link; and a kept replay of the live.
func seedB(t *testing.T, st *stack) (bData, []qun.RoomRef) {
	t.Helper()
	ctx := context.Background()
	host := st.Connect(t, tenantB, "bhost", qun.GrantCreateGroup)
	fan := st.Connect(t, tenantB, "bfan")
	d := bData{"$U": "bfan", "$ENDS": fmt.Sprint(time.Now().Add(24 * time.Hour).UnixMilli())}
	var id struct {
		ID   string `json:"id"`
		Seq  uint64 `json:"seq"`
		Code string `json:"code"`
	}
	get := func(cl *qclient.Client, op string, in any) {
		t.Helper()
		id.ID, id.Seq, id.Code = "", 0, ""
		call(t, cl, op, in, &id)
	}
	get(host, "chat.create", map[string]any{"name": marker + " group", "public": true, "tags": []string{marker}})
	g := id.ID
	d["$G"] = g
	call(t, fan, "chat.join", map[string]any{"group": g}, nil)
	get(host, "chat.send", map[string]any{"group": g, "kind": "text", "text": marker + " hello"})
	seq := id.Seq
	d["$SEQ"] = fmt.Sprint(seq)
	call(t, host, "chat.announce", map[string]any{"group": g, "text": marker + " notice"}, nil)
	get(host, "chat.code.create", map[string]any{"group": g})
	d["$CODE"] = id.Code
	get(host, "chat.chain.create", map[string]any{"group": g, "title": marker + " chain"})
	d["$CH"] = id.ID
	get(host, "chat.poll.create", map[string]any{"group": g, "question": marker + "?", "options": []string{"a", "b"}})
	d["$PO"] = id.ID
	var rep struct{ ID int64 }
	call(t, fan, "chat.report", map[string]any{"group": g, "seq": seq, "reason": "spam"}, &rep)
	d["$RP"] = fmt.Sprint(rep.ID)
	call(t, fan, "chat.checkin", map[string]any{"group": g}, nil)

	get(host, "live.start", map[string]any{"group": g, "title": marker + " live"})
	d["$L"], d["$LR"] = id.ID, "live:"+id.ID
	lr := d["$LR"]
	var q struct{ ID int64 }
	call(t, fan, "live.qa.ask", map[string]any{"live": d["$L"], "text": marker + " question"}, &q)
	d["$Q"] = fmt.Sprint(q.ID)

	get(host, "wb.create", map[string]any{"room": lr, "title": marker + " board"})
	d["$B"] = id.ID
	var open struct{ Pages []struct{ ID uint64 } }
	call(t, host, "wb.open", map[string]any{"board": d["$B"]}, &open)
	d["$P"] = fmt.Sprint(open.Pages[0].ID)
	var item struct{ ID uint64 }
	call(t, host, "wb.draw", map[string]any{"board": d["$B"], "page": open.Pages[0].ID, "item": map[string]any{"k": "text", "c": "#000000", "size": 0.02, "text": marker + " ink", "pts": []float64{0.1, 0.1}}}, &item)
	d["$ITEM"] = fmt.Sprint(item.ID)
	status, body := httpAsk(t, "POST", st.Server.URL+"/wb/boards/"+d["$B"]+"/pages", st.Token(t, tenantB, "bhost"), bytes.NewReader(pngBytes(t)), nil)
	var up struct{ Pages []struct{ BG string } }
	if err := json.Unmarshal([]byte(body), &up); status != 201 || err != nil || len(up.Pages) != 1 {
		t.Fatalf("upload: %d %s", status, body)
	}
	d["$F"] = up.Pages[0].BG

	get(host, "shop.create", map[string]any{"kind": "individual", "name": marker + " shop", "key": "k1"})
	d["$S"] = id.ID
	_, err := st.shop.VerifyShop(ctx, tenantB, shop.ShopID(d["$S"]), true)
	check(t, err)
	cat := st.shop.Catalog().(*shop.SQLiteCatalog)
	d["$PR"] = "pb1"
	check(t, cat.PutProduct(ctx, &shop.Product{ID: "pb1", Tenant: tenantB, Shop: shop.ShopID(d["$S"]), Title: marker + " tea", Price: shop.Money{Amount: 990, Currency: shop.CNY}, Stock: 50}))
	call(t, host, "shop.shelf.open", map[string]any{"room": lr, "shop": d["$S"]}, nil)
	call(t, host, "shop.shelf.add", map[string]any{"room": lr, "product": "pb1"}, nil)
	call(t, host, "shop.explain.start", map[string]any{"room": lr, "product": "pb1"}, nil)
	get(host, "shop.coupon.issue", map[string]any{"room": lr, "title": marker + " coupon", "discount": cny(100), "total": 10, "per_user": 1, "ends_at": time.Now().Add(24 * time.Hour).UnixMilli(), "key": "i1"})
	d["$C"] = id.ID
	call(t, fan, "shop.coupon.claim", map[string]any{"coupon": d["$C"], "key": "c1"}, nil)
	get(fan, "shop.buy", map[string]any{"room": lr, "product": "pb1", "qty": 1, "key": "b1"})
	d["$O"] = id.ID
	get(fan, "shop.tip", map[string]any{"room": lr, "amount": cny(500), "message": marker + " tip", "key": "t1"})
	d["$T"] = id.ID
	get(host, "shop.redpacket.send", map[string]any{"room": lr, "total": cny(1000), "count": 5, "greeting": marker, "key": "r1"})
	d["$K"] = id.ID
	var link struct{ Token string }
	call(t, fan, "shop.share.link", map[string]any{"room": lr}, &link)
	d["$TOK"] = link.Token

	get(host, "replay.start", map[string]any{"live": lr})
	d["$R"] = id.ID
	call(t, host, "replay.stop", map[string]any{"id": d["$R"]}, nil)
	call(t, host, "replay.keep", map[string]any{"id": d["$R"]}, nil)

	rooms := []qun.RoomRef{{Tenant: tenantB, Room: qun.RoomID(g)}, {Tenant: tenantB, Room: qun.RoomID(lr)},
		{Tenant: tenantB, Room: qun.RoomID("wb:" + d["$B"])}, {Tenant: tenantB, Room: qun.UserRoom("bhost")}, {Tenant: tenantB, Room: qun.UserRoom("bfan")}}
	return d, rooms
}

// fake returns made-up ids of the same shapes as d's: nothing has them.
func (d bData) fake() bData {
	f := bData{}
	for k, v := range d {
		switch k {
		case "$P", "$SEQ", "$RP", "$ITEM", "$ENDS", "$Q":
			f[k] = v
		case "$U":
			f[k] = "nobody" + strings.ToLower(qun.NewID())
		case "$LR":
			// set with $L below
		case "$TOK":
			f[k] = v[:len(v)/2] + strings.Repeat("A", len(v)-len(v)/2)
		default:
			f[k] = shapeOf(v)
		}
	}
	f["$LR"] = "live:" + f["$L"]
	return f
}

// shapeOf keeps v's prefix ("g:", "o_", ...) and replaces the rest with a
// fresh id of the same length.
func shapeOf(v string) string {
	i := strings.LastIndexAny(v, ":_") + 1
	rest := strings.Repeat(strings.ToLower(qun.NewID()), 4)
	if strings.ContainsAny(v[i:], "ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
		rest = strings.Repeat(qun.NewID(), 4)
	}
	return v[:i] + rest[:len(v)-i]
}

func cny(n int64) shop.Money { return shop.Money{Amount: n, Currency: shop.CNY} }

func pngBytes(t *testing.T) []byte {
	var buf bytes.Buffer
	check(t, png.Encode(&buf, image.NewRGBA(image.Rect(0, 0, 64, 36))))
	return buf.Bytes()
}
