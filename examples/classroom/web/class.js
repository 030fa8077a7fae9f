// The classroom page: a school's app assembled from the qun SDK. The lobby
// shows the course, the class on air and its replays; the classroom shows
// the whiteboard (or the teacher's screen), the video stage, Q&A, chat and
// raised hands. Everything goes through one Hub connection.
import { Client, Live, Board, ReplayPlayer } from "/qun/qun.js";
import { connectPage, twoClicks, esc, toast, userNames, fmtTime } from "/demo/login.js";
import { ChatPanel } from "/demo/chat-panel.js";
import { StageView } from "/demo/live-stage.js";

const $ = (id) => document.getElementById(id);
const { qun, me } = await connectPage(Client);
const names = await userNames();

const mine = await qun.call("chat.mine", { limit: 20 });
if (!mine.length) {
  $("lobby").innerHTML = `<div class="card">你还没有加入任何课程 You are not enrolled in a course yet.</div>`;
  throw new Error("not enrolled");
}
const course = mine[0];
const group = course.group.id;
const isTeacher = course.role === "owner" || course.role === "admin";
$("course-title").textContent = course.group.name;
$("hero-title").textContent = course.group.name;
$("hero-intro").textContent = course.group.intro || "";

const cls = { live: null, board: null, stage: null, replay: null, questions: new Map(), onAir: null };
window.classroom = cls; // for the tests
window.qunDebug = async () => ({ live: cls.live && await cls.live.stats(), info: cls.live && cls.live.info });

// One chat panel for the class group, moved between the lobby and the classroom.
const chatBox = document.createElement("div");
chatBox.style.cssText = "display:flex;flex-direction:column;min-height:0;height:100%";
$("lobby-chat").append(chatBox);
const chat = new ChatPanel(chatBox, qun, group, me, { placeholder: "和同学们聊聊… Chat with the class" });
chat.onEvent = (ev, live) => {
  if (!live) return;
  if (ev.type === "live.started" && !cls.live) { toast("老师开始上课了 Class has started"); loadLobby(); }
  if (ev.type === "live.ended" && !cls.live) loadLobby();
  if (ev.type === "chat.message" && ev.d.kind === "live" && !cls.live) loadReplays();
};
await chat.mount();

// ---- lobby ----------------------------------------------------------------

async function loadLobby() {
  const { lives } = await qun.call("live.list", { group, limit: 20 });
  cls.onAir = lives.find((l) => l.state === "live" || l.state === "paused") || null;
  $("start-class").classList.toggle("hidden", !isTeacher || !!cls.onAir);
  $("enter-class").classList.toggle("hidden", !cls.onAir);
  $("lobby-status").innerHTML = cls.onAir ? `<span class="onair">● 上课中 LIVE</span>` : `<span class="muted" style="color:#dfe6ff">${isTeacher ? "准备好了就开始上课 Start when you are ready" : "等待老师开课 Waiting for the teacher"}</span>`;
  await loadReplays();
}

async function loadReplays() {
  const list = await ReplayPlayer.list(qun, { group }).catch(() => []);
  const box = $("replays");
  box.innerHTML = list.length ? "" : `<span class="muted">还没有回放 No replays yet</span>`;
  for (const r of list) {
    if (r.state === "discarded" || r.state === "expired") continue;
    const row = document.createElement("div");
    row.className = "list-item";
    row.dataset.replay = r.id;
    row.dataset.state = r.state;
    const when = new Date(r.startedAt).toLocaleString();
    const state = { recording: "录制中 recording", pending: "待保存 pending", kept: "" }[r.state] ?? r.state;
    row.innerHTML = `<span class="avatar">▶</span><div class="grow"><b>${esc(r.title || "课程回放")}</b>
      <div class="muted">${esc(when)} · ${fmtTime(r.durationMs)} ${state ? "· " + esc(state) : ""}</div></div>`;
    if (r.state === "kept") {
      const a = document.createElement("a");
      a.className = "btn primary small";
      a.href = `/replay.html?id=${encodeURIComponent(r.id)}`;
      a.textContent = "观看回放 Watch";
      row.append(a);
    } else if (r.state === "pending" && isTeacher) {
      const keep = document.createElement("button");
      keep.className = "small primary";
      keep.textContent = "保存 Keep";
      keep.onclick = () => qun.call("replay.keep", { id: r.id }).then(loadReplays, (e) => toast(e.message));
      row.append(keep);
    }
    box.append(row);
  }
}

$("start-class").onclick = async () => {
  $("start-class").disabled = true;
  try {
    // Small class (小班课): up to 3 students on stage at once.
    const live = await Live.start(qun, { group, title: course.group.name, mode: "small", stage_limit: 3 });
    await Board.create(qun, live.room, "课件 Courseware");
    // Record the class: its media, the live room (Q&A, hands), the class
    // chat and the board (announced in the live room, so the recorder follows it).
    cls.replay = await qun.call("replay.start", { live: live.room });
    await enter(live.id);
  } catch (e) {
    toast(e.message);
  } finally {
    $("start-class").disabled = false;
  }
};
$("enter-class").onclick = () => cls.onAir && enter(cls.onAir.id).catch((e) => toast(e.message));

// ---- classroom --------------------------------------------------------------

async function enter(liveId) {
  $("lobby").classList.add("hidden");
  $("classroom").classList.remove("hidden");
  $("class-chat").append(chatBox);
  const live = (cls.live = new Live(qun, liveId));
  live.on("error", (e) => console.warn("live:", e));
  live.on("info", showInfo);
  live.on("event", onLiveEvent);
  live.on("stage", onStage);
  live.on("ended", onEnded);
  live.on("kicked", () => { toast("你已被移出课堂 You were removed"); leaveClass(); });
  await live.join();
  cls.stage = new StageView($("stage"), live, { names, screenEl: $("screen-view"), empty: "老师的摄像头 The teacher's camera" });
  live.on("tracks", (list) => {
    const screen = list.some((t) => t.source === "screen" && !t.off);
    if (screen !== cls.screenOn) { cls.screenOn = screen; showView(screen ? "screen" : "board"); if (screen) toast("老师开始共享屏幕 The teacher is sharing the screen"); }
  });
  $("onair").classList.remove("hidden");
  $("teacher-controls").classList.toggle("hidden", !live.isHost);
  $("student-controls").classList.toggle("hidden", live.isHost);
  $("ask-form").classList.toggle("hidden", live.isHost);
  if (live.isHost) {
    const local = await live.publish({ video: { width: 640, height: 360 } });
    cls.stage.setLocal("camera", local);
    if (!cls.replay) {
      const rs = await ReplayPlayer.list(qun, { live: live.room }).catch(() => []);
      cls.replay = rs.find((r) => r.state === "recording") || null;
    }
  }
  await openBoard(live);
  await loadQuestions();
  renderHands();
}

function showInfo(info) {
  $("viewers").classList.remove("hidden");
  $("viewers").textContent = `👥 ${info.viewers || 0} · 👍 ${info.likes || 0}`;
  renderHands();
}

function showView(which) {
  $("board-view").classList.toggle("hidden", which !== "board");
  $("screen-view").classList.toggle("hidden", which !== "screen");
  $("show-board").classList.toggle("on", which === "board");
  $("show-screen").classList.toggle("on", which === "screen");
  if (which === "board" && cls.board) cls.board.view.render();
}
$("show-board").onclick = () => showView("board");
$("show-screen").onclick = () => showView("screen");

function onLiveEvent(ev) {
  if (ev.type.startsWith("live.qa.")) {
    cls.questions.set(ev.d.id, ev.d);
    renderQuestions();
    if (ev.type === "live.qa.asked" && cls.live.isHost && ev.actor !== me.user) toast(`新问题 New question: ${ev.d.text}`);
  }
  if (ev.type === "live.stage.requested" && cls.live.isHost) toast(`${names.get(ev.d.user) || ev.d.user} 举手了 raised a hand`);
}

// ---- teacher controls ---------------------------------------------------------

function toggle(btn, source) {
  btn.onclick = async () => {
    const on = !btn.classList.contains("on");
    try { await cls.live.setMedia(source, on); btn.classList.toggle("on", on); } catch (e) { toast(e.message); }
  };
}
toggle($("cam"), "camera");
toggle($("mic"), "microphone");

$("share-screen").onclick = async () => {
  const live = cls.live;
  try {
    if (live.screen) {
      await live.stopScreen();
      cls.stage.setLocal("screen", null);
      $("share-screen").classList.remove("on");
      $("share-screen").textContent = "🖥 共享屏幕 Share screen";
      showView("board");
    } else {
      const s = await live.shareScreen();
      cls.stage.setLocal("screen", s);
      $("share-screen").classList.add("on");
      $("share-screen").textContent = "⏹ 停止共享 Stop sharing";
      s.getVideoTracks()[0].addEventListener("ended", () => { cls.stage.setLocal("screen", null); $("share-screen").classList.remove("on"); $("share-screen").textContent = "🖥 共享屏幕 Share screen"; });
      showView("screen");
    }
  } catch (e) { toast(e.message); }
};

// Two clicks end the class, so that a slip does not.
const resetEnd = twoClicks($("end-class"), "确认下课？ Confirm end", async () => {
  if (cls.replay) cls.replay = await qun.call("replay.stop", { id: cls.replay.id }).catch(() => cls.replay);
  await cls.live.end();
});

async function onEnded() {
  if (!cls.live.isHost) {
    toast("下课了，可以在课程页看回放 Class is over: the replay will be on the course page");
    return leaveClass();
  }
  if (!cls.replay) return leaveClass();
  $("ended").classList.remove("hidden");
}

$("keep-replay").onclick = async () => {
  try {
    const r = await qun.call("replay.keep", { id: cls.replay.id });
    toast("回放已保存 Replay kept");
    // Tell the class: a card in the group chat links to the replay.
    await chat.chat.send({ kind: "live", live: { id: r.id, title: `课程回放 Replay: ${r.title || course.group.name}`, url: `/replay.html?id=${encodeURIComponent(r.id)}` } });
  } catch (e) { toast(e.message); }
  $("ended").classList.add("hidden");
  leaveClass();
};
$("discard-replay").onclick = async () => {
  try { await qun.call("replay.discard", { id: cls.replay.id }); } catch (e) { toast(e.message); }
  $("ended").classList.add("hidden");
  leaveClass();
};

async function leaveClass() {
  if (cls.board) await cls.board.close().catch(() => {});
  if (cls.live) await cls.live.leave().catch(() => {});
  cls.live = cls.board = cls.replay = null;
  cls.questions.clear();
  $("stage").innerHTML = "";
  $("screen-view").innerHTML = `<div class="stage-empty">老师没有共享屏幕 No screen shared</div>`;
  resetEnd();
  $("onair").classList.add("hidden");
  $("viewers").classList.add("hidden");
  $("classroom").classList.add("hidden");
  $("lobby").classList.remove("hidden");
  $("lobby-chat").append(chatBox);
  await loadLobby();
}

// ---- the stage: raised hands ------------------------------------------------

async function onStage(on) {
  const live = cls.live;
  if (on) {
    toast("老师请你上台发言 You are on stage");
    try {
      const local = await live.publish({ video: { width: 640, height: 360 } });
      cls.stage.setLocal("camera", local);
    } catch (e) { toast(e.message); }
  } else {
    cls.stage.setLocal("camera", null);
    toast("你已下台 You left the stage");
  }
  renderHands();
}

$("hand").onclick = async () => {
  const live = cls.live;
  try {
    if (live.onStage) await live.removeStage();
    else if ((live.info.requests || []).includes(me.user)) await live.cancelStage();
    else await live.requestStage();
  } catch (e) { toast(e.message); }
};
$("like").onclick = () => cls.live.like(1).catch((e) => toast(e.message));

function renderHands() {
  const live = cls.live;
  if (!live || !live.info) return;
  const info = live.info;
  const requests = info.requests || [], stage = info.stage || [];
  $("hands-n").textContent = requests.length ? `(${requests.length})` : "";
  const hand = $("hand");
  hand.textContent = live.onStage ? "⬇ 下台 Leave stage" : requests.includes(me.user) ? "✋ 取消举手 Lower hand" : "✋ 举手 Raise hand";
  hand.classList.toggle("on", requests.includes(me.user) || live.onStage);
  const box = $("hands");
  const drawers = cls.board ? cls.board.model.drawers : new Set();
  let html = "";
  if (!requests.length && !stage.length) html = `<p class="muted">还没有人举手 No raised hands</p>`;
  for (const u of requests) {
    html += `<div class="hand" data-user="${esc(u)}"><span class="avatar">${esc((names.get(u) || u).slice(0, 1))}</span><span class="grow name">✋ ${esc(names.get(u) || u)}</span>
      ${live.isHost ? `<button class="small primary" data-act="accept">上台 Invite up</button><button class="small" data-act="reject">拒绝 Decline</button>` : ""}</div>`;
  }
  for (const u of stage) {
    html += `<div class="hand" data-user="${esc(u)}"><span class="avatar">${esc((names.get(u) || u).slice(0, 1))}</span><span class="grow name">🎙 ${esc(names.get(u) || u)} <span class="pill">台上 on stage</span></span>
      ${live.isHost ? `<button class="small" data-act="pen">${drawers.has(u) ? "收回画笔 Revoke pen" : "🖊 授权画笔 Give pen"}</button><button class="small" data-act="remove">下台 Step down</button>` : ""}</div>`;
  }
  box.innerHTML = html;
  for (const row of box.querySelectorAll(".hand")) {
    const u = row.dataset.user;
    for (const b of row.querySelectorAll("button")) {
      b.onclick = async () => {
        try {
          if (b.dataset.act === "accept") await live.acceptStage(u);
          if (b.dataset.act === "reject") await live.rejectStage(u);
          if (b.dataset.act === "remove") await live.removeStage(u);
          if (b.dataset.act === "pen") await cls.board.grant(u, !drawers.has(u));
        } catch (e) { toast(e.message); }
      };
    }
  }
}

// ---- whiteboard -----------------------------------------------------------------

const COLORS = ["#e53935", "#1e88e5", "#43a047", "#fb8c00", "#212121"];

async function openBoard(live) {
  let boards = await Board.list(qun, live.room);
  if (!boards.length && live.isHost) boards = [await Board.create(qun, live.room, "课件 Courseware")];
  if (!boards.length) return;
  const board = (cls.board = new Board(qun, boards[0].id, $("board"), { http: "/wb", prompt: askText }));
  board.on("change", () => { renderBoardBar(); renderHands(); });
  board.on("error", (e) => toast(e.message));
  board.on("progress", (p) => {
    const bar = $("convert");
    bar.classList.toggle("hidden", !!p.err || p.done >= p.total);
    if (p.total) bar.firstElementChild.style.width = `${(100 * p.done) / p.total}%`;
    if (p.err) toast(p.err.msg);
  });
  await board.open();
  renderBoardBar();
}

function renderBoardBar() {
  const b = cls.board;
  if (!b) return;
  const m = b.model;
  $("tools").classList.toggle("hidden", !b.canDraw);
  const p = m.current;
  $("board-hint").classList.toggle("hidden", !m.me.present || !p || !!p.bg || (p.items || []).length > 0);
  for (const el of document.querySelectorAll(".presenter")) el.classList.toggle("hidden", !m.me.present);
  const i = m.pages.findIndex((p) => p.id === m.cur);
  $("page-no").textContent = `${i + 1} / ${m.pages.length}`;
  $("prev").classList.toggle("hidden", !m.me.present);
  $("next").classList.toggle("hidden", !m.me.present);
  $("prev").disabled = i <= 0;
  $("next").disabled = i >= m.pages.length - 1;
}

for (const btn of document.querySelectorAll("[data-tool]")) {
  btn.onclick = () => {
    cls.board.setTool(btn.dataset.tool);
    for (const o of document.querySelectorAll("[data-tool]")) o.classList.toggle("on", o === btn);
  };
}
for (const c of COLORS) {
  const s = document.createElement("button");
  s.className = "swatch" + (c === COLORS[0] ? " on" : "");
  s.style.background = c;
  s.title = c;
  s.onclick = () => {
    cls.board.setTool(cls.board.tool.tool, { color: c });
    for (const o of $("swatches").children) o.classList.toggle("on", o === s);
  };
  $("swatches").append(s);
}
const act = (id, fn) => { $(id).onclick = () => fn().catch((e) => toast(e.message)); };
act("undo", () => cls.board.undo());
act("redo", () => cls.board.redo());
act("clear", () => cls.board.clear());
act("prev", () => cls.board.prev());
act("next", () => cls.board.next());
act("add-page", () => cls.board.addPage());
act("sample", async () => {
  const blob = await (await fetch("/sample-courseware.pdf")).blob();
  await cls.board.upload(blob);
});
$("upload").onchange = async (e) => {
  const f = e.target.files[0];
  e.target.value = "";
  if (f) await cls.board.upload(f).catch((err) => toast(err.message));
};

// askText is the text tool's prompt: a small dialog instead of window.prompt.
function askText(label) {
  return new Promise((resolve) => {
    const m = document.createElement("div");
    m.className = "modal";
    m.id = "text-dialog";
    m.innerHTML = `<form class="sheet"><h3>${esc(label)}</h3><textarea rows="3" style="width:100%" maxlength="1000"></textarea>
      <div class="row" style="justify-content:flex-end;margin-top:10px"><button type="button">取消 Cancel</button><button class="primary">确定 OK</button></div></form>`;
    document.body.append(m);
    const ta = m.querySelector("textarea");
    ta.focus();
    m.querySelector("button[type=button]").onclick = () => { m.remove(); resolve(null); };
    m.querySelector("form").onsubmit = (e) => { e.preventDefault(); m.remove(); resolve(ta.value.trim()); };
  });
}

// ---- Q&A ---------------------------------------------------------------------

async function loadQuestions() {
  // Page through the live's questions (200 a call) until the last page.
  cls.questions = new Map();
  for (let after = 0, more = true; more;) {
    const page = await qun.call("live.qa.list", { live: cls.live.id, after, limit: 200 });
    for (const q of page.questions) { cls.questions.set(q.id, q); after = q.id; }
    more = page.more;
  }
  renderQuestions();
}

function renderQuestions() {
  const only = $("featured-only").checked;
  const box = $("questions");
  const list = [...cls.questions.values()].sort((a, b) => (b.featured - a.featured) || a.id - b.id).filter((q) => !only || q.featured);
  box.innerHTML = list.length ? "" : `<p class="muted">${only ? "还没有精选问答 No featured answers yet" : "有问题随时提问 Ask anything, any time"}</p>`;
  const host = cls.live && cls.live.isHost;
  for (const q of list) {
    const el = document.createElement("div");
    el.className = "question" + (q.featured ? " featured" : "");
    el.dataset.id = q.id;
    el.innerHTML = `<div class="muted">${esc(q.name)}${q.featured ? `<span class="badge">精选 Featured</span>` : ""}</div>
      <div class="q">❓ ${esc(q.text)}</div>
      ${q.answer ? `<div class="a"><b>${esc(q.answerer)}：</b>${esc(q.answer)}</div>` : ""}
      ${host ? `<div class="row" style="margin-top:6px">
        <form class="row grow answer-form"><input class="grow" maxlength="2000" placeholder="回答 Answer…"><button class="small primary">回答 Answer</button></form>
        <button class="small" data-act="feature">${q.featured ? "★ 取消精选 Unfeature" : "☆ 精选 Feature"}</button></div>` : ""}`;
    if (host) {
      el.querySelector("form").onsubmit = (e) => {
        e.preventDefault();
        const text = e.target.querySelector("input").value.trim();
        if (text) qun.call("live.qa.answer", { live: cls.live.id, id: q.id, text }).catch((err) => toast(err.message));
      };
      el.querySelector("[data-act=feature]").onclick = () => qun.call(q.featured ? "live.qa.unfeature" : "live.qa.feature", { live: cls.live.id, id: q.id }).catch((err) => toast(err.message));
    }
    box.append(el);
  }
}
$("featured-only").onchange = renderQuestions;
$("ask-form").onsubmit = async (e) => {
  e.preventDefault();
  const text = $("ask-text").value.trim();
  if (!text) return;
  try {
    await qun.call("live.qa.ask", { live: cls.live.id, text });
    $("ask-text").value = "";
  } catch (err) { toast(err.code === "rejected" ? `未通过审核 Not sent: ${err.message}` : err.message); }
};

for (const t of document.querySelectorAll("[data-tab]")) {
  t.onclick = () => {
    for (const o of document.querySelectorAll("[data-tab]")) o.classList.toggle("active", o === t);
    for (const p of document.querySelectorAll("[data-pane]")) p.classList.toggle("hidden", p.dataset.pane !== t.dataset.tab);
  };
}

await loadLobby();
// A student who opens the page while a class is on goes straight in.
if (cls.onAir && new URLSearchParams(location.search).has("join")) await enter(cls.onAir.id);
