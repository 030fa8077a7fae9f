package shop

import (
	"context"

	"github.com/qunkit/qun"
)

// MaxShipRows bounds one batch shipping call.
const MaxShipRows = 1000

// ShipRow ships one paid order.
type ShipRow struct {
	Order    OrderID `json:"order" validate:"required,max=64"`
	Carrier  string  `json:"carrier" validate:"required,max=32"`
	Tracking string  `json:"tracking" validate:"required,max=64,printascii"`
}

// ShipResult is one row's outcome: OK, or the row's error.
type ShipResult struct {
	Order OrderID    `json:"order"`
	OK    bool       `json:"ok"`
	Error *qun.Error `json:"err,omitempty"`
}

// ShipInput is a batch of rows (批量发货).
type ShipInput struct {
	Rows []ShipRow `json:"rows" validate:"required,min=1,max=1000"`
}

// Ship marks paid orders shipped with their tracking numbers, in one
// transaction, and answers one result per row in the rows' order. A row
// fails alone (unknown order, not paid, bad tracking number); shipping an
// order again with the same tracking number succeeds without change.
func (s *Service) Ship(ctx context.Context, tenant qun.TenantID, rows []ShipRow) ([]ShipResult, error) {
	return s.ship(ctx, tenant, nil, rows)
}

// ShipAs is Ship for a shop owner: rows of other shops' orders fail with not_found.
func (s *Service) ShipAs(ctx context.Context, id *qun.Identity, rows []ShipRow) ([]ShipResult, error) {
	if err := checkIdentity(id); err != nil {
		return nil, err
	}
	return s.ship(ctx, id.Tenant, id, rows)
}

func (s *Service) ship(ctx context.Context, tenant qun.TenantID, as *qun.Identity, rows []ShipRow) ([]ShipResult, error) {
	if err := qun.ValidateVar("tenant", tenant, "required,max=64"); err != nil {
		return nil, err
	}
	if len(rows) == 0 || len(rows) > MaxShipRows {
		return nil, &qun.Error{Code: qun.CodeInvalid, Message: "rows must hold 1 to 1000 orders", Field: "rows"}
	}
	res := make([]ShipResult, len(rows))
	var shipped []*Order
	err := s.update(ctx, func(tx Tx) error {
		shipped = shipped[:0]
		now := s.now()
		owners := map[ShopID]qun.UserID{}
		for i, r := range rows {
			res[i] = ShipResult{Order: r.Order}
			o, err := s.shipRow(tx, tenant, as, r, now, owners)
			if err != nil {
				if qe, ok := err.(*qun.Error); ok {
					res[i].Error = qe
					continue
				}
				return err
			}
			res[i].OK = true
			if o != nil {
				shipped = append(shipped, o)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, o := range shipped {
		s.afterOrder(ctx, o, orderEffects{changed: true})
	}
	return res, nil
}

// shipRow ships one row; *qun.Error results are the row's own failure and
// happen before anything is written.
func (s *Service) shipRow(tx Tx, tenant qun.TenantID, as *qun.Identity, r ShipRow, now int64, owners map[ShopID]qun.UserID) (*Order, error) {
	if err := qun.Validate(&r); err != nil {
		return nil, err
	}
	o, err := tx.Order(tenant, r.Order)
	if err != nil {
		return nil, err
	}
	if as != nil && !as.Has(qun.GrantAdmin) {
		owner, ok := owners[o.Shop]
		if !ok {
			if sh, err := tx.Shop(tenant, o.Shop); err == nil {
				owner = sh.Owner
			}
			owners[o.Shop] = owner
		}
		if owner != as.User {
			return nil, notFound("order")
		}
	}
	switch o.Status {
	case StatusShipped:
		if o.Carrier == r.Carrier && o.Tracking == r.Tracking {
			return nil, nil
		}
		return nil, qun.Errorf(qun.CodeConflict, "the order has already shipped with another tracking number")
	case StatusPaid:
	default:
		return nil, qun.Errorf(qun.CodeConflict, "the order is %s, not paid", o.Status)
	}
	o.Status, o.Carrier, o.Tracking, o.Updated = StatusShipped, r.Carrier, r.Tracking, now
	if err := tx.PutOrder(o); err != nil {
		return nil, err
	}
	return o, s.emit(tx, tenant, "order.shipped", o)
}
