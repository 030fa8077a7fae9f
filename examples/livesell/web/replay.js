// The live's replay: the recorded videos with the products the host
// explained on the timeline (click one to jump there), the product card in
// sync with the video, and the comments, tips and red packets as they happened.
import { Client, formatMoney } from "/qun/qun.js";
import { connectPage, esc, toast, userNames, fmtTime } from "/demo/login.js";
import { ReplayView } from "/demo/replay-view.js";

const $ = (id) => document.getElementById(id);
const { qun } = await connectPage(Client);
const names = await userNames();
const nameOf = (u) => names.get(u) || u;
const id = new URLSearchParams(location.search).get("id");

// The product explained at the playhead, rebuilt from the events up to it.
let explaining = null;
const showExplain = () => {
  $("explain").innerHTML = explaining ? `<div class="explain-card" id="explain-card" data-product="${esc(explaining.product)}">
    <img src="${esc(explaining.image || "")}" alt=""><div><span class="tag">讲解中 Explaining</span>
    <div style="font-weight:600;margin:2px 0">${esc(explaining.title)}</div><span class="price">${formatMoney(explaining.price)}</span></div></div>` : "";
};
const track = (ev) => {
  if (ev.type === "shop.explain.start") explaining = ev.d;
  if (ev.type === "shop.explain.stop" && explaining && explaining.product === ev.d.product) explaining = null;
};

const line = (ev) => {
  const d = ev.d || {};
  switch (ev.type) {
    case "chat.message": return d.recalled || d.kind !== "text" ? null : `<b>${esc(d.name || nameOf(ev.actor))}</b>：${esc(d.text)}`;
    case "shop.explain.start": return `🛍 讲解 Explaining <b>${esc(d.title)}</b> <span class="price">${formatMoney(d.price)}</span>`;
    case "shop.coupon.issued": return `🎟 优惠券 Coupon: ${esc(d.title)} ${formatMoney(d.discount)}`;
    case "shop.tip": return `🎁 ${esc(d.name || nameOf(d.from))} 打赏 tipped ${formatMoney(d.amount)}${d.message ? "：" + esc(d.message) : ""}`;
    case "shop.redpacket": return `🧧 ${esc(d.name || nameOf(d.from))} 发了红包 red packet ${formatMoney(d.total)}`;
    case "live.stage.accepted": return `🎙 ${esc(nameOf(d.user))} 连麦 co-hosting`;
  }
  return null;
};
const marker = (ev) => (ev.type === "shop.explain.start" ? `🛍 ${ev.d.title.split("·")[0].trim()}` : null);

const rv = new ReplayView($("player"), qun, {
  feed: $("feed"), line, marker,
  onReset: (ms, evs) => { explaining = null; evs.forEach(track); showExplain(); },
  onEvent: (ev) => { track(ev); showExplain(); },
});
window.replay = rv; // for the tests
try {
  const m = await rv.load(id);
  $("title").textContent = m.title || "直播回放 Live replay";
  // The products explained, each a jump into the replay.
  const seen = new Set();
  const box = $("explained");
  for (const ev of rv.player.events.filter((e) => e.type === "shop.explain.start")) {
    if (!seen.size) box.innerHTML = "";
    if (seen.has(ev.d.product)) continue;
    seen.add(ev.d.product);
    const el = document.createElement("div");
    el.className = "product";
    el.dataset.product = ev.d.product;
    el.innerHTML = `<img src="${esc(ev.d.image || "")}" alt=""><div class="grow"><div class="t">${esc(ev.d.title)}</div><span class="price">${formatMoney(ev.d.price)}</span></div>
      <button class="small" data-at="${ev.at}">▶ ${fmtTime(ev.at)} 看讲解 Watch</button>`;
    el.querySelector("button").onclick = () => { rv.player.seek(ev.at); rv.player.play(); };
    box.append(el);
  }
  rv.player.play();
} catch (e) {
  toast(e.message);
}
