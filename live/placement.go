package live

import (
	"context"

	"github.com/qunkit/qun"
	"go.uber.org/zap"
)

// Placement puts each running live's media (its SFU room) on one node of a
// deployment of several; postgres.LivePlacement is one, on the shared
// database. A node runs a live's media only if Placement says the live is
// here; elsewhere, live.join answers the address of the node that runs it
// (JoinResult.Node), and the ops that act on the running live (signalling,
// stage, media, kick, like, pause, resume, end, recording) answer
// CodeUnavailable: the client sends them on a connection to that node.
type Placement interface {
	// Claim places room on this node unless a live node already runs it,
	// and answers the address of the node that runs it and whether that is
	// this node.
	Claim(ctx context.Context, room qun.RoomRef) (addr string, here bool, err error)
	// Release gives room up if this node runs it (the live ended).
	Release(ctx context.Context, room qun.RoomRef) error
}

// elsewhere is what s.room answers on a node that does not run the live:
// to clients a CodeUnavailable *qun.Error (through Unwrap); to Join, the
// address of the node that does.
type elsewhere struct{ addr string }

var errElsewhere = qun.Errorf(qun.CodeUnavailable, "the live runs on another node: use the connection live.join pointed to")

func (e *elsewhere) Error() string { return errElsewhere.Error() }
func (e *elsewhere) Unwrap() error { return errElsewhere }

// placedElsewhere returns the address of the node that runs live's media,
// or "" if it is (or may be) this node. Without a Placement every live is here.
func (s *Service) placedElsewhere(ctx context.Context, tenant qun.TenantID, live string) (string, error) {
	if s.cfg.Placement == nil {
		return "", nil
	}
	addr, here, err := s.cfg.Placement.Claim(ctx, qun.RoomRef{Tenant: tenant, Room: Room(live)})
	if err != nil {
		return "", err
	}
	if here {
		return "", nil
	}
	return addr, nil
}

// mustRunHere refuses to change a live on air from a node that does not
// run its media (the running room there would not learn of it).
func (s *Service) mustRunHere(ctx context.Context, rec *Record) error {
	if s.runningRoom(rec.Tenant, rec.ID) != nil {
		return nil
	}
	addr, err := s.placedElsewhere(ctx, rec.Tenant, rec.ID)
	if err != nil {
		return err
	}
	if addr != "" {
		return &elsewhere{addr}
	}
	return nil
}

// release gives up live's placement once it ended. Errors only delay
// another node's claim until this node's lease runs out, so they are logged.
func (s *Service) release(ctx context.Context, tenant qun.TenantID, live string) {
	if s.cfg.Placement == nil {
		return
	}
	if err := s.cfg.Placement.Release(ctx, qun.RoomRef{Tenant: tenant, Room: Room(live)}); err != nil {
		s.log.Warn("live: releasing placement", zap.String("live", live), zap.Error(err))
	}
}
