package shop

import (
	"context"

	"github.com/qunkit/qun"
)

// op registers a Hub op that binds its input and calls a Service method:
// ops and the Go API run the same code.
func op[In, Out any](s *Service, name string, fn func(context.Context, *qun.Identity, In) (Out, error)) {
	s.hub.Handle(name, func(ctx context.Context, c *qun.Call) (any, error) {
		var in In
		if err := c.Bind(&in); err != nil {
			return nil, err
		}
		return fn(ctx, c.Identity(), in)
	})
}

// ShopInput names a shop.
type ShopInput struct {
	Shop ShopID `json:"shop" validate:"required,max=64"`
}

// VerifyInput is a tenant admin's verdict on a shop.
type VerifyInput struct {
	Shop     ShopID `json:"shop" validate:"required,max=64"`
	Verified bool   `json:"verified"`
}

// ProductsInput lists a shop's products.
type ProductsInput struct {
	Shop  ShopID `json:"shop" validate:"required,max=64"`
	Limit int    `json:"limit,omitempty" validate:"min=0,max=200"`
}

// RedPacketInput names a red packet.
type RedPacketInput struct {
	Packet RedPacketID `json:"packet" validate:"required,max=64"`
}

func (s *Service) registerOps() {
	op(s, "shop.create", s.CreateShop)
	op(s, "shop.get", func(ctx context.Context, id *qun.Identity, in ShopInput) (*Shop, error) {
		sh, err := s.Shop(ctx, id.Tenant, in.Shop)
		if err != nil {
			return nil, err
		}
		if !ownsShop(id, sh) {
			sh.Licence = "" // the licence number is for the owner and the vendor
		}
		return sh, nil
	})
	op(s, "shop.verify", func(ctx context.Context, id *qun.Identity, in VerifyInput) (*Shop, error) {
		if !id.Has(qun.GrantAdmin) {
			return nil, qun.Errorf(qun.CodeForbidden, "only the vendor verifies shops")
		}
		return s.VerifyShop(ctx, id.Tenant, in.Shop, in.Verified)
	})
	op(s, "shop.products", func(ctx context.Context, id *qun.Identity, in ProductsInput) (map[string]any, error) {
		if in.Limit == 0 {
			in.Limit = 50
		}
		ps, err := s.catalog.Products(ctx, id.Tenant, in.Shop, in.Limit)
		if err != nil {
			return nil, err
		}
		if ps == nil {
			ps = []*Product{}
		}
		return map[string]any{"products": ps}, nil
	})

	op(s, "shop.shelf.open", s.OpenShelf)
	op(s, "shop.shelf", func(ctx context.Context, id *qun.Identity, in RoomInput) (*Shelf, error) {
		return s.Shelf(ctx, id, in.Room)
	})
	op(s, "shop.shelf.add", s.AddToShelf)
	op(s, "shop.shelf.remove", s.RemoveFromShelf)
	op(s, "shop.shelf.reorder", s.ReorderShelf)
	op(s, "shop.explain.start", s.StartExplaining)
	op(s, "shop.explain.stop", s.StopExplaining)

	op(s, "shop.coupon.issue", s.IssueCoupon)
	op(s, "shop.coupon.claim", s.ClaimCoupon)
	op(s, "shop.coupons", func(ctx context.Context, id *qun.Identity, in RoomInput) (map[string]any, error) {
		cs, err := s.Coupons(ctx, id, in.Room)
		if err != nil {
			return nil, err
		}
		return map[string]any{"coupons": cs}, nil
	})

	op(s, "shop.buy", s.Buy)
	op(s, "shop.order", func(ctx context.Context, id *qun.Identity, in OrderInput) (*Order, error) {
		return s.Order(ctx, id, in.Order)
	})
	op(s, "shop.order.cancel", func(ctx context.Context, id *qun.Identity, in OrderInput) (*Order, error) {
		return s.CancelOrder(ctx, id, in.Order)
	})
	op(s, "shop.orders.ship", func(ctx context.Context, id *qun.Identity, in ShipInput) (map[string]any, error) {
		res, err := s.ShipAs(ctx, id, in.Rows)
		if err != nil {
			return nil, err
		}
		return map[string]any{"results": res}, nil
	})

	op(s, "shop.tip", s.Tip)
	op(s, "shop.redpacket.send", s.SendRedPacket)
	op(s, "shop.redpacket.claim", s.ClaimRedPacket)
	op(s, "shop.redpacket", func(ctx context.Context, id *qun.Identity, in RedPacketInput) (map[string]any, error) {
		p, claims, err := s.RedPacket(ctx, id, in.Packet)
		if err != nil {
			return nil, err
		}
		if claims == nil {
			claims = []*RedPacketClaim{}
		}
		return map[string]any{"packet": p, "claims": claims}, nil
	})
	op(s, "shop.redpackets", func(ctx context.Context, id *qun.Identity, in RoomInput) (map[string]any, error) {
		ps, err := s.OpenRedPackets(ctx, id, in)
		if err != nil {
			return nil, err
		}
		return map[string]any{"packets": ps}, nil
	})
	op(s, "shop.leaderboard", s.Leaderboard)

	op(s, "shop.share.link", s.NewShareLink)
	op(s, "shop.share.visit", s.Visit)
	op(s, "shop.share.stats", s.ShareStats)
}
