package shop

import (
	"context"
	"time"

	"github.com/qunkit/qun"
)

// IssueCouponInput issues a coupon in a live (S4).
type IssueCouponInput struct {
	Room     qun.RoomID `json:"room" validate:"required,max=128"`
	Title    string     `json:"title" validate:"required,max=64"`
	Discount Money      `json:"discount"`
	MinSpend int64      `json:"min_spend,omitempty" validate:"min=0,max=1000000000000"`
	Product  ProductID  `json:"product,omitempty" validate:"max=64"`
	Total    int64      `json:"total" validate:"min=1,max=1000000"`
	PerUser  int64      `json:"per_user" validate:"min=1,max=100"`
	// StartsAt (unix ms; 0 means now) and EndsAt bound when the coupon can
	// be claimed and used. It may last at most 90 days.
	StartsAt int64  `json:"starts_at,omitempty" validate:"min=0"`
	EndsAt   int64  `json:"ends_at" validate:"required,min=1"`
	Key      string `json:"key" validate:"required,max=64,printascii"`
}

// ClaimCouponInput claims a coupon for the caller.
type ClaimCouponInput struct {
	Coupon CouponID `json:"coupon" validate:"required,max=64"`
	Key    string   `json:"key" validate:"required,max=64,printascii"`
}

const maxCouponSpan = 90 * 24 * time.Hour

// IssueCoupon issues a coupon of the room's shelf's shop. Moderators only.
func (s *Service) IssueCoupon(ctx context.Context, id *qun.Identity, in IssueCouponInput) (*Coupon, error) {
	if err := checkIdentity(id); err != nil {
		return nil, err
	}
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	if in.Discount.Amount < 1 {
		return nil, &qun.Error{Code: qun.CodeInvalid, Message: "discount must be at least 1", Field: "discount.amount"}
	}
	// The fingerprint is of the request as sent, before defaults that
	// depend on the time.
	key := in.Key
	in.Key = ""
	hash := bodyHash(in)
	now := s.now()
	if in.StartsAt == 0 {
		in.StartsAt = now
	}
	if in.EndsAt <= in.StartsAt || in.EndsAt <= now {
		return nil, &qun.Error{Code: qun.CodeInvalid, Message: "ends_at must be after starts_at and in the future", Field: "ends_at"}
	}
	if in.EndsAt-in.StartsAt > maxCouponSpan.Milliseconds() {
		return nil, &qun.Error{Code: qun.CodeInvalid, Message: "a coupon lasts at most 90 days", Field: "ends_at"}
	}
	if err := s.hub.RequireRole(ctx, id, in.Room, qun.RoleModerator); err != nil {
		return nil, err
	}
	if in.Product != "" {
		if _, err := s.catalog.Product(ctx, id.Tenant, in.Product); err != nil {
			return nil, err
		}
	}
	var c *Coupon
	fresh := false
	err := s.update(ctx, func(tx Tx) error {
		ref, err := replayed(tx, id, "coupon.issue", key, hash)
		if err != nil {
			return err
		}
		if ref != "" {
			c, err = tx.Coupon(id.Tenant, CouponID(ref))
			return err
		}
		sh, err := tx.Shelf(id.Tenant, in.Room)
		if err != nil {
			return noShelf(err)
		}
		c = &Coupon{ID: CouponID("c_" + qun.NewID()), Tenant: id.Tenant, Room: in.Room, Shop: sh.Shop, Title: in.Title,
			Discount: in.Discount, MinSpend: in.MinSpend, Product: in.Product, Total: in.Total, PerUser: in.PerUser,
			StartsAt: in.StartsAt, EndsAt: in.EndsAt, IssuedBy: id.User, Created: now}
		if err := tx.PutCoupon(c); err != nil {
			return err
		}
		if err := s.remember(tx, id, "coupon.issue", key, hash, string(c.ID)); err != nil {
			return err
		}
		fresh = true
		return s.emit(tx, id.Tenant, "coupon.issued", c)
	})
	if err != nil {
		return nil, err
	}
	if fresh {
		s.publish(ctx, id.Tenant, in.Room, "shop.coupon.issued", id.User, c)
	}
	return c, nil
}

// ClaimCoupon claims a coupon for the caller, within its window, its stock
// and its per-user limit. The same key answers the same claim again; a new
// claim past the per-user limit answers exhausted.
func (s *Service) ClaimCoupon(ctx context.Context, id *qun.Identity, in ClaimCouponInput) (*Claim, error) {
	if err := checkIdentity(id); err != nil {
		return nil, err
	}
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	if _, err := s.requireIn(ctx, id, qun.RoleViewer, func(tx Tx) (qun.RoomID, error) {
		c, err := tx.Coupon(id.Tenant, in.Coupon)
		if err != nil {
			return "", err
		}
		return c.Room, nil
	}); err != nil {
		return nil, err
	}
	key := in.Key
	in.Key = ""
	hash := bodyHash(in)
	var cl *Claim
	err := s.update(ctx, func(tx Tx) error {
		ref, err := replayed(tx, id, "coupon.claim", key, hash)
		if err != nil {
			return err
		}
		if ref != "" {
			cl, err = tx.Claim(id.Tenant, ClaimID(ref))
			return err
		}
		c, err := tx.Coupon(id.Tenant, in.Coupon)
		if err != nil {
			return err
		}
		now := s.now()
		if now < c.StartsAt {
			return qun.Errorf(qun.CodeConflict, "the coupon cannot be claimed yet")
		}
		if now >= c.EndsAt {
			return qun.Errorf(qun.CodeExpired, "the coupon has expired")
		}
		if c.Claimed >= c.Total {
			return qun.Errorf(qun.CodeExhausted, "all coupons have been claimed")
		}
		n, err := tx.CountClaims(id.Tenant, c.ID, id.User)
		if err != nil {
			return err
		}
		if n >= c.PerUser {
			return qun.Errorf(qun.CodeExhausted, "you have claimed this coupon %d time(s), the most allowed", n)
		}
		c.Claimed++
		if err := tx.PutCoupon(c); err != nil {
			return err
		}
		cl = &Claim{ID: ClaimID("cc_" + qun.NewID()), Tenant: id.Tenant, Coupon: c.ID, User: id.User, Created: now}
		if err := tx.PutClaim(cl); err != nil {
			return err
		}
		if err := s.remember(tx, id, "coupon.claim", key, hash, string(cl.ID)); err != nil {
			return err
		}
		return s.emit(tx, id.Tenant, "coupon.claimed", cl)
	})
	if err != nil {
		return nil, err
	}
	return cl, nil
}

// Coupons lists a room's coupons, newest first (at most 100).
func (s *Service) Coupons(ctx context.Context, id *qun.Identity, room qun.RoomID) ([]*Coupon, error) {
	if err := checkIdentity(id); err != nil {
		return nil, err
	}
	if err := qun.ValidateVar("room", room, "required,max=128"); err != nil {
		return nil, err
	}
	if err := s.hub.RequireRole(ctx, id, room, qun.RoleViewer); err != nil {
		return nil, err
	}
	out := []*Coupon{}
	err := s.view(ctx, func(tx Tx) error {
		cs, err := tx.Coupons(id.Tenant, room, 100)
		if cs != nil {
			out = cs
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
