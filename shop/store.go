package shop

import (
	"context"

	"github.com/qunkit/qun"
)

// Store keeps the shop's durable state. Business rules live in Service and
// run inside Update, so that a change and the webhook messages it causes
// (Tx.Enqueue) commit together or not at all. NewSQLiteStore is the embedded
// default; adapters for other engines pass shoptest.RunStoreTests.
type Store interface {
	// Update runs fn in a write transaction and commits it. If fn returns an
	// error nothing it wrote is kept and Update returns that error.
	// Implementations may run several callers' fns in one transaction (group
	// commit), each isolated from the others' failures; fn must therefore be
	// quick, touch nothing but tx and its own variables, and make no calls to
	// the network. Update returns once the outcome is durable; if ctx ends
	// before fn was queued it returns ctx's error and fn never runs.
	Update(ctx context.Context, fn func(tx Tx) error) error
	// View runs fn with read access outside any write transaction. Every read
	// sees committed data; separate reads are not one snapshot. Writes
	// through a View's Tx fail.
	View(ctx context.Context, fn func(tx Tx) error) error
	// Close waits for queued Updates and releases resources; it does not
	// close a database handle the caller passed in. Idempotent.
	Close() error
}

// Tx is the set of reads and writes Service needs. Methods take no context:
// a batched transaction must not be aborted by one caller's cancellation.
// Lookups of absent objects return an *qun.Error with CodeNotFound. Every
// key includes the tenant: no method ever returns another tenant's data.
type Tx interface {
	Shop(tenant qun.TenantID, id ShopID) (*Shop, error)
	PutShop(s *Shop) error

	Shelf(tenant qun.TenantID, room qun.RoomID) (*Shelf, error)
	// PutShelf stores the shelf and the product → room index for its items.
	PutShelf(s *Shelf) error
	// ShelvesWith lists rooms whose shelf holds product.
	ShelvesWith(tenant qun.TenantID, product ProductID, limit int) ([]qun.RoomID, error)

	// Stock returns the sellable quantity; ok is false if none was ever set.
	Stock(tenant qun.TenantID, product ProductID) (qty int64, ok bool, err error)
	SetStock(tenant qun.TenantID, product ProductID, qty int64) error
	// AddStock adds delta (which may be negative) and returns the new
	// quantity. It never lets stock go below zero: then it changes nothing
	// and returns CodeExhausted; an unknown product returns CodeNotFound.
	AddStock(tenant qun.TenantID, product ProductID, delta int64) (int64, error)

	Order(tenant qun.TenantID, id OrderID) (*Order, error)
	PutOrder(o *Order) error
	// AttachPayment records Checkout's reference and URL (and Updated) on
	// a reserved order: PutOrder without the read, for the buyers' hot
	// path. It reports false, changing nothing, if the order is no longer
	// reserved; an unknown order answers CodeNotFound.
	AttachPayment(tenant qun.TenantID, id OrderID, ref, url string, now int64) (bool, error)
	// CountBought sums Qty over user's reserved, paid and shipped orders
	// of product (the purchase limit's count).
	CountBought(tenant qun.TenantID, product ProductID, user qun.UserID) (int64, error)
	// DueOrders lists reserved orders of any tenant with ExpiresAt ≤ now.
	DueOrders(now int64, limit int) ([]Ref, error)

	Coupon(tenant qun.TenantID, id CouponID) (*Coupon, error)
	PutCoupon(c *Coupon) error
	// Coupons lists a room's coupons, newest first.
	Coupons(tenant qun.TenantID, room qun.RoomID, limit int) ([]*Coupon, error)
	Claim(tenant qun.TenantID, id ClaimID) (*Claim, error)
	PutClaim(c *Claim) error
	CountClaims(tenant qun.TenantID, coupon CouponID, user qun.UserID) (int64, error)

	Tip(tenant qun.TenantID, id TipID) (*Tip, error)
	PutTip(t *Tip) error
	// AddContribution adds amount (≥ 0) and one to user's leaderboard line.
	AddContribution(tenant qun.TenantID, room qun.RoomID, user qun.UserID, amount int64) error
	// Leaderboard lists a room's lines by amount, highest first.
	Leaderboard(tenant qun.TenantID, room qun.RoomID, limit int) ([]Contribution, error)

	RedPacket(tenant qun.TenantID, id RedPacketID) (*RedPacket, error)
	PutRedPacket(p *RedPacket) error
	RedPacketClaim(tenant qun.TenantID, id RedPacketID, user qun.UserID) (*RedPacketClaim, error)
	// PutRedPacketClaim inserts a claim; a second claim by the same user
	// returns CodeConflict.
	PutRedPacketClaim(c *RedPacketClaim) error
	// RedPacketClaims lists a packet's claims in claim order.
	RedPacketClaims(tenant qun.TenantID, id RedPacketID, limit int) ([]*RedPacketClaim, error)
	// OpenRedPackets lists a room's active packets with ExpiresAt > now,
	// latest to expire (the most recently paid) first.
	OpenRedPackets(tenant qun.TenantID, room qun.RoomID, now int64, limit int) ([]*RedPacket, error)
	// DueRedPackets lists pending or active packets with ExpiresAt ≤ now.
	DueRedPackets(now int64, limit int) ([]Ref, error)

	Attribution(tenant qun.TenantID, room qun.RoomID, viewer qun.UserID) (*Attribution, error)
	// PutAttribution inserts; an existing attribution returns CodeConflict.
	PutAttribution(a *Attribution) error
	ShareStats(tenant qun.TenantID, room qun.RoomID, sharer qun.UserID) (*ShareStats, error)

	// Idem returns the record for the key, or nil (and no error) if none.
	Idem(tenant qun.TenantID, user qun.UserID, scope, key string) (*IdemRecord, error)
	PutIdem(r *IdemRecord) error
	DeleteIdem(tenant qun.TenantID, user qun.UserID, scope, key string) error
	// PruneIdem deletes records older than before (unix ms).
	PruneIdem(before int64) (int64, error)

	Endpoint(id EndpointID) (*Endpoint, error)
	// Endpoints lists the endpoints of tenant ("" lists the vendor-wide
	// ones, which receive every tenant's messages); all=true lists every
	// endpoint of every tenant.
	Endpoints(tenant qun.TenantID, all bool) ([]*Endpoint, error)
	PutEndpoint(e *Endpoint) error
	DeleteEndpoint(id EndpointID) error

	// Enqueue appends a webhook message to the outbox and sets its Seq.
	Enqueue(m *Message) error
	// Messages lists outbox messages with Seq > after, in Seq order.
	Messages(after int64, limit int) ([]*Message, error)
	Cursor(name string) (int64, error) // 0 if never set
	SetCursor(name string, v int64) error
	// PutDelivery inserts or replaces a delivery.
	PutDelivery(d *Delivery) error
	Delivery(msg int64, endpoint EndpointID) (*Delivery, error)
	// DueDeliveries lists pending deliveries to enabled endpoints with
	// NextAt ≤ now, earliest first, with their message and endpoint.
	DueDeliveries(now int64, limit int) ([]*DueDelivery, error)
	// ClaimDeliveries is DueDeliveries for a deliverer, in a write
	// transaction: it also moves the NextAt of every delivery it returns
	// to until (in the store and in the result), so that no other
	// deliverer sharing the store (another node's) finds them due before
	// then. The returned NextAt is the claim: the deliverer records its
	// attempt only if the delivery still carries it.
	ClaimDeliveries(now, until int64, limit int) ([]*DueDelivery, error)
	// NextDelivery returns the earliest NextAt of a pending delivery to an
	// enabled endpoint; ok is false if there is none.
	NextDelivery() (at int64, ok bool, err error)
	// Deliveries lists an endpoint's deliveries in a state, oldest first.
	Deliveries(endpoint EndpointID, state DeliveryState, limit int) ([]*Delivery, error)
	// PruneOutbox deletes finished deliveries updated before `before` and
	// outbox messages older than it that are fanned out (Seq ≤ cursor) and
	// have no delivery left.
	PruneOutbox(before, cursor int64) (int64, error)
}

// notFound is the error every lookup of an absent object returns.
func notFound(what string) error { return qun.Errorf(qun.CodeNotFound, "no such %s", what) }
