// The class replay: the recorded videos with the whiteboard, Q&A and chat
// replayed in sync, also when seeking.
import { Client, BoardModel, BoardView } from "/qun/qun.js";
import { connectPage, esc, toast, userNames } from "/demo/login.js";
import { ReplayView } from "/demo/replay-view.js";

const $ = (id) => document.getElementById(id);
const { qun } = await connectPage(Client);
const id = new URLSearchParams(location.search).get("id");
const names = await userNames();

// The timeline carries each board's whole history (what came before the
// recording at 0 ms): replaying its wb.* events rebuilds the board at any time.
const canvas = $("board");
let boards = new Map(); // "wb:<id>" -> BoardModel
let shown = null; // the room of the board shown: the one last used
const image = async (bg) => createImageBitmap(await (await qun.fetch(`/wb/boards/${encodeURIComponent(shown.slice(3))}/files/${encodeURIComponent(bg)}`)).blob());
const view = new BoardView(canvas, new BoardModel(), { image });
const applyBoard = (ev) => {
  if (!boards.has(ev.room)) boards.set(ev.room, new BoardModel());
  const changed = boards.get(ev.room).apply(ev);
  if (shown !== ev.room) { shown = ev.room; view.images.clear(); }
  view.model = boards.get(ev.room);
  return changed;
};

const isBoard = (ev) => ev.room.startsWith("wb:");
const line = (ev) => {
  const d = ev.d || {};
  switch (ev.type) {
    case "chat.message": return d.recalled ? null : `<b>${esc(d.name || ev.actor)}</b>：${esc(d.text || "")}`;
    case "live.qa.asked": return `❓ <b>${esc(d.name)}</b>：${esc(d.text)}`;
    case "live.qa.answered": return `💡 ${esc(d.answerer)}：${esc(d.answer)}`;
    case "live.qa.featured": return `★ 精选问答 Featured: ${esc(d.text)}`;
    case "live.stage.accepted": return `🎙 ${esc(names.get(d.user) || d.user)} 上台发言 came on stage`;
    case "wb.page": return `📄 翻页 Page turned`;
    case "wb.pages.add": return `📎 添加了 ${d.pages.length} 页课件 added ${d.pages.length} page(s)`;
  }
  return null;
};
const marker = (ev) => {
  if (ev.type === "live.qa.featured") return "★ " + ev.d.text.slice(0, 16);
  if (ev.type === "wb.pages.add") return "📎 课件 Courseware";
  return null;
};

const rv = new ReplayView($("player"), qun, {
  feed: $("feed"), line, marker,
  onReset: (ms, evs) => {
    boards = new Map();
    for (const ev of evs) if (isBoard(ev)) applyBoard(ev);
    $("board-note").textContent = shown ? "白板随回放同步 The whiteboard follows the replay" : "这节课还没有用白板 No whiteboard yet";
    view.render();
  },
  onEvent: (ev) => { if (isBoard(ev) && applyBoard(ev)) view.render(); },
});
window.replay = rv; // for the tests
window.replayBoard = () => view.model;
try {
  const m = await rv.load(id);
  $("title").textContent = m.title || "课程回放 Class replay";
  rv.player.play();
} catch (e) {
  toast(e.message);
}
