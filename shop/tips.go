package shop

import (
	"context"
	"math/rand/v2"

	"github.com/qunkit/qun"
	"go.uber.org/zap"
)

// TipInput is a viewer's tip to a live (打赏).
type TipInput struct {
	Room    qun.RoomID `json:"room" validate:"required,max=128"`
	Amount  Money      `json:"amount"`
	Message string     `json:"message,omitempty" validate:"max=100"`
	Key     string     `json:"key" validate:"required,max=64,printascii"`
}

// SendRedPacketInput is a red packet (红包) for the first Count claimers.
type SendRedPacketInput struct {
	Room     qun.RoomID `json:"room" validate:"required,max=128"`
	Total    Money      `json:"total"`
	Count    int64      `json:"count" validate:"min=1,max=1000"`
	Greeting string     `json:"greeting,omitempty" validate:"max=64"`
	Key      string     `json:"key" validate:"required,max=64,printascii"`
}

// ClaimRedPacketInput claims a share of a red packet.
type ClaimRedPacketInput struct {
	Packet RedPacketID `json:"packet" validate:"required,max=64"`
	Key    string      `json:"key" validate:"required,max=64,printascii"`
}

// LeaderboardInput asks for a room's top contributors.
type LeaderboardInput struct {
	Room  qun.RoomID `json:"room" validate:"required,max=128"`
	Limit int        `json:"limit,omitempty" validate:"min=0,max=100"`
}

// Leaderboard is a room's contributors, highest first.
type Leaderboard struct {
	Currency Currency       `json:"currency"`
	Lines    []Contribution `json:"lines"`
}

func (s *Service) checkAmount(field string, m Money, least int64) error {
	if m.Currency != s.cfg.Currency {
		return &qun.Error{Code: qun.CodeInvalid, Message: "currency must be " + string(s.cfg.Currency), Field: field + ".currency"}
	}
	if m.Amount < least {
		return &qun.Error{Code: qun.CodeInvalid, Message: field + " is too small", Field: field + ".amount"}
	}
	return nil
}

// Tip records a tip and hands it to Checkout. It counts (leaderboard, the
// shop.tip room event, the Reward hook) once paid: at once if Checkout says
// Paid, otherwise when the vendor reports it with UpdatePayment.
func (s *Service) Tip(ctx context.Context, id *qun.Identity, in TipInput) (*Tip, error) {
	if err := checkIdentity(id); err != nil {
		return nil, err
	}
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	if err := s.checkAmount("amount", in.Amount, 1); err != nil {
		return nil, err
	}
	if err := s.hub.RequireRole(ctx, id, in.Room, qun.RoleViewer); err != nil {
		return nil, err
	}
	key := in.Key
	in.Key = ""
	hash := bodyHash(in)
	var t *Tip
	err := s.update(ctx, func(tx Tx) error {
		ref, err := replayed(tx, id, "tip", key, hash)
		if err != nil {
			return err
		}
		if ref != "" {
			t, err = tx.Tip(id.Tenant, TipID(ref))
			return err
		}
		t = &Tip{ID: TipID("t_" + qun.NewID()), Tenant: id.Tenant, Room: in.Room, From: id.User, Name: id.Name,
			Amount: in.Amount, Message: in.Message, Status: PayPending, Created: s.now()}
		if err := tx.PutTip(t); err != nil {
			return err
		}
		if err := s.remember(tx, id, "tip", key, hash, string(t.ID)); err != nil {
			return err
		}
		return s.emit(tx, id.Tenant, "tip.created", t)
	})
	if err != nil {
		return nil, err
	}
	if t.Status != PayPending || t.PaymentRef != "" || t.PayURL != "" {
		return t, nil
	}
	res, err := s.checkout(ctx, &CheckoutRequest{Kind: "tip", Tenant: id.Tenant, ID: string(t.ID), User: id.User, Room: in.Room, Amount: t.Amount})
	if err != nil {
		s.abandon(ctx, id, "tip", key, func(tx Tx) error {
			cur, err := tx.Tip(id.Tenant, t.ID)
			if err != nil || cur.Status != PayPending {
				return err
			}
			cur.Status = PayCancelled
			return tx.PutTip(cur)
		})
		return nil, err
	}
	err = s.update(ctx, func(tx Tx) error {
		cur, err := tx.Tip(id.Tenant, t.ID)
		if err != nil {
			return err
		}
		t = cur
		if cur.Status != PayPending {
			return nil
		}
		cur.PaymentRef, cur.PayURL = res.PaymentRef, res.URL
		return tx.PutTip(cur)
	})
	if err != nil {
		return nil, err
	}
	if res.Paid {
		return s.settleTip(ctx, id.Tenant, t.ID, true, res.PaymentRef)
	}
	return t, nil
}

// abandon undoes a create whose checkout failed and forgets its key.
func (s *Service) abandon(ctx context.Context, id *qun.Identity, scope, key string, undo func(Tx) error) {
	err := s.update(context.WithoutCancel(ctx), func(tx Tx) error {
		if err := undo(tx); err != nil {
			return err
		}
		return tx.DeleteIdem(id.Tenant, id.User, scope, key)
	})
	if err != nil {
		s.log.Error("shop: undo after failed checkout", zap.String("scope", scope), zap.Error(err))
	}
}

// settleTip applies a tip's payment outcome.
func (s *Service) settleTip(ctx context.Context, tenant qun.TenantID, tid TipID, paid bool, ref string) (*Tip, error) {
	var t *Tip
	changed := false
	err := s.update(ctx, func(tx Tx) (err error) {
		if t, err = tx.Tip(tenant, tid); err != nil {
			return err
		}
		switch {
		case paid && t.Status == PayPaid, !paid && t.Status == PayCancelled:
			return nil
		case paid && t.Status == PayCancelled:
			return qun.Errorf(qun.CodeExpired, "the tip was cancelled before payment; refund it")
		case !paid && t.Status == PayPaid:
			return qun.Errorf(qun.CodeConflict, "a paid tip cannot be cancelled")
		}
		changed = true
		typ := "tip.cancelled"
		if paid {
			t.Status, typ = PayPaid, "tip.paid"
			if ref != "" {
				t.PaymentRef = ref
			}
			if err := tx.AddContribution(tenant, t.Room, t.From, t.Amount.Amount); err != nil {
				return err
			}
		} else {
			t.Status = PayCancelled
		}
		if err := tx.PutTip(t); err != nil {
			return err
		}
		return s.emit(tx, tenant, typ, t)
	})
	if err != nil {
		return nil, err
	}
	if changed && paid {
		s.publish(ctx, tenant, t.Room, "shop.tip", t.From, map[string]any{"id": t.ID, "from": t.From, "name": t.Name, "amount": t.Amount, "message": t.Message})
		s.reward(ctx, Reward{Tenant: tenant, User: t.From, Room: t.Room, Kind: "tip", Ref: string(t.ID), Amount: t.Amount})
	}
	return t, nil
}

// SendRedPacket records a red packet and hands it to Checkout; it can be
// claimed once paid, until RedPacketTTL has passed.
func (s *Service) SendRedPacket(ctx context.Context, id *qun.Identity, in SendRedPacketInput) (*RedPacket, error) {
	if err := checkIdentity(id); err != nil {
		return nil, err
	}
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	if err := s.checkAmount("total", in.Total, in.Count); err != nil {
		return nil, &qun.Error{Code: qun.CodeInvalid, Message: "total must be at least one minor unit per share, in " + string(s.cfg.Currency), Field: "total"}
	}
	if err := s.hub.RequireRole(ctx, id, in.Room, qun.RoleViewer); err != nil {
		return nil, err
	}
	key := in.Key
	in.Key = ""
	hash := bodyHash(in)
	var p *RedPacket
	err := s.update(ctx, func(tx Tx) error {
		ref, err := replayed(tx, id, "redpacket", key, hash)
		if err != nil {
			return err
		}
		if ref != "" {
			p, err = tx.RedPacket(id.Tenant, RedPacketID(ref))
			return err
		}
		now := s.now()
		p = &RedPacket{ID: RedPacketID("rp_" + qun.NewID()), Tenant: id.Tenant, Room: in.Room, From: id.User, Name: id.Name,
			Total: in.Total, Count: in.Count, Remaining: in.Total.Amount, Greeting: in.Greeting, Status: PacketPending,
			ExpiresAt: now + s.cfg.ReservationTTL.Milliseconds(), Created: now}
		if err := tx.PutRedPacket(p); err != nil {
			return err
		}
		if err := s.remember(tx, id, "redpacket", key, hash, string(p.ID)); err != nil {
			return err
		}
		return s.emit(tx, id.Tenant, "red_packet.created", p)
	})
	if err != nil {
		return nil, err
	}
	if p.Status != PacketPending || p.PaymentRef != "" || p.PayURL != "" {
		return p, nil
	}
	res, err := s.checkout(ctx, &CheckoutRequest{Kind: "red_packet", Tenant: id.Tenant, ID: string(p.ID), User: id.User, Room: in.Room, Amount: p.Total, ExpiresAt: p.ExpiresAt})
	if err != nil {
		s.abandon(ctx, id, "redpacket", key, func(tx Tx) error {
			cur, err := tx.RedPacket(id.Tenant, p.ID)
			if err != nil || cur.Status != PacketPending {
				return err
			}
			cur.Status = PacketCancelled
			return tx.PutRedPacket(cur)
		})
		return nil, err
	}
	err = s.update(ctx, func(tx Tx) error {
		cur, err := tx.RedPacket(id.Tenant, p.ID)
		if err != nil {
			return err
		}
		p = cur
		if cur.Status != PacketPending {
			return nil
		}
		cur.PaymentRef, cur.PayURL = res.PaymentRef, res.URL
		return tx.PutRedPacket(cur)
	})
	if err != nil {
		return nil, err
	}
	if res.Paid {
		return s.settleRedPacket(ctx, id.Tenant, p.ID, true, res.PaymentRef)
	}
	return p, nil
}

// settleRedPacket applies a red packet's payment outcome.
func (s *Service) settleRedPacket(ctx context.Context, tenant qun.TenantID, pid RedPacketID, paid bool, ref string) (*RedPacket, error) {
	var p *RedPacket
	changed := false
	err := s.update(ctx, func(tx Tx) (err error) {
		if p, err = tx.RedPacket(tenant, pid); err != nil {
			return err
		}
		switch p.Status {
		case PacketPending:
		case PacketCancelled:
			if paid {
				return qun.Errorf(qun.CodeExpired, "the red packet was cancelled before payment; refund it")
			}
			return nil
		case PacketExpired:
			if paid && p.PaidAt == 0 {
				return qun.Errorf(qun.CodeExpired, "the red packet expired before payment; refund it")
			}
			return nil
		default: // active or finished: paid already
			if !paid {
				return qun.Errorf(qun.CodeConflict, "a paid red packet cannot be cancelled; it refunds its remainder when it expires")
			}
			return nil
		}
		changed = true
		typ := "red_packet.cancelled"
		if paid {
			now := s.now()
			p.Status, p.ExpiresAt, p.PaidAt, typ = PacketActive, now+s.cfg.RedPacketTTL.Milliseconds(), now, "red_packet.paid"
			if ref != "" {
				p.PaymentRef = ref
			}
			if err := tx.AddContribution(tenant, p.Room, p.From, p.Total.Amount); err != nil {
				return err
			}
		} else {
			p.Status = PacketCancelled
		}
		if err := tx.PutRedPacket(p); err != nil {
			return err
		}
		return s.emit(tx, tenant, typ, p)
	})
	if err != nil {
		return nil, err
	}
	if changed && paid {
		s.publish(ctx, tenant, p.Room, "shop.redpacket", p.From, map[string]any{"id": p.ID, "from": p.From, "name": p.Name,
			"total": p.Total, "count": p.Count, "greeting": p.Greeting, "expires_at": p.ExpiresAt})
		s.reward(ctx, Reward{Tenant: tenant, User: p.From, Room: p.Room, Kind: "red_packet", Ref: string(p.ID), Amount: p.Total})
	}
	return p, nil
}

// splitShare draws one claimer's share of remaining among left claimers
// ("double the mean"): at least 1, at most twice the mean, and always
// leaving 1 for each later claimer; the last takes the rest, so the shares
// always add up to the total exactly.
func splitShare(remaining, left int64) int64 {
	if left <= 1 {
		return remaining
	}
	hi := remaining - (left - 1)
	if m := 2 * remaining / left; m < hi {
		hi = m
	}
	if hi <= 1 {
		return 1
	}
	return 1 + rand.Int64N(hi)
}

// ClaimRedPacket claims the caller's share. Each user claims a packet once:
// a second claim answers conflict (the same key answers the first claim).
func (s *Service) ClaimRedPacket(ctx context.Context, id *qun.Identity, in ClaimRedPacketInput) (*RedPacketClaim, error) {
	if err := checkIdentity(id); err != nil {
		return nil, err
	}
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	room, err := s.requireIn(ctx, id, qun.RoleViewer, func(tx Tx) (qun.RoomID, error) {
		p, err := tx.RedPacket(id.Tenant, in.Packet)
		if err != nil {
			return "", err
		}
		return p.Room, nil
	})
	if err != nil {
		return nil, err
	}
	key := in.Key
	in.Key = ""
	hash := bodyHash(in)
	var c *RedPacketClaim
	fresh := false
	err = s.update(ctx, func(tx Tx) error {
		ref, err := replayed(tx, id, "redpacket.claim", key, hash)
		if err != nil {
			return err
		}
		if ref != "" {
			c, err = tx.RedPacketClaim(id.Tenant, in.Packet, id.User)
			return err
		}
		p, err := tx.RedPacket(id.Tenant, in.Packet)
		if err != nil {
			return err
		}
		now := s.now()
		switch {
		case p.Status == PacketPending:
			return qun.Errorf(qun.CodeConflict, "the red packet is not paid yet")
		case p.Status == PacketCancelled:
			return notFound("red packet")
		case p.Status == PacketExpired || p.ExpiresAt <= now:
			return qun.Errorf(qun.CodeExpired, "the red packet has expired")
		}
		if _, err := tx.RedPacketClaim(id.Tenant, p.ID, id.User); err == nil {
			return qun.Errorf(qun.CodeConflict, "you have already claimed this red packet")
		} else if qun.ErrorCode(err) != qun.CodeNotFound {
			return err
		}
		if p.Status == PacketFinished || p.Claimed >= p.Count {
			return qun.Errorf(qun.CodeExhausted, "the red packet has been claimed in full")
		}
		amount := splitShare(p.Remaining, p.Count-p.Claimed)
		c = &RedPacketClaim{Packet: p.ID, Tenant: id.Tenant, User: id.User, Amount: Money{Amount: amount, Currency: p.Total.Currency}, Created: now}
		if err := tx.PutRedPacketClaim(c); err != nil {
			return err
		}
		p.Claimed++
		p.Remaining -= amount
		if p.Claimed == p.Count {
			p.Status = PacketFinished
		}
		if err := tx.PutRedPacket(p); err != nil {
			return err
		}
		if err := s.remember(tx, id, "redpacket.claim", key, hash, string(p.ID)); err != nil {
			return err
		}
		fresh = true
		return s.emit(tx, id.Tenant, "red_packet.claimed", c)
	})
	if err != nil {
		return nil, err
	}
	if fresh {
		s.publish(ctx, id.Tenant, room, "shop.redpacket.claimed", id.User, map[string]any{"packet": c.Packet, "user": c.User, "name": id.Name, "amount": c.Amount})
	}
	return c, nil
}

// RedPacket returns a red packet and its claims to viewers of its room.
func (s *Service) RedPacket(ctx context.Context, id *qun.Identity, pid RedPacketID) (*RedPacket, []*RedPacketClaim, error) {
	if err := checkIdentity(id); err != nil {
		return nil, nil, err
	}
	var p *RedPacket
	var claims []*RedPacketClaim
	err := s.view(ctx, func(tx Tx) (err error) {
		if p, err = tx.RedPacket(id.Tenant, pid); err != nil {
			return err
		}
		claims, err = tx.RedPacketClaims(id.Tenant, pid, 1000)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	if err := s.hub.RequireRole(ctx, id, p.Room, qun.RoleViewer); err != nil {
		return nil, nil, err
	}
	return viewerPacket(id, p), claims, nil
}

// MaxOpenRedPackets bounds how many packets OpenRedPackets lists.
const MaxOpenRedPackets = 50

// OpenRedPacket is a red packet still to be grabbed, as a viewer of its
// room sees it: MyClaim is the viewer's own share if they took one.
type OpenRedPacket struct {
	RedPacket
	MyClaim *RedPacketClaim `json:"my_claim,omitempty"`
}

// OpenRedPackets lists a room's red packets that are paid, not expired and
// not claimed in full, most recently paid first (at most
// MaxOpenRedPackets), so that a viewer who arrives after a packet was sent
// can still grab it. Each says whether the caller already claimed it.
func (s *Service) OpenRedPackets(ctx context.Context, id *qun.Identity, in RoomInput) ([]*OpenRedPacket, error) {
	if err := checkIdentity(id); err != nil {
		return nil, err
	}
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	if err := s.hub.RequireRole(ctx, id, in.Room, qun.RoleViewer); err != nil {
		return nil, err
	}
	out := []*OpenRedPacket{}
	err := s.view(ctx, func(tx Tx) error {
		ps, err := tx.OpenRedPackets(id.Tenant, in.Room, s.now(), MaxOpenRedPackets)
		if err != nil {
			return err
		}
		for _, p := range ps {
			o := &OpenRedPacket{RedPacket: *viewerPacket(id, p)}
			switch c, err := tx.RedPacketClaim(id.Tenant, p.ID, id.User); {
			case err == nil:
				o.MyClaim = c
			case qun.ErrorCode(err) != qun.CodeNotFound:
				return err
			}
			out = append(out, o)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// viewerPacket hides the payment details of someone else's red packet.
func viewerPacket(id *qun.Identity, p *RedPacket) *RedPacket {
	if p.From == id.User {
		return p
	}
	c := *p
	c.PaymentRef, c.PayURL = "", ""
	return &c
}

// Leaderboard lists a room's top contributors of paid tips and red packets.
func (s *Service) Leaderboard(ctx context.Context, id *qun.Identity, in LeaderboardInput) (*Leaderboard, error) {
	if err := checkIdentity(id); err != nil {
		return nil, err
	}
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	if in.Limit == 0 {
		in.Limit = 20
	}
	if err := s.hub.RequireRole(ctx, id, in.Room, qun.RoleViewer); err != nil {
		return nil, err
	}
	out := &Leaderboard{Currency: s.cfg.Currency, Lines: []Contribution{}}
	err := s.view(ctx, func(tx Tx) error {
		lines, err := tx.Leaderboard(id.Tenant, in.Room, in.Limit)
		if lines != nil {
			out.Lines = lines
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
