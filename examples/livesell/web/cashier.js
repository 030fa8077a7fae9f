// The pretend cashier (模拟收银台): what the vendor's payment page would be.
// The shop's Checkout hook answered /pay.html?id=…; this shows the payment
// and confirms it through the app's /api/pay/{id}, which tells the shop.
import { formatMoney } from "/qun/qun.js";
import { esc, toast } from "/demo/login.js";

/** payment reads a pending payment of the signed-in user. */
export async function payment(qun, id) {
  return (await qun.fetch(`/api/pay/${encodeURIComponent(id)}`)).json();
}

/** pay confirms (or cancels) a payment. */
export async function pay(qun, id, status = "paid") {
  return (await qun.fetch(`/api/pay/${encodeURIComponent(id)}`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ status }),
  })).json();
}

/** openCashier shows the cashier for payment id in a dialog; resolves "paid" or "cancelled". */
export async function openCashier(qun, id) {
  const p = await payment(qun, id);
  return new Promise((resolve) => {
    const m = document.createElement("div");
    m.className = "modal";
    m.id = "cashier";
    m.innerHTML = `<div class="sheet">
      <div class="row" style="justify-content:space-between"><h3 style="margin:0">收银台 Checkout</h3><span class="pill">演示 demo, no real money</span></div>
      <p class="muted">${esc(p.title)}</p>
      <div class="amount">${formatMoney(p.amount)}</div>
      <div class="row" style="gap:8px;margin:10px 0"><span class="avatar" style="background:#e6f6ec;color:#1a9d55">微</span><span class="grow">模拟支付 Pretend payment</span><span class="muted">✓</span></div>
      <div class="row" style="justify-content:flex-end">
        <button id="pay-cancel">取消 Cancel</button>
        <button class="primary" id="pay-confirm">确认支付 Pay ${formatMoney(p.amount)}</button>
      </div></div>`;
    document.body.append(m);
    const done = async (status) => {
      m.querySelectorAll("button").forEach((b) => (b.disabled = true));
      try { await pay(qun, id, status); } catch (e) { toast(e.message); }
      m.remove();
      resolve(status);
    };
    m.querySelector("#pay-confirm").onclick = () => done("paid");
    m.querySelector("#pay-cancel").onclick = () => done("cancelled");
  });
}
