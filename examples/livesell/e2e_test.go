package main

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/chat"
	"github.com/qunkit/qun/examples/internal/demo"
	"github.com/qunkit/qun/examples/internal/e2e"
	"github.com/qunkit/qun/internal/browser"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startApp runs the example's whole server on a loopback port.
func startApp(t *testing.T) (*app, string) {
	var a *app
	base := e2e.Serve(t, func(base string) (http.Handler, func(context.Context) error, error) {
		var err error
		a, err = newApp(config{DataDir: t.TempDir(), BaseURL: base, Network: demo.Flags{}.Network()})
		if err != nil {
			return nil, nil, err
		}
		return a.handler, a.Shutdown, nil
	})
	return a, base
}

// TestFanGroupChatInBrowser is the chat story of the example, as two people
// would do it in two browser windows: the host creates a fan group and an
// invitation code, a fan joins with the code, and each sees the other's
// messages live; a refused message never shows; a recall disappears for both.
func TestFanGroupChatInBrowser(t *testing.T) {
	b := browser.Launch(t)
	_, base := startApp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	host := e2e.Login(t, ctx, b, base, "host", "/room.html")
	host.Fill("#create-name", "小美的粉丝群")
	host.Click("#create")
	host.Wait(`document.getElementById("group-name").textContent === "小美的粉丝群"`)
	host.Fill("#announce-text", "今晚8点直播 Live at 8pm")
	host.Click("#announce")
	host.Wait(`document.querySelector("[data-role=announcement]").textContent.includes("今晚8点直播")`)
	host.Click("#invite")
	host.Wait(`document.querySelector("[data-code]")`)
	var code string
	host.Eval(`document.querySelector("[data-code]").textContent.trim()`, &code)
	host.Shot("invite-code")

	fan := e2e.Login(t, ctx, b, base, "fan1", "/room.html")
	fan.Fill("#code", code)
	fan.Click("#join-code")
	fan.Wait(`document.getElementById("confirm-join")`)
	fan.Shot("preview")
	fan.Click("#confirm-join")
	fan.Wait(`document.getElementById("group-name").textContent === "小美的粉丝群"`)
	fan.Wait(`document.querySelector("[data-role=announcement]").textContent.includes("今晚8点直播")`)

	send := func(s *e2e.Page, text string) {
		s.Fill("#chat [data-role=text]", text)
		s.Click("#chat [data-role=composer] button")
	}
	hasMsg := func(text string) string {
		return `[...document.querySelectorAll(".msg .bubble")].some(b => b.textContent === ` + e2e.JS(text) + `)`
	}
	send(fan, "主播好！Hello from a fan")
	host.Wait(hasMsg("主播好！Hello from a fan"))
	send(host, "欢迎欢迎 Welcome!")
	fan.Wait(hasMsg("欢迎欢迎 Welcome!"))
	host.Wait(`document.getElementById("group-meta").textContent.startsWith("2 ")`)
	host.Shot("chatting")
	fan.Shot("chatting")

	// Moderation: an off-platform contact is refused and never shown. The
	// fan's next message arriving at the host proves the refused one was
	// not merely late.
	send(fan, "加我微信 wx: fan_abc123")
	fan.Wait(`document.querySelector(".toast") && document.querySelector(".toast").textContent.includes("Not sent")`)
	send(fan, "发错了 oops")
	host.Wait(hasMsg("发错了 oops"))
	var leaked bool
	host.Eval(`[...document.querySelectorAll(".msg .bubble")].some(b => b.textContent.includes("fan_abc123"))`, &leaked)
	if leaked {
		t.Fatal("a rejected message reached the host")
	}

	// Recall: the fan takes a message back; both see it recalled.
	fan.Do(`[...document.querySelectorAll(".msg.mine")].find(m => m.textContent.includes("发错了")).querySelector("[data-act=recall]").click()`)
	host.Wait(`!(` + hasMsg("发错了 oops") + `) && document.querySelector(".recalled")`)
	fan.Wait(`!(` + hasMsg("发错了 oops") + `)`)
	host.Shot("recalled")

	// A dropped connection: the fan misses messages while away and gets each
	// exactly once when the client has reconnected and resumed.
	fan.Do(`window.qunClient.ws.close()`)
	send(host, "断线时发的 sent while you were away")
	fan.Wait(`window.qunClient.state === "open" && [...document.querySelectorAll(".msg .bubble")].filter(b => b.textContent === "断线时发的 sent while you were away").length === 1`)

	// Reload: history comes back from the durable log, recall included.
	if err := fan.P.Navigate(ctx, base+"/room.html"); err != nil {
		t.Fatal(err)
	}
	fan.Wait(hasMsg("欢迎欢迎 Welcome!") + ` && ` + hasMsg("主播好！Hello from a fan") + ` && !(` + hasMsg("发错了 oops") + `)`)
	fan.Shot("reloaded")
}

// frames is how many frames the video element selector names has decoded.
func frames(selector string) string {
	return `(() => { const v = document.querySelector(` + e2e.JS(selector) + `); return v && v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality().totalVideoFrames : 0; })()`
}

// TestLiveSellingInBrowser is a live sale with three people in three
// browser windows. The host goes live in the fan group with the shop's
// products on the shelf, explains one and issues a coupon; a fan watches
// (video frames decoded), claims the coupon, comments, tips and sends a red
// packet through the pretend checkout, and shares the live; a guest who
// opens the shared link grabs a share of the red packet, comes on as
// co-host, and buys the explained product, which credits the fan; the fan
// buys with the coupon. The host ends the live and keeps the replay, whose
// timeline shows the explained products.
func TestLiveSellingInBrowser(t *testing.T) {
	b := browser.Launch(t)
	a, base := startApp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	begin := time.Now()

	// The fan group exists with the fan in it (the chat story above shows
	// how it comes to be in the browser).
	hostID := &qun.Identity{Tenant: tenant, User: "host", Name: users[0].Name, Grants: users[0].Grants}
	g, err := a.Chat.CreateGroup(ctx, hostID, chat.CreateGroup{Name: "小美的粉丝群 Mei's fans"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Chat.Invite(ctx, hostID, chat.Invite{Group: g.ID, Users: []qun.UserID{"fan1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Chat.AcceptInvitation(ctx, &qun.Identity{Tenant: tenant, User: "fan1", Name: users[2].Name}, chat.GroupRef{Group: g.ID}); err != nil {
		t.Fatal(err)
	}

	host := e2e.Login(t, ctx, b, base, "host", "/room.html")
	host.Wait(e2e.Visible("#golive"))
	host.Shot("group")
	host.Click("#golive")
	host.Wait(`location.pathname === "/live.html" && window.liveRoom && window.liveRoom.live.publishing && window.liveRoom.shop.shelf && window.liveRoom.shop.shelf.items.length === 4`)

	fan := e2e.Login(t, ctx, b, base, "fan1", "/room.html")
	fan.Wait(e2e.Visible("#enter-live"))
	fan.Click("#enter-live")
	fan.Wait(`location.pathname === "/live.html" && window.liveRoom && window.liveRoom.shop.shelf`)
	fan.Wait(frames(`#stage video[data-user=host][data-source=camera]`) + ` > 15`)
	fan.Shot("watching")

	// Now explaining: the product card appears for the viewer.
	host.Click(`#shelf .product[data-product=longjing] [data-act=explain]`)
	fan.Wait(e2e.Visible(`#explain-card[data-product=longjing]`))
	host.Shot("explaining")
	fan.Shot("explained-product")

	// A coupon: issued by the host, claimed by the fan.
	host.Click("#issue-coupon")
	host.Click("#c-issue")
	fan.Wait(e2e.Visible(`.coupon [data-act=claim]`))
	fan.Click(`.coupon [data-act=claim]`)
	fan.Wait(`document.querySelector(".coupon [data-act=claim]").disabled`)

	// A comment, a tip and a red packet, paid at the pretend cashier.
	fan.Click(`[data-tab=comments]`)
	fan.Fill("#comments [data-role=text]", "这个茶香吗？Does it smell good?")
	fan.Click("#comments [data-role=composer] button")
	host.Click(`[data-tab=comments]`)
	host.Wait(`[...document.querySelectorAll("#comments .msg .bubble")].some(b => b.textContent.includes("这个茶香吗"))`)
	fan.Click("#tip")
	fan.Click("#tip-send")
	fan.Wait(e2e.Visible("#pay-confirm"))
	fan.Shot("cashier")
	fan.Click("#pay-confirm")
	host.Wait(`[...document.querySelectorAll("#comments .msg.gift")].some(m => m.textContent.includes("¥8.88"))`)
	fan.Click("#redpacket")
	fan.Click("#rp-send")
	fan.Wait(e2e.Visible("#pay-confirm"))
	fan.Click("#pay-confirm")
	host.Wait(e2e.Visible(`.redpacket [data-act=grab]`))
	host.Shot("tip-and-red-packet")

	// The fan shares the live; the guest opens the link.
	fan.Click("#share2")
	fan.Wait(`document.getElementById("share-url") && document.getElementById("share-url").value.includes("share=")`)
	var shareURL string
	fan.Eval(`document.getElementById("share-url").value`, &shareURL)
	fan.Shot("share")
	fan.Click("#share-close")
	// The guest opens it on a phone.
	guestPage, err := b.NewPage(ctx, "guest", "about:blank")
	if err != nil {
		t.Fatal(err)
	}
	if err := guestPage.SetViewport(ctx, 390, 844, true); err != nil {
		t.Fatal(err)
	}
	if err := guestPage.Navigate(ctx, shareURL); err != nil {
		t.Fatal(err)
	}
	guest := &e2e.Page{T: t, Ctx: ctx, P: guestPage, Name: "guest"}
	guest.Wait(`document.querySelector("button[data-user=guest]")`)
	guest.Click(`button[data-user=guest]`)
	guest.Wait(`location.pathname === "/live.html" && window.liveRoom && window.liveRoom.shop.shelf`)
	guest.Wait(frames(`#stage video[data-user=host][data-source=camera]`) + ` > 10`)
	guest.Wait(e2e.Visible(`.redpacket [data-act=grab]`))
	guest.Click(`.redpacket [data-act=grab]`)
	guest.Wait(`document.querySelector(".redpacket [data-act=grab]").textContent.startsWith("¥")`)

	// Co-hosting: the guest asks, the host accepts, everyone sees the guest.
	guest.Click("#stage-req")
	host.Wait(`document.querySelector(".req[data-user=guest] [data-act=accept]")`)
	host.Click(`.req[data-user=guest] [data-act=accept]`)
	host.Wait(frames(`#stage video[data-user=guest][data-source=camera]`) + ` > 10`)
	fan.Wait(frames(`#stage video[data-user=guest][data-source=camera]`) + ` > 10`)
	host.Shot("co-host")
	guest.Shot("co-hosting")

	// The fan's connection drops: the client reconnects by itself, resumes
	// the room and rebuilds the media; the video goes on.
	var before int
	fan.Eval(frames(`#stage video[data-user=host][data-source=camera]`), &before)
	fan.Do(`window.qunClient.ws.close()`)
	fan.Wait(`window.qunClient.state === "open" && window.liveRoom.live.pcs.sub && window.liveRoom.live.pcs.sub.connectionState === "connected"`)
	fan.Wait(frames(`#stage video[data-user=host][data-source=camera]`) + fmt.Sprintf(" > %d", before+20))

	// The guest buys the explained product; the order credits the fan.
	guest.Click(`#explain-card [data-act=buy]`)
	guest.Click("#place-order")
	guest.Wait(e2e.Visible("#pay-confirm"))
	guest.Click("#pay-confirm")
	guest.Wait(`document.querySelector("#orders [data-status=paid]")`)
	guest.Shot("bought")

	// The fan buys a cup with the coupon: ¥59 − ¥10.
	fan.Click(`[data-tab=shelf]`)
	fan.Click(`#shelf .product[data-product=cup] [data-act=buy]`)
	fan.Wait(`document.getElementById("total") && document.getElementById("total").textContent === "¥49.00"`)
	fan.Click("#place-order")
	fan.Wait(e2e.Visible("#pay-confirm"))
	fan.Click("#pay-confirm")
	fan.Wait(`document.querySelector("#orders [data-status=paid]")`)
	fan.Click(`[data-tab=board]`)
	fan.Wait(`document.getElementById("share-stats").textContent.includes("1 位观众") && document.getElementById("share-stats").textContent.includes("1 单")`)
	fan.Shot("orders-and-shares")

	// A second product explained, then the end of the live and its replay.
	host.Click(`[data-tab=shelf]`)
	host.Click(`#shelf .product[data-product=oolong] [data-act=explain]`)
	fan.Wait(e2e.Visible(`#explain-card[data-product=oolong]`))
	host.Click("#end-live")
	host.Click("#end-live")
	host.Wait(e2e.Visible("#keep-replay"))
	host.Click("#keep-replay")
	fan.Wait(e2e.Visible("#ended"))
	fan.Shot("ended")
	fan.Click(`#ended a`)
	fan.Wait(`location.pathname === "/room.html" && document.querySelector("[data-replay][data-state=kept] a")`)
	fan.Click(`[data-replay][data-state=kept] a`)
	fan.Wait(`location.pathname === "/replay.html" && window.replay && window.replay.player.manifest`)
	fan.Wait(frames(`.replay-stage video[data-source=camera]`) + ` > 10`)
	fan.Wait(`document.querySelectorAll("#explained .product").length === 2`)
	fan.Click(`#explained .product[data-product=longjing] button`)
	fan.Wait(e2e.Visible(`#explain-card[data-product=longjing]`))
	fan.Shot("replay")
	t.Logf("live selling story took %s", time.Since(begin).Round(time.Second))
}
