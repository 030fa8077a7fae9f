package shop_test

import (
	"context"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/qclient"
	"github.com/qunkit/qun/internal/qtest"
	"github.com/qunkit/qun/shop"
)

// A viewer who arrives after a red packet was sent finds it with
// shop.redpackets and grabs it; paid, unexpired packets with shares left
// are listed, others are not, and no tenant sees another's.
func TestOpenRedPacketsOverWebSocket(t *testing.T) {
	e := newEnv(t, nil)
	_, room := e.liveShop(t, "t1", 1, 1)
	e.rooms.add("t2", room, "host")
	ctx := context.Background()
	host := ident("t1", "host")
	type listed struct {
		Packets []struct {
			shop.RedPacket
			MyClaim *shop.RedPacketClaim `json:"my_claim"`
		}
	}
	list := func(c *qclient.Client) listed {
		t.Helper()
		var l listed
		qtest.Call(t, c, "shop.redpackets", map[string]any{"room": room}, &l)
		return l
	}
	// Sent before anyone arrived: one unpaid, one paid for a single share,
	// one paid for three.
	unpaid, err := e.svc.SendRedPacket(ctx, host, shop.SendRedPacketInput{Room: room, Total: cny(100), Count: 1, Key: "a"})
	if err != nil {
		t.Fatal(err)
	}
	e.pay.paid.Store(true)
	single, err := e.svc.SendRedPacket(ctx, host, shop.SendRedPacketInput{Room: room, Total: cny(100), Count: 1, Key: "b"})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Second)
	three, err := e.svc.SendRedPacket(ctx, host, shop.SendRedPacketInput{Room: room, Total: cny(300), Count: 3, Greeting: "恭喜", Key: "c"})
	if err != nil {
		t.Fatal(err)
	}

	bob := e.Connect(t, "t1", "bob")
	l := list(bob)
	if len(l.Packets) != 2 || l.Packets[0].ID != three.ID || l.Packets[1].ID != single.ID || l.Packets[0].Greeting != "恭喜" ||
		l.Packets[0].MyClaim != nil || l.Packets[0].Remaining != 300 {
		t.Fatalf("bob's list %+v (unpaid %s)", l, unpaid.ID)
	}
	if l.Packets[0].PaymentRef != "" || l.Packets[0].PayURL != "" {
		t.Fatalf("another's payment details leaked: %+v", l.Packets[0].RedPacket)
	}
	var c shop.RedPacketClaim
	qtest.Call(t, bob, "shop.redpacket.claim", map[string]any{"packet": single.ID, "key": "k"}, nil)
	qtest.Call(t, bob, "shop.redpacket.claim", map[string]any{"packet": three.ID, "key": "k2"}, &c)
	// The single packet is claimed in full and gone; bob sees his share.
	l = list(bob)
	if len(l.Packets) != 1 || l.Packets[0].ID != three.ID || l.Packets[0].MyClaim == nil ||
		l.Packets[0].MyClaim.Amount != c.Amount || l.Packets[0].Claimed != 1 {
		t.Fatalf("after claiming %+v", l)
	}
	carol := e.Connect(t, "t1", "carol")
	if l := list(carol); len(l.Packets) != 1 || l.Packets[0].MyClaim != nil {
		t.Fatalf("carol's list %+v", l)
	}
	// Another tenant's room of the same name lists nothing; unknown rooms
	// and bad input are refused.
	if l := list(e.Connect(t, "t2", "bob")); len(l.Packets) != 0 {
		t.Fatalf("packets leaked across tenants: %+v", l)
	}
	qtest.CallErr(t, bob, "shop.redpackets", map[string]any{"room": "live:nope"}, qun.CodeNotFound)
	qtest.CallErr(t, bob, "shop.redpackets", map[string]any{}, qun.CodeInvalid)
	// Past its time (before the sweeper gets to it) a packet is not listed.
	e.clock.Advance(25 * time.Hour)
	if l := list(carol); len(l.Packets) != 0 {
		t.Fatalf("expired packet listed %+v", l)
	}
}
