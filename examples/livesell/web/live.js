// The live room of the fan group: the host and co-hosts on video, the shop
// shelf with the product being explained, coupons, tips, red packets, a
// pretend checkout, share links that credit the sharer, and the group chat
// as the live's comments. All of it is the qun SDK over one connection.
import { Client, Live, Shop, formatMoney } from "/qun/qun.js";
import { connectPage, twoClicks, esc, toast, userNames } from "/demo/login.js";
import { ChatPanel } from "/demo/chat-panel.js";
import { StageView } from "/demo/live-stage.js";
import { openCashier } from "/cashier.js";

const $ = (id) => document.getElementById(id);
const q = new URLSearchParams(location.search);
const liveId = q.get("live");
let shareToken = q.get("share");
const { qun, me } = await connectPage(Client);
const names = await userNames();
const nameOf = (u) => names.get(u) || u;

const live = new Live(qun, liveId);
const shop = new Shop(qun, live.room, { events: live });
const room = { live, shop, stage: null, comments: null, claims: new Map() };
window.liveRoom = room; // for the tests
window.qunDebug = async () => ({ live: await live.stats(), info: live.info });
live.on("error", (e) => console.warn("live:", e));

let info;
try {
  info = await live.join();
} catch (e) {
  $("stage").innerHTML = `<div class="card">这个直播不存在或你无权观看 This live does not exist or is not open to you. <a href="/room.html">‹ 粉丝群 Group</a></div>`;
  throw e;
}
$("title").textContent = info.title;
document.title = `${info.title} · 直播间`;
room.stage = new StageView($("stage"), live, { names, empty: info.state === "ended" ? "直播已结束 The live has ended" : "主播马上就来 The host will be right here" });
const host = live.isHost;
$("host-controls").style.display = host ? "" : "none";
$("viewer-controls").style.display = host ? "none" : "";
$("requests-card").classList.toggle("hidden", !host);

if (info.state === "ended") $("ended").classList.remove("hidden");
else $("onair").classList.remove("hidden");
if (host && info.state !== "ended") {
  const local = await live.publish({ video: { width: 640, height: 360 } });
  room.stage.setLocal("camera", local);
}

// ---- the live: counts, the stage (连麦), the end ---------------------------

live.on("info", (i) => {
  $("counts").textContent = `👥 ${i.viewers || 0} · ❤️ ${i.likes || 0}`;
  renderRequests();
});
live.on("stage", async (on) => {
  if (on) {
    toast("主播同意了你的连麦 You are now co-hosting");
    try { room.stage.setLocal("camera", await live.publish({ video: { width: 640, height: 360 } })); } catch (e) { toast(e.message); }
  } else {
    room.stage.setLocal("camera", null);
  }
  renderRequests();
});
live.on("ended", () => {
  $("onair").classList.add("hidden");
  $("ended").classList.remove("hidden");
  if (host) askKeep();
});
live.on("event", (ev) => {
  if (ev.type === "live.stage.requested" && host) toast(`${nameOf(ev.d.user)} 申请连麦 asks to co-host`);
});

function renderRequests() {
  const i = live.info || {};
  const requests = i.requests || [], stage = i.stage || [];
  const btn = $("stage-req");
  btn.textContent = live.onStage ? "⬇ 下麦 Leave co-hosting" : requests.includes(me.user) ? "✋ 取消申请 Cancel request" : "🙋 申请连麦 Ask to co-host";
  btn.classList.toggle("on", live.onStage || requests.includes(me.user));
  if (!host) return;
  let html = "";
  for (const u of requests) html += `<div class="req" data-user="${esc(u)}"><span class="avatar">${esc(nameOf(u).slice(0, 1))}</span><span class="grow">🙋 ${esc(nameOf(u))}</span><button class="small primary" data-act="accept">同意 Accept</button><button class="small" data-act="reject">拒绝 Decline</button></div>`;
  for (const u of stage) html += `<div class="req" data-user="${esc(u)}"><span class="avatar">${esc(nameOf(u).slice(0, 1))}</span><span class="grow">🎙 ${esc(nameOf(u))} <span class="pill">连麦中 co-hosting</span></span><button class="small" data-act="remove">下麦 End</button></div>`;
  $("requests").innerHTML = html || `<span class="muted">观众可以申请和你连麦 Viewers can ask to co-host with you</span>`;
  for (const row of $("requests").querySelectorAll(".req")) {
    for (const b of row.querySelectorAll("button")) {
      b.onclick = () => ({ accept: () => live.acceptStage(row.dataset.user), reject: () => live.rejectStage(row.dataset.user), remove: () => live.removeStage(row.dataset.user) })[b.dataset.act]().catch((e) => toast(e.message));
    }
  }
}
renderRequests();

$("stage-req").onclick = () => {
  const requests = (live.info && live.info.requests) || [];
  const act = live.onStage ? live.removeStage() : requests.includes(me.user) ? live.cancelStage() : live.requestStage();
  act.catch((e) => toast(e.message));
};
$("like").onclick = () => live.like(1).catch((e) => toast(e.message));
for (const [id, src] of [["cam", "camera"], ["mic", "microphone"]]) {
  $(id).onclick = async () => {
    const on = !$(id).classList.contains("on");
    try { await live.setMedia(src, on); $(id).classList.toggle("on", on); } catch (e) { toast(e.message); }
  };
}

// Two clicks end the live, so that a slip does not.
twoClicks($("end-live"), "确认下播？ Confirm end", async () => {
  const rs = await qun.call("replay.list", { live: live.room });
  room.replay = rs.replays.find((r) => r.state === "recording") || null;
  if (room.replay) room.replay = await qun.call("replay.stop", { id: room.replay.id }).catch(() => room.replay);
  await live.end();
});

function askKeep() {
  if (!room.replay) return;
  const m = sheet(`<h3>直播结束 The live is over</h3><p class="muted">保存回放后，粉丝可以在群里观看，并看到讲解过的商品。 Keep the replay and fans can watch it in the group, with the products you explained.</p>
    <div class="row" style="justify-content:flex-end"><button id="discard-replay">删除 Discard</button><button class="primary" id="keep-replay">保存回放 Keep replay</button></div>`);
  m.querySelector("#keep-replay").onclick = async () => {
    try {
      const r = await qun.call("replay.keep", { id: room.replay.id });
      // A card in the fan group links to the replay.
      await qun.call("chat.send", { group: info.group, kind: "live", live: { id: r.id, title: `直播回放 Replay: ${r.title || info.title}`, url: `/replay.html?id=${encodeURIComponent(r.id)}` } });
      toast("回放已保存 Replay kept");
    } catch (e) { toast(e.message); }
    m.remove();
  };
  m.querySelector("#discard-replay").onclick = () => { qun.call("replay.discard", { id: room.replay.id }).catch((e) => toast(e.message)); m.remove(); };
}

// ---- the shop: shelf, now explaining, buying --------------------------------

function renderShelf() {
  const sh = shop.shelf;
  const box = $("shelf");
  $("shelf-n").textContent = sh ? `(${sh.items.length})` : "";
  if (!sh) { box.innerHTML = `<span class="muted">这场直播没有商品 No products in this live</span>`; return; }
  box.innerHTML = "";
  for (const it of sh.items) {
    const el = document.createElement("div");
    const explaining = sh.explaining === it.product;
    el.className = "product" + (explaining ? " explaining" : "");
    el.dataset.product = it.product;
    el.innerHTML = `<img src="${esc(it.image || "")}" alt="">
      <div class="grow"><div class="t">${explaining ? `<span class="pill">讲解中 Live now</span> ` : ""}${esc(it.title)}</div>
      <div><span class="price">${formatMoney(it.price)}</span> <span class="muted">库存 stock <span data-role="stock">${it.stock}</span></span></div></div>
      ${host ? `<button class="small ${explaining ? "" : "primary"}" data-act="explain">${explaining ? "停止 Stop" : "讲解 Explain"}</button>`
        : `<button class="small primary" data-act="buy" ${it.stock > 0 ? "" : "disabled"}>${it.stock > 0 ? "购买 Buy" : "已售罄 Sold out"}</button>`}`;
    const b = el.querySelector("button");
    b.onclick = () => {
      if (b.dataset.act === "buy") return buy(it);
      (explaining ? shop.stopExplaining() : shop.explain(it.product)).catch((e) => toast(e.message));
    };
    box.append(el);
  }
}

function renderExplain(item) {
  const box = $("explain");
  if (!item) { box.innerHTML = ""; return; }
  box.innerHTML = `<div class="explain-card" id="explain-card" data-product="${esc(item.product)}">
    <img src="${esc(item.image || "")}" alt="">
    <div><span class="tag">讲解中 Now explaining</span><div style="font-weight:600;margin:2px 0">${esc(item.title)}</div><span class="price">${formatMoney(item.price)}</span></div>
    ${host ? "" : `<button class="primary" data-act="buy">抢购 Buy</button>`}</div>`;
  const b = box.querySelector("button");
  if (b) b.onclick = () => buy(shop.item(item.product) || item);
}

shop.on("shelf", renderShelf);
shop.on("stock", ({ product, stock }) => {
  const el = document.querySelector(`#shelf .product[data-product="${CSS.escape(product)}"] [data-role=stock]`);
  if (el) el.textContent = stock;
});
shop.on("explain", (item) => {
  renderExplain(item);
  if (item && room.comments) room.comments.note(`🛍 正在讲解 Now explaining: <b>${esc(item.title)}</b>`);
});

// buy opens the order sheet: quantity, the best coupon this user claimed,
// then the pretend cashier.
function buy(item) {
  const usable = () => [...room.claims.values()].filter(({ coupon: c }) => (!c.product || c.product === item.product));
  const m = sheet(`<div class="row"><img src="${esc(item.image || "")}" style="width:64px;height:64px;border-radius:8px"><div class="grow"><b>${esc(item.title)}</b><div class="price">${formatMoney(item.price)}</div></div></div>
    <div class="row" style="margin:12px 0"><span class="grow">数量 Quantity</span><button class="small" data-q="-1">−</button><b id="qty">1</b><button class="small" data-q="1">＋</button></div>
    <div class="row" id="coupon-line" style="margin-bottom:8px"></div>
    <div class="row" style="justify-content:space-between"><span>合计 Total</span><span class="amount" style="font-size:24px" id="total"></span></div>
    <div class="row" style="justify-content:flex-end;margin-top:10px"><button id="buy-cancel">取消 Cancel</button><button class="primary" id="place-order">提交订单 Place order</button></div>`);
  let qty = 1;
  const update = () => {
    const sub = item.price.amount * qty;
    const c = usable().find(({ coupon }) => !coupon.min_spend || coupon.min_spend <= sub);
    const off = c ? Math.min(c.coupon.discount.amount, sub - 1) : 0;
    m.querySelector("#qty").textContent = qty;
    m.querySelector("#coupon-line").innerHTML = c ? `<span class="pill">🎟 ${esc(c.coupon.title)}</span><span class="grow"></span><span class="price">−${formatMoney({ amount: off, currency: item.price.currency })}</span>` : `<span class="muted">没有可用的优惠券 No coupon applies</span>`;
    m.querySelector("#total").textContent = formatMoney({ amount: sub - off, currency: item.price.currency });
    return c;
  };
  update();
  for (const b of m.querySelectorAll("[data-q]")) b.onclick = () => { qty = Math.max(1, Math.min(99, qty + Number(b.dataset.q))); update(); };
  m.querySelector("#buy-cancel").onclick = () => m.remove();
  m.querySelector("#place-order").onclick = async () => {
    const c = update();
    m.querySelectorAll("button").forEach((b) => (b.disabled = true));
    try {
      const order = await shop.buy(item.product, { qty, coupon_claim: c && c.claim.id, share: shareToken || undefined });
      m.remove();
      if (c) room.claims.delete(c.coupon.id);
      const status = await openCashier(qun, order.id);
      if (status === "paid") toast(`支付成功，等待发货 Paid: ${item.title}`);
    } catch (e) {
      m.remove();
      toast(e.code === "exhausted" ? "已售罄 Sold out" : e.message);
    }
  };
}

shop.on("order", (o) => {
  const el = document.getElementById("orders") || (() => {
    const d = document.createElement("div");
    d.id = "orders";
    d.className = "card";
    d.innerHTML = `<h3>我的订单 My orders</h3><div class="col" data-role="list"></div>`;
    $("perks").append(d);
    return d;
  })();
  const list = el.querySelector("[data-role=list]");
  let row = list.querySelector(`[data-order="${CSS.escape(o.id)}"]`);
  if (!row) { row = document.createElement("div"); row.className = "row"; row.dataset.order = o.id; list.prepend(row); }
  row.dataset.status = o.status;
  const st = { reserved: "待支付 unpaid", paid: "已支付 paid", shipped: "已发货 shipped", cancelled: "已取消 cancelled", expired: "已过期 expired" }[o.status] || o.status;
  row.innerHTML = `<span class="grow">${esc(o.title)} × ${o.qty}</span><span class="price">${formatMoney(o.total)}</span><span class="pill">${esc(st)}</span>`;
});

// ---- coupons, tips, red packets ---------------------------------------------

function couponBanner(c) {
  if (host || c.ends_at < Date.now()) return;
  const el = document.createElement("div");
  el.className = "coupon";
  el.dataset.coupon = c.id;
  el.innerHTML = `<span class="amt">${formatMoney(c.discount)}</span><div class="grow"><b>${esc(c.title)}</b><div class="muted">${c.min_spend ? `满 ${formatMoney({ amount: c.min_spend, currency: c.discount.currency })} 可用 · over ${formatMoney({ amount: c.min_spend, currency: c.discount.currency })}` : "无门槛 no minimum"} · 剩 ${c.total - c.claimed} 张 left</div></div>
    <button class="primary small" data-act="claim">领取 Claim</button>`;
  el.querySelector("button").onclick = async (e) => {
    try {
      const claim = await shop.claimCoupon(c.id);
      room.claims.set(c.id, { coupon: c, claim });
      e.target.textContent = "已领取 Claimed";
      e.target.disabled = true;
      toast("领到优惠券，下单自动使用 Coupon claimed: it applies at checkout");
    } catch (err) { toast(err.code === "exhausted" ? "已领完 None left" : err.message); }
  };
  $("perks").prepend(el);
}

shop.on("coupon", (c) => {
  couponBanner(c);
  if (room.comments) room.comments.note(`🎟 主播发了优惠券 A coupon: <b>${esc(c.title)}</b> ${formatMoney(c.discount)}`);
});

function gift(text) {
  const g = document.createElement("div");
  g.className = "gift";
  g.textContent = text;
  $("floating").append(g);
  setTimeout(() => g.remove(), 4000);
}

shop.on("tip", (t) => {
  const text = `🎁 ${t.name || nameOf(t.from)} 打赏了 tipped ${formatMoney(t.amount)}${t.message ? "：" + t.message : ""}`;
  gift(text);
  if (room.comments) room.comments.note(esc(text), "note gift");
  loadBoard();
});
shop.on("redpacket", (p) => {
  const text = `🧧 ${p.name || nameOf(p.from)} 发了红包 sent a red packet: ${p.greeting || "恭喜发财"}`;
  gift(text);
  if (room.comments) room.comments.note(esc(text), "note gift");
  packetBanner(p);
  loadBoard();
});

function packetBanner(p, mine) {
  if (document.querySelector(`.redpacket[data-packet="${CSS.escape(p.id)}"]`)) return;
  const el = document.createElement("div");
  el.className = "redpacket";
  el.dataset.packet = p.id;
  el.innerHTML = `<span style="font-size:26px">🧧</span><div class="grow"><b>${esc(p.greeting || "恭喜发财 Good fortune")}</b><div style="font-size:13px">${esc(p.name || nameOf(p.from))} · ${p.count} 个 shares</div></div><button data-act="grab">抢 Grab</button>`;
  el.querySelector("button").onclick = async (e) => {
    try {
      const c = await shop.claimRedPacket(p.id);
      e.target.textContent = formatMoney(c.amount);
      e.target.disabled = true;
      toast(`抢到 You got ${formatMoney(c.amount)}`);
    } catch (err) { toast({ exhausted: "抢完了 All taken", conflict: "已经抢过 Already grabbed", expired: "已过期 Expired" }[err.code] || err.message); }
  };
  if (mine) { const b = el.querySelector("button"); b.textContent = formatMoney(mine.amount); b.disabled = true; }
  $("perks").prepend(el);
}

// Red packets sent before this viewer came, still there to grab (paid, not
// expired, shares left), with the viewer's own share if already grabbed.
async function loadPackets() {
  const { packets } = await qun.call("shop.redpackets", { room: live.room });
  for (const p of packets) packetBanner(p, p.my_claim);
}
shop.on("redpacket.claimed", (c) => {
  if (room.comments) room.comments.note(`🧧 ${esc(c.name || nameOf(c.user))} 抢到了 got ${formatMoney(c.amount)}`);
});

$("issue-coupon").onclick = () => {
  const m = sheet(`<h3>发优惠券 Issue a coupon</h3>
    <div class="col">
      <label class="row"><span class="grow">名称 Title</span><input id="c-title" value="直播专享 ¥10 off" maxlength="64"></label>
      <label class="row"><span class="grow">减 Discount (¥)</span><input id="c-discount" type="number" value="10" min="0.01" step="0.01" style="width:100px"></label>
      <label class="row"><span class="grow">满 Min spend (¥)</span><input id="c-min" type="number" value="50" min="0" step="0.01" style="width:100px"></label>
      <label class="row"><span class="grow">数量 Total</span><input id="c-total" type="number" value="100" min="1" style="width:100px"></label>
      <label class="row"><span class="grow">有效 Valid (minutes)</span><input id="c-minutes" type="number" value="30" min="1" style="width:100px"></label>
    </div>
    <div class="row" style="justify-content:flex-end;margin-top:12px"><button id="c-cancel">取消 Cancel</button><button class="primary" id="c-issue">发放 Issue</button></div>`);
  m.querySelector("#c-cancel").onclick = () => m.remove();
  m.querySelector("#c-issue").onclick = async () => {
    const v = (id) => Number(m.querySelector(id).value);
    try {
      await shop.issueCoupon({ title: m.querySelector("#c-title").value.trim(), discount: Math.round(v("#c-discount") * 100), min_spend: Math.round(v("#c-min") * 100), total: v("#c-total"), per_user: 1, minutes: v("#c-minutes") });
      m.remove();
      toast("优惠券已发放 Coupon issued");
    } catch (e) { toast(e.message); }
  };
};

$("tip").onclick = () => {
  const amounts = [100, 666, 888, 5200];
  const m = sheet(`<h3>打赏主播 Tip the host</h3><div class="chips" id="amounts">${amounts.map((a, i) => `<button class="${i === 2 ? "on" : ""}" data-amount="${a}">${formatMoney(a)}</button>`).join("")}</div>
    <input id="tip-msg" maxlength="100" placeholder="说点什么 Say something" value="主播辛苦了 Thanks!" style="width:100%;margin-top:10px">
    <div class="row" style="justify-content:flex-end;margin-top:12px"><button id="tip-cancel">取消 Cancel</button><button class="primary" id="tip-send">打赏 Tip</button></div>`);
  let amount = 888;
  for (const b of m.querySelectorAll("[data-amount]")) b.onclick = () => { amount = Number(b.dataset.amount); m.querySelectorAll("[data-amount]").forEach((o) => o.classList.toggle("on", o === b)); };
  m.querySelector("#tip-cancel").onclick = () => m.remove();
  m.querySelector("#tip-send").onclick = async () => {
    try {
      const t = await shop.tip(amount, m.querySelector("#tip-msg").value.trim());
      m.remove();
      if (t.status === "pending") await openCashier(qun, t.id);
    } catch (e) { toast(e.message); m.remove(); }
  };
};

$("redpacket").onclick = () => {
  const m = sheet(`<h3>发红包 Send a red packet</h3>
    <div class="col">
      <label class="row"><span class="grow">总金额 Total (¥)</span><input id="rp-total" type="number" value="20" min="0.01" step="0.01" style="width:100px"></label>
      <label class="row"><span class="grow">个数 Shares</span><input id="rp-count" type="number" value="5" min="1" max="1000" style="width:100px"></label>
      <input id="rp-greeting" maxlength="64" value="恭喜发财 Good fortune!">
    </div>
    <div class="row" style="justify-content:flex-end;margin-top:12px"><button id="rp-cancel">取消 Cancel</button><button class="primary" id="rp-send">塞钱进红包 Send</button></div>`);
  m.querySelector("#rp-cancel").onclick = () => m.remove();
  m.querySelector("#rp-send").onclick = async () => {
    try {
      const p = await shop.sendRedPacket(Math.round(Number(m.querySelector("#rp-total").value) * 100), Number(m.querySelector("#rp-count").value), m.querySelector("#rp-greeting").value.trim());
      m.remove();
      if (p.status === "pending") await openCashier(qun, p.id);
    } catch (e) { toast(e.message); m.remove(); }
  };
};

// ---- sharing (裂变): a link that credits the sharer ------------------------

async function share() {
  try {
    const link = await shop.shareLink();
    const url = `${location.origin}/live.html?live=${encodeURIComponent(liveId)}&share=${encodeURIComponent(link.token)}`;
    const st = await shop.shareStats();
    const m = sheet(`<h3>分享直播 Share this live</h3><p class="muted">好友通过你的链接进来并下单，都会记在你名下 Friends who come through your link, and what they buy, are credited to you.</p>
      <div class="row"><input readonly id="share-url" class="grow" value="${esc(url)}"><button class="small" id="share-copy">复制 Copy</button></div>
      <p id="share-mine">你已带来 ${st.viewers} 位观众 · ${st.orders} 单 · ${formatMoney({ amount: st.amount, currency: "CNY" })} · you brought ${st.viewers} viewers, ${st.orders} orders</p>
      <div class="row" style="justify-content:flex-end"><button class="primary" id="share-close">好的 OK</button></div>`);
    m.querySelector("#share-copy").onclick = () => navigator.clipboard.writeText(url).then(() => toast("已复制 Copied"), () => toast(url));
    m.querySelector("#share-close").onclick = () => m.remove();
  } catch (e) { toast(e.message); }
}
$("share").onclick = share;
$("share2").onclick = share;

// A viewer who came through someone's link credits them (the first link wins).
if (shareToken && !host) {
  shop.visit(shareToken).then((a) => toast(`欢迎！你是 ${nameOf(a.sharer)} 邀请来的 Welcome: ${nameOf(a.sharer)} shared this live with you`), (e) => {
    if (e.code !== "conflict") shareToken = null; // your own link, or not valid here
  });
  history.replaceState(null, "", `/live.html?live=${encodeURIComponent(liveId)}`);
}

// ---- leaderboard, tabs, comments ------------------------------------------------

async function loadBoard() {
  try {
    const lb = await shop.leaderboard(10);
    $("leaderboard").innerHTML = lb.lines.length ? lb.lines.map((l, i) => `<li><span>${["🥇", "🥈", "🥉"][i] || i + 1 + "."} ${esc(nameOf(l.user))}</span><span class="price">${formatMoney({ amount: l.amount, currency: lb.currency })}</span></li>`).join("") : `<span class="muted">还没有人打赏 No tips yet</span>`;
    const st = await shop.shareStats();
    $("share-stats").textContent = `我的分享 My shares: ${st.viewers} 位观众 viewers · ${st.orders} 单 orders`;
  } catch { /* no shelf */ }
}

for (const t of document.querySelectorAll("[data-tab]")) {
  t.onclick = () => {
    for (const o of document.querySelectorAll("[data-tab]")) o.classList.toggle("active", o === t);
    for (const p of document.querySelectorAll("[data-pane]")) p.classList.toggle("hidden", p.dataset.pane !== t.dataset.tab);
    if (t.dataset.tab === "board") loadBoard();
  };
}

function sheet(html) {
  const m = document.createElement("div");
  m.className = "modal";
  m.innerHTML = `<div class="sheet">${html}</div>`;
  m.onclick = (e) => { if (e.target === m) m.remove(); };
  document.body.append(m);
  return m;
}

// The live's comments are the fan group's chat (live has no chat of its own).
try {
  room.comments = new ChatPanel($("comments"), qun, info.group, me, { placeholder: "发条评论… Comment", compact: true });
  await room.comments.mount();
} catch (e) {
  room.comments = null;
  $("comments").innerHTML = `<p class="muted">加入粉丝群就能参与评论 Join the fan group to comment: ask the host for an invite code.</p>`;
}

await shop.load();
for (const c of shop.coupons) couponBanner(c);
await loadPackets().catch((e) => console.warn(e));
loadBoard();
