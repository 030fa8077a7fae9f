// qun browser SDK: one ES module, no build step. Served by the Hub at
// <mount>/qun.js. It speaks the protocol of docs/protocol.md and the ops of
// docs/ops/*.md; docs/sdk.md is its guide.
//
// Core — connect, call, subscribe with resume:
//
//   import { Client } from "/qun/qun.js";
//   const qun = new Client({ url: "/qun/ws", token: () => fetch("/token").then(r => r.text()) });
//   await qun.connect();
//   const room = qun.subscribe("g:8f3k", ev => console.log(ev.type, ev.d));
//   await qun.call("chat.send", { group: "g:8f3k", text: "你好" });
//
// The client reconnects by itself (exponential backoff with jitter) and
// resumes every subscription from the last seq it processed, so an app sees
// each event exactly once and in order. If the server no longer has the
// missed events (code "too_old"), the subscription's onReset is called: reload
// the room's state, then events continue from the new head.
//
// Chat — history, live events, send without loss, read positions:
//
//   const chat = new Chat(qun, "g:8f3k");
//   chat.on("message", ev => show(ev));              // history first, then live
//   await chat.open({ limit: 50 });
//   await chat.send("大家好");                         // a cid makes retries safe
//   const older = await chat.older();                  // page back
//
// Live — go live, watch, the stage (连麦):
//
//   const live = await Live.start(qun, { group: "g:8f3k", title: "新品首发", mode: "small" });
//   live.on("tracks", list => render(list));          // [{id,user,source,kind,stream,off}]
//   await live.join();
//   await live.publish({ video: { width: 640, height: 360 } });   // camera + mic
//   await live.shareScreen();                          // screen as its own track
//   // a viewer: await new Live(qun, id).join(); await live.requestStage();
//   // the host:  await live.acceptStage("u7");  the viewer then live.publish()
//
// Whiteboard — render and draw on a <canvas>:
//
//   const board = new Board(qun, boardId, canvas, { http: "/wb" });
//   await board.open();
//   board.setTool("pen", { color: "#e53935" });       // highlighter, rect, ellipse, line, arrow, text, eraser, laser
//   await board.upload(pdfFile);                       // courseware pages
//   await board.next(); await board.undo();
//
// Shop — shelf, now explaining, coupons, buying, tips and red packets:
//
//   const shop = new Shop(qun, live.room, { events: live });
//   shop.on("explain", item => showCard(item));
//   await shop.load();
//   const order = await shop.buy("tea", { qty: 1 });   // open order.pay_url to pay
//   await shop.tip(888, "加油");                        // ¥8.88
//
// Replay — media and timeline in sync:
//
//   const player = new ReplayPlayer(qun, { http: "/replays" });
//   player.on("event", ev => show(ev));                 // timeline events as playback passes them
//   player.on("reset", (ms, evs) => rebuild(evs));      // after a seek: the events up to ms
//   await player.load(replayId, document.getElementById("stage"));
//   player.play(); player.seek(60_000);

export const PROTOCOL_VERSION = 1;

/** QunError is what a failed call rejects with: { code, msg, field }. */
export class QunError extends Error {
  constructor(err) {
    super(err.msg || err.code);
    this.code = err.code;
    this.field = err.field;
  }
}

/** Emitter is a minimal event emitter: on(name, fn) returns an unsubscribe function. */
export class Emitter {
  constructor() {
    this.listeners = new Map();
  }

  on(name, fn) {
    if (!this.listeners.has(name)) this.listeners.set(name, new Set());
    this.listeners.get(name).add(fn);
    return () => this.listeners.get(name).delete(fn);
  }

  /** once resolves with the next emitted value of name that passes test. */
  once(name, test = () => true) {
    return new Promise((resolve) => {
      const off = this.on(name, (v) => { if (test(v)) { off(); resolve(v); } });
    });
  }

  _emit(name, ...v) {
    const set = this.listeners.get(name);
    if (set) for (const fn of [...set]) { try { fn(...v); } catch (e) { console.error(e); } }
  }
}

/** newKey returns a random idempotency key or client id (works outside secure contexts too). */
export function newKey() {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

export class Client extends Emitter {
  /**
   * @param {object} opts
   * @param {string} opts.url WebSocket URL or path (e.g. "/qun/ws").
   * @param {string|function(): (string|Promise<string>)} opts.token the vendor-issued token,
   *        or a function that fetches a fresh one (used again on every reconnect).
   * @param {number} [opts.maxBackoffMs=15000]
   */
  constructor(opts) {
    super();
    this.url = absoluteWS(opts.url);
    this.token = opts.token;
    this.maxBackoff = opts.maxBackoffMs || 15000;
    this.ws = null;
    this.nextId = 1;
    this.pending = new Map(); // id -> {resolve, reject}
    this.rooms = new Map(); // room -> Subscription
    this.state = "idle"; // idle, connecting, open, closed
    this.user = null;
    this.attempt = 0;
    this.closedByUser = false;
    this.timer = null;
    this.lastToken = null;
    this._inbox = null;
  }

  /** connect opens the connection; resolves once authenticated. */
  connect() {
    this.closedByUser = false;
    return this._open();
  }

  /** close ends the connection and stops reconnecting. */
  close() {
    this.closedByUser = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000);
    this._setState("closed");
  }

  /** call sends op and resolves with its result or rejects with a QunError. */
  call(op, d = {}) {
    if (this.state !== "open") {
      return Promise.reject(new QunError({ code: "unavailable", msg: "not connected" }));
    }
    return this._send(op, d);
  }

  /** opened resolves when the connection is (again) open. */
  opened() {
    if (this.state === "open") return Promise.resolve();
    return this.once("state", (s) => s === "open");
  }

  /**
   * subscribe receives a room's events in seq order, resuming across reconnects.
   * @param {string} room e.g. "g:8f3k"
   * @param {function(object)} onEvent called with {room, seq, type, actor, ts, d}
   * @param {object} [opts]
   * @param {number} [opts.after] last seq already seen (history loaded up to it); omit for "from now"
   * @param {function()} [opts.onReset] the missed events are gone (too_old): reload state
   * @param {function(object)} [opts.onEnd] the server ended the subscription ({code, msg})
   * @param {function(number|undefined): Promise<{head:number}>} [opts.start] an op that
   *        subscribes instead of "sub" (live.join does), given the seq to resume after
   * @returns {Subscription}
   */
  subscribe(room, onEvent, opts = {}) {
    let sub = this.rooms.get(room);
    if (sub) throw new Error(`already subscribed to ${room}`);
    sub = new Subscription(this, room, onEvent, opts);
    this.rooms.set(room, sub);
    if (this.state === "open") sub._start();
    return sub;
  }

  /** room returns the current Subscription to room, if any (add listeners with its listen). */
  room(room) {
    return this.rooms.get(room);
  }

  /** inbox returns the subscription to the user's own room u:<user> (invitations, orders, reminders). */
  inbox() {
    if (!this.user) throw new Error("inbox: connect first");
    const room = `u:${this.user.user}`;
    if (!this._inbox || this.rooms.get(room) !== this._inbox) {
      this._inbox = this.rooms.get(room) || this.subscribe(room, () => {});
    }
    return this._inbox;
  }

  /** getToken resolves with the current token (for HTTP APIs beside the Hub). */
  async getToken() {
    if (typeof this.token !== "function") return this.token;
    if (this.lastToken) return this.lastToken;
    return (this.lastToken = await this.token());
  }

  /** fetch is window.fetch with "Authorization: Bearer <token>"; non-2xx answers reject with a QunError. */
  async fetch(url, init = {}) {
    const headers = new Headers(init.headers || {});
    headers.set("Authorization", "Bearer " + (await this.getToken()));
    const res = await fetch(url, { ...init, headers });
    if (!res.ok) {
      let err = { code: "unavailable", msg: `HTTP ${res.status}` };
      try { const body = await res.json(); if (body.err) err = body.err; } catch { /* not JSON */ }
      throw new QunError(err);
    }
    return res;
  }

  _setState(s) {
    if (this.state === s) return;
    this.state = s;
    this._emit("state", s);
  }

  async _open() {
    this._setState("connecting");
    const token = typeof this.token === "function" ? await this.token() : this.token;
    this.lastToken = token;
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      this.ws = ws;
      let hello = false;
      ws.onopen = async () => {
        try {
          const res = await this._send("hello", { v: PROTOCOL_VERSION, token });
          hello = true;
          this.user = res.user;
          this.attempt = 0;
          this._setState("open");
          this._emit("user", res.user);
          for (const sub of this.rooms.values()) sub._start();
          resolve(res.user);
        } catch (e) {
          reject(e);
        }
      };
      ws.onmessage = (m) => {
        for (const line of String(m.data).split("\n")) {
          if (line) this._frame(JSON.parse(line));
        }
      };
      ws.onclose = (e) => {
        if (this.ws !== ws) return;
        this.ws = null;
        for (const p of this.pending.values()) p.reject(new QunError({ code: "unavailable", msg: "connection lost" }));
        this.pending.clear();
        for (const sub of this.rooms.values()) sub.active = false;
        if (!hello) reject(new QunError({ code: e.reason || "unavailable", msg: "could not connect" }));
        const fatal = ["unauthenticated", "unsupported_version"].includes(e.reason) && typeof this.token !== "function";
        if (this.closedByUser || fatal) {
          this._setState("closed");
          return;
        }
        this._setState("connecting");
        const backoff = Math.min(this.maxBackoff, 250 * 2 ** this.attempt++);
        this.timer = setTimeout(() => this._open().catch(() => {}), backoff / 2 + Math.random() * backoff / 2);
      };
    });
  }

  _send(op, d) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ id, op, d }));
    });
  }

  _frame(f) {
    switch (f.t) {
      case "res": {
        const p = this.pending.get(f.id);
        if (!p) return;
        this.pending.delete(f.id);
        if (f.err) p.reject(new QunError(f.err));
        else p.resolve(f.ok);
        return;
      }
      case "ev": {
        const sub = this.rooms.get(f.room);
        if (sub) sub._event(f);
        return;
      }
      case "push":
        this._emit("push:" + f.type, f.d);
        return;
      case "sub.end": {
        const sub = this.rooms.get(f.room);
        if (sub) {
          this.rooms.delete(f.room);
          sub.ended = true;
          if (sub.opts.onEnd) sub.opts.onEnd(f.err);
        }
        return;
      }
    }
  }
}

/** Subscription is one room's event stream. */
export class Subscription {
  constructor(client, room, onEvent, opts) {
    this.client = client;
    this.room = room;
    this.onEvent = onEvent;
    this.opts = opts;
    this.seq = opts.after; // last seq processed (undefined: from now)
    this.head = undefined;
    this.active = false;
    this.ended = false;
    this.extra = new Set();
    this.ready = new Promise((resolve, reject) => { this._ready = resolve; this._fail = reject; });
    this.ready.catch(() => {}); // a failure is reported to whoever awaits ready, and to onEnd
  }

  async _start() {
    const after = this.seq === undefined || this.seq === null ? undefined : this.seq;
    try {
      let res;
      if (this.opts.start) res = await this.opts.start(after);
      else res = await this.client._send("sub", after === undefined ? { room: this.room } : { room: this.room, after });
      this.active = true;
      this.head = res.head;
      if (this.seq === undefined || this.seq === null) this.seq = res.head;
      this._ready(res);
    } catch (e) {
      if (e.code === "too_old") {
        this.seq = undefined;
        if (this.opts.onReset) await this.opts.onReset();
        return this._start();
      }
      if (e.code === "unavailable") return; // reconnect will retry
      this.client.rooms.delete(this.room);
      this.ended = true;
      this._fail(e);
      if (this.opts.onEnd) this.opts.onEnd(e);
    }
  }

  _event(f) {
    if (f.seq) {
      if (this.seq !== undefined && f.seq <= this.seq) return; // already seen
      this.seq = f.seq;
    }
    try { this.onEvent(f); } catch (e) { console.error(e); }
    for (const fn of this.extra) { try { fn(f); } catch (e) { console.error(e); } }
  }

  /** listen adds another consumer of this room's events; returns a function that removes it. */
  listen(fn) {
    this.extra.add(fn);
    return () => this.extra.delete(fn);
  }

  /** setSeq tells the subscription state was reloaded up to seq (after onReset). */
  setSeq(seq) { this.seq = seq; }

  /** unsubscribe stops the stream. */
  unsubscribe() {
    this.client.rooms.delete(this.room);
    if (this.client.state === "open" && !this.ended) return this.client._send("unsub", { room: this.room }).catch(() => {});
    return Promise.resolve();
  }
}

// sleep resolves after ms milliseconds.
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function absoluteWS(url) {
  if (/^wss?:/.test(url)) return url;
  const u = new URL(url, location.href);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  return u.toString();
}

// ---------------------------------------------------------------------------
// Chat (docs/ops/chat.md)

/**
 * Chat is one group's conversation: history, live events with resume, sending
 * with a client id (so a message cut off by a reconnect is resent once, never
 * twice) and the read position.
 *
 * Events: "event" (every room event, {live} tells history from new),
 * "message" (chat.message), "reset" (the history was reloaded), "end" (the
 * server ended the subscription: kicked, dissolved).
 */
export class Chat extends Emitter {
  constructor(client, group) {
    super();
    this.client = client;
    this.group = group;
    this.view = null;
    this.oldest = 0; // seq of the oldest event loaded
    this.head = 0;
    this.readSeq = 0;
    this.sub = null;
    this.seenCids = new Map(); // cid -> seq, of messages seen
    this.outbox = new Map(); // cid -> message awaiting its reply
  }

  /** open loads the group (chat.get), the newest history page and subscribes after it. */
  async open({ limit = 50 } = {}) {
    this.view = await this.client.call("chat.get", { group: this.group });
    const page = await this.client.call("chat.history", { group: this.group, limit });
    this.head = page.head;
    this.oldest = page.events.length ? page.events[0].seq : page.head + 1;
    for (const e of page.events) this._apply({ ...e, room: this.group }, false);
    if (this.sub) await this.sub.unsubscribe();
    this.sub = this.client.subscribe(this.group, (ev) => this._apply(ev, true), {
      after: page.head,
      onReset: () => this._reset(limit),
      onEnd: (err) => this._emit("end", err),
    });
    await this.sub.ready;
    if (page.head) this.read(page.head);
    return this.view;
  }

  async _reset(limit) {
    const page = await this.client.call("chat.history", { group: this.group, limit });
    this.head = page.head;
    this.oldest = page.events.length ? page.events[0].seq : page.head + 1;
    this.sub.setSeq(page.head);
    this._emit("reset", page.events);
    for (const e of page.events) this._apply({ ...e, room: this.group }, false);
  }

  /** older loads the history page before the oldest loaded event; resolves with its events (oldest first). */
  async older(limit = 50) {
    if (this.oldest <= 1) return [];
    const page = await this.client.call("chat.history", { group: this.group, before: this.oldest, limit });
    if (page.events.length) this.oldest = page.events[0].seq;
    else this.oldest = 1;
    return page.events.map((e) => ({ ...e, room: this.group }));
  }

  _apply(ev, live) {
    if (ev.seq > this.head) this.head = ev.seq;
    if (ev.type === "chat.message" && ev.d && ev.d.cid) this.seenCids.set(ev.d.cid, ev.seq);
    this._emit("event", ev, live);
    if (ev.type === "chat.message") {
      this._emit("message", ev, live);
      if (live) this.read(ev.seq);
    }
  }

  /**
   * send posts a message: a string is a text message, an object carries
   * kind and content fields (docs/ops/chat.md). opts: reply_to, mentions, mention_all.
   * If the connection drops before the reply, send waits for the reconnect and
   * resends only if the message did not arrive. Resolves with {seq, ts}.
   */
  async send(msg, opts = {}) {
    const m = typeof msg === "string" ? { kind: "text", text: msg } : { ...msg };
    const d = { group: this.group, ...m, ...opts, cid: m.cid || newKey() };
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.client.call("chat.send", d);
      } catch (e) {
        if (e.code !== "unavailable" || attempt >= 3) throw e;
        await this.client.opened();
        if (this.sub) await this.sub.ready;
        const seq = this.seenCids.get(d.cid);
        if (seq) return { seq };
      }
    }
  }

  edit(seq, text) { return this.client.call("chat.edit", { group: this.group, seq, text }); }
  recall(seq) { return this.client.call("chat.recall", { group: this.group, seq }); }
  pin(seq, on = true) { return this.client.call("chat.pin", { group: this.group, seq, on }); }
  announce(text) { return this.client.call("chat.announce", { group: this.group, text }); }

  /** read moves the read position forward (never back); calls are coalesced. */
  read(seq) {
    if (seq <= this.readSeq) return;
    this.readSeq = seq;
    clearTimeout(this._readTimer);
    this._readTimer = setTimeout(() => {
      this.client.call("chat.read", { group: this.group, seq: this.readSeq }).catch(() => {});
    }, 300);
  }

  async close() {
    clearTimeout(this._readTimer);
    if (this.sub) await this.sub.unsubscribe();
    this.sub = null;
  }
}

// ---------------------------------------------------------------------------
// Live (docs/ops/live.md)

/**
 * Live is one live stream: its room, the media it receives and the media
 * this client publishes. Signalling rides on the Client's socket (or, when
 * live.join answers {node}, on a second Client to that node, this.mc): the
 * server offers on the viewer connection, the client offers on the
 * publishing one.
 *
 * Events: "info" (viewers, likes, stage, requests, state changed), "tracks"
 * (the list of received tracks: [{id,user,source,kind,muted,off,stream}]),
 * "event" (every room event), "stage" (true/false: this user went on or off
 * the stage), "ended", "kicked", "reconnecting" / "reconnected" ("pub" or
 * "sub": the server gave up a failed peer connection and a new one is being
 * set up, or the media connection to the live's node was lost and the live
 * is being followed to its new node), "error" (a media failure).
 */
export class Live extends Emitter {
  /** start starts a live in a group (live.start) and returns it, not yet joined. */
  static async start(client, opts) {
    const info = await client.call("live.start", opts);
    const live = new Live(client, info.id);
    live.info = info;
    return live;
  }

  /** schedule announces a live for later (直播预告): {group, title, at (unix ms), mode, stage_limit}; resolves with its record. */
  static schedule(client, opts) { return client.call("live.schedule", opts); }

  /** list lists a group's scheduled and on-air lives. */
  static async list(client, group, limit = 20) { return (await client.call("live.list", { group, limit })).lives; }

  constructor(client, id) {
    super();
    this.client = client;
    this.id = id;
    this.room = "live:" + id;
    this.info = null;
    this.tracks = new Map(); // track id -> view {id,user,source,kind,muted}
    this.streams = new Map(); // track id -> MediaStream (received)
    this.off = new Map(); // "user/source" -> true when turned off by its publisher
    this.pcs = { pub: null, sub: null };
    this.early = { pub: [], sub: [] };
    this.iceServers = [];
    this.local = null; // the published camera/mic MediaStream
    this.screen = null; // the shared screen MediaStream
    this.screenSender = null;
    this.sources = {}; // published MediaStreamTrack.id -> source
    this.publishing = false;
    this.layerCap = "high";
    this.chain = Promise.resolve();
    this.sub = null;
    this.mc = null; // the media connection: a Client to the node running the live, when not this.client
    this.mcSub = null;
    this.moving = false; // _relocate runs
    this.moveTries = 12; // live.join attempts on the first connection after the media one is lost
    this._unpush = this._hookPushes(client);
    this._unpushMC = [];
  }

  // The live's pushes arrive on the connection that joined it: the first
  // one, or the media connection to the node that runs the live.
  _hookPushes(c) {
    return [
      c.on("push:live.offer", (d) => { if (d.live === this.id) this._onOffer(d); }),
      c.on("push:live.candidate", (d) => { if (d.live === this.id) this._addCandidate(d.pc, d.candidate); }),
      c.on("push:live.failed", (d) => { if (d.live === this.id) this._onFailed(d.pc); }),
    ];
  }

  // _call sends an op on the running live over the connection that joined it.
  _call(op, d) { return (this.mc || this.client).call(op, d); }

  get me() { return this.client.user && this.client.user.user; }
  get isHost() { return this.info && this.info.host === this.me; }
  get onStage() { return !!this.info && (this.info.stage || []).includes(this.me); }

  /** join subscribes to the live room and opens the viewer connection; resolves with the info. */
  async join() {
    if (!this.sub) {
      this.sub = this.client.subscribe(this.room, (ev) => this._event(ev), {
        start: (after) => this._join(after),
        onEnd: (err) => { this._closePCs(); this._emit("end", err); },
      });
    }
    await this.sub.ready;
    return this.info;
  }

  // _join is the room subscription's start on the first connection (again
  // after each reconnect). On a deployment of several nodes live.join may
  // answer {node}: the live's media runs there. The room's events then come
  // with a plain "sub" here, and a media connection to that node joins.
  async _join(after) {
    const d = { live: this.id };
    if (after !== undefined) d.after = after;
    let subReady = null;
    if (!this.mc) { // a new session: the server dropped the old connections
      this._closePCs();
      subReady = this._expectSub();
    }
    let res;
    try {
      res = await this.client.call("live.join", d);
    } catch (e) {
      if (subReady) subReady(); // let queued offers through (to nothing)
      throw e;
    }
    if (!res.node) {
      if (this.mc) { this._closeNode(); this._closePCs(); } // the live moved here
      return this._joined(res, subReady || this._expectSub(), true);
    }
    if (subReady) subReady(); // no offers come on this connection
    const sub = await this.client._send("sub", after === undefined ? { room: this.room } : { room: this.room, after });
    await this._openNode(res.node);
    return sub;
  }

  // _openNode opens (or keeps) the media connection to url, the node's Hub
  // WebSocket URL, with the same token, and joins the live there. Its
  // subscription's start runs live.join again whenever it reconnects.
  async _openNode(url) {
    url = absoluteWS(url);
    if (this.mc && this.mcURL === url) return this.mcSub.ready;
    this._closeNode();
    this._closePCs();
    const mc = (this.mc = new Client({ url, token: this.client.token, maxBackoffMs: this.client.maxBackoff }));
    this.mcURL = url;
    this._unpushMC = this._hookPushes(mc);
    let opened = false;
    this._unpushMC.push(mc.on("state", (s) => {
      if (s === "open") opened = true;
      else if (s === "connecting" && opened && this.mc === mc) this._relocate(); // lost: the node may be gone
    }));
    this.mcSub = mc.subscribe(this.room, () => {}, { // the events come on the first connection
      start: async () => {
        this._closePCs();
        const subReady = this._expectSub();
        let res;
        try {
          res = await mc.call("live.join", { live: this.id });
        } catch (e) {
          subReady();
          throw e;
        }
        if (res.node) throw new QunError({ code: "conflict", msg: "the live moved to " + res.node });
        return this._joined(res, subReady, true);
      },
      // The node no longer runs the live (it moved, or ended): ask the
      // first connection where it is now.
      onEnd: () => { if (this.mc === mc) this._relocate(); },
    });
    mc.connect().catch(() => {}); // it retries by itself; ready resolves once it joined
    return this.mcSub.ready;
  }

  // _relocate follows the live after its media connection was lost (or its
  // node stopped running it): the node may be dead, and once its lease runs
  // out another node takes the live over. It asks placement again with
  // live.join on the first connection, with backoff, until that answers
  // another node (the media connection moves there), this node (the live
  // runs here now), or the media connection came back by itself; a
  // publisher publishes again. The first connection's own reconnect
  // (_join) may move the live meanwhile: then this stops.
  _relocate() {
    if (this.moving || !this.sub) return;
    this.moving = true;
    const kinds = this.publishing ? ["pub", "sub"] : ["sub"];
    kinds.forEach((k) => this._emit("reconnecting", k));
    this._closePCs(); // their media ran on the lost node
    this._emitTracks();
    const done = () => kinds.forEach((k) => this._emit("reconnected", k));
    const run = async () => {
      let lost = this.mc; // the media connection being replaced
      for (let i = 0; i < this.moveTries; i++) {
        if (i > 0) await sleep(Math.min(this.client.maxBackoff, 500 * 2 ** (i - 1)) * (0.5 + Math.random() / 2));
        if (!this.sub || this.info && this.info.state === "ended") return;
        if (this.mc !== lost) return done(); // the first connection's reconnect moved it
        if (lost && lost.state === "open" && this.mcSub && this.mcSub.active) return done(); // it came back (and joined)
        if (this.client.state !== "open") continue; // its reconnect runs live.join (_join)
        let res;
        try {
          res = await this.client.call("live.join", { live: this.id });
        } catch (e) {
          if (e.code === "unavailable") continue;
          this._closeNode();
          throw e;
        }
        if (!this.sub || this.mc !== lost) return done();
        if (res.node && lost && absoluteWS(res.node) === this.mcURL) continue; // still placed there: its lease has not run out
        if (!res.node) {
          this._closeNode();
          this._closePCs();
          this._joined(res, this._expectSub(), true); // the live runs on this node now
          return done();
        }
        const opening = this._openNode(res.node); // closes the lost one; its join republishes
        lost = this.mc;
        const ok = await Promise.race([opening.then(() => true), sleep(10000).then(() => false)]);
        if (ok) return done();
        // the new node does not answer either: ask again
      }
      throw new QunError({ code: "unavailable", msg: "the live's media node is gone and no other took it over" });
    };
    run().catch((e) => this._emit("error", e)).finally(() => { this.moving = false; });
  }

  _closeNode() {
    if (!this.mc) return;
    const mc = this.mc;
    this.mc = this.mcSub = this.mcURL = null;
    this._unpushMC.forEach((f) => f());
    this._unpushMC = [];
    mc.close();
  }

  // _expectSub makes offers wait for the viewer connection that live.join's
  // reply creates; it returns the function that lets them through.
  _expectSub() {
    let ready;
    this.subReady = new Promise((r) => (ready = r));
    return ready;
  }

  // _joined sets up the viewer connection after live.join answered res.
  _joined(res, subReady, republish) {
    this.iceServers = res.ice_servers || [];
    this.info = res;
    this.tracks = new Map((res.tracks || []).map((t) => [t.id, t]));
    const pc = (this.pcs.sub = new RTCPeerConnection({ iceServers: this.iceServers }));
    this._trickle(pc, "sub");
    pc.ontrack = (e) => {
      const stream = e.streams[0];
      if (!stream) return;
      this.streams.set(stream.id, stream);
      stream.onremovetrack = () => { if (!stream.getTracks().length) { this.streams.delete(stream.id); this._emitTracks(); } };
      this._emitTracks();
    };
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === "failed" && this.pcs.sub === pc) this._call("live.restart", { live: this.id }).catch(() => {});
    };
    subReady();
    this._emit("info", this.info);
    this._emitTracks();
    if (republish && this.publishing) this._republish().catch((e) => this._emit("error", e));
    return res;
  }

  // _onFailed: the server gave up a peer connection whose ICE or DTLS
  // failed while the WebSocket stayed up ("live.failed"). Start over with a
  // new one: publish the same tracks again, or join again for a new viewer
  // connection.
  _onFailed(kind) {
    this._emit("reconnecting", kind);
    const old = this.pcs[kind];
    this.pcs[kind] = null;
    this.early[kind] = [];
    if (old) old.close();
    if (kind === "pub") {
      this.screenSender = null;
      if (!this.publishing) return;
      this._republish().then(() => this._emit("reconnected", kind), (e) => this._emit("error", e));
      return;
    }
    this.streams.clear();
    this._emitTracks();
    const subReady = this._expectSub();
    this._call("live.join", { live: this.id }).then((res) => {
      this._joined(res, subReady, false);
      if (this.layerCap !== "high") this._call("live.layer", { live: this.id, layer: this.layerCap }).catch(() => {});
      this._emit("reconnected", kind);
    }).catch((e) => { subReady(); this._emit("error", e); });
  }

  _onOffer(d) {
    this.chain = this.chain.then(async () => {
      await this.subReady;
      const pc = this.pcs.sub;
      if (!pc) return;
      await pc.setRemoteDescription({ type: "offer", sdp: d.sdp });
      this._flush("sub");
      const a = await pc.createAnswer();
      await pc.setLocalDescription(a);
      await this._call("live.answer", { live: this.id, sdp: a.sdp });
    }).catch((e) => this._emit("error", e));
  }

  // Candidates may overtake the description they belong to: keep them until then.
  _addCandidate(kind, c) {
    const pc = this.pcs[kind];
    if (!pc || !pc.remoteDescription) { this.early[kind].push(c); return; }
    pc.addIceCandidate(c).catch(() => {});
  }

  _flush(kind) {
    const cs = this.early[kind];
    this.early[kind] = [];
    cs.forEach((c) => this._addCandidate(kind, c));
  }

  _trickle(pc, kind) {
    pc.onicecandidate = (e) => {
      if (e.candidate) this._call("live.candidate", { live: this.id, pc: kind, candidate: e.candidate.toJSON() }).catch(() => {});
    };
  }

  _closePCs() {
    for (const k of ["pub", "sub"]) {
      if (this.pcs[k]) this.pcs[k].close();
      this.pcs[k] = null;
      this.early[k] = [];
    }
    this.screenSender = null;
    this.streams.clear();
  }

  _event(ev) {
    const d = ev.d || {};
    const info = this.info || (this.info = { stage: [], requests: [], tracks: [] });
    const drop = (list, u) => (list || []).filter((x) => x !== u);
    switch (ev.type) {
      case "live.joined": case "live.left": info.viewers = d.viewers; break;
      case "live.likes": info.likes = d.total; break;
      case "live.track": this.tracks.set(d.id, d); this._emitTracks(); break;
      case "live.untrack": this.tracks.delete(d.id); this.streams.delete(d.id); this._emitTracks(); break;
      case "live.stage.requested": info.requests = [...drop(info.requests, d.user), d.user]; break;
      case "live.stage.cancelled": case "live.stage.rejected": info.requests = drop(info.requests, d.user); break;
      case "live.stage.accepted":
        info.requests = drop(info.requests, d.user);
        info.stage = [...drop(info.stage, d.user), d.user];
        if (d.user === this.me) this._emit("stage", true);
        break;
      case "live.stage.removed":
        info.stage = drop(info.stage, d.user);
        if (d.user === this.me) { this._stopPublishing(); this._emit("stage", false); }
        break;
      case "live.muted":
        for (const t of this.tracks.values()) if (t.user === d.user && t.source === d.source) t.muted = d.muted;
        this._emitTracks();
        break;
      case "live.media":
        this.off.set(d.user + "/" + d.source, !d.on);
        this._emitTracks();
        break;
      case "live.kicked":
        if (d.user === this.me) { this._closePCs(); this._stopPublishing(); this._closeNode(); this._emit("kicked"); }
        break;
      case "live.paused": info.state = "paused"; break;
      case "live.resumed": case "live.started": info.state = "live"; break;
      case "live.ended":
        info.state = "ended";
        this._stopPublishing();
        this._closePCs();
        this._closeNode();
        this._emit("ended");
        break;
    }
    this._emit("event", ev);
    this._emit("info", info);
  }

  /** trackList is what is received now: [{id,user,source,kind,muted,off,stream}], own tracks excluded. */
  trackList() {
    const out = [];
    for (const [id, t] of this.tracks) {
      const stream = this.streams.get(id);
      if (!stream || t.user === this.me) continue;
      out.push({ ...t, off: !!this.off.get(t.user + "/" + t.source), stream });
    }
    return out;
  }

  _emitTracks() { this._emit("tracks", this.trackList()); }

  /**
   * publish sends the camera and microphone (host or co-host on stage).
   * @param {object} [opts] video/audio: getUserMedia constraints (false to skip),
   *        stream: a MediaStream to send instead, simulcast: three layers for the camera.
   * @returns {Promise<MediaStream>} the local stream, for a self-view
   */
  async publish(opts = {}) {
    const stream = opts.stream || await navigator.mediaDevices.getUserMedia({
      video: opts.video === undefined ? { width: 640, height: 360 } : opts.video,
      audio: opts.audio === undefined ? true : opts.audio,
    });
    this.local = stream;
    this.simulcast = !!opts.simulcast;
    this.publishing = true;
    try {
      await this._offer(stream.getTracks().map((t) => [t, t.kind === "audio" ? "microphone" : "camera", stream]));
    } catch (e) {
      this._stopPublishing();
      throw e;
    }
    return stream;
  }

  async _offer(adds, restart = false) {
    let pc = this.pcs.pub;
    if (!pc) {
      pc = this.pcs.pub = new RTCPeerConnection({ iceServers: this.iceServers });
      this._trickle(pc, "pub");
    }
    for (const [track, source, stream] of adds) {
      const init = { direction: "sendonly", streams: [stream] };
      if (source === "camera" && this.simulcast) {
        init.sendEncodings = [
          { rid: "q", scaleResolutionDownBy: 4, maxBitrate: 150000 },
          { rid: "h", scaleResolutionDownBy: 2, maxBitrate: 500000 },
          { rid: "f", maxBitrate: 1500000 },
        ];
      }
      const tr = pc.addTransceiver(track, init);
      if (source === "screen") this.screenSender = tr.sender;
      this.sources[track.id] = source;
    }
    const offer = await pc.createOffer(restart ? { iceRestart: true } : undefined);
    await pc.setLocalDescription(offer);
    const ans = await this._call("live.offer", { live: this.id, sdp: offer.sdp, sources: this.sources });
    await pc.setRemoteDescription({ type: "answer", sdp: ans.sdp });
    this._flush("pub");
  }

  // After a reconnect the server has forgotten our connection: offer again.
  async _republish() {
    const adds = [];
    this.sources = {};
    if (this.local) for (const t of this.local.getTracks()) adds.push([t, t.kind === "audio" ? "microphone" : "camera", this.local]);
    if (this.screen) for (const t of this.screen.getVideoTracks()) adds.push([t, "screen", this.screen]);
    if (adds.length) await this._offer(adds);
  }

  /** shareScreen adds a screen share (getDisplayMedia, or opts.stream) as its own track. */
  async shareScreen(opts = {}) {
    const stream = opts.stream || await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: 15 }, audio: false });
    const track = stream.getVideoTracks()[0];
    if (this.screen) this.screen.getTracks().forEach((t) => t.stop());
    this.screen = stream;
    this.publishing = true;
    track.onended = () => { if (this.screen === stream) this.stopScreen().catch(() => {}); };
    if (this.screenSender) {
      await this.screenSender.replaceTrack(track);
      await this._call("live.media", { live: this.id, source: "screen", on: true });
    } else {
      await this._offer([[track, "screen", stream]]);
    }
    return stream;
  }

  /** stopScreen stops the screen share (the track stays negotiated, turned off). */
  async stopScreen() {
    if (!this.screen) return;
    this.screen.getTracks().forEach((t) => t.stop());
    this.screen = null;
    if (this.screenSender) await this.screenSender.replaceTrack(null);
    await this._call("live.media", { live: this.id, source: "screen", on: false }).catch(() => {});
  }

  /** setMedia turns the camera ("camera") or microphone ("microphone") on or off. */
  async setMedia(source, on) {
    if (this.local) for (const t of this.local.getTracks()) if ((t.kind === "audio") === (source === "microphone")) t.enabled = on;
    await this._call("live.media", { live: this.id, source, on });
  }

  _stopPublishing() {
    this.publishing = false;
    for (const s of [this.local, this.screen]) if (s) s.getTracks().forEach((t) => t.stop());
    this.local = this.screen = null;
    this.screenSender = null;
    this.sources = {};
    if (this.pcs.pub) this.pcs.pub.close();
    this.pcs.pub = null;
  }

  /** stats summarises the media connections: what is sent and received, per RTP stream. */
  async stats() {
    const out = { pub: [], sub: [], tracks: this.trackList().map((t) => ({ id: t.id, user: t.user, source: t.source, off: t.off, muted: t.muted })) };
    for (const k of ["pub", "sub"]) {
      const pc = this.pcs[k];
      if (!pc) continue;
      out[k + "State"] = pc.connectionState;
      (await pc.getStats()).forEach((r) => {
        if (r.type === "outbound-rtp") out.pub.push({ kind: r.kind, rid: r.rid, bytes: r.bytesSent, frames: r.framesEncoded, packets: r.packetsSent });
        if (r.type === "inbound-rtp") out.sub.push({ kind: r.kind, track: r.trackIdentifier, bytes: r.bytesReceived, frames: r.framesDecoded, packets: r.packetsReceived, lost: r.packetsLost, pli: r.pliCount, keyframes: r.keyFramesDecoded });
      });
    }
    return out;
  }

  requestStage() { return this._call("live.stage.request", { live: this.id }); }
  cancelStage() { return this._call("live.stage.cancel", { live: this.id }); }
  acceptStage(user) { return this._call("live.stage.accept", { live: this.id, user }); }
  rejectStage(user) { return this._call("live.stage.reject", { live: this.id, user }); }
  /** removeStage demotes a co-host (or yourself, to step down). */
  removeStage(user = this.me) { return this._call("live.stage.remove", { live: this.id, user }); }
  mute(user, source, muted = true) { return this._call("live.stage.mute", { live: this.id, user, source, muted }); }
  kick(user) { return this._call("live.kick", { live: this.id, user }); }
  like(count = 1) { return this._call("live.like", { live: this.id, count }); }
  /** layer caps the simulcast layer received ("low", "mid", "high"), for one track or all. */
  layer(layer, track) {
    if (!track) this.layerCap = layer;
    return this._call("live.layer", track ? { live: this.id, layer, track } : { live: this.id, layer });
  }
  pause() { return this._call("live.pause", { live: this.id }); }
  resume() { return this._call("live.resume", { live: this.id }); }
  end() { return this._call("live.end", { live: this.id }); }
  share(group) { return this.client.call("live.share", { live: this.id, group }); }
  /** remind asks to be reminded (or not) when a scheduled live starts; reminders arrive in the inbox as live.reminder. */
  remind(on = true) { return this.client.call("live.remind", { live: this.id, on }); }
  /** startScheduled starts this scheduled live (its host). */
  startScheduled() { return this.client.call("live.start", { live: this.id }).then((i) => (this.info = i)); }

  /** leave closes the media connections and the room subscription. */
  async leave() {
    this._stopPublishing();
    this._closePCs();
    this._unpush.forEach((f) => f());
    if (this.sub) {
      const sub = this.sub;
      this.sub = null;
      await this._call("live.leave", { live: this.id }).catch(() => {});
      this._closeNode();
      await sub.unsubscribe();
    }
  }
}

/** attachStream shows a MediaStream in a <video> (muted when it is your own). */
export function attachStream(video, stream, { muted = false } = {}) {
  if (video.srcObject !== stream) video.srcObject = stream;
  video.muted = muted;
  video.playsInline = true;
  video.autoplay = true;
  const p = video.play();
  if (p) p.catch(() => {});
  return video;
}

// ---------------------------------------------------------------------------
// Whiteboard (docs/ops/whiteboard.md)

const BLANK_W = 1600;
const BLANK_H = 900;

/**
 * BoardModel is a board's state on the client, changed only by the apply
 * algorithm of docs/ops/whiteboard.md: pages (each with its items once
 * loaded), the current page and viewport, drawers, drafts (strokes being
 * drawn) and laser pointers. The replay player uses it without a connection.
 */
export class BoardModel {
  constructor() {
    this.board = null;
    this.seq = 0;
    this.cur = 0;
    this.view = { page: 0, x: 0, y: 0, zoom: 1 };
    this.pages = []; // [{id,bg,w,h,n,items:[]|null,at,buffer}]
    this.drawers = new Set();
    this.me = { present: false, draw: false, user: null };
    this.drafts = new Map(); // item id -> {id,page,by,tool,c,w,pts}
    this.lasers = new Map(); // user -> {page,x,y,t}
    this.deleted = false;
  }

  /** fromOpen builds the model from wb.open's reply. */
  static fromOpen(res, user) {
    const m = new BoardModel();
    m.board = res.board;
    m.seq = res.seq;
    m.cur = res.cur;
    m.view = res.view || { page: res.cur, x: 0, y: 0, zoom: 1 };
    m.pages = res.pages.map((p) => ({ ...p, items: null, at: 0 }));
    m.drawers = new Set(res.drawers || []);
    m.me = { ...(res.me || {}), user };
    for (const d of res.drafts || []) m.drafts.set(d.id, { ...d, pts: [...d.pts] });
    const p = m.page(res.page);
    if (p) m._load(p, res.items || [], res.seq);
    return m;
  }

  /** fromState builds the model from a complete state (whiteboard.State: every page with its items). */
  static fromState(st) {
    const m = new BoardModel();
    m.seq = st.seq;
    m.cur = st.cur;
    m.view = st.view || { page: st.cur, x: 0, y: 0, zoom: 1 };
    m.drawers = new Set(st.drawers || []);
    m.pages = st.pages.map((p) => ({ id: p.id, bg: p.bg, w: p.w, h: p.h, items: null, at: 0 }));
    st.pages.forEach((p, i) => m._load(m.pages[i], p.items || [], st.seq));
    return m;
  }

  page(id) { return this.pages.find((p) => p.id === id); }
  get current() { return this.page(this.cur); }
  get canDraw() { return !!(this.me.present || this.me.draw); }

  _load(p, items, at) {
    p.items = [...items].sort((a, b) => a.id - b.id);
    p.at = at;
    p.n = p.items.length;
  }

  _resetView(page) { this.view = { page, x: 0, y: 0, zoom: 1 }; }

  /**
   * apply applies one event (durable or ephemeral) and returns true if it
   * changed what is shown. Durable events at or below the model's seq are
   * ignored (already applied).
   */
  apply(ev) {
    const d = ev.d || {};
    if (ev.seq) {
      if (ev.seq <= this.seq) return false;
      this.seq = ev.seq;
    }
    switch (ev.type) {
      case "wb.pages.add": {
        const add = d.pages.map((p) => ({ ...p, items: [], at: ev.seq || 0, n: 0 }));
        let i = this.pages.length;
        if (d.after === 0) i = 0;
        else if (d.after !== undefined && d.after !== null) {
          const j = this.pages.findIndex((p) => p.id === d.after);
          if (j >= 0) i = j + 1;
        }
        this.pages.splice(i, 0, ...add);
        if (!this.page(this.cur) && add.length) { this.cur = add[0].id; this._resetView(this.cur); }
        return true;
      }
      case "wb.pages.remove": {
        const gone = new Set(d.pages);
        const idx = this.pages.findIndex((p) => p.id === this.cur);
        this.pages = this.pages.filter((p) => !gone.has(p.id));
        if (gone.has(this.cur)) {
          const next = this.pages[Math.min(idx, this.pages.length - 1)];
          this.cur = next ? next.id : 0;
          this._resetView(this.cur);
        }
        return true;
      }
      case "wb.page":
        if (!this.page(d.page)) return false;
        this.cur = d.page;
        this._resetView(d.page);
        return true;
      case "wb.view": case "wb.view.live":
        if (!this.page(d.page)) return false;
        this.view = { page: d.page, x: d.x, y: d.y, zoom: d.zoom };
        return true;
      case "wb.add": case "wb.erase": case "wb.clear": {
        if (ev.type === "wb.add") for (const it of d.items) this.drafts.delete(it.id);
        const p = this.page(d.page);
        if (!p) return ev.type === "wb.add";
        if (p.buffer) { p.buffer.push(ev); return false; }
        if (!p.items || (ev.seq && ev.seq <= p.at)) return ev.type === "wb.add";
        this._applyItems(p, ev);
        return true;
      }
      case "wb.rights":
        if (d.draw) this.drawers.add(d.user); else this.drawers.delete(d.user);
        if (d.user === this.me.user) this.me.draw = d.draw;
        return true;
      case "wb.deleted":
        this.deleted = true;
        return true;
      case "wb.stroke.begin":
        this.drafts.set(d.id, { id: d.id, page: d.page, by: d.by || ev.actor, tool: d.tool, c: d.c, w: d.w, pts: [...d.pts] });
        return true;
      case "wb.stroke.append": {
        const dr = this.drafts.get(d.id);
        if (!dr || dr.pts.length / 3 < d.i) return false; // joined mid-stroke: wait for wb.add
        dr.pts = dr.pts.slice(0, d.i * 3).concat(d.pts);
        return true;
      }
      case "wb.stroke.cancel":
        return this.drafts.delete(d.id);
      case "wb.laser":
        if (d.off) this.lasers.delete(ev.actor);
        else this.lasers.set(ev.actor, { page: d.page, x: d.x, y: d.y, t: Date.now() });
        return true;
    }
    return false;
  }

  _applyItems(p, ev) {
    const d = ev.d;
    if (ev.type === "wb.add") {
      const have = new Set(p.items.map((it) => it.id));
      for (const it of d.items) if (!have.has(it.id)) p.items.push(it);
      p.items.sort((a, b) => a.id - b.id);
    } else if (ev.type === "wb.erase") {
      const gone = new Set(d.ids);
      p.items = p.items.filter((it) => !gone.has(it.id));
    } else {
      p.items = [];
    }
    p.n = p.items.length;
  }

  /** beginLoad marks page p as loading: its item events are buffered until endLoad. */
  beginLoad(p) { if (!p.buffer) p.buffer = []; }

  /** endLoad sets the items of p as of seq `at` and applies the buffered events after it. */
  endLoad(p, items, at) {
    const buf = p.buffer || [];
    p.buffer = null;
    this._load(p, items, at);
    for (const ev of buf) if (ev.seq > at) this._applyItems(p, ev);
  }
}

/**
 * BoardView draws a BoardModel's current page on a <canvas>: the page image,
 * items in id order, drafts, the local preview and laser pointers. It fits
 * the page into the canvas keeping its aspect ratio and follows the viewport.
 */
export class BoardView {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {BoardModel} model
   * @param {object} [opts] image: bg => Promise<CanvasImageSource> (page images), background: page colour
   */
  constructor(canvas, model, opts = {}) {
    this.canvas = canvas;
    this.model = model;
    this.image = opts.image || null;
    this.background = opts.background || "#ffffff";
    this.images = new Map(); // bg -> CanvasImageSource | null while loading
    this.preview = null; // an item drawn locally, not yet on the server
    this.localDrafts = new Map();
    this.frame = 0;
    this.ro = typeof ResizeObserver !== "undefined" ? new ResizeObserver(() => this.render()) : null;
    if (this.ro) this.ro.observe(canvas);
    this.laserTimer = setInterval(() => { if (this.model.lasers.size) this.render(); }, 500);
  }

  destroy() { if (this.ro) this.ro.disconnect(); clearInterval(this.laserTimer); }

  /** render schedules a redraw on the next animation frame. */
  render() {
    if (this.frame) return;
    // A hidden page gets no animation frames: draw on a timer then, so the
    // canvas (and the page images it loads) are current when it is shown.
    const hidden = typeof document !== "undefined" && document.visibilityState === "hidden";
    const raf = typeof requestAnimationFrame === "function" && !hidden ? requestAnimationFrame : (f) => setTimeout(f, 50);
    this.frame = raf(() => { this.frame = 0; this.draw(); });
  }

  /** geometry returns where the current page is drawn, in canvas pixels. */
  geometry() {
    const c = this.canvas;
    const p = this.model.current;
    const pw = p ? p.w : BLANK_W, ph = p ? p.h : BLANK_H;
    const s = Math.min(c.width / pw, c.height / ph);
    const dw = pw * s, dh = ph * s;
    const v = this.model.view && p && this.model.view.page === p.id ? this.model.view : { x: 0, y: 0, zoom: 1 };
    return { ox: (c.width - dw) / 2, oy: (c.height - dh) / 2, dw, dh, x: v.x, y: v.y, z: v.zoom || 1 };
  }

  /** toPage converts a pointer position (client coordinates) to page coordinates in [0,1]. */
  toPage(clientX, clientY) {
    const r = this.canvas.getBoundingClientRect();
    const sx = this.canvas.width / r.width, sy = this.canvas.height / r.height;
    const g = this.geometry();
    const px = ((clientX - r.left) * sx - g.ox) / (g.dw * g.z) + g.x;
    const py = ((clientY - r.top) * sy - g.oy) / (g.dh * g.z) + g.y;
    const cl = (v) => Math.round(Math.min(1, Math.max(0, v)) * 1e4) / 1e4;
    return [cl(px), cl(py)];
  }

  draw() {
    const c = this.canvas;
    const dpr = (typeof devicePixelRatio === "number" && devicePixelRatio) || 1;
    const w = Math.max(1, Math.round(c.clientWidth * dpr)), h = Math.max(1, Math.round(c.clientHeight * dpr));
    if (c.clientWidth && (c.width !== w || c.height !== h)) { c.width = w; c.height = h; }
    const ctx = c.getContext("2d");
    ctx.clearRect(0, 0, c.width, c.height);
    const p = this.model.current;
    if (!p) return;
    const g = this.geometry();
    ctx.save();
    ctx.beginPath();
    ctx.rect(g.ox, g.oy, g.dw, g.dh);
    ctx.clip();
    ctx.fillStyle = this.background;
    ctx.fillRect(g.ox, g.oy, g.dw, g.dh);
    const W = g.dw * g.z, H = g.dh * g.z;
    const X = (x) => g.ox + (x - g.x) * W, Y = (y) => g.oy + (y - g.y) * H;
    if (p.bg) {
      const img = this._image(p.bg);
      if (img) ctx.drawImage(img, X(0), Y(0), W, H);
    }
    const drawAll = (items) => { for (const it of items) drawItem(ctx, it, X, Y, W); };
    if (p.items) drawAll(p.items);
    drawAll([...this.model.drafts.values()].filter((d) => d.page === p.id).map((d) => ({ ...d, k: "stroke" })));
    drawAll([...this.localDrafts.values()].filter((d) => d.page === p.id));
    if (this.preview && this.preview.page === p.id) drawAll([this.preview]);
    const now = Date.now();
    for (const [user, l] of this.model.lasers) {
      if (now - l.t > 3000) { this.model.lasers.delete(user); continue; }
      if (l.page !== p.id) continue;
      ctx.save();
      ctx.shadowColor = "#ff1744";
      ctx.shadowBlur = 12;
      ctx.fillStyle = "#ff1744";
      ctx.beginPath();
      ctx.arc(X(l.x), Y(l.y), Math.max(4, W * 0.006), 0, Math.PI * 2);
      ctx.fill();
      ctx.restore();
    }
    ctx.restore();
  }

  _image(bg) {
    if (this.images.has(bg)) return this.images.get(bg);
    this.images.set(bg, null);
    if (this.image) {
      Promise.resolve(this.image(bg)).then((img) => { this.images.set(bg, img); this.render(); },
        () => this.images.delete(bg));
    }
    return null;
  }
}

/** drawItem draws one item (stroke, shape, text) with page→canvas mappers X, Y and the page width W in pixels. */
export function drawItem(ctx, it, X, Y, W) {
  ctx.save();
  const pts = it.pts || [];
  if (it.k === "stroke") {
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.strokeStyle = colour(it.c);
    ctx.fillStyle = colour(it.c);
    if (it.tool === "highlighter") {
      // One path at constant width, so overlaps inside a stroke do not darken.
      ctx.globalAlpha = 0.4;
      ctx.lineWidth = it.w * W;
      ctx.beginPath();
      ctx.moveTo(X(pts[0]), Y(pts[1]));
      for (let i = 3; i < pts.length; i += 3) ctx.lineTo(X(pts[i]), Y(pts[i + 1]));
      if (pts.length <= 3) ctx.lineTo(X(pts[0]) + 0.1, Y(pts[1]));
      ctx.stroke();
    } else if (pts.length <= 3) {
      ctx.beginPath();
      ctx.arc(X(pts[0]), Y(pts[1]), (it.w * W * (0.5 + (pts[2] ?? 1) / 2)) / 2, 0, Math.PI * 2);
      ctx.fill();
    } else {
      for (let i = 3; i < pts.length; i += 3) {
        const p = ((pts[i - 1] ?? 1) + (pts[i + 2] ?? 1)) / 2;
        ctx.lineWidth = Math.max(0.5, it.w * W * (0.5 + p / 2));
        ctx.beginPath();
        ctx.moveTo(X(pts[i - 3]), Y(pts[i - 2]));
        ctx.lineTo(X(pts[i]), Y(pts[i + 1]));
        ctx.stroke();
      }
    }
  } else if (it.k === "shape") {
    const [x1, y1, x2, y2] = pts.map((v, i) => (i % 2 ? Y(v) : X(v)));
    ctx.strokeStyle = colour(it.c);
    ctx.lineWidth = Math.max(0.5, (it.w || 0.002) * W);
    ctx.lineCap = "round";
    ctx.beginPath();
    if (it.shape === "rect") ctx.rect(Math.min(x1, x2), Math.min(y1, y2), Math.abs(x2 - x1), Math.abs(y2 - y1));
    else if (it.shape === "ellipse") ctx.ellipse((x1 + x2) / 2, (y1 + y2) / 2, Math.abs(x2 - x1) / 2, Math.abs(y2 - y1) / 2, 0, 0, Math.PI * 2);
    else {
      ctx.moveTo(x1, y1);
      ctx.lineTo(x2, y2);
      if (it.shape === "arrow") {
        const a = Math.atan2(y2 - y1, x2 - x1), L = Math.max(10, ctx.lineWidth * 4);
        ctx.moveTo(x2, y2);
        ctx.lineTo(x2 - L * Math.cos(a - 0.45), y2 - L * Math.sin(a - 0.45));
        ctx.moveTo(x2, y2);
        ctx.lineTo(x2 - L * Math.cos(a + 0.45), y2 - L * Math.sin(a + 0.45));
      }
    }
    if (it.fill && (it.shape === "rect" || it.shape === "ellipse")) { ctx.fillStyle = colour(it.fill); ctx.fill(); }
    ctx.stroke();
  } else if (it.k === "text") {
    const size = (it.size || 0.03) * W;
    ctx.fillStyle = colour(it.c);
    ctx.textBaseline = "top";
    ctx.font = `${size}px -apple-system, "PingFang SC", "Microsoft YaHei", "WenQuanYi Zen Hei", sans-serif`;
    String(it.text).split("\n").forEach((line, i) => ctx.fillText(line, X(pts[0]), Y(pts[1]) + i * size * 1.25));
  }
  ctx.restore();
}

// colour turns #rrggbbaa (which canvas understands) or #rrggbb into a CSS colour.
function colour(c) { return c || "#000000"; }

// distance from point (px,py) to segment (ax,ay)-(bx,by), in page units.
function segDist(px, py, ax, ay, bx, by) {
  const dx = bx - ax, dy = by - ay;
  const l = dx * dx + dy * dy;
  let t = l ? ((px - ax) * dx + (py - ay) * dy) / l : 0;
  t = Math.max(0, Math.min(1, t));
  return Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
}

/** hitItem reports whether item it passes within r (page units) of (x,y). */
export function hitItem(it, x, y, r) {
  const p = it.pts || [];
  if (it.k === "stroke") {
    if (p.length <= 3) return Math.hypot(x - p[0], y - p[1]) <= r + it.w;
    for (let i = 3; i < p.length; i += 3) if (segDist(x, y, p[i - 3], p[i - 2], p[i], p[i + 1]) <= r + it.w / 2) return true;
    return false;
  }
  if (it.k === "shape") {
    const [x1, y1, x2, y2] = p;
    if (it.shape === "line" || it.shape === "arrow") return segDist(x, y, x1, y1, x2, y2) <= r;
    return x >= Math.min(x1, x2) - r && x <= Math.max(x1, x2) + r && y >= Math.min(y1, y2) - r && y <= Math.max(y1, y2) + r;
  }
  if (it.k === "text") {
    const lines = String(it.text).split("\n");
    const w = Math.max(...lines.map((l) => l.length)) * (it.size || 0.03) * 0.9;
    const h = lines.length * (it.size || 0.03) * 1.25 * 16 / 9;
    return x >= p[0] - r && x <= p[0] + w + r && y >= p[1] - r && y <= p[1] + h + r;
  }
  return false;
}

/**
 * Board is a whiteboard on a <canvas> connected to the Hub: it keeps the
 * model in sync (snapshot, then events), renders it, and turns pointer input
 * into ops for those who may draw: pen and highlighter strokes streamed while
 * drawing (appends batched every 80 ms), shapes, text, eraser and the laser
 * pointer; undo/redo, pages, courseware uploads.
 *
 * Events: "change" (pages, current page, rights or items changed), "progress"
 * ({upload,done,total} while a PDF converts), "error" (a refused op), "deleted".
 */
export class Board extends Emitter {
  /** create makes a board on a room ("g:…" or "live:…"); resolves with {id,room,title,…}. */
  static create(client, room, title) {
    return client.call("wb.create", title ? { room, title } : { room });
  }

  /** list lists a room's boards, oldest first. */
  static async list(client, room) {
    return (await client.call("wb.list", { room })).boards;
  }

  /**
   * @param {Client} client
   * @param {string} id the board id (without "wb:")
   * @param {HTMLCanvasElement} canvas
   * @param {object} [opts] http: where the whiteboard HTTP handler is mounted ("/wb"),
   *        prompt: async (label) => text for the text tool (default window.prompt)
   */
  constructor(client, id, canvas, opts = {}) {
    super();
    this.client = client;
    this.id = id;
    this.room = "wb:" + id;
    this.http = opts.http || "/wb";
    this.prompt = opts.prompt || ((label) => window.prompt(label));
    this.model = new BoardModel();
    this.view = new BoardView(canvas, this.model, { image: (bg) => this.image(bg) });
    this.canvas = canvas;
    this.tool = { tool: "pen", color: "#e53935", width: 0.004, size: 0.03, fill: null };
    this.strokes = new Map(); // pointerId -> local stroke in progress
    this.mine = new Set(); // ids of strokes this client is drawing
    this.pending = new Map(); // id -> item drawn, until its wb.add arrives
    this.erasing = null;
    this.laserAt = 0;
    this.sub = null;
    this._bindInput();
  }

  get canDraw() { return this.model.canDraw; }
  get pages() { return this.model.pages; }
  get cur() { return this.model.cur; }

  /** open loads the board (wb.open) and follows its room from that snapshot. */
  async open() {
    const res = await this.client.call("wb.open", { board: this.id });
    this._setModel(BoardModel.fromOpen(res, this.client.user.user));
    this.sub = this.client.subscribe(this.room, (ev) => this._event(ev), {
      after: res.seq,
      onReset: () => this._reload(),
      onEnd: (err) => this._emit("deleted", err),
    });
    await this.sub.ready;
    this._changed();
    return this.model;
  }

  async _reload() {
    const res = await this.client.call("wb.open", { board: this.id });
    this._setModel(BoardModel.fromOpen(res, this.client.user.user));
    this.sub.setSeq(res.seq);
    this._changed();
  }

  _setModel(m) {
    this.model = m;
    this.view.model = m;
  }

  _event(ev) {
    const d = ev.d || {};
    // Our own strokes are drawn locally; skip their echo.
    if (ev.type.startsWith("wb.stroke.") && this.mine.has(d.id)) return;
    if (ev.type === "wb.laser" && ev.actor === this.model.me.user) return;
    if (ev.type === "wb.convert.progress") { this._emit("progress", d); return; }
    const changed = this.model.apply(ev);
    if (ev.type === "wb.add") for (const it of d.items) { this.pending.delete(it.id); this.mine.delete(it.id); this.view.localDrafts.delete(it.id); }
    if (ev.type === "wb.deleted") this._emit("deleted");
    if (changed) this._changed(!ev.seq);
  }

  _changed(ephemeral = false) {
    const p = this.model.current;
    if (p && !p.items && !p.buffer) this._loadPage(p);
    this.view.render();
    if (!ephemeral) this._emit("change", this.model);
  }

  async _loadPage(p) {
    this.model.beginLoad(p);
    try {
      const res = await this.client.call("wb.items", { board: this.id, page: p.id });
      this.model.endLoad(p, res.items, res.seq);
    } catch (e) {
      p.buffer = null;
      this._emit("error", e);
    }
    this.view.render();
    this._emit("change", this.model);
  }

  /** image fetches a page image with the bearer token (an <img> cannot send it). */
  async image(bg) {
    const res = await this.client.fetch(`${this.http}/boards/${encodeURIComponent(this.id)}/files/${encodeURIComponent(bg)}`);
    return createImageBitmap(await res.blob());
  }

  /**
   * setTool picks the tool: "pen", "highlighter", "rect", "ellipse", "line",
   * "arrow", "text", "eraser", "laser" or "none"; opts: color (#rrggbb),
   * width (fraction of the page width), size (text), fill (#rrggbbaa or null).
   */
  setTool(tool, opts = {}) {
    this.tool = { ...this.tool, ...opts, tool };
    this.canvas.style.cursor = tool === "none" ? "default" : tool === "text" ? "text" : "crosshair";
  }

  _call(op, d) {
    return this.client.call(op, { board: this.id, ...d }).catch((e) => { this._emit("error", e); throw e; });
  }

  _bindInput() {
    const c = this.canvas;
    c.style.touchAction = "none";
    c.addEventListener("pointerdown", (e) => this._down(e));
    c.addEventListener("pointermove", (e) => this._move(e));
    c.addEventListener("pointerup", (e) => this._up(e));
    c.addEventListener("pointercancel", (e) => this._up(e));
  }

  _pt(e) {
    const [x, y] = this.view.toPage(e.clientX, e.clientY);
    const p = e.pointerType === "mouse" || !e.pressure ? 1 : Math.round(e.pressure * 1e4) / 1e4;
    return [x, y, p];
  }

  _down(e) {
    const t = this.tool.tool;
    if (!this.canDraw || t === "none" || !this.model.current) return;
    e.preventDefault();
    try { this.canvas.setPointerCapture(e.pointerId); } catch { /* synthetic events */ }
    const pt = this._pt(e);
    const page = this.model.cur;
    if (t === "pen" || t === "highlighter") this._beginStroke(e.pointerId, page, pt);
    else if (["rect", "ellipse", "line", "arrow"].includes(t)) {
      this.view.preview = { k: "shape", page, shape: t, c: this.tool.color, w: Math.max(0.0005, this.tool.width / 2), pts: [pt[0], pt[1], pt[0], pt[1]] };
      if (this.tool.fill && (t === "rect" || t === "ellipse")) this.view.preview.fill = this.tool.fill;
    } else if (t === "text") this._text(page, pt);
    else if (t === "eraser") { this.erasing = new Set(); this._erase(pt); } else if (t === "laser") this._laser(pt, true);
  }

  _move(e) {
    const t = this.tool.tool;
    const evs = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
    const s = this.strokes.get(e.pointerId);
    if (s) {
      for (const ce of evs.length ? evs : [e]) this._addPoint(s, this._pt(ce));
      this.view.render();
      return;
    }
    if (t === "laser" && this.canDraw && (e.buttons || e.pointerType !== "mouse")) return this._laser(this._pt(e));
    if (!e.buttons) return;
    if (this.view.preview) {
      const pt = this._pt(e);
      this.view.preview.pts[2] = pt[0];
      this.view.preview.pts[3] = pt[1];
      this.view.render();
    } else if (this.erasing) this._erase(this._pt(e));
  }

  _up(e) {
    const s = this.strokes.get(e.pointerId);
    if (s) { this.strokes.delete(e.pointerId); this._endStroke(s); return; }
    if (this.view.preview) {
      const it = this.view.preview;
      this.view.preview = null;
      const [x1, y1, x2, y2] = it.pts;
      if (Math.hypot(x2 - x1, y2 - y1) < 0.003) { this.view.render(); return; }
      const { page, ...item } = it;
      this._draw(page, item);
    }
    if (this.erasing) this.erasing = null;
    if (this.tool.tool === "laser") this._laser(null);
  }

  // A stroke: begin with the first point, append what gathered every 80 ms
  // (the connection's op rate allows it), end with the rest.
  _beginStroke(pointerId, page, pt) {
    const s = {
      page, id: null, sent: 1, ended: false, timer: null,
      item: { k: "stroke", page, tool: this.tool.tool, c: this.tool.color, w: this.tool.tool === "highlighter" ? this.tool.width * 4 : this.tool.width, pts: [...pt] },
    };
    const localKey = "local:" + newKey();
    this.view.localDrafts.set(localKey, s.item);
    this.strokes.set(pointerId, s);
    s.begun = this._call("wb.stroke.begin", { page, tool: s.item.tool, c: s.item.c, w: s.item.w, pts: pt }).then((r) => {
      s.id = r.id;
      this.mine.add(r.id);
      this.model.drafts.delete(r.id); // its echo may have come first: draw it once
      this.view.localDrafts.delete(localKey);
      this.view.localDrafts.set(r.id, s.item);
      s.timer = setInterval(() => this._flushStroke(s), 80);
    }, () => { this.view.localDrafts.delete(localKey); this.view.render(); s.failed = true; });
    this.view.render();
  }

  _addPoint(s, pt) {
    const p = s.item.pts;
    const n = p.length;
    if (Math.hypot(pt[0] - p[n - 3], pt[1] - p[n - 2]) < 0.0015) return;
    p.push(...pt);
    if (p.length / 3 >= 1990 && !s.ended) {
      // Close to the 2,000-point limit: end this stroke and go on with a new one.
      const pid = [...this.strokes].find(([, v]) => v === s);
      if (pid) { this.strokes.delete(pid[0]); this._endStroke(s); this._beginStroke(pid[0], s.page, pt); }
    }
  }

  _flushStroke(s) {
    if (s.id === null || s.ended) return;
    const pts = s.item.pts.slice(s.sent * 3);
    if (!pts.length) return;
    s.sent += pts.length / 3;
    this.client.call("wb.stroke.append", { board: this.id, id: s.id, pts }).catch(() => {});
  }

  async _endStroke(s) {
    await s.begun;
    clearInterval(s.timer);
    if (s.failed || s.ended) return;
    s.ended = true;
    const pts = s.item.pts.slice(s.sent * 3);
    s.sent = s.item.pts.length / 3;
    try {
      await this._call("wb.stroke.end", pts.length ? { id: s.id, pts } : { id: s.id });
    } catch {
      this.view.localDrafts.delete(s.id);
      this.mine.delete(s.id);
      this.view.render();
    }
  }

  async _draw(page, item) {
    const key = "local:" + newKey();
    this.view.localDrafts.set(key, { ...item, page });
    this.view.render();
    try {
      const r = await this._call("wb.draw", { page, item });
      this.view.localDrafts.delete(key);
      if (!this.model.current || !(this.model.current.items || []).some((it) => it.id === r.id)) {
        this.view.localDrafts.set(r.id, { ...item, page }); // until its wb.add arrives
      }
      return r;
    } catch (e) {
      this.view.localDrafts.delete(key);
      return null;
    } finally {
      this.view.render();
    }
  }

  /** drawItem draws an item (without id/by) on the current page, e.g. {k:"text",c,size,text,pts:[x,y]}. */
  drawItem(item) { return this._draw(this.model.cur, item); }

  async _text(page, pt) {
    const text = await this.prompt("输入文字 Text");
    if (!text) return;
    return this._draw(page, { k: "text", c: this.tool.color, size: this.tool.size, text: String(text).slice(0, 1000), pts: [pt[0], pt[1]] });
  }

  _erase(pt) {
    const p = this.model.current;
    if (!p || !p.items) return;
    const me = this.model.me.user;
    const ids = p.items.filter((it) => (this.model.me.present || it.by === me) && !this.erasing.has(it.id) && hitItem(it, pt[0], pt[1], 0.008)).map((it) => it.id);
    if (!ids.length) return;
    ids.forEach((id) => this.erasing.add(id));
    this._call("wb.erase", { page: p.id, ids }).catch(() => {});
  }

  _laser(pt, force) {
    const now = Date.now();
    if (pt && !force && now - this.laserAt < 60) return;
    this.laserAt = now;
    const me = this.model.me.user;
    if (pt) this.model.lasers.set(me, { page: this.model.cur, x: pt[0], y: pt[1], t: now });
    else this.model.lasers.delete(me);
    this.view.render();
    const d = pt ? { page: this.model.cur, x: pt[0], y: pt[1] } : { off: true };
    this.client.call("wb.laser", { board: this.id, ...d }).catch(() => {});
  }

  undo() { return this._call("wb.undo", {}); }
  redo() { return this._call("wb.redo", {}); }
  clear(page = this.model.cur) { return this._call("wb.clear", { page }); }
  /** turnTo turns every viewer to page (presenters). */
  turnTo(page) { return this._call("wb.page", { page }); }
  next() { return this._step(1); }
  prev() { return this._step(-1); }
  _step(n) {
    const i = this.model.pages.findIndex((p) => p.id === this.model.cur);
    const p = this.model.pages[i + n];
    return p ? this.turnTo(p.id) : Promise.resolve(null);
  }
  /** addPage adds a blank page after the current one and turns to it. */
  async addPage() {
    const r = await this._call("wb.page.add", { after: this.model.cur });
    await this.turnTo(r.page.id);
    return r.page;
  }
  removePage(page = this.model.cur) { return this._call("wb.page.remove", { page }); }
  /** grant gives (or takes back) a user's drawing rights. */
  grant(user, draw = true) { return this._call("wb.rights", { user, draw }); }
  setView(x, y, zoom, live = false) { return this._call("wb.view", { page: this.model.cur, x, y, zoom, live }); }

  /**
   * upload sends courseware (a PDF or an image, a File or Blob) to become
   * pages after the current one, and turns to the first of them.
   * Progress arrives as "progress" events. Resolves with {upload,pages,seq}.
   */
  async upload(file, { turn = true } = {}) {
    const after = this.model.cur ? `?after=${this.model.cur}` : "";
    const res = await this.client.fetch(`${this.http}/boards/${encodeURIComponent(this.id)}/pages${after}`, { method: "POST", body: file });
    const out = await res.json();
    if (turn && out.pages && out.pages.length) await this.turnTo(out.pages[0].id);
    return out;
  }

  async close() {
    this.view.destroy();
    for (const s of this.strokes.values()) clearInterval(s.timer);
    if (this.sub) await this.sub.unsubscribe();
    this.sub = null;
  }
}

// ---------------------------------------------------------------------------
// Shop (docs/ops/shop.md)

/** money makes a Money value: money(1990) is ¥19.90. */
export function money(amount, currency = "CNY") { return { amount: Math.round(amount), currency }; }

/** formatMoney shows a Money value (or fen) as "¥19.90". */
export function formatMoney(m) {
  const v = typeof m === "number" ? { amount: m, currency: "CNY" } : m || { amount: 0, currency: "CNY" };
  const sym = { CNY: "¥", USD: "$", EUR: "€", JPY: "¥" }[v.currency] ?? v.currency + " ";
  return sym + (v.amount / 100).toFixed(2);
}

/**
 * Shop is the shop of one live room: its shelf (with stock), the product
 * being explained, coupons, orders, tips, red packets and share links.
 * Every create call gets a fresh idempotency key unless you pass one.
 *
 * Events: "shelf" (the shelf changed), "explain" (the item now explained, or
 * null), "stock" ({product,stock}), "coupon" (a coupon was issued), "tip",
 * "redpacket", "redpacket.claimed", "order" (your order changed: paid,
 * shipped, expired…), "event" (every shop event of the room).
 */
export class Shop extends Emitter {
  /**
   * @param {Client} client
   * @param {string} room the live room, "live:<id>"
   * @param {object} [opts] events: an emitter of the room's events (a joined Live);
   *        without it, subscribe() subscribes to the room itself
   */
  constructor(client, room, opts = {}) {
    super();
    this.client = client;
    this.room = room;
    this.shelf = null;
    this.coupons = [];
    this.claims = new Map(); // coupon id -> claim (this session's)
    this.offs = [];
    if (opts.events) this.offs.push(opts.events.on("event", (ev) => this.apply(ev)));
    if (client.user) this.offs.push(client.inbox().listen((ev) => { if (ev.type === "shop.order") this._emit("order", ev.d); }));
  }

  /** subscribe follows the room's events (when no Live delivers them). */
  async subscribe() {
    this.sub = this.client.subscribe(this.room, (ev) => this.apply(ev), { onReset: () => this.load() });
    await this.sub.ready;
  }

  /** load reads the shelf (null when none is open) and the coupons. */
  async load() {
    try {
      this.shelf = await this.client.call("shop.shelf", { room: this.room });
    } catch (e) {
      if (e.code !== "not_found") throw e;
      this.shelf = null;
    }
    try {
      this.coupons = (await this.client.call("shop.coupons", { room: this.room })).coupons;
    } catch (e) {
      if (e.code !== "not_found") throw e;
    }
    this._emit("shelf", this.shelf);
    this._emit("explain", this.explaining);
    return this;
  }

  /** explaining is the shelf item being explained now, or null. */
  get explaining() {
    if (!this.shelf || !this.shelf.explaining) return null;
    return this.shelf.items.find((i) => i.product === this.shelf.explaining) || null;
  }

  item(product) { return this.shelf && this.shelf.items.find((i) => i.product === product); }

  /** apply applies one room event (the Live or the subscription calls it). */
  apply(ev) {
    if (!ev.type.startsWith("shop.")) return;
    const d = ev.d || {};
    const sh = this.shelf;
    switch (ev.type) {
      case "shop.shelf.opened": this.load().catch(() => {}); break;
      case "shop.item.added":
        if (sh && !this.item(d.item.product)) { sh.items.splice(d.pos ?? sh.items.length, 0, d.item); this._emit("shelf", sh); }
        break;
      case "shop.item.removed":
        if (sh) { sh.items = sh.items.filter((i) => i.product !== d.product); this._emit("shelf", sh); }
        break;
      case "shop.shelf.reordered":
        if (sh) { const by = new Map(sh.items.map((i) => [i.product, i])); sh.items = d.products.map((p) => by.get(p)).filter(Boolean); this._emit("shelf", sh); }
        break;
      case "shop.explain.start":
        if (sh) { sh.explaining = d.product; sh.explain_since = ev.ts; }
        this._emit("explain", this.explaining || { product: d.product, title: d.title, price: d.price, image: d.image });
        this._emit("shelf", sh);
        break;
      case "shop.explain.stop":
        if (sh && sh.explaining === d.product) { sh.explaining = ""; }
        if (d.reason !== "replaced") this._emit("explain", null);
        this._emit("shelf", sh);
        break;
      case "shop.stock": {
        const it = this.item(d.product);
        if (it) it.stock = d.stock;
        this._emit("stock", d);
        break;
      }
      case "shop.coupon.issued":
        if (!this.coupons.some((c) => c.id === d.id)) this.coupons.unshift(d);
        this._emit("coupon", d);
        break;
      case "shop.tip": this._emit("tip", d, ev); break;
      case "shop.redpacket": this._emit("redpacket", d, ev); break;
      case "shop.redpacket.claimed": this._emit("redpacket.claimed", d, ev); break;
    }
    this._emit("event", ev);
  }

  _call(op, d) { return this.client.call(op, { room: this.room, ...d }); }

  // Host side.
  openShelf(shop) { return this._call("shop.shelf.open", { shop }).then((s) => (this.shelf = s)); }
  addProduct(product) { return this._call("shop.shelf.add", { product }); }
  removeProduct(product) { return this._call("shop.shelf.remove", { product }); }
  reorder(products) { return this._call("shop.shelf.reorder", { products }); }
  explain(product) { return this._call("shop.explain.start", { product }); }
  stopExplaining() { return this._call("shop.explain.stop", {}); }
  /**
   * issueCoupon issues a coupon in the room: {title, discount (fen or Money),
   * min_spend? (fen), product?, total, per_user, minutes (validity, default 60) or ends_at}.
   */
  issueCoupon(c) {
    const { minutes = 60, key = newKey(), ...rest } = c;
    const d = { ...rest, key, ends_at: c.ends_at || Date.now() + minutes * 60000 };
    if (typeof d.discount === "number") d.discount = money(d.discount); // min_spend is in minor units of the same currency
    return this._call("shop.coupon.issue", d);
  }

  // Viewer side.
  /** claimCoupon claims a coupon; the claim's id goes to buy as coupon_claim. */
  async claimCoupon(coupon, key = newKey()) {
    const claim = await this.client.call("shop.coupon.claim", { coupon, key });
    this.claims.set(coupon, claim);
    return claim;
  }
  /** buy reserves stock and starts the vendor's checkout: open order.pay_url to pay. opts: qty, coupon_claim, share. */
  buy(product, { qty = 1, coupon_claim, share, key = newKey() } = {}) {
    const d = { product, qty, key };
    if (coupon_claim) d.coupon_claim = coupon_claim;
    if (share) d.share = share;
    return this._call("shop.buy", d);
  }
  order(order) { return this.client.call("shop.order", { order }); }
  cancelOrder(order) { return this.client.call("shop.order.cancel", { order }); }
  /** tip tips the host amount (fen); a pending tip has a pay_url. */
  tip(amount, message, key = newKey()) {
    const d = { amount: typeof amount === "number" ? money(amount) : amount, key };
    if (message) d.message = message;
    return this._call("shop.tip", d);
  }
  /** sendRedPacket sends a red packet of total (fen) split into count shares. */
  sendRedPacket(total, count, greeting, key = newKey()) {
    const d = { total: typeof total === "number" ? money(total) : total, count, key };
    if (greeting) d.greeting = greeting;
    return this._call("shop.redpacket.send", d);
  }
  claimRedPacket(packet, key = newKey()) { return this.client.call("shop.redpacket.claim", { packet, key }); }
  redPacket(packet) { return this.client.call("shop.redpacket", { packet }); }
  leaderboard(limit = 10) { return this._call("shop.leaderboard", { limit }); }
  /** shareLink makes a share token naming you; put it in the link you share. */
  shareLink() { return this._call("shop.share.link", {}); }
  /** visit credits whoever shared the link this user arrived through. */
  visit(token) { return this._call("shop.share.visit", { token }); }
  shareStats(sharer) { return this._call("shop.share.stats", sharer ? { sharer } : {}); }

  close() { this.offs.forEach((f) => f()); if (this.sub) return this.sub.unsubscribe(); }
}

// ---------------------------------------------------------------------------
// Replay (the replay package's playback handler)

/**
 * ReplayPlayer plays a recorded live: one media element per recorded track
 * (each placed at its offset on the recording's timeline) and the timeline's
 * room events in sync, also across seeks.
 *
 * Events: "manifest", "time" (ms, about 4 times a second), "event" (a
 * timeline event as playback passes it), "reset" (ms, events up to ms: after
 * loading and after every seek, rebuild what you show from them), "tracks"
 * ([{track, el}] the media elements now showing), "state" ("playing", "paused", "ended").
 */
export class ReplayPlayer extends Emitter {
  /** list lists the replays of a group or live: {group} or {live}. */
  static async list(client, q) { return (await client.call("replay.list", q)).replays; }

  /**
   * @param {Client} client
   * @param {object} [opts] http: where the replay handler is mounted ("/replays")
   */
  constructor(client, opts = {}) {
    super();
    this.client = client;
    this.http = opts.http || "/replays";
    this.manifest = null;
    this.events = [];
    this.media = []; // [{track, el}]
    this.t = 0; // ms on the recording's timeline
    this.playing = false;
    this.next = 0; // index of the next timeline event to deliver
    this.timer = null;
  }

  get duration() { return this.manifest ? this.manifest.durationMs : 0; }

  /**
   * load reads the manifest and the whole timeline and builds the media
   * elements inside container (video tracks as <video>, audio as <audio>).
   */
  async load(id, container) {
    const res = await this.client.fetch(`${this.http}/${encodeURIComponent(id)}`);
    this.manifest = await res.json();
    this._emit("manifest", this.manifest);
    await this._loadTimeline();
    const token = await this.client.getToken();
    for (const track of this.manifest.tracks) {
      const el = document.createElement(track.kind === "video" ? "video" : "audio");
      el.preload = "auto";
      el.playsInline = true;
      el.dataset.track = track.id;
      el.dataset.source = track.source || track.kind;
      el.src = `${track.url}${track.url.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}`;
      if (track.kind === "video") el.muted = true; // sound comes from the audio tracks
      el.style.display = "none";
      if (container) container.append(el);
      this.media.push({ track, el });
    }
    this._seekTo(0);
    return this.manifest;
  }

  async _loadTimeline() {
    const url = new URL(this.manifest.timeline, location.href);
    url.searchParams.set("limit", "2000");
    let cursor = 0;
    this.events = [];
    for (;;) {
      if (cursor) url.searchParams.set("cursor", String(cursor));
      const page = await (await this.client.fetch(url.toString())).json();
      this.events.push(...page.events);
      if (page.next === undefined || page.next === null || page.next === cursor) break;
      cursor = page.next;
    }
  }

  /** play starts (or resumes) playback. */
  play() {
    if (this.playing) return;
    if (this.t >= this.duration) this._seekTo(0);
    this.playing = true;
    this.clockAt = performance.now();
    this.clockT = this.t;
    this._sync(true);
    clearInterval(this.timer);
    this.timer = setInterval(() => this._tick(), 250);
    this._emit("state", "playing");
  }

  pause() {
    if (!this.playing) return;
    this.t = this._now();
    this.playing = false;
    clearInterval(this.timer);
    for (const m of this.media) m.el.pause();
    this._emit("state", "paused");
  }

  /** seek jumps to ms on the timeline: media follow and "reset" delivers the events up to it. */
  seek(ms) {
    this._seekTo(Math.max(0, Math.min(ms, this.duration)));
    if (this.playing) { this.clockAt = performance.now(); this.clockT = this.t; }
    this._sync(true);
  }

  _seekTo(ms) {
    this.t = ms;
    let i = 0;
    while (i < this.events.length && this.events[i].at <= ms) i++;
    this.next = i;
    this._emit("reset", ms, this.events.slice(0, i));
    this._emit("time", ms);
  }

  // The clock follows the main video while it plays, else wall time.
  _now() {
    if (!this.playing) return this.t;
    const main = this._active().find((m) => m.track.kind === "video" && !m.el.paused && m.el.readyState >= 3);
    if (main) return main.track.offsetMs + main.el.currentTime * 1000;
    return this.clockT + (performance.now() - this.clockAt);
  }

  _active(t = this.t) {
    return this.media.filter((m) => t >= m.track.offsetMs && t < m.track.offsetMs + m.track.durationMs);
  }

  _tick() {
    const t = Math.min(this._now(), this.duration);
    this.clockAt = performance.now();
    this.clockT = t;
    this.t = t;
    while (this.next < this.events.length && this.events[this.next].at <= t) this._emit("event", this.events[this.next++]);
    this._sync(false);
    this._emit("time", t);
    if (t >= this.duration) {
      this.pause();
      this._emit("state", "ended");
    }
  }

  // _sync shows the tracks that cover the current time and keeps each within
  // 300 ms of the clock.
  _sync(force) {
    const active = new Set(this._active());
    for (const m of this.media) {
      const on = active.has(m);
      const want = (this.t - m.track.offsetMs) / 1000;
      if (!on) {
        if (!m.el.paused) m.el.pause();
        m.el.style.display = "none";
        continue;
      }
      if (m.track.kind === "video") m.el.style.display = "";
      if (force || Math.abs(m.el.currentTime - want) > 0.3) {
        try { m.el.currentTime = Math.max(0, want); } catch { /* not loaded yet */ }
      }
      if (this.playing && m.el.paused) m.el.play().catch(() => {});
      if (!this.playing && !m.el.paused) m.el.pause();
    }
    this._emit("tracks", [...active].filter((m) => m.track.kind === "video"));
  }

  keep(expiresAt) { return this.client.call("replay.keep", expiresAt ? { id: this.manifest.id, expiresAt } : { id: this.manifest.id }); }
  discard() { return this.client.call("replay.discard", { id: this.manifest.id }); }

  destroy() {
    clearInterval(this.timer);
    for (const m of this.media) { m.el.pause(); m.el.removeAttribute("src"); m.el.load(); m.el.remove(); }
    this.media = [];
  }
}
