package shop

import (
	"context"
	"strings"

	"github.com/qunkit/qun"
)

// CreateShopInput opens a shop owned by the caller (S1).
type CreateShopInput struct {
	Kind ShopKind `json:"kind" validate:"required,oneof=individual individual_business enterprise"`
	Name string   `json:"name" validate:"required,max=64"`
	// Licence is the business licence's unified social credit code:
	// required for individual businesses and enterprises, absent for
	// individual shops.
	Licence string `json:"licence,omitempty" validate:"max=32"`
	// Key is the idempotency key.
	Key string `json:"key" validate:"required,max=64,printascii"`
}

// CreateShop opens an unverified shop owned by id.User. The vendor verifies
// it (VerifyShop) after its own identity and licence checks.
func (s *Service) CreateShop(ctx context.Context, id *qun.Identity, in CreateShopInput) (*Shop, error) {
	if err := checkIdentity(id); err != nil {
		return nil, err
	}
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" {
		return nil, &qun.Error{Code: qun.CodeInvalid, Message: "name is required", Field: "name"}
	}
	switch in.Kind {
	case KindIndividual:
		if in.Licence != "" {
			return nil, &qun.Error{Code: qun.CodeInvalid, Message: "an individual shop has no business licence", Field: "licence"}
		}
	default:
		if in.Licence == "" {
			return nil, &qun.Error{Code: qun.CodeInvalid, Message: "a business licence number is required for " + string(in.Kind), Field: "licence"}
		}
		code, err := ValidateCreditCode(in.Licence)
		if err != nil {
			return nil, err
		}
		// Registration authority 9 (market regulation), category 2: 个体工商户.
		if isIndividualBusiness := strings.HasPrefix(code, "92"); isIndividualBusiness != (in.Kind == KindIndividualBusiness) {
			return nil, &qun.Error{Code: qun.CodeInvalid, Message: "the licence's entity type does not match the shop kind (individual businesses' codes start with 92)", Field: "licence"}
		}
		in.Licence = code
	}
	key := in.Key
	in.Key = ""
	hash := bodyHash(in)
	var out *Shop
	err := s.update(ctx, func(tx Tx) error {
		ref, err := replayed(tx, id, "shop.create", key, hash)
		if err != nil {
			return err
		}
		if ref != "" {
			out, err = tx.Shop(id.Tenant, ShopID(ref))
			return err
		}
		out = &Shop{ID: ShopID("s_" + qun.NewID()), Tenant: id.Tenant, Owner: id.User, Kind: in.Kind, Name: in.Name, Licence: in.Licence, Created: s.now()}
		if err := tx.PutShop(out); err != nil {
			return err
		}
		if err := s.remember(tx, id, "shop.create", key, hash, string(out.ID)); err != nil {
			return err
		}
		return s.emit(tx, id.Tenant, "shop.created", out)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// VerifyShop records the vendor's verdict on a shop's identity and licence.
func (s *Service) VerifyShop(ctx context.Context, tenant qun.TenantID, id ShopID, verified bool) (*Shop, error) {
	var out *Shop
	err := s.update(ctx, func(tx Tx) error {
		sh, err := tx.Shop(tenant, id)
		if err != nil {
			return err
		}
		if sh.Verified == verified {
			out = sh
			return nil
		}
		sh.Verified = verified
		if err := tx.PutShop(sh); err != nil {
			return err
		}
		out = sh
		typ := "shop.verified"
		if !verified {
			typ = "shop.unverified"
		}
		return s.emit(tx, tenant, typ, sh)
	})
	return out, err
}

// Shop returns a shop of tenant.
func (s *Service) Shop(ctx context.Context, tenant qun.TenantID, id ShopID) (*Shop, error) {
	var out *Shop
	err := s.view(ctx, func(tx Tx) (err error) {
		out, err = tx.Shop(tenant, id)
		return err
	})
	return out, err
}

// ownsShop reports whether id may act for the shop: its owner or a tenant admin.
func ownsShop(id *qun.Identity, sh *Shop) bool {
	return sh.Owner == id.User || id.Has(qun.GrantAdmin)
}
