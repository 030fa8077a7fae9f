// The class replay: the recorded videos with the whiteboard, Q&A and chat
// replayed in sync, also when seeking.
import { Client, BoardModel, BoardView } from "/qun/qun.js";
import { currentLogin, esc, toast, userNames } from "/demo/login.js";
import { ReplayView } from "/demo/replay-view.js";

const login = await currentLogin();
if (!login) location.replace("/");
const $ = (id) => document.getElementById(id);
$("me").textContent = login.user.name;
const qun = new Client({ url: "/qun/ws", token: () => login.token });
await qun.connect();
const id = new URLSearchParams(location.search).get("id");
const names = await userNames();

// The board as it was when recording began; the timeline's wb.* events follow.
const start = await (await qun.fetch(`/api/replays/${encodeURIComponent(id)}/board`)).json();
const canvas = $("board");
let model = start.board ? BoardModel.fromState(start.state) : new BoardModel();
const image = async (bg) => createImageBitmap(await (await qun.fetch(`/wb/boards/${encodeURIComponent(start.board)}/files/${encodeURIComponent(bg)}`)).blob());
const view = new BoardView(canvas, model, { image });
if (!start.board) $("board-note").textContent = "这节课没有用白板 No whiteboard in this class";

const isBoard = (ev) => ev.type.startsWith("wb.");
const line = (ev) => {
  const d = ev.d || {};
  switch (ev.type) {
    case "chat.message": return d.recalled ? null : `<b>${esc(d.name || ev.actor)}</b>：${esc(d.text || "")}`;
    case "qa.asked": return `❓ <b>${esc(d.name)}</b>：${esc(d.text)}`;
    case "qa.answered": return `💡 ${esc(d.answered_by)}：${esc(d.answer)}`;
    case "qa.featured": return d.featured ? `★ 精选问答 Featured: ${esc(d.text)}` : null;
    case "live.stage.accepted": return `🎙 ${esc(names.get(d.user) || d.user)} 上台发言 came on stage`;
    case "wb.page": return `📄 翻页 Page turned`;
    case "wb.pages.add": return `📎 添加了 ${d.pages.length} 页课件 added ${d.pages.length} page(s)`;
  }
  return null;
};
const marker = (ev) => {
  if (ev.type === "qa.featured" && ev.d.featured) return "★ " + ev.d.text.slice(0, 16);
  if (ev.type === "wb.pages.add") return "📎 课件 Courseware";
  return null;
};

const rv = new ReplayView($("player"), qun, {
  feed: $("feed"), line, marker,
  onReset: (ms, evs) => {
    model = start.board ? BoardModel.fromState(start.state) : new BoardModel();
    for (const ev of evs) if (isBoard(ev)) model.apply(ev);
    view.model = model;
    view.render();
  },
  onEvent: (ev) => { if (isBoard(ev) && model.apply(ev)) view.render(); },
});
window.replay = rv; // for the tests
window.replayBoard = () => model;
try {
  const m = await rv.load(id);
  $("title").textContent = m.title || "课程回放 Class replay";
  rv.player.play();
} catch (e) {
  toast(e.message);
}
