package shop

import (
	"github.com/qunkit/qun"
)

// Typed identifiers. Products come from the vendor's catalogue and keep the
// vendor's ids; the others are minted by qun with a prefix saying the kind.
type (
	ShopID      string
	ProductID   string
	OrderID     string
	CouponID    string
	ClaimID     string
	TipID       string
	RedPacketID string
	EndpointID  string
)

// ShopKind says what legal form a shop has (S1).
type ShopKind string

const (
	// KindIndividual is a personal shop (个人店): no business registration.
	KindIndividual ShopKind = "individual"
	// KindIndividualBusiness is a registered individual business (个体户):
	// its licence's credit code starts with "92".
	KindIndividualBusiness ShopKind = "individual_business"
	// KindEnterprise is a company or other organisation (企业).
	KindEnterprise ShopKind = "enterprise"
)

// Shop is a merchant's shop within a tenant.
type Shop struct {
	ID     ShopID       `json:"id"`
	Tenant qun.TenantID `json:"tenant"`
	Owner  qun.UserID   `json:"owner"`
	Kind   ShopKind     `json:"kind"`
	Name   string       `json:"name"`
	// Licence is the unified social credit code of the business licence;
	// empty for individual shops.
	Licence string `json:"licence,omitempty"`
	// Verified is set by the vendor (VerifyShop) once it has checked the
	// owner's identity and licence. Only verified shops can sell in a live.
	Verified bool  `json:"verified"`
	Created  int64 `json:"created"` // unix ms
}

// Product is one item of the vendor's catalogue, as a Catalog returns it.
type Product struct {
	ID     ProductID    `json:"id" validate:"required,max=64"`
	Tenant qun.TenantID `json:"tenant" validate:"required,max=64"`
	Shop   ShopID       `json:"shop" validate:"required,max=64"`
	Title  string       `json:"title" validate:"required,max=128"`
	Price  Money        `json:"price"`
	Image  string       `json:"image,omitempty" validate:"omitempty,max=512"`
	// Stock is the quantity offered for live selling when the product first
	// goes on a shelf; from then on qun's stock ledger is authoritative and
	// the vendor adjusts it with Service.SetStock.
	Stock int64 `json:"stock" validate:"min=0,max=100000000"`
	// PerUser, if not zero, is the most of this product one user may hold
	// in live reservations and paid orders together (限购); see
	// ShelfItem.PerUser.
	PerUser int64 `json:"per_user,omitempty" validate:"min=0,max=100000000"`
}

// ShelfItem is a product on a shelf, with the catalogue details captured
// when it was added and the live stock filled in when read.
type ShelfItem struct {
	Product ProductID `json:"product"`
	Title   string    `json:"title"`
	Price   Money     `json:"price"`
	Image   string    `json:"image,omitempty"`
	Stock   int64     `json:"stock"`
	// PerUser is the purchase limit per user (限购) when buying from this
	// shelf: the quantity of the product a user's reserved, paid and
	// shipped orders may add up to, in any room of the tenant; cancelled
	// and expired orders free theirs again. Zero: the product's PerUser
	// applies (zero there too: no limit).
	PerUser int64 `json:"per_user,omitempty"`
}

// Shelf is the product shelf (购物车) of a live room, owned by one shop.
type Shelf struct {
	Tenant qun.TenantID `json:"tenant"`
	Room   qun.RoomID   `json:"room"`
	Shop   ShopID       `json:"shop"`
	Items  []ShelfItem  `json:"items"`
	// Explaining is the product being explained now (正在讲解), if any.
	Explaining   ProductID `json:"explaining,omitempty"`
	ExplainSince int64     `json:"explain_since,omitempty"` // unix ms
	Opened       int64     `json:"opened"`
}

func (s *Shelf) index(p ProductID) int {
	for i, it := range s.Items {
		if it.Product == p {
			return i
		}
	}
	return -1
}

// OrderStatus is where an order is in its life:
// reserved → paid → shipped, or reserved → cancelled/expired, or paid → cancelled.
type OrderStatus string

const (
	StatusReserved  OrderStatus = "reserved"
	StatusPaid      OrderStatus = "paid"
	StatusShipped   OrderStatus = "shipped"
	StatusCancelled OrderStatus = "cancelled"
	StatusExpired   OrderStatus = "expired"
)

// Order is a viewer's purchase from a live shelf. qun holds the stock
// reservation; payment and fulfilment are the vendor's.
type Order struct {
	ID      OrderID      `json:"id"`
	Tenant  qun.TenantID `json:"tenant"`
	Room    qun.RoomID   `json:"room"`
	Shop    ShopID       `json:"shop"`
	Product ProductID    `json:"product"`
	Title   string       `json:"title"`
	Buyer   qun.UserID   `json:"buyer"`
	Qty     int64        `json:"qty"`
	Unit    Money        `json:"unit"`
	// Discount is what a coupon took off, in Total's currency.
	Discount int64       `json:"discount,omitempty"`
	Total    Money       `json:"total"`
	Claim    ClaimID     `json:"coupon_claim,omitempty"`
	Status   OrderStatus `json:"status"`
	// ExpiresAt is when an unpaid reservation returns to stock (unix ms).
	ExpiresAt int64 `json:"expires_at"`
	// PaymentRef and PayURL are what the vendor's Checkout returned.
	PaymentRef string `json:"payment_ref,omitempty"`
	PayURL     string `json:"pay_url,omitempty"`
	// PaidRef is the vendor's reference for the completed payment.
	PaidRef string `json:"paid_ref,omitempty"`
	// Sharer is who shared the link that brought the buyer; Chain is the
	// sharer followed by whoever brought the sharer, and so on.
	Sharer   qun.UserID   `json:"sharer,omitempty"`
	Chain    []qun.UserID `json:"chain,omitempty"`
	Carrier  string       `json:"carrier,omitempty"`
	Tracking string       `json:"tracking,omitempty"`
	Created  int64        `json:"created"`
	Updated  int64        `json:"updated"`
}

// Coupon is a discount issued in a live (优惠券).
type Coupon struct {
	ID       CouponID     `json:"id"`
	Tenant   qun.TenantID `json:"tenant"`
	Room     qun.RoomID   `json:"room"`
	Shop     ShopID       `json:"shop"`
	Title    string       `json:"title"`
	Discount Money        `json:"discount"`
	// MinSpend is the least order total the coupon applies to, before the
	// discount: a plain amount in minor units (fen) of Discount's currency,
	// not a Money.
	MinSpend int64 `json:"min_spend"`
	// Product, if set, limits the coupon to one product.
	Product  ProductID  `json:"product,omitempty"`
	Total    int64      `json:"total"`
	Claimed  int64      `json:"claimed"`
	PerUser  int64      `json:"per_user"`
	StartsAt int64      `json:"starts_at"` // unix ms
	EndsAt   int64      `json:"ends_at"`   // unix ms, exclusive
	IssuedBy qun.UserID `json:"issued_by"`
	Created  int64      `json:"created"`
}

// Claim is one user's claimed coupon; Order is set while an order uses it.
type Claim struct {
	ID      ClaimID      `json:"id"`
	Tenant  qun.TenantID `json:"tenant"`
	Coupon  CouponID     `json:"coupon"`
	User    qun.UserID   `json:"user"`
	Order   OrderID      `json:"order,omitempty"`
	Created int64        `json:"created"`
}

// PayStatus is the state of a tip or red packet payment.
type PayStatus string

const (
	PayPending   PayStatus = "pending"
	PayPaid      PayStatus = "paid"
	PayCancelled PayStatus = "cancelled"
)

// Tip is a viewer's tip (打赏) to the live.
type Tip struct {
	ID         TipID        `json:"id"`
	Tenant     qun.TenantID `json:"tenant"`
	Room       qun.RoomID   `json:"room"`
	From       qun.UserID   `json:"from"`
	Name       string       `json:"name,omitempty"`
	Amount     Money        `json:"amount"`
	Message    string       `json:"message,omitempty"`
	Status     PayStatus    `json:"status"`
	PaymentRef string       `json:"payment_ref,omitempty"`
	PayURL     string       `json:"pay_url,omitempty"`
	Created    int64        `json:"created"`
}

// RedPacketStatus: pending (unpaid) → active → finished (all claimed) or
// expired (remainder refunded).
type RedPacketStatus string

const (
	PacketPending   RedPacketStatus = "pending"
	PacketActive    RedPacketStatus = "active"
	PacketFinished  RedPacketStatus = "finished"
	PacketExpired   RedPacketStatus = "expired"
	PacketCancelled RedPacketStatus = "cancelled"
)

// RedPacket (红包) is an amount split at random among its first Count claimers.
type RedPacket struct {
	ID         RedPacketID     `json:"id"`
	Tenant     qun.TenantID    `json:"tenant"`
	Room       qun.RoomID      `json:"room"`
	From       qun.UserID      `json:"from"`
	Name       string          `json:"name,omitempty"`
	Total      Money           `json:"total"`
	Count      int64           `json:"count"`
	Claimed    int64           `json:"claimed"`
	Remaining  int64           `json:"remaining"`
	Greeting   string          `json:"greeting,omitempty"`
	Status     RedPacketStatus `json:"status"`
	ExpiresAt  int64           `json:"expires_at"`
	PaymentRef string          `json:"payment_ref,omitempty"`
	PayURL     string          `json:"pay_url,omitempty"`
	PaidAt     int64           `json:"paid_at,omitempty"` // unix ms; 0 if never paid
	Created    int64           `json:"created"`
}

// RedPacketClaim is one claimer's share of a red packet.
type RedPacketClaim struct {
	Packet  RedPacketID  `json:"packet"`
	Tenant  qun.TenantID `json:"tenant"`
	User    qun.UserID   `json:"user"`
	Amount  Money        `json:"amount"`
	Created int64        `json:"created"`
}

// Contribution is one user's line on a room's leaderboard: paid tips and
// red packets, in the tip currency.
type Contribution struct {
	User   qun.UserID `json:"user"`
	Amount int64      `json:"amount"`
	Count  int64      `json:"count"`
}

// Attribution records that a viewer came to a room through a share link.
// The first link a viewer follows in a room wins (first touch).
type Attribution struct {
	Tenant  qun.TenantID `json:"tenant"`
	Room    qun.RoomID   `json:"room"`
	Viewer  qun.UserID   `json:"viewer"`
	Sharer  qun.UserID   `json:"sharer"`
	Chain   []qun.UserID `json:"chain"`
	Created int64        `json:"created"`
}

// ShareStats is what a sharer brought to a room.
type ShareStats struct {
	Sharer  qun.UserID `json:"sharer"`
	Viewers int64      `json:"viewers"`
	Orders  int64      `json:"orders"` // paid or shipped
	Amount  int64      `json:"amount"` // their totals, in minor units
}

// Ref names an object of some tenant (used by sweeps across tenants).
type Ref struct {
	Tenant qun.TenantID
	ID     string
}

// IdemRecord remembers the object a create call made for an idempotency key.
type IdemRecord struct {
	Tenant qun.TenantID
	User   qun.UserID
	Scope  string // the operation, e.g. "buy"
	Key    string
	Hash   []byte // of the request body without the key
	Ref    string // the created object's id
	TS     int64  // unix ms
}
