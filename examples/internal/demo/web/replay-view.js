// A replay player page part, shared by the example apps: the recorded
// videos, play/pause, a seek bar with markers for the moments that matter
// (a product explained, a question featured), and the room's events shown
// in sync. The app decides what each event looks like.
import { ReplayPlayer } from "/qun/qun.js";
import { esc, fmtTime } from "./login.js";

export class ReplayView {
  /**
   * @param {HTMLElement} el where to render
   * @param {import("/qun/qun.js").Client} qun
   * @param {object} opts
   *   line(ev) → HTML of the event's line in the feed, or null to leave it out;
   *   marker(ev) → a short label to mark the event on the seek bar, or null;
   *   onReset(ms, events), onEvent(ev): to keep the app's own view in sync (a board, a product card)
   */
  constructor(el, qun, opts = {}) {
    this.el = el;
    this.qun = qun;
    this.opts = opts;
    this.player = new ReplayPlayer(qun, { http: "/replays" });
    el.innerHTML = `
      <div class="replay">
        <div class="replay-stage stage"><div class="stage-empty">加载中 Loading…</div></div>
        <div class="replay-controls row">
          <button class="primary" data-role="play">▶ 播放 Play</button>
          <span class="time" data-role="time">0:00 / 0:00</span>
          <div class="seek grow"><input type="range" min="0" max="1000" value="0" data-role="seek"><div class="marks" data-role="marks"></div></div>
        </div>
        <div class="marker-list row" data-role="chips"></div>
      </div>`;
    this.stage = el.querySelector(".replay-stage");
    this.playBtn = el.querySelector("[data-role=play]");
    this.timeEl = el.querySelector("[data-role=time]");
    this.seekEl = el.querySelector("[data-role=seek]");
    this.feed = opts.feed || null;
    this.playBtn.onclick = () => (this.player.playing ? this.player.pause() : this.player.play());
    this.seekEl.oninput = () => this.player.seek((this.seekEl.value / 1000) * this.player.duration);
    this.player.on("state", (s) => { this.playBtn.textContent = s === "playing" ? "⏸ 暂停 Pause" : "▶ 播放 Play"; });
    this.player.on("time", (ms) => {
      this.timeEl.textContent = `${fmtTime(ms)} / ${fmtTime(this.player.duration)}`;
      if (document.activeElement !== this.seekEl && this.player.duration) this.seekEl.value = String(Math.round((ms / this.player.duration) * 1000));
    });
    this.player.on("reset", (ms, evs) => {
      if (this.feed) { this.feed.innerHTML = ""; evs.forEach((ev) => this._line(ev)); }
      if (opts.onReset) opts.onReset(ms, evs);
    });
    this.player.on("event", (ev) => { this._line(ev); if (opts.onEvent) opts.onEvent(ev); });
    // One video fills the stage (the screen if shared, else the host's
    // camera); the others (co-hosts) float in a corner.
    this.player.on("tracks", (list) => {
      this.stage.querySelector(".stage-empty").classList.toggle("hidden", list.length > 0);
      const host = this.player.manifest && this.player.manifest.host;
      const main = list.find((m) => m.track.source === "screen") || list.find((m) => m.track.publisher === host) || list[0];
      let i = 0;
      for (const m of list) {
        const pip = m !== main;
        m.el.classList.toggle("pip", pip);
        m.el.style.right = pip ? `${10 + i++ * 30}%` : "";
      }
    });
  }

  _line(ev) {
    if (!this.feed || !this.opts.line) return;
    const html = this.opts.line(ev);
    if (!html) return;
    const row = document.createElement("div");
    row.className = "feed-line";
    row.dataset.type = ev.type;
    row.innerHTML = `<span class="at">${fmtTime(ev.at)}</span> ${html}`;
    row.onclick = () => this.player.seek(ev.at);
    this.feed.append(row);
    this.feed.scrollTop = this.feed.scrollHeight;
  }

  async load(id) {
    const m = await this.player.load(id, this.stage);
    const marks = this.el.querySelector("[data-role=marks]");
    const chips = this.el.querySelector("[data-role=chips]");
    for (const ev of this.player.events) {
      const label = this.opts.marker && this.opts.marker(ev);
      if (!label) continue;
      const pos = m.durationMs ? (ev.at / m.durationMs) * 100 : 0;
      const dot = document.createElement("span");
      dot.className = "mark";
      dot.style.left = pos + "%";
      dot.title = label;
      marks.append(dot);
      const chip = document.createElement("button");
      chip.className = "small chip";
      chip.dataset.at = ev.at;
      chip.innerHTML = `${esc(label)} <span class="muted">${fmtTime(ev.at)}</span>`;
      chip.onclick = () => { this.player.seek(ev.at); this.player.play(); };
      chips.append(chip);
    }
    this.timeEl.textContent = `0:00 / ${fmtTime(m.durationMs)}`;
    return m;
  }
}
