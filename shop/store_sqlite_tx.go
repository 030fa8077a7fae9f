package shop

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/qunkit/qun"
)

// sqlTx implements Tx on the writer's transaction or, read-only, on the pool.
// Most objects are stored as JSON next to the columns their queries need.
type sqlTx struct {
	q  querier
	ro bool
}

var _ Tx = (*sqlTx)(nil)

var errReadOnly = errors.New("shop: write in a read-only view")

// writeRow runs a writing statement that returns a row (RETURNING).
func (t *sqlTx) writeRow(q string, args ...any) row {
	if t.ro {
		return row{err: errReadOnly}
	}
	return t.q.queryRow(q, args...)
}

func (t *sqlTx) get(what string, v any, q string, args ...any) error {
	var data []byte
	err := t.q.queryRow(q, args...).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound(what)
	}
	if err != nil {
		return fmt.Errorf("shop: read %s: %w", what, err)
	}
	return json.Unmarshal(data, v)
}

func (t *sqlTx) exec(what, q string, args ...any) (sql.Result, error) {
	res, err := t.q.exec(q, args...)
	if err != nil {
		return nil, fmt.Errorf("shop: write %s: %w", what, err)
	}
	return res, nil
}

func list[T any](t *sqlTx, what, q string, args ...any) ([]*T, error) {
	rows, err := t.q.query(q, args...)
	if err != nil {
		return nil, fmt.Errorf("shop: list %s: %w", what, err)
	}
	defer rows.Close()
	var out []*T
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return nil, fmt.Errorf("shop: list %s: %w", what, err)
		}
		v := new(T)
		if err := json.Unmarshal(data, v); err != nil {
			return nil, fmt.Errorf("shop: decode %s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("shop: list %s: %w", what, err)
	}
	return out, nil
}

func refs(t *sqlTx, what, q string, args ...any) ([]Ref, error) {
	rows, err := t.q.query(q, args...)
	if err != nil {
		return nil, fmt.Errorf("shop: list %s: %w", what, err)
	}
	defer rows.Close()
	var out []Ref
	for rows.Next() {
		var r Ref
		if err := rows.Scan(&r.Tenant, &r.ID); err != nil {
			return nil, fmt.Errorf("shop: list %s: %w", what, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own plain structs are marshalled
	}
	return b
}

func (t *sqlTx) Shop(tenant qun.TenantID, id ShopID) (*Shop, error) {
	var s Shop
	return &s, t.get("shop", &s, `SELECT data FROM shop_shops WHERE tenant=? AND id=?`, string(tenant), string(id))
}

func (t *sqlTx) PutShop(s *Shop) error {
	_, err := t.exec("shop", `INSERT OR REPLACE INTO shop_shops (tenant, id, owner, data) VALUES (?,?,?,?)`,
		string(s.Tenant), string(s.ID), string(s.Owner), mustJSON(s))
	return err
}

func (t *sqlTx) Shelf(tenant qun.TenantID, room qun.RoomID) (*Shelf, error) {
	var s Shelf
	return &s, t.get("shelf", &s, `SELECT data FROM shop_shelves WHERE tenant=? AND room=?`, string(tenant), string(room))
}

func (t *sqlTx) PutShelf(s *Shelf) error {
	if _, err := t.exec("shelf", `INSERT OR REPLACE INTO shop_shelves (tenant, room, data) VALUES (?,?,?)`,
		string(s.Tenant), string(s.Room), mustJSON(s)); err != nil {
		return err
	}
	// Rebuild the product → room index of this shelf.
	if _, err := t.exec("shelf", `DELETE FROM shop_shelf_items WHERE tenant=? AND room=?`, string(s.Tenant), string(s.Room)); err != nil {
		return err
	}
	for _, it := range s.Items {
		if _, err := t.exec("shelf", `INSERT OR IGNORE INTO shop_shelf_items (tenant, product, room) VALUES (?,?,?)`,
			string(s.Tenant), string(it.Product), string(s.Room)); err != nil {
			return err
		}
	}
	return nil
}

func (t *sqlTx) ShelvesWith(tenant qun.TenantID, product ProductID, limit int) ([]qun.RoomID, error) {
	rows, err := t.q.query(`SELECT room FROM shop_shelf_items WHERE tenant=? AND product=? LIMIT ?`, string(tenant), string(product), limit)
	if err != nil {
		return nil, fmt.Errorf("shop: shelves: %w", err)
	}
	defer rows.Close()
	var out []qun.RoomID
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, err
		}
		out = append(out, qun.RoomID(r))
	}
	return out, rows.Err()
}

func (t *sqlTx) Stock(tenant qun.TenantID, product ProductID) (int64, bool, error) {
	var n int64
	err := t.q.queryRow(`SELECT qty FROM shop_stock WHERE tenant=? AND product=?`, string(tenant), string(product)).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("shop: read stock: %w", err)
	}
	return n, true, nil
}

func (t *sqlTx) SetStock(tenant qun.TenantID, product ProductID, qty int64) error {
	if qty < 0 {
		return qun.Errorf(qun.CodeInvalid, "negative stock")
	}
	_, err := t.exec("stock", `INSERT INTO shop_stock (tenant, product, qty) VALUES (?,?,?)
		ON CONFLICT (tenant, product) DO UPDATE SET qty=excluded.qty`, string(tenant), string(product), qty)
	return err
}

func (t *sqlTx) AddStock(tenant qun.TenantID, product ProductID, delta int64) (int64, error) {
	var n int64
	err := t.writeRow(`UPDATE shop_stock SET qty=qty+? WHERE tenant=? AND product=? AND qty+? >= 0 RETURNING qty`,
		delta, string(tenant), string(product), delta).Scan(&n)
	if err == nil {
		return n, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("shop: add stock: %w", err)
	}
	if _, ok, err := t.Stock(tenant, product); err != nil {
		return 0, err
	} else if !ok {
		return 0, notFound("stock for this product")
	}
	return 0, qun.Errorf(qun.CodeExhausted, "sold out")
}

// Orders keep payment_ref, pay_url and updated in columns that override
// the JSON, so that recording Checkout's answer (AttachPayment, once per
// buyer) is a small UPDATE rather than a rewrite of the document.
func (t *sqlTx) Order(tenant qun.TenantID, id OrderID) (*Order, error) {
	var o Order
	var data []byte
	err := t.q.queryRow(`SELECT data, pay_ref, pay_url, updated FROM shop_orders WHERE tenant=? AND id=?`, string(tenant), string(id)).
		Scan(&data, &o.PaymentRef, &o.PayURL, &o.Updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("order")
	}
	if err != nil {
		return nil, fmt.Errorf("shop: read order: %w", err)
	}
	ref, url, updated := o.PaymentRef, o.PayURL, o.Updated
	if err := json.Unmarshal(data, &o); err != nil {
		return nil, fmt.Errorf("shop: decode order: %w", err)
	}
	o.PaymentRef, o.PayURL, o.Updated = ref, url, updated
	return &o, nil
}

func (t *sqlTx) PutOrder(o *Order) error {
	_, err := t.exec("order", `INSERT INTO shop_orders (tenant, id, status, expires, room, sharer, total, pay_ref, pay_url, updated,
		buyer, product, qty, data) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT (tenant, id) DO UPDATE SET status=excluded.status, expires=excluded.expires, room=excluded.room,
		sharer=excluded.sharer, total=excluded.total, pay_ref=excluded.pay_ref, pay_url=excluded.pay_url,
		updated=excluded.updated, buyer=excluded.buyer, product=excluded.product, qty=excluded.qty, data=excluded.data`,
		string(o.Tenant), string(o.ID), string(o.Status), o.ExpiresAt, string(o.Room), string(o.Sharer), o.Total.Amount,
		o.PaymentRef, o.PayURL, o.Updated, string(o.Buyer), string(o.Product), o.Qty, mustJSON(o))
	return err
}

func (t *sqlTx) AttachPayment(tenant qun.TenantID, id OrderID, ref, url string, now int64) (bool, error) {
	if t.ro {
		return false, errReadOnly
	}
	res, err := t.exec("order", `UPDATE shop_orders SET pay_ref=?, pay_url=?, updated=? WHERE tenant=? AND id=? AND status='reserved'`,
		ref, url, now, string(tenant), string(id))
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return true, nil
	}
	if _, err := t.Order(tenant, id); err != nil {
		return false, err
	}
	return false, nil
}

func (t *sqlTx) DueOrders(now int64, limit int) ([]Ref, error) {
	return refs(t, "due orders", `SELECT tenant, id FROM shop_orders WHERE status='reserved' AND expires <= ? ORDER BY expires LIMIT ?`, now, limit)
}

func (t *sqlTx) Coupon(tenant qun.TenantID, id CouponID) (*Coupon, error) {
	var c Coupon
	return &c, t.get("coupon", &c, `SELECT data FROM shop_coupons WHERE tenant=? AND id=?`, string(tenant), string(id))
}

func (t *sqlTx) PutCoupon(c *Coupon) error {
	_, err := t.exec("coupon", `INSERT OR REPLACE INTO shop_coupons (tenant, id, room, created, data) VALUES (?,?,?,?,?)`,
		string(c.Tenant), string(c.ID), string(c.Room), c.Created, mustJSON(c))
	return err
}

func (t *sqlTx) Coupons(tenant qun.TenantID, room qun.RoomID, limit int) ([]*Coupon, error) {
	return list[Coupon](t, "coupons", `SELECT data FROM shop_coupons WHERE tenant=? AND room=? ORDER BY created DESC, id LIMIT ?`,
		string(tenant), string(room), limit)
}

func (t *sqlTx) Claim(tenant qun.TenantID, id ClaimID) (*Claim, error) {
	var c Claim
	return &c, t.get("coupon claim", &c, `SELECT data FROM shop_claims WHERE tenant=? AND id=?`, string(tenant), string(id))
}

func (t *sqlTx) PutClaim(c *Claim) error {
	_, err := t.exec("coupon claim", `INSERT OR REPLACE INTO shop_claims (tenant, id, coupon, user, data) VALUES (?,?,?,?,?)`,
		string(c.Tenant), string(c.ID), string(c.Coupon), string(c.User), mustJSON(c))
	return err
}

func (t *sqlTx) CountBought(tenant qun.TenantID, product ProductID, user qun.UserID) (int64, error) {
	var n int64
	err := t.q.queryRow(`SELECT COALESCE(SUM(qty), 0) FROM shop_orders WHERE tenant=? AND product=? AND buyer=?
		AND status IN ('reserved','paid','shipped')`, string(tenant), string(product), string(user)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("shop: count bought: %w", err)
	}
	return n, nil
}

func (t *sqlTx) CountClaims(tenant qun.TenantID, coupon CouponID, user qun.UserID) (int64, error) {
	var n int64
	err := t.q.queryRow(`SELECT COUNT(*) FROM shop_claims WHERE tenant=? AND coupon=? AND user=?`, string(tenant), string(coupon), string(user)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("shop: count claims: %w", err)
	}
	return n, nil
}

func (t *sqlTx) Tip(tenant qun.TenantID, id TipID) (*Tip, error) {
	var v Tip
	return &v, t.get("tip", &v, `SELECT data FROM shop_tips WHERE tenant=? AND id=?`, string(tenant), string(id))
}

func (t *sqlTx) PutTip(v *Tip) error {
	_, err := t.exec("tip", `INSERT OR REPLACE INTO shop_tips (tenant, id, data) VALUES (?,?,?)`, string(v.Tenant), string(v.ID), mustJSON(v))
	return err
}

func (t *sqlTx) AddContribution(tenant qun.TenantID, room qun.RoomID, user qun.UserID, amount int64) error {
	if amount < 0 {
		return qun.Errorf(qun.CodeInvalid, "negative contribution")
	}
	var cur int64
	err := t.q.queryRow(`SELECT amount FROM shop_contrib WHERE tenant=? AND room=? AND user=?`, string(tenant), string(room), string(user)).Scan(&cur)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("shop: read contribution: %w", err)
	}
	if _, err := addAmount(cur, amount); err != nil {
		return err
	}
	_, err = t.exec("contribution", `INSERT INTO shop_contrib (tenant, room, user, amount, count) VALUES (?,?,?,?,1)
		ON CONFLICT (tenant, room, user) DO UPDATE SET amount=amount+excluded.amount, count=count+1`,
		string(tenant), string(room), string(user), amount)
	return err
}

func (t *sqlTx) Leaderboard(tenant qun.TenantID, room qun.RoomID, limit int) ([]Contribution, error) {
	rows, err := t.q.query(`SELECT user, amount, count FROM shop_contrib WHERE tenant=? AND room=? ORDER BY amount DESC, user LIMIT ?`,
		string(tenant), string(room), limit)
	if err != nil {
		return nil, fmt.Errorf("shop: leaderboard: %w", err)
	}
	defer rows.Close()
	var out []Contribution
	for rows.Next() {
		var c Contribution
		if err := rows.Scan(&c.User, &c.Amount, &c.Count); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (t *sqlTx) RedPacket(tenant qun.TenantID, id RedPacketID) (*RedPacket, error) {
	var p RedPacket
	return &p, t.get("red packet", &p, `SELECT data FROM shop_redpackets WHERE tenant=? AND id=?`, string(tenant), string(id))
}

func (t *sqlTx) PutRedPacket(p *RedPacket) error {
	_, err := t.exec("red packet", `INSERT OR REPLACE INTO shop_redpackets (tenant, id, status, expires, room, data) VALUES (?,?,?,?,?,?)`,
		string(p.Tenant), string(p.ID), string(p.Status), p.ExpiresAt, string(p.Room), mustJSON(p))
	return err
}

func (t *sqlTx) OpenRedPackets(tenant qun.TenantID, room qun.RoomID, now int64, limit int) ([]*RedPacket, error) {
	return list[RedPacket](t, "open red packets", `SELECT data FROM shop_redpackets WHERE tenant=? AND room=? AND status='active' AND expires > ?
		ORDER BY expires DESC LIMIT ?`, string(tenant), string(room), now, limit)
}

func (t *sqlTx) RedPacketClaim(tenant qun.TenantID, id RedPacketID, user qun.UserID) (*RedPacketClaim, error) {
	var c RedPacketClaim
	return &c, t.get("red packet claim", &c, `SELECT data FROM shop_redpacket_claims WHERE tenant=? AND packet=? AND user=?`,
		string(tenant), string(id), string(user))
}

func (t *sqlTx) PutRedPacketClaim(c *RedPacketClaim) error {
	res, err := t.exec("red packet claim", `INSERT INTO shop_redpacket_claims (tenant, packet, user, n, data)
		SELECT ?,?,?, COALESCE(MAX(n),0)+1, ? FROM shop_redpacket_claims WHERE tenant=? AND packet=?
		ON CONFLICT (tenant, packet, user) DO NOTHING`,
		string(c.Tenant), string(c.Packet), string(c.User), mustJSON(c), string(c.Tenant), string(c.Packet))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return qun.Errorf(qun.CodeConflict, "already claimed")
	}
	return nil
}

func (t *sqlTx) RedPacketClaims(tenant qun.TenantID, id RedPacketID, limit int) ([]*RedPacketClaim, error) {
	return list[RedPacketClaim](t, "red packet claims", `SELECT data FROM shop_redpacket_claims WHERE tenant=? AND packet=? ORDER BY n LIMIT ?`,
		string(tenant), string(id), limit)
}

func (t *sqlTx) DueRedPackets(now int64, limit int) ([]Ref, error) {
	return refs(t, "due red packets", `SELECT tenant, id FROM shop_redpackets WHERE status IN ('pending','active') AND expires <= ? ORDER BY expires LIMIT ?`, now, limit)
}

func (t *sqlTx) Attribution(tenant qun.TenantID, room qun.RoomID, viewer qun.UserID) (*Attribution, error) {
	var a Attribution
	return &a, t.get("attribution", &a, `SELECT data FROM shop_attrib WHERE tenant=? AND room=? AND viewer=?`,
		string(tenant), string(room), string(viewer))
}

func (t *sqlTx) PutAttribution(a *Attribution) error {
	res, err := t.exec("attribution", `INSERT INTO shop_attrib (tenant, room, viewer, sharer, data) VALUES (?,?,?,?,?)
		ON CONFLICT (tenant, room, viewer) DO NOTHING`,
		string(a.Tenant), string(a.Room), string(a.Viewer), string(a.Sharer), mustJSON(a))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return qun.Errorf(qun.CodeConflict, "already attributed")
	}
	return nil
}

func (t *sqlTx) ShareStats(tenant qun.TenantID, room qun.RoomID, sharer qun.UserID) (*ShareStats, error) {
	st := &ShareStats{Sharer: sharer}
	if err := t.q.queryRow(`SELECT COUNT(*) FROM shop_attrib WHERE tenant=? AND room=? AND sharer=?`,
		string(tenant), string(room), string(sharer)).Scan(&st.Viewers); err != nil {
		return nil, fmt.Errorf("shop: share stats: %w", err)
	}
	if err := t.q.queryRow(`SELECT COUNT(*), COALESCE(SUM(total),0) FROM shop_orders WHERE tenant=? AND room=? AND sharer=? AND status IN ('paid','shipped')`,
		string(tenant), string(room), string(sharer)).Scan(&st.Orders, &st.Amount); err != nil {
		return nil, fmt.Errorf("shop: share stats: %w", err)
	}
	return st, nil
}

func (t *sqlTx) Idem(tenant qun.TenantID, user qun.UserID, scope, key string) (*IdemRecord, error) {
	r := &IdemRecord{Tenant: tenant, User: user, Scope: scope, Key: key}
	err := t.q.queryRow(`SELECT hash, ref, ts FROM shop_idem WHERE tenant=? AND user=? AND scope=? AND key=?`,
		string(tenant), string(user), scope, key).Scan(&r.Hash, &r.Ref, &r.TS)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("shop: read idempotency key: %w", err)
	}
	return r, nil
}

func (t *sqlTx) PutIdem(r *IdemRecord) error {
	_, err := t.exec("idempotency key", `INSERT INTO shop_idem (tenant, user, scope, key, hash, ref, ts) VALUES (?,?,?,?,?,?,?)`,
		string(r.Tenant), string(r.User), r.Scope, r.Key, r.Hash, r.Ref, r.TS)
	return err
}

func (t *sqlTx) DeleteIdem(tenant qun.TenantID, user qun.UserID, scope, key string) error {
	_, err := t.exec("idempotency key", `DELETE FROM shop_idem WHERE tenant=? AND user=? AND scope=? AND key=?`,
		string(tenant), string(user), scope, key)
	return err
}

func (t *sqlTx) PruneIdem(before int64) (int64, error) {
	res, err := t.exec("idempotency keys", `DELETE FROM shop_idem WHERE ts < ?`, before)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (t *sqlTx) Endpoint(id EndpointID) (*Endpoint, error) {
	var e Endpoint
	return &e, t.get("endpoint", &e, `SELECT data FROM shop_endpoints WHERE id=?`, string(id))
}

func (t *sqlTx) Endpoints(tenant qun.TenantID, all bool) ([]*Endpoint, error) {
	if all {
		return list[Endpoint](t, "endpoints", `SELECT data FROM shop_endpoints ORDER BY id`)
	}
	return list[Endpoint](t, "endpoints", `SELECT data FROM shop_endpoints WHERE tenant=? ORDER BY id`, string(tenant))
}

func (t *sqlTx) PutEndpoint(e *Endpoint) error {
	_, err := t.exec("endpoint", `INSERT OR REPLACE INTO shop_endpoints (id, tenant, disabled, data) VALUES (?,?,?,?)`,
		string(e.ID), string(e.Tenant), e.Disabled, mustJSON(e))
	return err
}

func (t *sqlTx) DeleteEndpoint(id EndpointID) error {
	res, err := t.exec("endpoint", `DELETE FROM shop_endpoints WHERE id=?`, string(id))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("endpoint")
	}
	_, err = t.exec("deliveries", `DELETE FROM shop_deliveries WHERE endpoint=?`, string(id))
	return err
}

func (t *sqlTx) Enqueue(m *Message) error {
	return t.writeRow(`INSERT INTO shop_outbox (id, tenant, type, ts, body) VALUES (?,?,?,?,?) RETURNING seq`,
		m.ID, string(m.Tenant), m.Type, m.TS, m.Body).Scan(&m.Seq)
}

func (t *sqlTx) Messages(after int64, limit int) ([]*Message, error) {
	rows, err := t.q.query(`SELECT seq, id, tenant, type, ts, body FROM shop_outbox WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("shop: outbox: %w", err)
	}
	defer rows.Close()
	var out []*Message
	for rows.Next() {
		m := &Message{}
		if err := rows.Scan(&m.Seq, &m.ID, &m.Tenant, &m.Type, &m.TS, &m.Body); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func (t *sqlTx) Cursor(name string) (int64, error) {
	var v int64
	err := t.q.queryRow(`SELECT value FROM shop_cursors WHERE name=?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, err
}

func (t *sqlTx) SetCursor(name string, v int64) error {
	_, err := t.exec("cursor", `INSERT INTO shop_cursors (name, value) VALUES (?,?) ON CONFLICT (name) DO UPDATE SET value=excluded.value`, name, v)
	return err
}

func (t *sqlTx) PutDelivery(d *Delivery) error {
	_, err := t.exec("delivery", `INSERT OR REPLACE INTO shop_deliveries (msg, endpoint, state, attempts, next_at, last_status, last_error, updated)
		VALUES (?,?,?,?,?,?,?,?)`, d.Msg, string(d.Endpoint), int(d.State), d.Attempts, d.NextAt, d.LastStatus, d.LastError, d.Updated)
	return err
}

func (t *sqlTx) Delivery(msg int64, endpoint EndpointID) (*Delivery, error) {
	d := &Delivery{Msg: msg, Endpoint: endpoint}
	err := t.q.queryRow(`SELECT state, attempts, next_at, last_status, last_error, updated FROM shop_deliveries WHERE msg=? AND endpoint=?`,
		msg, string(endpoint)).Scan(&d.State, &d.Attempts, &d.NextAt, &d.LastStatus, &d.LastError, &d.Updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("delivery")
	}
	if err != nil {
		return nil, fmt.Errorf("shop: read delivery: %w", err)
	}
	return d, nil
}

func (t *sqlTx) DueDeliveries(now int64, limit int) ([]*DueDelivery, error) {
	rows, err := t.q.query(`SELECT d.msg, d.endpoint, d.attempts, d.next_at, d.updated, m.id, m.tenant, m.type, m.ts, m.body, e.data
		FROM shop_deliveries d
		JOIN shop_outbox m ON m.seq = d.msg
		JOIN shop_endpoints e ON e.id = d.endpoint
		WHERE d.state = 0 AND d.next_at <= ? AND e.disabled = 0
		ORDER BY d.next_at LIMIT ?`, now, limit)
	if err != nil {
		return nil, fmt.Errorf("shop: due deliveries: %w", err)
	}
	defer rows.Close()
	var out []*DueDelivery
	for rows.Next() {
		d := &DueDelivery{}
		var ep []byte
		if err := rows.Scan(&d.Msg, &d.Endpoint, &d.Attempts, &d.NextAt, &d.Updated, &d.Message.ID, &d.Message.Tenant,
			&d.Message.Type, &d.Message.TS, &d.Message.Body, &ep); err != nil {
			return nil, err
		}
		var e Endpoint
		if err := json.Unmarshal(ep, &e); err != nil {
			return nil, err
		}
		d.Message.Seq, d.URL, d.Secrets = d.Msg, e.URL, e.Secrets
		out = append(out, d)
	}
	return out, rows.Err()
}

// ClaimDeliveries reads and moves in one transaction; SQLite's one writer
// makes that atomic against every other deliverer.
func (t *sqlTx) ClaimDeliveries(now, until int64, limit int) ([]*DueDelivery, error) {
	if t.ro {
		return nil, errReadOnly
	}
	due, err := t.DueDeliveries(now, limit)
	if err != nil {
		return nil, err
	}
	for _, d := range due {
		if _, err := t.exec("delivery claim", `UPDATE shop_deliveries SET next_at=? WHERE msg=? AND endpoint=?`, until, d.Msg, string(d.Endpoint)); err != nil {
			return nil, err
		}
		d.NextAt = until
	}
	return due, nil
}

func (t *sqlTx) NextDelivery() (int64, bool, error) {
	var at sql.NullInt64
	err := t.q.queryRow(`SELECT MIN(d.next_at) FROM shop_deliveries d JOIN shop_endpoints e ON e.id = d.endpoint
		WHERE d.state = 0 AND e.disabled = 0`).Scan(&at)
	if err != nil {
		return 0, false, fmt.Errorf("shop: next delivery: %w", err)
	}
	return at.Int64, at.Valid, nil
}

func (t *sqlTx) Deliveries(endpoint EndpointID, state DeliveryState, limit int) ([]*Delivery, error) {
	rows, err := t.q.query(`SELECT msg, state, attempts, next_at, last_status, last_error, updated FROM shop_deliveries
		WHERE endpoint=? AND state=? ORDER BY msg LIMIT ?`, string(endpoint), int(state), limit)
	if err != nil {
		return nil, fmt.Errorf("shop: deliveries: %w", err)
	}
	defer rows.Close()
	var out []*Delivery
	for rows.Next() {
		d := &Delivery{Endpoint: endpoint}
		if err := rows.Scan(&d.Msg, &d.State, &d.Attempts, &d.NextAt, &d.LastStatus, &d.LastError, &d.Updated); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

func (t *sqlTx) PruneOutbox(before, cursor int64) (int64, error) {
	res, err := t.exec("deliveries", `DELETE FROM shop_deliveries WHERE state != 0 AND updated < ?`, before)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	res, err = t.exec("outbox", `DELETE FROM shop_outbox WHERE seq <= ? AND ts < ?
		AND NOT EXISTS (SELECT 1 FROM shop_deliveries d WHERE d.msg = shop_outbox.seq)`, cursor, before)
	if err != nil {
		return 0, err
	}
	m, _ := res.RowsAffected()
	return n + m, nil
}
