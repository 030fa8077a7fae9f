// The fan-group page: a vendor's app assembled from the qun SDK and the
// shared chat panel. Everything here goes through the Hub protocol.
import { Client, Live, Shop, ReplayPlayer } from "/qun/qun.js";
import { connectPage, esc, toast, fmtTime } from "/demo/login.js";
import { ChatPanel } from "/demo/chat-panel.js";

const $ = (id) => document.getElementById(id);
const { qun, me } = await connectPage(Client);

let current = null; // {group, panel, view}

// The inbox: invitations and answers to join requests.
qun.subscribe(`u:${me.user}`, (ev) => {
  if (ev.type === "chat.request.approved") { toast(`已通过 Approved: ${ev.d.group.name}`); loadGroups(ev.d.group.id); }
  if (ev.type === "chat.request.rejected") toast(`未通过 Not approved: ${ev.d.group.name}`);
  if (ev.type === "chat.request") toast(`新的入群申请 New join request`);
  if (ev.type === "chat.invited") toast(`${ev.d.by} 邀请你加入 invited you to ${ev.d.group.name}`);
});

if ((me.grants || []).includes("group.create")) $("create-form").classList.remove("hidden");

async function loadGroups(select) {
  const mine = await qun.call("chat.mine", { limit: 50 });
  const box = $("groups");
  box.innerHTML = "";
  $("no-groups").classList.toggle("hidden", mine.length > 0);
  for (const v of mine) {
    const b = document.createElement("button");
    b.textContent = `${v.group.name}${v.unread ? ` (${v.unread})` : ""}`;
    b.dataset.group = v.group.id;
    if (current && current.group === v.group.id) b.classList.add("active");
    b.onclick = () => openGroup(v.group.id);
    box.append(b);
  }
  const target = select || (current ? current.group : mine[0] && mine[0].group.id);
  if (target && (!current || current.group !== target)) await openGroup(target);
}

async function openGroup(group) {
  if (current) await current.panel.close();
  const panel = new ChatPanel($("chat"), qun, group, me);
  current = { group, panel };
  panel.onEvent = (ev, live) => {
    if (live && ev.type.startsWith("chat.member")) refreshHeader();
    if (live && (ev.type === "live.started" || ev.type === "live.ended" || (ev.type === "chat.message" && ev.d.kind === "live"))) refreshLive();
  };
  await panel.mount();
  for (const b of $("groups").children) b.classList.toggle("active", b.dataset.group === group);
  await refreshHeader();
}

async function refreshHeader() {
  const v = await qun.call("chat.get", { group: current.group });
  current.view = v;
  $("group-card").classList.remove("hidden");
  $("group-name").textContent = v.group.name;
  $("group-meta").textContent = `${v.group.member_count} 人 members · ${v.role}`;
  const admin = v.role === "owner" || v.role === "admin";
  $("announce-form").classList.toggle("hidden", !admin);
  $("requests").classList.toggle("hidden", !admin || !v.group.approval);
  await refreshLive();
}

// The group's live: on air now (enter it), or the host goes live; and its replays.
async function refreshLive() {
  const group = current.group;
  const admin = current.view && (current.view.role === "owner" || current.view.role === "admin");
  $("live-card").classList.remove("hidden");
  const { lives } = await qun.call("live.list", { group, limit: 20 });
  const onAir = lives.find((l) => l.state === "live" || l.state === "paused");
  $("golive-form").classList.toggle("hidden", !admin || !!onAir);
  $("live-now").innerHTML = onAir
    ? `<div class="onair-card"><span class="onair" style="background:#fff;color:var(--brand)">● 直播中 LIVE</span>
        <div class="grow"><b>${esc(onAir.title)}</b></div>
        <a class="btn" style="background:#fff;color:var(--brand);border-color:#fff" id="enter-live" href="/live.html?live=${encodeURIComponent(onAir.id)}">进入直播间 Enter</a></div>`
    : `<p class="muted">${admin ? "准备好了就开播，直播链接可以分享给群外的朋友 Go live when ready: the link can be shared outside the group" : "直播未开始，开播时群里会通知 No live right now: the group will be told when it starts"}</p>`;
  const replays = await ReplayPlayer.list(qun, { group }).catch(() => []);
  const box = $("replays");
  box.innerHTML = "";
  for (const r of replays.filter((r) => r.state === "kept" || (admin && r.state === "pending"))) {
    const row = document.createElement("div");
    row.className = "list-item";
    row.dataset.replay = r.id;
    row.dataset.state = r.state;
    row.innerHTML = `<span class="avatar">▶</span><div class="grow"><b>${esc(r.title || "直播回放")}</b>
      <div class="muted">${esc(new Date(r.startedAt).toLocaleString())} · ${fmtTime(r.durationMs)}${r.state === "pending" ? " · 待保存 pending" : ""}</div></div>
      ${r.state === "kept" ? `<a class="btn small primary" href="/replay.html?id=${encodeURIComponent(r.id)}">看回放 Watch</a>` : `<button class="small primary">保存 Keep</button>`}`;
    const keep = row.querySelector("button");
    if (keep) keep.onclick = () => qun.call("replay.keep", { id: r.id }).then(refreshLive, (e) => toast(e.message));
    box.append(row);
  }
  if (!box.children.length) box.innerHTML = `<span class="muted">还没有回放 No replays yet</span>`;
}

// Going live: start the live in the group (open to anyone with the link, up
// to 2 co-hosts), open the shop's shelf in it with the products, record it.
$("golive-form").onsubmit = async (e) => {
  e.preventDefault();
  $("golive").disabled = true;
  try {
    const live = await Live.start(qun, { group: current.group, title: $("golive-title").value.trim() || "直播 Live", mode: "open", stage_limit: 2 });
    const { shop } = await (await fetch("/api/shop")).json();
    const s = new Shop(qun, live.room);
    await s.openShelf(shop);
    const { products } = await qun.call("shop.products", { shop });
    for (const p of products) await s.addProduct(p.id);
    s.close();
    await qun.call("replay.start", { live: live.room });
    location.href = `/live.html?live=${encodeURIComponent(live.id)}`;
  } catch (err) {
    toast(err.message);
    $("golive").disabled = false;
  }
};

$("create-form").onsubmit = async (e) => {
  e.preventDefault();
  const name = $("create-name").value.trim();
  if (!name) return;
  try {
    const g = await qun.call("chat.create", { name, intro: "新品抢先看，直播优惠只在群里 · New arrivals and live-only deals", tags: ["粉丝群"], public: false, approval: false });
    await loadGroups(g.id);
  } catch (e) { toast(e.message); }
};

$("invite").onclick = async () => {
  try {
    const c = await qun.call("chat.code.create", { group: current.group, ttl: 7 * 24 * 3600, max_uses: 100 });
    const out = $("invite-out");
    out.classList.remove("hidden");
    out.innerHTML = `<div class="muted">把邀请码或链接发到微信、QQ、微博 · Share the code or link on WeChat, QQ, Weibo</div>
      <div class="invite-box" data-code>${esc(c.code)}</div>
      <div class="row"><input readonly value="${esc(c.link || "")}" class="grow"><button class="small" id="copy">复制 Copy</button></div>
      <div class="muted">7 天内有效，最多 100 次 · valid 7 days, up to 100 uses</div>`;
    $("copy").onclick = () => navigator.clipboard.writeText(c.link || c.code).then(() => toast("已复制 Copied"));
  } catch (e) { toast(e.message); }
};

$("announce-form").onsubmit = async (e) => {
  e.preventDefault();
  try {
    await qun.call("chat.announce", { group: current.group, text: $("announce-text").value.trim() });
    $("announce-text").value = "";
  } catch (err) { toast(err.message); }
};

$("requests").onclick = async () => {
  const list = await qun.call("chat.requests", { group: current.group });
  const out = $("requests-out");
  out.classList.remove("hidden");
  out.innerHTML = list.length ? "" : `<span class="muted">没有待处理的申请 No pending requests</span>`;
  for (const r of list) {
    const row = document.createElement("div");
    row.className = "row";
    row.innerHTML = `<span class="grow">${esc(r.name || r.user)} ${esc(r.note || "")}</span><button class="small primary">通过 Approve</button><button class="small">拒绝 Reject</button>`;
    const [ok, no] = row.querySelectorAll("button");
    ok.onclick = () => qun.call("chat.request.approve", { group: current.group, user: r.user }).then(() => row.remove(), (e) => toast(e.message));
    no.onclick = () => qun.call("chat.request.reject", { group: current.group, user: r.user }).then(() => row.remove(), (e) => toast(e.message));
    out.append(row);
  }
};

// A code (typed, or from a share link) first shows the group's card.
async function joinByCode(code) {
  const box = $("preview");
  try {
    const card = await qun.call("chat.code.preview", { code });
    box.classList.remove("hidden");
    box.innerHTML = `<div class="row"><span class="avatar">${esc(card.name.slice(0, 1))}</span>
      <div class="grow"><b>${esc(card.name)}</b><div class="muted">${card.member_count} 人 members · ${esc(card.intro || "")}</div></div>
      <button class="primary" id="confirm-join">加入群 Join group</button></div>`;
    $("confirm-join").onclick = async () => {
      try {
        const res = await qun.call("chat.code.join", { code });
        box.classList.add("hidden");
        if (res.status === "pending") toast("已提交申请，等待群主通过 Request sent, waiting for approval");
        else await loadGroups(card.id);
      } catch (e) { toast(e.message); }
    };
  } catch (e) { toast(e.message); }
}
$("join-code").onclick = () => { const c = $("code").value.trim(); if (c) joinByCode(c); };

await loadGroups();
const invite = new URLSearchParams(location.search).get("invite");
if (invite) { history.replaceState(null, "", "/room.html"); await joinByCode(invite); }
