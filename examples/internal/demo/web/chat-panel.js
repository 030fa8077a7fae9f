// A group chat panel on the qun SDK's Chat, shared by the example apps:
// history (with "load earlier"), live events with resume, send / reply /
// recall, pins, the announcement, and cards for products, lives, tips and
// red packets. The page may add lines of its own (shop events, Q&A) with note().
import { Chat, formatMoney } from "/qun/qun.js";
import { esc, toast } from "./login.js";

export class ChatPanel {
  /**
   * @param {HTMLElement} el where to render
   * @param {import("/qun/qun.js").Client} qun a connected client
   * @param {string} group "g:..."
   * @param {object} me the identity ({user, name})
   * @param {object} [opts] placeholder: the composer's hint; compact: no reply/recall buttons
   */
  constructor(el, qun, group, me, opts = {}) {
    this.el = el;
    this.qun = qun;
    this.group = group;
    this.me = me;
    this.opts = opts;
    this.chat = new Chat(qun, group);
    this.messages = new Map(); // seq -> {seq, actor, ts, d}
    this.replyTo = 0;
    this.onEvent = null; // the page may watch every group event: (ev, live) => …
  }

  async mount() {
    this.el.innerHTML = `
      <div class="chat">
        <div class="announcement hidden" data-role="announcement"></div>
        <div class="messages" data-role="messages">
          <button class="small more hidden" data-role="older">加载更早的消息 Load earlier</button>
        </div>
        <div class="muted hidden" data-role="replying"></div>
        <form class="composer" data-role="composer">
          <input data-role="text" maxlength="4000" placeholder="${esc(this.opts.placeholder || "说点什么… Say something")}" autocomplete="off">
          <button class="primary" type="submit">发送 Send</button>
        </form>
      </div>`;
    this.list = this.el.querySelector("[data-role=messages]");
    this.olderBtn = this.el.querySelector("[data-role=older]");
    this.input = this.el.querySelector("[data-role=text]");
    this.el.querySelector("[data-role=composer]").onsubmit = (e) => { e.preventDefault(); this.send(); };
    this.olderBtn.onclick = () => this.older();
    this.chat.on("event", (ev, live) => this.apply(ev, live));
    this.chat.on("reset", () => this.clear());
    this.chat.on("end", (err) => toast(`已离开群 Left the group: ${err ? err.msg : ""}`));
    const view = await this.chat.open({ limit: 50 });
    this.view = view;
    this.showAnnouncement(view.announcement);
    this.olderBtn.classList.toggle("hidden", this.chat.oldest <= 1);
    this.list.scrollTop = this.list.scrollHeight;
  }

  clear() {
    this.messages.clear();
    for (const n of [...this.list.children]) if (n !== this.olderBtn) n.remove();
  }

  async older() {
    const h = this.list.scrollHeight;
    const evs = await this.chat.older(50);
    const anchor = this.olderBtn.nextSibling;
    for (const ev of evs) {
      const row = this.row(ev);
      if (row) this.list.insertBefore(row, anchor);
    }
    this.olderBtn.classList.toggle("hidden", this.chat.oldest <= 1);
    this.list.scrollTop = this.list.scrollHeight - h;
  }

  // row renders a history event as a line, or null for events shown otherwise.
  row(ev) {
    const d = ev.d || {};
    switch (ev.type) {
      case "chat.message":
        this.messages.set(ev.seq, ev);
        return this.render(ev);
      case "chat.member.joined": return this.systemRow(`${d.name || d.user} 加入了群 joined`);
      case "live.started": return this.systemRow(`📺 直播开始 Live started: ${d.title || ""}`);
      case "live.ended": return this.systemRow(`直播结束 Live ended`);
    }
    return null;
  }

  apply(ev, live) {
    const d = ev.d || {};
    switch (ev.type) {
      case "chat.edited":
      case "chat.recalled": {
        const m = this.messages.get(d.seq);
        if (!m) break;
        if (ev.type === "chat.recalled") m.d = { ...m.d, recalled: true, text: "" };
        else m.d = { ...m.d, text: d.text, edited: d.edited };
        const old = this.list.querySelector(`[data-seq="${d.seq}"]`);
        if (old) old.replaceWith(this.render(m));
        break;
      }
      case "chat.announcement":
        this.showAnnouncement(d.text ? d : null);
        break;
      case "chat.pinned":
        if (d.on) this.system(`置顶了一条消息 pinned a message`);
        break;
      case "chat.designated":
        if (d.on) this.system(`群主指定了交易消息 the owner designated an offer message`);
        break;
      default: {
        const row = this.row(ev);
        if (row) this.list.append(row);
      }
    }
    if (this.onEvent) this.onEvent(ev, live);
    if (live || ev.type === "chat.message") this.list.scrollTop = this.list.scrollHeight;
  }

  render(ev) {
    const d = ev.d || {};
    const mine = ev.actor === this.me.user;
    const row = document.createElement("div");
    row.className = "msg" + (mine ? " mine" : "") + (d.kind === "system" ? " system" : "");
    row.dataset.seq = ev.seq;
    const reply = d.reply_to && this.messages.get(d.reply_to);
    let body;
    if (d.recalled) body = `<span class="recalled">消息已撤回 message recalled</span>`;
    else if (d.kind === "product" && d.product) body = `🛍 ${esc(d.product.title)} <span class="price">${formatMoney({ amount: d.product.price, currency: d.product.currency || "CNY" })}</span>`;
    else if (d.kind === "live" && d.live) body = d.live.url ? `📺 <a href="${esc(d.live.url)}" data-card="live">${esc(d.live.title)}</a>` : `📺 ${esc(d.live.title)}`;
    else if ((d.kind === "tip" || d.kind === "red_packet") && d.money) body = `${d.kind === "tip" ? "🎁" : "🧧"} ${esc(d.money.note || "")} ${formatMoney({ amount: d.money.amount, currency: d.money.currency || "CNY" })}`;
    else body = esc(d.text);
    const actions = this.opts.compact ? "" : `<div class="row acts" style="justify-content:${mine ? "flex-end" : "flex-start"}">
        <button class="small" data-act="reply">回复 Reply</button>
        ${mine && !d.recalled ? `<button class="small" data-act="recall">撤回 Recall</button>` : ""}
      </div>`;
    row.innerHTML = `<span class="avatar">${esc((d.name || ev.actor || "?").slice(0, 1))}</span>
      <div class="body"><div class="who">${esc(d.name || ev.actor)}${d.edited ? " · 已编辑 edited" : ""}</div>
      ${reply ? `<div class="muted">↪ ${esc(reply.d.recalled ? "…" : (reply.d.text || "").slice(0, 40))}</div>` : ""}
      <div class="bubble">${body}</div>${actions}</div>`;
    const rp = row.querySelector("[data-act=reply]");
    if (rp) rp.onclick = () => this.startReply(ev);
    const rc = row.querySelector("[data-act=recall]");
    if (rc) rc.onclick = () => this.chat.recall(ev.seq).catch((e) => toast(e.message));
    return row;
  }

  startReply(ev) {
    this.replyTo = ev.seq;
    const el = this.el.querySelector("[data-role=replying]");
    el.textContent = `回复 Replying to ${ev.d.name || ev.actor}: ${(ev.d.text || "").slice(0, 40)}  (Esc 取消 cancel)`;
    el.classList.remove("hidden");
    this.input.focus();
    this.input.onkeydown = (e) => { if (e.key === "Escape") this.cancelReply(); };
  }

  cancelReply() {
    this.replyTo = 0;
    this.el.querySelector("[data-role=replying]").classList.add("hidden");
  }

  async send() {
    const text = this.input.value.trim();
    if (!text) return;
    try {
      await this.chat.send(text, this.replyTo ? { reply_to: this.replyTo } : {});
      this.input.value = "";
      this.cancelReply();
    } catch (e) {
      toast(e.code === "rejected" ? `未通过审核 Not sent: ${e.message}` : e.message);
    }
  }

  systemRow(text, cls = "") {
    const row = document.createElement("div");
    row.className = "msg system " + cls;
    row.innerHTML = `<div class="bubble">${esc(text)}</div>`;
    return row;
  }

  system(text) { this.list.append(this.systemRow(text)); }

  /** note adds a highlighted line of the page's own (a tip, a question) to the stream. */
  note(html, cls = "note") {
    const row = document.createElement("div");
    row.className = "msg system " + cls;
    row.innerHTML = `<div class="bubble">${html}</div>`;
    this.list.append(row);
    this.list.scrollTop = this.list.scrollHeight;
    return row;
  }

  showAnnouncement(a) {
    const el = this.el.querySelector("[data-role=announcement]");
    if (!a || !a.text) { el.classList.add("hidden"); return; }
    el.textContent = "📢 群公告 Announcement: " + a.text;
    el.classList.remove("hidden");
  }

  async close() {
    await this.chat.close();
  }
}
