package live

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/live/internal/sfu"
	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// Service runs lives: their records, rooms, stage and media. Create it with
// New, which registers the "live.*" ops and the "live" room kind on the Hub.
type Service struct {
	cfg   Config
	hub   *qun.Hub
	store Store
	log   *zap.Logger
	eng   *sfu.Engine

	mu     sync.Mutex
	rooms  map[roomKey]*room
	closed bool
	wg     sync.WaitGroup // background work (reminders)

	qaMu   sync.Mutex
	askers map[askerKey]*rate.Limiter // Q&A rate, per user and live
	ctx    context.Context
	cancel context.CancelFunc
}

type roomKey struct {
	tenant qun.TenantID
	id     string
}

// New creates the Service and registers its ops and room kind on cfg.Hub.
func New(cfg Config) (*Service, error) {
	if cfg.Hub == nil {
		return nil, errors.New("live: Config.Hub is required")
	}
	cfg.setDefaults()
	eng, err := sfu.NewEngine(sfu.Config{
		Logger:           cfg.Logger,
		UDPPort:          cfg.Network.UDPPort,
		UDPAddr:          cfg.Network.UDPAddr,
		PortMin:          cfg.Network.PortMin,
		PortMax:          cfg.Network.PortMax,
		NAT1To1IPs:       cfg.Network.NAT1To1IPs,
		ICEServers:       toWebRTC(cfg.Network.ICEServers),
		IncludeLoopback:  cfg.Network.IncludeLoopback,
		MaxTracks:        cfg.MaxTracks,
		KeyframeInterval: cfg.KeyframeInterval,
		ICETimeout:       cfg.MediaTimeout,
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{cfg: cfg, hub: cfg.Hub, store: cfg.Store, log: cfg.Logger, eng: eng, rooms: map[roomKey]*room{}, askers: map[askerKey]*rate.Limiter{}, ctx: ctx, cancel: cancel}
	cfg.Hub.RegisterRooms(RoomKind, qun.RoomAccessFunc(s.RoomRole))
	s.registerOps()
	s.registerQA()
	return s, nil
}

// Close ends every live's media on this node (peer connections closed,
// recorders detached; the lives' records keep their state, so clients
// rejoin after a restart) and releases the UDP port. Idempotent.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	rooms := make([]*room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.rooms = map[roomKey]*room{}
	s.mu.Unlock()
	for _, r := range rooms {
		r.close()
	}
	s.cancel()
	s.wg.Wait()
	return s.eng.Close()
}

// UDPAddr is the single media port's address when Network.UDPPort is set.
func (s *Service) UDPAddr() string {
	if a := s.eng.LocalAddr(); a != nil {
		return a.String()
	}
	return ""
}

func liveID(room qun.RoomID) (string, bool) {
	kind, id, ok := strings.Cut(string(room), ":")
	if !ok || kind != RoomKind || id == "" {
		return "", false
	}
	return id, true
}

// room returns the running room of a live that is on air, starting its
// runtime on this node if needed (after a restart, say).
func (s *Service) room(ctx context.Context, tenant qun.TenantID, id string) (*room, error) {
	k := roomKey{tenant, id}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, qun.ErrClosed
	}
	if r := s.rooms[k]; r != nil {
		s.mu.Unlock()
		return r, nil
	}
	s.mu.Unlock()
	rec, err := s.store.Get(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	if rec.State != StateLive && rec.State != StatePaused {
		return nil, qun.Errorf(qun.CodeConflict, "the live is %s", rec.State)
	}
	if addr, err := s.placedElsewhere(ctx, tenant, id); err != nil {
		return nil, err
	} else if addr != "" {
		return nil, &elsewhere{addr}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, qun.ErrClosed
	}
	if r := s.rooms[k]; r != nil {
		return r, nil
	}
	r := newRoom(s, rec)
	s.rooms[k] = r
	return r, nil
}

// runningRoom returns the room if it runs on this node, or nil.
func (s *Service) runningRoom(tenant qun.TenantID, id string) *room {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rooms[roomKey{tenant, id}]
}

func (s *Service) dropRoom(r *room) {
	s.mu.Lock()
	if s.rooms[roomKey{r.tenant, r.id}] == r {
		delete(s.rooms, roomKey{r.tenant, r.id})
	}
	s.mu.Unlock()
}

// RoomRole answers what id is in a live's room (registered with the Hub
// for kind "live"):
//   - the host, and tenant admins (qun.GrantAdmin): RoleOwner;
//   - the home group's moderators and owner: RoleModerator (they run the
//     stage with the host);
//   - co-hosts on stage: RoleMember (they publish);
//   - members (and viewers) of the home group or of a group the live is
//     relayed into, and anyone in the tenant for an open class: RoleViewer;
//   - users removed from the live: CodeForbidden; anyone else: CodeNotFound.
func (s *Service) RoomRole(ctx context.Context, id *qun.Identity, room qun.RoomID) (qun.Role, error) {
	lid, ok := liveID(room)
	if !ok || id == nil {
		return qun.RoleNone, errNoLive()
	}
	rec, err := s.store.Get(ctx, id.Tenant, lid)
	if err != nil {
		return qun.RoleNone, err
	}
	return s.roleIn(ctx, id, rec)
}

func (s *Service) roleIn(ctx context.Context, id *qun.Identity, rec *Record) (qun.Role, error) {
	if rec.Host == id.User || id.Has(qun.GrantAdmin) {
		return qun.RoleOwner, nil
	}
	rm := s.runningRoom(rec.Tenant, rec.ID)
	if rm != nil && rm.isKicked(id.User) {
		return qun.RoleNone, qun.Errorf(qun.CodeForbidden, "you were removed from this live")
	}
	role := qun.RoleNone
	for i, g := range rec.Groups() {
		gr, err := s.hub.RoomRole(ctx, id, g)
		if err != nil {
			continue
		}
		if i == 0 && gr >= qun.RoleModerator {
			role = max(role, qun.RoleModerator)
		} else if gr >= qun.RoleViewer {
			role = max(role, qun.RoleViewer)
		}
	}
	if rec.Mode == ModeOpen {
		role = max(role, qun.RoleViewer)
	}
	if rm != nil && rm.onStage(id.User) {
		role = max(role, qun.RoleMember)
	}
	if role == qun.RoleNone {
		return qun.RoleNone, errNoLive()
	}
	return role, nil
}

// require checks id's role in rec against min.
func (s *Service) require(ctx context.Context, id *qun.Identity, rec *Record, min qun.Role) (qun.Role, error) {
	role, err := s.roleIn(ctx, id, rec)
	if err != nil {
		return role, err
	}
	if role < min {
		return role, qun.Errorf(qun.CodeForbidden, "requires %s in the live", min)
	}
	return role, nil
}

// Stats are the SFU's forwarding counters on this node, for metrics and
// the load tool.
type Stats struct {
	// Ingress counts packets received from publishers; Fanouts the copies
	// handed to viewers.
	Ingress, Fanouts uint64
	// FanoutTime sums, over ingress packets, the time from reading a packet
	// to handing it to its last viewer (the SFU's own forwarding delay);
	// FanoutMax is the longest.
	FanoutTime, FanoutMax time.Duration
}

// Stats returns the forwarding counters since New.
func (s *Service) Stats() Stats {
	st := s.eng.Stats()
	return Stats{Ingress: st.Ingress, Fanouts: st.Fanouts, FanoutTime: st.FanoutTime, FanoutMax: st.FanoutMax}
}
