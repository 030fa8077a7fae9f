package shop

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// sweeper expires unpaid reservations and red packets and prunes old
// idempotency keys and delivered webhook messages.
func (s *Service) sweeper() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	var lastPrune time.Time
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		s.sweepOrders(s.ctx)
		s.sweepRedPackets(s.ctx)
		if time.Since(lastPrune) > 10*time.Minute {
			lastPrune = time.Now()
			s.prune(s.ctx)
		}
	}
}

// sweepOrders expires due reservations, a batch per transaction.
func (s *Service) sweepOrders(ctx context.Context) {
	for ctx.Err() == nil {
		var due []Ref
		now := s.now()
		if err := s.store.View(ctx, func(tx Tx) (err error) { due, err = tx.DueOrders(now, 256); return err }); err != nil || len(due) == 0 {
			return
		}
		type done struct {
			o  *Order
			fx orderEffects
		}
		var out []done
		err := s.update(ctx, func(tx Tx) error {
			out = out[:0]
			for _, r := range due {
				o, err := tx.Order(r.Tenant, OrderID(r.ID))
				if err != nil {
					return err
				}
				if o.Status != StatusReserved || o.ExpiresAt > now {
					continue
				}
				fx, err := s.transitionTx(tx, o, StatusExpired, "", now)
				if err != nil {
					return err
				}
				out = append(out, done{o, fx})
			}
			return nil
		})
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("shop: expire reservations", zap.Error(err))
			}
			return
		}
		for _, d := range out {
			s.afterOrder(ctx, d.o, d.fx)
		}
		if len(due) < 256 {
			return
		}
	}
}

func (s *Service) prune(ctx context.Context) {
	now := s.cfg.Now()
	err := s.update(ctx, func(tx Tx) error {
		if _, err := tx.PruneIdem(now.Add(-s.cfg.IdempotencyTTL).UnixMilli()); err != nil {
			return err
		}
		cur, err := tx.Cursor(fanoutCursor)
		if err != nil {
			return err
		}
		_, err = tx.PruneOutbox(now.Add(-s.cfg.Webhooks.Retention).UnixMilli(), cur)
		return err
	})
	if err != nil && ctx.Err() == nil {
		s.log.Warn("shop: prune", zap.Error(err))
	}
}

// sweepRedPackets expires packets past their time: unpaid ones are
// dropped, paid ones refund their remainder through the
// red_packet.expired webhook.
func (s *Service) sweepRedPackets(ctx context.Context) {
	var due []Ref
	now := s.now()
	if err := s.store.View(ctx, func(tx Tx) (err error) { due, err = tx.DueRedPackets(now, 256); return err }); err != nil || len(due) == 0 {
		return
	}
	var expired []*RedPacket
	err := s.update(ctx, func(tx Tx) error {
		expired = expired[:0]
		for _, r := range due {
			p, err := tx.RedPacket(r.Tenant, RedPacketID(r.ID))
			if err != nil {
				return err
			}
			if p.ExpiresAt > now || (p.Status != PacketPending && p.Status != PacketActive) {
				continue
			}
			wasActive := p.Status == PacketActive
			p.Status = PacketExpired
			if err := tx.PutRedPacket(p); err != nil {
				return err
			}
			if !wasActive {
				continue
			}
			expired = append(expired, p)
			if err := s.emit(tx, p.Tenant, "red_packet.expired", map[string]any{"packet": p, "refund": Money{Amount: p.Remaining, Currency: p.Total.Currency}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("shop: expire red packets", zap.Error(err))
		}
		return
	}
	for _, p := range expired {
		s.publish(ctx, p.Tenant, p.Room, "shop.redpacket.expired", "", map[string]any{"packet": p.ID, "claimed": p.Claimed})
	}
}
