package postgres

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"
	"github.com/qunkit/qun"
	"github.com/qunkit/qun/shop"
)

func shopNotFound(what string) error { return qun.Errorf(qun.CodeNotFound, "no such %s", what) }

// get reads one object stored as JSON.
func (t *shopTx) get(what string, v any, q string, args ...any) error {
	var data []byte
	err := t.row(q, args...).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return shopNotFound(what)
	}
	if err != nil {
		return fmt.Errorf("shop: read %s: %w", what, err)
	}
	return json.Unmarshal(data, v)
}

// scanAll scans every row q returns with scan.
func scanAll[T any](t *shopTx, what, q string, args []any, scan func(pgx.Rows) (T, error)) ([]T, error) {
	rows, err := t.q.Query(t.ctx, pq(q), args...)
	if err != nil {
		return nil, fmt.Errorf("shop: list %s: %w", what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("shop: list %s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("shop: list %s: %w", what, err)
	}
	return out, nil
}

// objects lists objects stored as JSON.
func objects[T any](t *shopTx, what, q string, args ...any) ([]*T, error) {
	return scanAll(t, what, q, args, func(r pgx.Rows) (*T, error) {
		var data []byte
		if err := r.Scan(&data); err != nil {
			return nil, err
		}
		v := new(T)
		return v, json.Unmarshal(data, v)
	})
}

func shopRefs(t *shopTx, what, q string, args ...any) ([]shop.Ref, error) {
	return scanAll(t, what, q, args, func(r pgx.Rows) (shop.Ref, error) {
		var ref shop.Ref
		return ref, r.Scan(&ref.Tenant, &ref.ID)
	})
}

func jsonOf(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only shop's own plain structs are marshalled
	}
	return b
}

func (t *shopTx) Shop(tenant qun.TenantID, id shop.ShopID) (*shop.Shop, error) {
	var s shop.Shop
	return &s, t.get("shop", &s, `SELECT data FROM shop_shops WHERE tenant=? AND id=?`, tenant, id)
}

func (t *shopTx) PutShop(s *shop.Shop) error {
	_, err := t.exec("shop", `INSERT INTO shop_shops (tenant, id, owner, data) VALUES (?,?,?,?)
		ON CONFLICT (tenant, id) DO UPDATE SET owner=excluded.owner, data=excluded.data`, s.Tenant, s.ID, s.Owner, jsonOf(s))
	return err
}

func (t *shopTx) Shelf(tenant qun.TenantID, room qun.RoomID) (*shop.Shelf, error) {
	var s shop.Shelf
	return &s, t.get("shelf", &s, `SELECT data FROM shop_shelves WHERE tenant=? AND room=?`, tenant, room)
}

func (t *shopTx) PutShelf(s *shop.Shelf) error {
	if _, err := t.exec("shelf", `INSERT INTO shop_shelves (tenant, room, data) VALUES (?,?,?)
		ON CONFLICT (tenant, room) DO UPDATE SET data=excluded.data`, s.Tenant, s.Room, jsonOf(s)); err != nil {
		return err
	}
	// Rebuild the product → room index of this shelf.
	if _, err := t.exec("shelf", `DELETE FROM shop_shelf_items WHERE tenant=? AND room=?`, s.Tenant, s.Room); err != nil {
		return err
	}
	products := make([]string, len(s.Items))
	for i, it := range s.Items {
		products[i] = string(it.Product)
	}
	_, err := t.exec("shelf", `INSERT INTO shop_shelf_items (tenant, product, room) SELECT ?, p, ? FROM unnest(?::text[]) AS p
		ON CONFLICT DO NOTHING`, s.Tenant, s.Room, products)
	return err
}

func (t *shopTx) ShelvesWith(tenant qun.TenantID, product shop.ProductID, limit int) ([]qun.RoomID, error) {
	return scanAll(t, "shelves", `SELECT room FROM shop_shelf_items WHERE tenant=? AND product=? ORDER BY room LIMIT ?`,
		[]any{tenant, product, max(limit, 0)}, func(r pgx.Rows) (qun.RoomID, error) {
			var room qun.RoomID
			return room, r.Scan(&room)
		})
}

func (t *shopTx) Stock(tenant qun.TenantID, product shop.ProductID) (int64, bool, error) {
	var n int64
	err := t.row(`SELECT qty FROM shop_stock WHERE tenant=? AND product=?`, tenant, product).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("shop: read stock: %w", err)
	}
	return n, true, nil
}

func (t *shopTx) SetStock(tenant qun.TenantID, product shop.ProductID, qty int64) error {
	if qty < 0 {
		return qun.Errorf(qun.CodeInvalid, "negative stock")
	}
	_, err := t.exec("stock", `INSERT INTO shop_stock (tenant, product, qty) VALUES (?,?,?)
		ON CONFLICT (tenant, product) DO UPDATE SET qty=excluded.qty`, tenant, product, qty)
	return err
}

func (t *shopTx) AddStock(tenant qun.TenantID, product shop.ProductID, delta int64) (int64, error) {
	var n int64
	err := t.writeRow(`UPDATE shop_stock SET qty=qty+? WHERE tenant=? AND product=? AND qty+? >= 0 RETURNING qty`,
		delta, tenant, product, delta).Scan(&n)
	if err == nil {
		return n, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("shop: add stock: %w", err)
	}
	if _, ok, err := t.Stock(tenant, product); err != nil {
		return 0, err
	} else if !ok {
		return 0, shopNotFound("stock for this product")
	}
	return 0, qun.Errorf(qun.CodeExhausted, "sold out")
}

func (t *shopTx) Order(tenant qun.TenantID, id shop.OrderID) (*shop.Order, error) {
	var o shop.Order
	return &o, t.get("order", &o, `SELECT data FROM shop_orders WHERE tenant=? AND id=?`, tenant, id)
}

func (t *shopTx) PutOrder(o *shop.Order) error {
	_, err := t.exec("order", `INSERT INTO shop_orders (tenant, id, status, expires, room, sharer, total, buyer, product, qty, data)
		VALUES (?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT (tenant, id) DO UPDATE SET status=excluded.status, expires=excluded.expires, room=excluded.room,
		sharer=excluded.sharer, total=excluded.total, buyer=excluded.buyer, product=excluded.product, qty=excluded.qty, data=excluded.data`,
		o.Tenant, o.ID, o.Status, o.ExpiresAt, o.Room, o.Sharer, o.Total.Amount, o.Buyer, o.Product, o.Qty, jsonOf(o))
	return err
}

func (t *shopTx) AttachPayment(tenant qun.TenantID, id shop.OrderID, ref, url string, now int64) (bool, error) {
	n, err := t.exec("order", `UPDATE shop_orders SET data = data || jsonb_build_object('payment_ref', ?::text, 'pay_url', ?::text, 'updated', ?::int8)
		WHERE tenant=? AND id=? AND status='reserved'`, ref, url, now, tenant, id)
	if err != nil || n == 1 {
		return n == 1, err
	}
	if _, err := t.Order(tenant, id); err != nil {
		return false, err
	}
	return false, nil
}

func (t *shopTx) DueOrders(now int64, limit int) ([]shop.Ref, error) {
	return shopRefs(t, "due orders", `SELECT tenant, id FROM shop_orders WHERE status='reserved' AND expires <= ? ORDER BY expires LIMIT ?`, now, max(limit, 0))
}

func (t *shopTx) Coupon(tenant qun.TenantID, id shop.CouponID) (*shop.Coupon, error) {
	var c shop.Coupon
	return &c, t.get("coupon", &c, `SELECT data FROM shop_coupons WHERE tenant=? AND id=?`, tenant, id)
}

func (t *shopTx) PutCoupon(c *shop.Coupon) error {
	_, err := t.exec("coupon", `INSERT INTO shop_coupons (tenant, id, room, created, data) VALUES (?,?,?,?,?)
		ON CONFLICT (tenant, id) DO UPDATE SET room=excluded.room, created=excluded.created, data=excluded.data`,
		c.Tenant, c.ID, c.Room, c.Created, jsonOf(c))
	return err
}

func (t *shopTx) Coupons(tenant qun.TenantID, room qun.RoomID, limit int) ([]*shop.Coupon, error) {
	return objects[shop.Coupon](t, "coupons", `SELECT data FROM shop_coupons WHERE tenant=? AND room=? ORDER BY created DESC, id LIMIT ?`,
		tenant, room, max(limit, 0))
}

func (t *shopTx) Claim(tenant qun.TenantID, id shop.ClaimID) (*shop.Claim, error) {
	var c shop.Claim
	return &c, t.get("coupon claim", &c, `SELECT data FROM shop_claims WHERE tenant=? AND id=?`, tenant, id)
}

func (t *shopTx) PutClaim(c *shop.Claim) error {
	_, err := t.exec("coupon claim", `INSERT INTO shop_claims (tenant, id, coupon, usr, data) VALUES (?,?,?,?,?)
		ON CONFLICT (tenant, id) DO UPDATE SET coupon=excluded.coupon, usr=excluded.usr, data=excluded.data`,
		c.Tenant, c.ID, c.Coupon, c.User, jsonOf(c))
	return err
}

func (t *shopTx) CountBought(tenant qun.TenantID, product shop.ProductID, user qun.UserID) (int64, error) {
	var n int64
	if err := t.row(`SELECT COALESCE(SUM(qty), 0)::bigint FROM shop_orders WHERE tenant=? AND product=? AND buyer=?
		AND status IN ('reserved','paid','shipped')`, tenant, product, user).Scan(&n); err != nil {
		return 0, fmt.Errorf("shop: count bought: %w", err)
	}
	return n, nil
}

func (t *shopTx) CountClaims(tenant qun.TenantID, coupon shop.CouponID, user qun.UserID) (int64, error) {
	var n int64
	if err := t.row(`SELECT COUNT(*) FROM shop_claims WHERE tenant=? AND coupon=? AND usr=?`, tenant, coupon, user).Scan(&n); err != nil {
		return 0, fmt.Errorf("shop: count claims: %w", err)
	}
	return n, nil
}

func (t *shopTx) Tip(tenant qun.TenantID, id shop.TipID) (*shop.Tip, error) {
	var v shop.Tip
	return &v, t.get("tip", &v, `SELECT data FROM shop_tips WHERE tenant=? AND id=?`, tenant, id)
}

func (t *shopTx) PutTip(v *shop.Tip) error {
	_, err := t.exec("tip", `INSERT INTO shop_tips (tenant, id, data) VALUES (?,?,?)
		ON CONFLICT (tenant, id) DO UPDATE SET data=excluded.data`, v.Tenant, v.ID, jsonOf(v))
	return err
}

func (t *shopTx) AddContribution(tenant qun.TenantID, room qun.RoomID, user qun.UserID, amount int64) error {
	if amount < 0 {
		return qun.Errorf(qun.CodeInvalid, "negative contribution")
	}
	var cur int64
	err := t.row(`SELECT amount FROM shop_contrib WHERE tenant=? AND room=? AND usr=?`, tenant, room, user).Scan(&cur)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("shop: read contribution: %w", err)
	}
	if cur > math.MaxInt64-amount {
		return qun.Errorf(qun.CodeInvalid, "amount overflows")
	}
	_, err = t.exec("contribution", `INSERT INTO shop_contrib AS c (tenant, room, usr, amount, count) VALUES (?,?,?,?,1)
		ON CONFLICT (tenant, room, usr) DO UPDATE SET amount=c.amount+excluded.amount, count=c.count+1`,
		tenant, room, user, amount)
	return err
}

func (t *shopTx) Leaderboard(tenant qun.TenantID, room qun.RoomID, limit int) ([]shop.Contribution, error) {
	return scanAll(t, "leaderboard", `SELECT usr, amount, count FROM shop_contrib WHERE tenant=? AND room=? ORDER BY amount DESC, usr LIMIT ?`,
		[]any{tenant, room, max(limit, 0)}, func(r pgx.Rows) (shop.Contribution, error) {
			var c shop.Contribution
			return c, r.Scan(&c.User, &c.Amount, &c.Count)
		})
}

func (t *shopTx) RedPacket(tenant qun.TenantID, id shop.RedPacketID) (*shop.RedPacket, error) {
	var p shop.RedPacket
	return &p, t.get("red packet", &p, `SELECT data FROM shop_redpackets WHERE tenant=? AND id=?`, tenant, id)
}

func (t *shopTx) PutRedPacket(p *shop.RedPacket) error {
	_, err := t.exec("red packet", `INSERT INTO shop_redpackets (tenant, id, status, expires, room, data) VALUES (?,?,?,?,?,?)
		ON CONFLICT (tenant, id) DO UPDATE SET status=excluded.status, expires=excluded.expires, room=excluded.room, data=excluded.data`,
		p.Tenant, p.ID, p.Status, p.ExpiresAt, p.Room, jsonOf(p))
	return err
}

func (t *shopTx) OpenRedPackets(tenant qun.TenantID, room qun.RoomID, now int64, limit int) ([]*shop.RedPacket, error) {
	return objects[shop.RedPacket](t, "open red packets", `SELECT data FROM shop_redpackets WHERE tenant=? AND room=? AND status='active'
		AND expires > ? ORDER BY expires DESC LIMIT ?`, tenant, room, now, max(limit, 0))
}

func (t *shopTx) RedPacketClaim(tenant qun.TenantID, id shop.RedPacketID, user qun.UserID) (*shop.RedPacketClaim, error) {
	var c shop.RedPacketClaim
	return &c, t.get("red packet claim", &c, `SELECT data FROM shop_redpacket_claims WHERE tenant=? AND packet=? AND usr=?`, tenant, id, user)
}

func (t *shopTx) PutRedPacketClaim(c *shop.RedPacketClaim) error {
	n, err := t.exec("red packet claim", `INSERT INTO shop_redpacket_claims (tenant, packet, usr, n, data)
		SELECT ?,?,?, COALESCE(MAX(n),0)+1, ? FROM shop_redpacket_claims WHERE tenant=? AND packet=?
		ON CONFLICT (tenant, packet, usr) DO NOTHING`,
		c.Tenant, c.Packet, c.User, jsonOf(c), c.Tenant, c.Packet)
	if err != nil {
		return err
	}
	if n == 0 {
		return qun.Errorf(qun.CodeConflict, "already claimed")
	}
	return nil
}

func (t *shopTx) RedPacketClaims(tenant qun.TenantID, id shop.RedPacketID, limit int) ([]*shop.RedPacketClaim, error) {
	return objects[shop.RedPacketClaim](t, "red packet claims", `SELECT data FROM shop_redpacket_claims WHERE tenant=? AND packet=? ORDER BY n LIMIT ?`,
		tenant, id, max(limit, 0))
}

func (t *shopTx) DueRedPackets(now int64, limit int) ([]shop.Ref, error) {
	return shopRefs(t, "due red packets", `SELECT tenant, id FROM shop_redpackets WHERE status IN ('pending','active') AND expires <= ?
		ORDER BY expires LIMIT ?`, now, max(limit, 0))
}

func (t *shopTx) Attribution(tenant qun.TenantID, room qun.RoomID, viewer qun.UserID) (*shop.Attribution, error) {
	var a shop.Attribution
	return &a, t.get("attribution", &a, `SELECT data FROM shop_attrib WHERE tenant=? AND room=? AND viewer=?`, tenant, room, viewer)
}

func (t *shopTx) PutAttribution(a *shop.Attribution) error {
	n, err := t.exec("attribution", `INSERT INTO shop_attrib (tenant, room, viewer, sharer, data) VALUES (?,?,?,?,?)
		ON CONFLICT (tenant, room, viewer) DO NOTHING`, a.Tenant, a.Room, a.Viewer, a.Sharer, jsonOf(a))
	if err != nil {
		return err
	}
	if n == 0 {
		return qun.Errorf(qun.CodeConflict, "already attributed")
	}
	return nil
}

func (t *shopTx) ShareStats(tenant qun.TenantID, room qun.RoomID, sharer qun.UserID) (*shop.ShareStats, error) {
	st := &shop.ShareStats{Sharer: sharer}
	if err := t.row(`SELECT COUNT(*) FROM shop_attrib WHERE tenant=? AND room=? AND sharer=?`, tenant, room, sharer).Scan(&st.Viewers); err != nil {
		return nil, fmt.Errorf("shop: share stats: %w", err)
	}
	if err := t.row(`SELECT COUNT(*), COALESCE(SUM(total),0)::int8 FROM shop_orders
		WHERE tenant=? AND room=? AND sharer=? AND status IN ('paid','shipped')`, tenant, room, sharer).Scan(&st.Orders, &st.Amount); err != nil {
		return nil, fmt.Errorf("shop: share stats: %w", err)
	}
	return st, nil
}

func (t *shopTx) Idem(tenant qun.TenantID, user qun.UserID, scope, key string) (*shop.IdemRecord, error) {
	r := &shop.IdemRecord{Tenant: tenant, User: user, Scope: scope, Key: key}
	err := t.row(`SELECT hash, ref, ts FROM shop_idem WHERE tenant=? AND usr=? AND scope=? AND key=?`, tenant, user, scope, key).
		Scan(&r.Hash, &r.Ref, &r.TS)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("shop: read idempotency key: %w", err)
	}
	return r, nil
}

func (t *shopTx) PutIdem(r *shop.IdemRecord) error {
	n, err := t.exec("idempotency key", `INSERT INTO shop_idem (tenant, usr, scope, key, hash, ref, ts) VALUES (?,?,?,?,?,?,?)
		ON CONFLICT DO NOTHING`, r.Tenant, r.User, r.Scope, r.Key, nonNilBytes(r.Hash), r.Ref, r.TS)
	if err == nil && n == 0 {
		return qun.Errorf(qun.CodeConflict, "idempotency key exists")
	}
	return err
}

func (t *shopTx) DeleteIdem(tenant qun.TenantID, user qun.UserID, scope, key string) error {
	_, err := t.exec("idempotency key", `DELETE FROM shop_idem WHERE tenant=? AND usr=? AND scope=? AND key=?`, tenant, user, scope, key)
	return err
}

func (t *shopTx) PruneIdem(before int64) (int64, error) {
	return t.exec("idempotency keys", `DELETE FROM shop_idem WHERE ts < ?`, before)
}

func (t *shopTx) Endpoint(id shop.EndpointID) (*shop.Endpoint, error) {
	var e shop.Endpoint
	return &e, t.get("endpoint", &e, `SELECT data FROM shop_endpoints WHERE id=?`, id)
}

func (t *shopTx) Endpoints(tenant qun.TenantID, all bool) ([]*shop.Endpoint, error) {
	if all {
		return objects[shop.Endpoint](t, "endpoints", `SELECT data FROM shop_endpoints ORDER BY id`)
	}
	return objects[shop.Endpoint](t, "endpoints", `SELECT data FROM shop_endpoints WHERE tenant=? ORDER BY id`, tenant)
}

func (t *shopTx) PutEndpoint(e *shop.Endpoint) error {
	_, err := t.exec("endpoint", `INSERT INTO shop_endpoints (id, tenant, data) VALUES (?,?,?)
		ON CONFLICT (id) DO UPDATE SET tenant=excluded.tenant, data=excluded.data`, e.ID, e.Tenant, jsonOf(e))
	return err
}

func (t *shopTx) DeleteEndpoint(id shop.EndpointID) error {
	n, err := t.exec("endpoint", `DELETE FROM shop_endpoints WHERE id=?`, id)
	if err != nil {
		return err
	}
	if n == 0 {
		return shopNotFound("endpoint")
	}
	_, err = t.exec("deliveries", `DELETE FROM shop_deliveries WHERE endpoint=?`, id)
	return err
}

func (t *shopTx) Enqueue(m *shop.Message) error {
	return t.writeRow(`INSERT INTO shop_outbox (id, tenant, type, ts, body) VALUES (?,?,?,?,?) RETURNING seq`,
		m.ID, m.Tenant, m.Type, m.TS, nonNilBytes(m.Body)).Scan(&m.Seq)
}

func (t *shopTx) Messages(after int64, limit int) ([]*shop.Message, error) {
	return scanAll(t, "outbox", `SELECT seq, id, tenant, type, ts, body FROM shop_outbox WHERE seq > ? ORDER BY seq LIMIT ?`,
		[]any{after, max(limit, 0)}, func(r pgx.Rows) (*shop.Message, error) {
			m := &shop.Message{}
			return m, r.Scan(&m.Seq, &m.ID, &m.Tenant, &m.Type, &m.TS, &m.Body)
		})
}

func (t *shopTx) Cursor(name string) (int64, error) {
	var v int64
	err := t.row(`SELECT value FROM shop_cursors WHERE name=?`, name).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("shop: read cursor: %w", err)
	}
	return v, nil
}

func (t *shopTx) SetCursor(name string, v int64) error {
	_, err := t.exec("cursor", `INSERT INTO shop_cursors (name, value) VALUES (?,?) ON CONFLICT (name) DO UPDATE SET value=excluded.value`, name, v)
	return err
}

func (t *shopTx) PutDelivery(d *shop.Delivery) error {
	_, err := t.exec("delivery", `INSERT INTO shop_deliveries (msg, endpoint, state, attempts, next_at, last_status, last_error, updated)
		VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (msg, endpoint) DO UPDATE SET state=excluded.state, attempts=excluded.attempts,
		next_at=excluded.next_at, last_status=excluded.last_status, last_error=excluded.last_error, updated=excluded.updated`,
		d.Msg, d.Endpoint, int(d.State), d.Attempts, d.NextAt, d.LastStatus, d.LastError, d.Updated)
	return err
}

func (t *shopTx) Delivery(msg int64, endpoint shop.EndpointID) (*shop.Delivery, error) {
	d := &shop.Delivery{Msg: msg, Endpoint: endpoint}
	err := t.row(`SELECT state, attempts, next_at, last_status, last_error, updated FROM shop_deliveries WHERE msg=? AND endpoint=?`,
		msg, endpoint).Scan(&d.State, &d.Attempts, &d.NextAt, &d.LastStatus, &d.LastError, &d.Updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, shopNotFound("delivery")
	}
	if err != nil {
		return nil, fmt.Errorf("shop: read delivery: %w", err)
	}
	return d, nil
}

// enabled is the condition on an endpoint row e that deliveries go to it.
const enabled = `NOT COALESCE((e.data->>'disabled')::boolean, false)`

func (t *shopTx) DueDeliveries(now int64, limit int) ([]*shop.DueDelivery, error) {
	return scanAll(t, "due deliveries", `SELECT d.msg, d.endpoint, d.attempts, d.next_at, d.updated, m.id, m.tenant, m.type, m.ts, m.body, e.data
		FROM shop_deliveries d
		JOIN shop_outbox m ON m.seq = d.msg
		JOIN shop_endpoints e ON e.id = d.endpoint
		WHERE d.state = 0 AND d.next_at <= ? AND `+enabled+`
		ORDER BY d.next_at LIMIT ?`, []any{now, max(limit, 0)}, scanDue)
}

// ClaimDeliveries picks and moves the due deliveries in one statement. The
// shop's batch lock already makes writers take turns; FOR UPDATE SKIP
// LOCKED keeps the claim correct without it.
func (t *shopTx) ClaimDeliveries(now, until int64, limit int) ([]*shop.DueDelivery, error) {
	if t.ro {
		return nil, errShopReadOnly
	}
	return scanAll(t, "claimed deliveries", `WITH c AS (
			SELECT d.msg, d.endpoint, d.next_at FROM shop_deliveries d JOIN shop_endpoints e ON e.id = d.endpoint
			WHERE d.state = 0 AND d.next_at <= ? AND `+enabled+`
			ORDER BY d.next_at LIMIT ? FOR UPDATE OF d SKIP LOCKED
		), u AS (
			UPDATE shop_deliveries d SET next_at = ? FROM c WHERE d.msg = c.msg AND d.endpoint = c.endpoint
			RETURNING d.msg, d.endpoint, d.attempts, d.next_at, d.updated, c.next_at AS due
		)
		SELECT u.msg, u.endpoint, u.attempts, u.next_at, u.updated, m.id, m.tenant, m.type, m.ts, m.body, e.data
		FROM u JOIN shop_outbox m ON m.seq = u.msg JOIN shop_endpoints e ON e.id = u.endpoint
		ORDER BY u.due`, []any{now, max(limit, 0), until}, scanDue)
}

func scanDue(r pgx.Rows) (*shop.DueDelivery, error) {
	d := &shop.DueDelivery{}
	var ep []byte
	if err := r.Scan(&d.Msg, &d.Endpoint, &d.Attempts, &d.NextAt, &d.Updated, &d.Message.ID, &d.Message.Tenant,
		&d.Message.Type, &d.Message.TS, &d.Message.Body, &ep); err != nil {
		return nil, err
	}
	var e shop.Endpoint
	if err := json.Unmarshal(ep, &e); err != nil {
		return nil, err
	}
	d.Message.Seq, d.URL, d.Secrets = d.Msg, e.URL, e.Secrets
	return d, nil
}

func (t *shopTx) NextDelivery() (int64, bool, error) {
	var at *int64
	err := t.row(`SELECT MIN(d.next_at) FROM shop_deliveries d JOIN shop_endpoints e ON e.id = d.endpoint
		WHERE d.state = 0 AND ` + enabled).Scan(&at)
	if err != nil {
		return 0, false, fmt.Errorf("shop: next delivery: %w", err)
	}
	if at == nil {
		return 0, false, nil
	}
	return *at, true, nil
}

func (t *shopTx) Deliveries(endpoint shop.EndpointID, state shop.DeliveryState, limit int) ([]*shop.Delivery, error) {
	return scanAll(t, "deliveries", `SELECT msg, state, attempts, next_at, last_status, last_error, updated FROM shop_deliveries
		WHERE endpoint=? AND state=? ORDER BY msg LIMIT ?`, []any{endpoint, int(state), max(limit, 0)}, func(r pgx.Rows) (*shop.Delivery, error) {
		d := &shop.Delivery{Endpoint: endpoint}
		return d, r.Scan(&d.Msg, &d.State, &d.Attempts, &d.NextAt, &d.LastStatus, &d.LastError, &d.Updated)
	})
}

func (t *shopTx) PruneOutbox(before, cursor int64) (int64, error) {
	n, err := t.exec("deliveries", `DELETE FROM shop_deliveries WHERE state <> 0 AND updated < ?`, before)
	if err != nil {
		return 0, err
	}
	m, err := t.exec("outbox", `DELETE FROM shop_outbox o WHERE o.seq <= ? AND o.ts < ?
		AND NOT EXISTS (SELECT 1 FROM shop_deliveries d WHERE d.msg = o.seq)`, cursor, before)
	if err != nil {
		return 0, err
	}
	return n + m, nil
}
