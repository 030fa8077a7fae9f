// qun browser SDK: one ES module, no build step. Served by the Hub at
// <mount>/qun.js. See docs/protocol.md for the protocol it speaks.
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

export const PROTOCOL_VERSION = 1;

/** QunError is what a failed call rejects with: { code, msg, field }. */
export class QunError extends Error {
  constructor(err) {
    super(err.msg || err.code);
    this.code = err.code;
    this.field = err.field;
  }
}

export class Client {
  /**
   * @param {object} opts
   * @param {string} opts.url WebSocket URL or path (e.g. "/qun/ws").
   * @param {string|function(): (string|Promise<string>)} opts.token the vendor-issued token,
   *        or a function that fetches a fresh one (used again on every reconnect).
   * @param {number} [opts.maxBackoffMs=15000]
   */
  constructor(opts) {
    this.url = absoluteWS(opts.url);
    this.token = opts.token;
    this.maxBackoff = opts.maxBackoffMs || 15000;
    this.ws = null;
    this.nextId = 1;
    this.pending = new Map(); // id -> {resolve, reject}
    this.rooms = new Map(); // room -> Subscription
    this.listeners = new Map(); // "push:<type>" | "state" | "user" -> Set(fn)
    this.state = "idle"; // idle, connecting, open, closed
    this.user = null;
    this.attempt = 0;
    this.closedByUser = false;
    this.timer = null;
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

  /**
   * subscribe receives a room's events in seq order, resuming across reconnects.
   * @param {string} room e.g. "g:8f3k"
   * @param {function(object)} onEvent called with {room, seq, type, actor, ts, d}
   * @param {object} [opts]
   * @param {number} [opts.after] last seq already seen (history loaded up to it); omit for "from now"
   * @param {function()} [opts.onReset] the missed events are gone (too_old): reload state
   * @param {function(object)} [opts.onEnd] the server ended the subscription ({code, msg})
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

  /** on registers fn for "state" (state name), "user" (identity) or "push:<type>" frames. */
  on(name, fn) {
    if (!this.listeners.has(name)) this.listeners.set(name, new Set());
    this.listeners.get(name).add(fn);
    return () => this.listeners.get(name).delete(fn);
  }

  _emit(name, v) {
    const set = this.listeners.get(name);
    if (set) for (const fn of set) { try { fn(v); } catch (e) { console.error(e); } }
  }

  _setState(s) {
    if (this.state === s) return;
    this.state = s;
    this._emit("state", s);
  }

  async _open() {
    this._setState("connecting");
    const token = typeof this.token === "function" ? await this.token() : this.token;
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
    this.ready = new Promise((r) => (this._ready = r));
  }

  async _start() {
    const d = { room: this.room };
    if (this.seq !== undefined && this.seq !== null) d.after = this.seq;
    try {
      const res = await this.client._send("sub", d);
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
      if (this.opts.onEnd) this.opts.onEnd(e);
    }
  }

  _event(f) {
    if (f.seq) {
      if (this.seq !== undefined && f.seq <= this.seq) return; // already seen
      this.seq = f.seq;
    }
    try { this.onEvent(f); } catch (e) { console.error(e); }
  }

  /** setSeq tells the subscription state was reloaded up to seq (after onReset). */
  setSeq(seq) { this.seq = seq; }

  /** unsubscribe stops the stream. */
  unsubscribe() {
    this.client.rooms.delete(this.room);
    if (this.client.state === "open") return this.client._send("unsub", { room: this.room }).catch(() => {});
    return Promise.resolve();
  }
}

function absoluteWS(url) {
  if (/^wss?:/.test(url)) return url;
  const u = new URL(url, location.href);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  return u.toString();
}
