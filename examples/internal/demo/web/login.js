// Demo login shared by the example apps: each browser tab picks a demo user
// and keeps its token in sessionStorage, so two tabs can be two users.
// A real vendor issues the token from its own login instead.
export async function currentLogin() {
  const raw = sessionStorage.getItem("qun-demo-login");
  return raw ? JSON.parse(raw) : null;
}

export async function login(user) {
  const res = await fetch("/api/login", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ user }) });
  const body = await res.json();
  if (!res.ok) throw new Error(body.err ? body.err.msg : "login failed");
  sessionStorage.setItem("qun-demo-login", JSON.stringify(body));
  return body;
}

export function logout() {
  sessionStorage.removeItem("qun-demo-login");
  location.href = "/";
}

export async function renderLogin(el, title, subtitle, next) {
  const users = await (await fetch("/api/users")).json();
  el.innerHTML = `<div class="login"><h1>${esc(title)}</h1><p class="muted">${esc(subtitle)}</p>
    <p class="muted">选择一个演示用户登录（每个浏览器标签页可登录不同用户） · Pick a demo user (one per browser tab)</p>
    <div class="users"></div></div>`;
  const box = el.querySelector(".users");
  for (const u of users) {
    const b = document.createElement("button");
    b.dataset.user = u.id;
    b.innerHTML = `<div class="row"><span class="avatar">${esc(u.name.slice(0, 1))}</span><div><b>${esc(u.name)}</b><span class="muted">${esc(u.role)}</span></div></div>`;
    b.onclick = async () => { await login(u.id); location.href = next; };
    box.append(b);
  }
}

export function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

export function toast(text, ms = 2500) {
  const t = document.createElement("div");
  t.className = "toast";
  t.textContent = text;
  document.body.append(t);
  setTimeout(() => t.remove(), ms);
}

let namesCache = null;
/** userNames resolves with a Map of demo user id → display name. */
export async function userNames() {
  if (!namesCache) namesCache = fetch("/api/users").then((r) => r.json()).then((us) => new Map(us.map((u) => [u.id, u.name])));
  return namesCache;
}

/** fmtTime shows ms as m:ss (or h:mm:ss). */
export function fmtTime(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return (h ? h + ":" : "") + mm + ":" + String(r).padStart(2, "0");
}

/**
 * connectPage is how every page of the examples starts: the demo login (or
 * back to the login page, keeping the query), the header's name, status
 * and log-out, and a connected qun Client (window.qunClient, for the tests).
 * Resolves with {login, qun, me}.
 */
export async function connectPage(Client) {
  const login = await currentLogin();
  if (!login) {
    location.replace("/" + location.search);
    await new Promise(() => {}); // the page is going away
  }
  const el = (id) => document.getElementById(id);
  if (el("me")) el("me").textContent = login.user.name;
  if (el("logout")) el("logout").onclick = logout;
  const qun = new Client({ url: "/qun/ws", token: () => login.token });
  qun.on("state", (s) => {
    if (!el("status")) return;
    el("status").textContent = { open: "在线 online", connecting: "连接中 connecting", closed: "离线 offline" }[s] || s;
    el("status").className = "status " + s;
  });
  const me = await qun.connect();
  window.qunClient = qun;
  return { login, qun, me };
}

/**
 * twoClicks makes a button act only on a second click within 4 s (ending a
 * live or a class), saying confirm on the first.
 */
export function twoClicks(button, confirm, act) {
  const label = button.textContent;
  button.onclick = async () => {
    if (!button.dataset.confirm) {
      button.dataset.confirm = "1";
      button.textContent = confirm;
      setTimeout(() => { delete button.dataset.confirm; button.textContent = label; }, 4000);
      return;
    }
    button.disabled = true;
    try { await act(); } catch (e) { toast(e.message); button.disabled = false; }
  };
  return () => { delete button.dataset.confirm; button.textContent = label; button.disabled = false; };
}
