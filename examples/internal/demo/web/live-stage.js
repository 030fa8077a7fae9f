// The video stage of a live, shared by the example apps: one tile per
// received video track (camera, screen), hidden players for audio, and the
// publisher's own preview. Tiles carry data-user and data-source so pages
// and tests can find them.
import { attachStream } from "/qun/qun.js";
import { esc } from "./login.js";

const SOURCE = { camera: "摄像头 camera", screen: "屏幕 screen" };

export class StageView {
  /**
   * @param {HTMLElement} el the stage container
   * @param {import("/qun/qun.js").Live} live a joined Live
   * @param {object} opts names: Map user → name; main: the user whose camera is the big tile
   *        (default the host); screenEl: where screen tracks go (default the stage);
   *        empty: text shown without video
   */
  constructor(el, live, opts = {}) {
    this.el = el;
    this.live = live;
    this.names = opts.names || new Map();
    this.main = opts.main || null;
    this.screenEl = opts.screenEl || null;
    this.empty = opts.empty || "等待开播 Waiting for the live";
    this.tiles = new Map(); // key -> element
    this.localTiles = new Map();
    el.classList.add("stage");
    el.innerHTML = `<div class="stage-empty">${esc(this.empty)}</div><div class="stage-main"></div><div class="tiles"></div><div class="audio hidden"></div>`;
    this.mainEl = el.querySelector(".stage-main");
    this.tilesEl = el.querySelector(".tiles");
    this.audioEl = el.querySelector(".audio");
    live.on("tracks", (list) => this.render(list));
    this.render(live.trackList());
  }

  name(u) { return this.names.get(u) || u; }

  _tile(key, user, source, stream, own) {
    let t = (own ? this.localTiles : this.tiles).get(key);
    if (!t) {
      t = document.createElement("div");
      t.className = "tile" + (own ? " own" : "");
      t.dataset.user = user;
      t.dataset.source = source;
      t.innerHTML = `<video playsinline autoplay data-user="${esc(user)}" data-source="${esc(source)}"></video>
        <span class="label">${esc(this.name(user))}${own ? " (我 me)" : ""} · ${esc(SOURCE[source] || source)}</span>`;
      (own ? this.localTiles : this.tiles).set(key, t);
    }
    attachStream(t.querySelector("video"), stream, { muted: true });
    return t;
  }

  /** render shows the received tracks: [{id,user,source,kind,off,muted,stream}]. */
  render(list) {
    const host = this.main || (this.live.info && this.live.info.host);
    const seen = new Set();
    for (const t of list) {
      seen.add(t.id);
      if (t.kind === "audio") {
        let a = this.tiles.get(t.id);
        if (!a) { a = document.createElement("audio"); a.autoplay = true; a.dataset.user = t.user; this.tiles.set(t.id, a); this.audioEl.append(a); }
        if (a.srcObject !== t.stream) { a.srcObject = t.stream; a.play().catch(() => {}); }
        continue;
      }
      const tile = this._tile(t.id, t.user, t.source, t.stream, false);
      tile.classList.toggle("off", !!(t.off || t.muted));
      const place = t.source === "screen" && this.screenEl ? this.screenEl
        : t.user === host && t.source === "camera" ? this.mainEl : this.tilesEl;
      if (tile.parentElement !== place) place.append(tile);
    }
    for (const [id, node] of this.tiles) if (!seen.has(id)) { node.remove(); this.tiles.delete(id); }
    this._empty();
  }

  /** setLocal shows (or, with null, removes) this user's own camera or screen preview. */
  setLocal(source, stream) {
    const me = this.live.me;
    const key = "local:" + source;
    if (!stream) {
      const t = this.localTiles.get(key);
      if (t) { t.remove(); this.localTiles.delete(key); }
    } else {
      const t = this._tile(key, me, source, stream, true);
      const host = this.main || (this.live.info && this.live.info.host);
      const place = source === "screen" && this.screenEl ? this.screenEl : me === host && source === "camera" ? this.mainEl : this.tilesEl;
      if (t.parentElement !== place) place.append(t);
    }
    this._empty();
  }

  _empty() {
    const any = this.mainEl.children.length + this.tilesEl.children.length > 0;
    this.el.querySelector(".stage-empty").classList.toggle("hidden", any);
  }

  /** frames counts the decoded frames of the received camera of user (for tests and stats). */
  frames(user, source = "camera") {
    const v = this.el.querySelector(`.tile:not(.own) video[data-user="${user}"][data-source="${source}"]`) ||
      (this.screenEl && this.screenEl.querySelector(`.tile:not(.own) video[data-user="${user}"][data-source="${source}"]`));
    return v && v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality().totalVideoFrames : 0;
  }
}
