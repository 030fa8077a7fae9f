// A group chat panel on the qun SDK, shared by the example apps: history,
// live events with resume, send / reply / recall, pins and the announcement.
import { esc, toast } from "./login.js";

export class ChatPanel {
  /**
   * @param {HTMLElement} el where to render
   * @param {import("/qun/qun.js").Client} qun a connected client
   * @param {string} group "g:..."
   * @param {object} me the identity ({user, name})
   */
  constructor(el, qun, group, me) {
    this.el = el;
    this.qun = qun;
    this.group = group;
    this.me = me;
    this.messages = new Map(); // seq -> {seq, actor, ts, d}
    this.replyTo = 0;
    this.onEvent = null; // the page may watch every group event
  }

  async mount() {
    this.el.innerHTML = `
      <div class="chat">
        <div class="announcement hidden" data-role="announcement"></div>
        <div class="messages" data-role="messages"></div>
        <div class="muted hidden" data-role="replying"></div>
        <form class="composer" data-role="composer">
          <input data-role="text" maxlength="4000" placeholder="说点什么… Say something" autocomplete="off">
          <button class="primary" type="submit">发送 Send</button>
        </form>
      </div>`;
    this.list = this.el.querySelector("[data-role=messages]");
    this.input = this.el.querySelector("[data-role=text]");
    this.el.querySelector("[data-role=composer]").onsubmit = (e) => { e.preventDefault(); this.send(); };
    await this.reload();
  }

  async reload() {
    const view = await this.qun.call("chat.get", { group: this.group });
    this.view = view;
    this.showAnnouncement(view.announcement);
    const page = await this.qun.call("chat.history", { group: this.group, limit: 100 });
    this.list.innerHTML = "";
    this.messages.clear();
    for (const e of page.events) this.apply(e, false);
    if (this.sub) await this.sub.unsubscribe();
    this.sub = this.qun.subscribe(this.group, (ev) => this.apply(ev, true), {
      after: page.head,
      onReset: () => this.reload(),
      onEnd: (err) => toast(`已离开群 Left the group: ${err ? err.msg : ""}`),
    });
    await this.sub.ready;
    if (page.head) this.qun.call("chat.read", { group: this.group, seq: page.head }).catch(() => {});
  }

  apply(ev, live) {
    const d = ev.d || {};
    switch (ev.type) {
      case "chat.message":
        this.messages.set(ev.seq, ev);
        this.list.append(this.render(ev));
        if (live) this.qun.call("chat.read", { group: this.group, seq: ev.seq }).catch(() => {});
        break;
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
      case "chat.member.joined":
        this.system(`${d.name || d.user} 加入了群 joined`);
        break;
      case "chat.pinned":
        if (d.on) this.system(`置顶了一条消息 pinned a message`);
        break;
      case "chat.designated":
        if (d.on) this.system(`群主指定了交易消息 the owner designated an offer message`);
        break;
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
    else if (d.kind === "product" && d.product) body = `🛍 ${esc(d.product.title)} <span class="price">¥${(d.product.price / 100).toFixed(2)}</span>`;
    else if (d.kind === "live" && d.live) body = `📺 ${esc(d.live.title)}`;
    else if ((d.kind === "tip" || d.kind === "red_packet") && d.money) body = `${d.kind === "tip" ? "🎁" : "🧧"} ${esc(d.money.note || "")} ¥${(d.money.amount / 100).toFixed(2)}`;
    else body = esc(d.text);
    row.innerHTML = `<span class="avatar">${esc((d.name || ev.actor || "?").slice(0, 1))}</span>
      <div class="body"><div class="who">${esc(d.name || ev.actor)}${d.edited ? " · 已编辑 edited" : ""}</div>
      ${reply ? `<div class="muted">↪ ${esc(reply.d.recalled ? "…" : (reply.d.text || "").slice(0, 40))}</div>` : ""}
      <div class="bubble">${body}</div>
      <div class="row" style="gap:4px;justify-content:${mine ? "flex-end" : "flex-start"}">
        <button class="small" data-act="reply">回复 Reply</button>
        ${mine && !d.recalled ? `<button class="small" data-act="recall">撤回 Recall</button>` : ""}
      </div></div>`;
    row.querySelector("[data-act=reply]").onclick = () => this.startReply(ev);
    const rc = row.querySelector("[data-act=recall]");
    if (rc) rc.onclick = () => this.qun.call("chat.recall", { group: this.group, seq: ev.seq }).catch((e) => toast(e.message));
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
    const msg = { group: this.group, kind: "text", text };
    if (this.replyTo) msg.reply_to = this.replyTo;
    try {
      await this.qun.call("chat.send", msg);
      this.input.value = "";
      this.cancelReply();
    } catch (e) {
      toast(e.code === "rejected" ? `未通过审核 Not sent: ${e.message}` : e.message);
    }
  }

  system(text) {
    const row = document.createElement("div");
    row.className = "msg system";
    row.innerHTML = `<div class="bubble">${esc(text)}</div>`;
    this.list.append(row);
  }

  showAnnouncement(a) {
    const el = this.el.querySelector("[data-role=announcement]");
    if (!a || !a.text) { el.classList.add("hidden"); return; }
    el.textContent = "📢 群公告 Announcement: " + a.text;
    el.classList.remove("hidden");
  }

  async close() {
    if (this.sub) await this.sub.unsubscribe();
  }
}
