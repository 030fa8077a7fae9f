package shop

import (
	"context"
	"strings"

	"github.com/qunkit/qun"
	"go.uber.org/zap"
)

// BuyInput is a viewer's purchase from a live's shelf (S5).
type BuyInput struct {
	Room    qun.RoomID `json:"room" validate:"required,max=128"`
	Product ProductID  `json:"product" validate:"required,max=64"`
	Qty     int64      `json:"qty" validate:"min=1,max=99"`
	// Claim is a coupon claim of the buyer's to apply.
	Claim ClaimID `json:"coupon_claim,omitempty" validate:"max=64"`
	// Share is the share link token the buyer came through, if any.
	Share string `json:"share,omitempty" validate:"max=1024"`
	Key   string `json:"key" validate:"required,max=64,printascii"`
}

var errSoldOut = qun.Errorf(qun.CodeExhausted, "sold out")

// Buy reserves stock for a viewer's order and hands it to the vendor's
// Checkout. The reservation is durable before Checkout is called and holds
// the stock for ReservationTTL; payment, cancellation and expiry come back
// through UpdatePayment. Stock is taken inside the store's serialised write
// transaction, so it is never oversold. A failed Checkout releases the
// reservation. The same key and request answer the same order again
// (Checkout is then called again only if it never answered).
func (s *Service) Buy(ctx context.Context, id *qun.Identity, in BuyInput) (*Order, error) {
	if err := checkIdentity(id); err != nil {
		return nil, err
	}
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	if err := s.hub.RequireRole(ctx, id, in.Room, qun.RoleViewer); err != nil {
		return nil, err
	}
	key := in.Key
	in.Key = ""
	hash := bodyHash(in)
	// A repeated request answers its first order, whatever happened since
	// (sold out, product gone from the catalogue or the shelf).
	var o *Order
	err := s.view(ctx, func(tx Tx) error {
		ref, err := replayed(tx, id, "buy", key, hash)
		if err == nil && ref != "" {
			o, err = tx.Order(id.Tenant, OrderID(ref))
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	fresh := false
	if o == nil {
		if s.stock.isSoldOut(id.Tenant, in.Product) {
			return nil, errSoldOut
		}
		if o, fresh, err = s.reserve(ctx, id, in, key, hash); err != nil {
			return nil, err
		}
		if fresh {
			s.stock.changed(id.Tenant, o.Product)
		}
	}
	// A replay runs Checkout again only if it never answered (a crash or
	// a concurrent twin request).
	if !fresh && (o.Status != StatusReserved || o.PaymentRef != "" || o.PayURL != "") {
		return o, nil
	}
	return s.checkoutOrder(ctx, id, o, key)
}

// reserve takes the stock for a new order: the catalogue and the shelf are
// read first, then one write transaction reserves.
// fresh is false if the key turned out to be a replay after all.
func (s *Service) reserve(ctx context.Context, id *qun.Identity, in BuyInput, key string, hash []byte) (o *Order, fresh bool, err error) {
	gen := s.stock.generation()
	if in.Share != "" {
		if _, err := s.Visit(ctx, id, VisitInput{Room: in.Room, Token: in.Share}); err != nil && qun.ErrorCode(err) != qun.CodeConflict {
			return nil, false, err
		}
	}
	p, err := s.catalog.Product(ctx, id.Tenant, in.Product)
	if err != nil {
		return nil, false, err
	}
	if p.Price.Amount < 1 {
		return nil, false, qun.Errorf(qun.CodeConflict, "the product has no price")
	}
	subtotal, err := mulAmount(p.Price.Amount, in.Qty)
	if err != nil {
		return nil, false, err
	}
	// Everything that need not be atomic with the reservation is read
	// before it, so that the single writer does as little as possible per
	// buyer: the shelf and the buyer's attribution.
	var sh *Shelf
	var attr *Attribution
	limit := p.PerUser
	err = s.view(ctx, func(tx Tx) (err error) {
		if sh, err = tx.Shelf(id.Tenant, in.Room); err != nil {
			return noShelf(err)
		}
		i := sh.index(p.ID)
		if i < 0 || p.Shop != sh.Shop {
			return qun.Errorf(qun.CodeNotFound, "the product is not on this shelf")
		}
		if sh.Items[i].PerUser > 0 {
			limit = sh.Items[i].PerUser
		}
		if attr, err = tx.Attribution(id.Tenant, in.Room, id.User); qun.ErrorCode(err) == qun.CodeNotFound {
			attr, err = nil, nil
		}
		return err
	})
	if err != nil {
		return nil, false, err
	}
	if s.stock.isSoldOut(id.Tenant, p.ID) { // it may have sold out while we read
		return nil, false, errSoldOut
	}
	soldOut := false
	err = s.update(ctx, func(tx Tx) error {
		ref, err := replayed(tx, id, "buy", key, hash)
		if err != nil {
			return err
		}
		if ref != "" {
			o, err = tx.Order(id.Tenant, OrderID(ref))
			return err
		}
		now := s.now()
		o = &Order{
			ID: OrderID("o_" + qun.NewID()), Tenant: id.Tenant, Room: in.Room, Shop: sh.Shop, Product: p.ID, Title: p.Title,
			Buyer: id.User, Qty: in.Qty, Unit: p.Price, Total: Money{Amount: subtotal, Currency: p.Price.Currency},
			Status: StatusReserved, ExpiresAt: now + s.cfg.ReservationTTL.Milliseconds(), Created: now, Updated: now,
		}
		if in.Claim != "" {
			if err := s.applyClaim(tx, id, o, in.Claim, now); err != nil {
				return err
			}
		}
		if limit > 0 {
			// Counted in the serialised write transaction: concurrent buys
			// by one user see each other's reservations.
			held, err := tx.CountBought(id.Tenant, p.ID, id.User)
			if err != nil {
				return err
			}
			if held+in.Qty > limit {
				return qun.Errorf(qun.CodeExhausted, "at most %d per person (you have %d)", limit, held)
			}
		}
		if _, err := tx.AddStock(id.Tenant, p.ID, -in.Qty); err != nil {
			switch qun.ErrorCode(err) {
			case qun.CodeNotFound:
				return errSoldOut
			case qun.CodeExhausted:
				left, _, serr := tx.Stock(id.Tenant, p.ID)
				soldOut = serr == nil && left == 0
			}
			return err
		}
		if attr != nil {
			o.Sharer, o.Chain = attr.Sharer, attr.Chain
		}
		if err := tx.PutOrder(o); err != nil {
			return err
		}
		if err := s.remember(tx, id, "buy", key, hash, string(o.ID)); err != nil {
			return err
		}
		fresh = true
		return s.emit(tx, id.Tenant, "order.reserved", o)
	})
	if err != nil {
		if soldOut {
			s.stock.markSoldOut(id.Tenant, p.ID, gen)
		}
		return nil, false, err
	}
	return o, fresh, nil
}

// checkoutOrder hands a reserved order to the vendor's Checkout and
// records the answer; a failure releases the reservation.
func (s *Service) checkoutOrder(ctx context.Context, id *qun.Identity, o *Order, key string) (*Order, error) {
	res, err := s.checkout(ctx, &CheckoutRequest{Kind: "order", Tenant: id.Tenant, ID: string(o.ID), User: id.User, Room: o.Room, Amount: o.Total, Order: o, ExpiresAt: o.ExpiresAt})
	if err != nil {
		s.releaseFailedCheckout(ctx, id, o.ID, key)
		return nil, err
	}
	now := s.now()
	attached := false
	var cur *Order
	err = s.update(ctx, func(tx Tx) (err error) {
		if attached, err = tx.AttachPayment(id.Tenant, o.ID, res.PaymentRef, res.URL, now); err != nil || attached {
			return err
		}
		cur, err = tx.Order(id.Tenant, o.ID) // expired or cancelled meanwhile
		return err
	})
	if err != nil {
		return nil, err
	}
	if !attached {
		return cur, nil
	}
	withPay := *o
	withPay.PaymentRef, withPay.PayURL, withPay.Updated = res.PaymentRef, res.URL, now
	o = &withPay
	if res.Paid {
		return s.transition(ctx, id.Tenant, o.ID, StatusPaid, res.PaymentRef)
	}
	return o, nil
}

// releaseFailedCheckout cancels the reservation of an order whose checkout
// failed and forgets its idempotency key, so that a retry buys afresh.
func (s *Service) releaseFailedCheckout(ctx context.Context, id *qun.Identity, oid OrderID, key string) {
	var o *Order
	var fx orderEffects
	err := s.update(context.WithoutCancel(ctx), func(tx Tx) (err error) {
		if o, err = tx.Order(id.Tenant, oid); err != nil {
			return err
		}
		if o.Status != StatusReserved {
			return nil
		}
		if fx, err = s.transitionTx(tx, o, StatusCancelled, "", s.now()); err != nil {
			return err
		}
		return tx.DeleteIdem(id.Tenant, id.User, "buy", key)
	})
	if err != nil {
		s.log.Error("shop: release reservation after failed checkout", zap.String("order", string(oid)), zap.Error(err))
		return
	}
	s.afterOrder(ctx, o, fx)
}

// applyClaim checks a coupon claim against the order being built and marks
// it used by the order.
func (s *Service) applyClaim(tx Tx, id *qun.Identity, o *Order, claimID ClaimID, now int64) error {
	cl, err := tx.Claim(id.Tenant, claimID)
	if err != nil || cl.User != id.User {
		return qun.Errorf(qun.CodeNotFound, "no such coupon claim")
	}
	if cl.Order != "" {
		return qun.Errorf(qun.CodeConflict, "the coupon is already used by an order")
	}
	c, err := tx.Coupon(id.Tenant, cl.Coupon)
	if err != nil {
		return err
	}
	if now < c.StartsAt {
		return qun.Errorf(qun.CodeConflict, "the coupon is not valid yet")
	}
	if now >= c.EndsAt {
		return qun.Errorf(qun.CodeExpired, "the coupon has expired")
	}
	if c.Shop != o.Shop || (c.Product != "" && c.Product != o.Product) {
		return qun.Errorf(qun.CodeConflict, "the coupon does not apply to this product")
	}
	if c.Discount.Currency != o.Total.Currency {
		return qun.Errorf(qun.CodeConflict, "the coupon is in another currency")
	}
	if o.Total.Amount < c.MinSpend {
		return qun.Errorf(qun.CodeConflict, "the order does not reach the coupon's minimum spend")
	}
	// An order always costs at least one minor unit.
	o.Discount = min(c.Discount.Amount, o.Total.Amount-1)
	o.Total.Amount -= o.Discount
	o.Claim = cl.ID
	cl.Order = o.ID
	return tx.PutClaim(cl)
}

// OrderInput names an order.
type OrderInput struct {
	Order OrderID `json:"order" validate:"required,max=64"`
}

// Order returns an order to its buyer or its shop's owner.
func (s *Service) Order(ctx context.Context, id *qun.Identity, oid OrderID) (*Order, error) {
	if err := checkIdentity(id); err != nil {
		return nil, err
	}
	var o *Order
	err := s.view(ctx, func(tx Tx) (err error) {
		if o, err = tx.Order(id.Tenant, oid); err != nil {
			return err
		}
		if o.Buyer == id.User || id.Has(qun.GrantAdmin) {
			return nil
		}
		if sh, err := tx.Shop(id.Tenant, o.Shop); err == nil && sh.Owner == id.User {
			return nil
		}
		return notFound("order")
	})
	if err != nil {
		return nil, err
	}
	return o, nil
}

// CancelOrder lets a buyer give up an unpaid order; its stock returns.
func (s *Service) CancelOrder(ctx context.Context, id *qun.Identity, oid OrderID) (*Order, error) {
	o, err := s.Order(ctx, id, oid)
	if err != nil {
		return nil, err
	}
	if o.Buyer != id.User {
		return nil, notFound("order")
	}
	if o.Status != StatusReserved {
		return nil, qun.Errorf(qun.CodeConflict, "only an unpaid order can be cancelled by its buyer")
	}
	return s.transition(ctx, id.Tenant, oid, StatusCancelled, "")
}

// PaymentUpdate is the vendor reporting what happened to a payment.
type PaymentUpdate struct {
	Tenant qun.TenantID `json:"tenant" validate:"required,max=64"`
	// ID is the order ("o_…"), tip ("t_…") or red packet ("rp_…") id.
	ID string `json:"id" validate:"required,max=64"`
	// Status is "paid", "cancelled" (refunded or abandoned) or "expired".
	Status string `json:"status" validate:"required,oneof=paid cancelled expired"`
	// PaymentRef is the vendor's transaction reference, for "paid".
	PaymentRef string `json:"payment_ref,omitempty" validate:"max=256"`
}

// UpdatePayment applies a payment outcome. It is idempotent: repeating an
// update already applied changes nothing and answers nil. A payment that
// arrives for an order already expired or cancelled answers CodeExpired:
// its stock is gone, and the vendor refunds it.
func (s *Service) UpdatePayment(ctx context.Context, u PaymentUpdate) error {
	if err := qun.Validate(&u); err != nil {
		return err
	}
	switch {
	case strings.HasPrefix(u.ID, "o_"):
		_, err := s.transition(ctx, u.Tenant, OrderID(u.ID), OrderStatus(u.Status), u.PaymentRef)
		return err
	case strings.HasPrefix(u.ID, "t_"):
		_, err := s.settleTip(ctx, u.Tenant, TipID(u.ID), u.Status == "paid", u.PaymentRef)
		return err
	case strings.HasPrefix(u.ID, "rp_"):
		_, err := s.settleRedPacket(ctx, u.Tenant, RedPacketID(u.ID), u.Status == "paid", u.PaymentRef)
		return err
	}
	return notFound("payment")
}

// orderEffects is what a transition needs done after it commits.
type orderEffects struct {
	changed, restocked, paid bool
}

// transitionTx moves o to status `to` inside tx; see UpdatePayment for the
// rules. Already being in `to` (or, for cancel/expire, already ended)
// changes nothing.
func (s *Service) transitionTx(tx Tx, o *Order, to OrderStatus, ref string, now int64) (orderEffects, error) {
	var fx orderEffects
	from := o.Status
	switch to {
	case StatusPaid:
		switch from {
		case StatusPaid, StatusShipped:
			return fx, nil
		case StatusExpired, StatusCancelled:
			return fx, qun.Errorf(qun.CodeExpired, "the order was %s before payment; refund it", from)
		}
		fx.paid = true
		o.PaidRef = ref
	case StatusCancelled, StatusExpired:
		switch from {
		case StatusCancelled, StatusExpired:
			return fx, nil
		case StatusShipped:
			return fx, qun.Errorf(qun.CodeConflict, "the order has shipped")
		case StatusPaid:
			if to == StatusExpired {
				return fx, qun.Errorf(qun.CodeConflict, "a paid order does not expire")
			}
		}
		if _, err := tx.AddStock(o.Tenant, o.Product, o.Qty); err != nil {
			return fx, err
		}
		fx.restocked = true
		if o.Claim != "" {
			if cl, err := tx.Claim(o.Tenant, o.Claim); err == nil && cl.Order == o.ID {
				cl.Order = ""
				if err := tx.PutClaim(cl); err != nil {
					return fx, err
				}
			}
		}
	default:
		return fx, qun.Errorf(qun.CodeInvalid, "unknown order status %q", to)
	}
	o.Status, o.Updated = to, now
	fx.changed = true
	if err := tx.PutOrder(o); err != nil {
		return fx, err
	}
	return fx, s.emit(tx, o.Tenant, "order."+string(to), o)
}

// transition applies one order transition and its after-effects.
func (s *Service) transition(ctx context.Context, tenant qun.TenantID, oid OrderID, to OrderStatus, ref string) (*Order, error) {
	var o *Order
	var fx orderEffects
	err := s.update(ctx, func(tx Tx) (err error) {
		if o, err = tx.Order(tenant, oid); err != nil {
			return err
		}
		fx, err = s.transitionTx(tx, o, to, ref, s.now())
		return err
	})
	if err != nil {
		return nil, err
	}
	s.afterOrder(ctx, o, fx)
	return o, nil
}

func (s *Service) afterOrder(ctx context.Context, o *Order, fx orderEffects) {
	if !fx.changed {
		return
	}
	if fx.restocked {
		s.stock.changed(o.Tenant, o.Product)
	}
	if fx.paid {
		s.reward(ctx, Reward{Tenant: o.Tenant, User: o.Buyer, Room: o.Room, Kind: "order", Ref: string(o.ID), Amount: o.Total})
		if o.Sharer != "" {
			s.reward(ctx, Reward{Tenant: o.Tenant, User: o.Sharer, Room: o.Room, Kind: "share_order", Ref: string(o.ID), Amount: o.Total})
		}
	}
	s.publish(ctx, o.Tenant, qun.UserRoom(o.Buyer), "shop.order", "", o)
}
