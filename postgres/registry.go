package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/qunkit/qun"
	"github.com/qunkit/qun/live"
	"go.uber.org/zap"
)

// RegistryConfig configures NewRegistry.
type RegistryConfig struct {
	// Node names this node; unique in the deployment. Required.
	Node string
	// Addr is where clients or other nodes reach this node (for example its
	// public WebSocket URL); Lookup hands it out. Required.
	Addr string
	// TTL is the lease: a node that has not renewed it for TTL (crashed,
	// cut off) loses its rooms to the next claim. It is renewed every TTL/3.
	// Zero means 15 s.
	TTL time.Duration
	// Logger receives renewal failures. Nil means zap.NewNop().
	Logger *zap.Logger
}

// Placement says which node runs a room.
type Placement struct {
	Node string
	Addr string
}

// Registry records which node runs which room, for what must run on one
// node: a live's media (its SFU). The node that starts the live claims its
// room; a node whose client asks for that live looks the room up and sends
// the client (or its signalling) to the owner. Create it with NewRegistry.
type Registry struct {
	pool *pgxpool.Pool
	cfg  RegistryConfig

	closeOnce sync.Once
	stop      chan struct{}
	done      chan struct{}
}

// NewRegistry applies the registry's migrations, registers the node and
// starts renewing its lease until Close.
func NewRegistry(ctx context.Context, pool *pgxpool.Pool, cfg RegistryConfig) (*Registry, error) {
	if cfg.Node == "" || cfg.Addr == "" {
		return nil, errors.New("postgres: RegistryConfig.Node and Addr are required")
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 15 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if err := migrate(ctx, pool, "registry"); err != nil {
		return nil, err
	}
	r := &Registry{pool: pool, cfg: cfg, stop: make(chan struct{}), done: make(chan struct{})}
	if err := r.renew(ctx); err != nil {
		return nil, err
	}
	go r.heartbeat()
	return r, nil
}

func (r *Registry) renew(ctx context.Context) error {
	_, err := r.pool.Exec(ctx, `INSERT INTO qun_nodes (node, addr, expires) VALUES ($1, $2, now() + make_interval(secs => $3))
		ON CONFLICT (node) DO UPDATE SET addr = EXCLUDED.addr, expires = EXCLUDED.expires`,
		r.cfg.Node, r.cfg.Addr, r.cfg.TTL.Seconds())
	if err != nil {
		return fmt.Errorf("postgres: registry lease: %w", err)
	}
	return nil
}

func (r *Registry) heartbeat() {
	defer close(r.done)
	t := time.NewTicker(r.cfg.TTL / 3)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), r.cfg.TTL/3)
			if err := r.renew(ctx); err != nil {
				r.cfg.Logger.Warn("registry lease renewal failed", zap.Error(err))
			}
			cancel()
		}
	}
}

// Claim places ref on this node unless a live node holds it: it returns
// the placement in force, which is this node's if owned is true.
func (r *Registry) Claim(ctx context.Context, ref qun.RoomRef) (Placement, bool, error) {
	for range 3 {
		p, owned, placed, err := r.claim(ctx, ref)
		if err != nil || placed {
			return p, owned, err
		}
		// Its owner's lease ran out between the two statements: again.
	}
	return Placement{}, false, qun.Errorf(qun.CodeUnavailable, "room placement keeps changing")
}

func (r *Registry) claim(ctx context.Context, ref qun.RoomRef) (p Placement, owned, placed bool, err error) {
	// Take the room if it is free or its node's lease has run out; the
	// row lock makes two claiming nodes take turns.
	err = r.pool.QueryRow(ctx, `INSERT INTO qun_room_nodes AS rn (tenant, room, node) VALUES ($1, $2, $3)
		ON CONFLICT (tenant, room) DO UPDATE SET node = EXCLUDED.node, since = now()
		WHERE rn.node = EXCLUDED.node OR NOT EXISTS (
			SELECT 1 FROM qun_nodes n WHERE n.node = rn.node AND n.expires > now())
		RETURNING node`, ref.Tenant, ref.Room, r.cfg.Node).Scan(&p.Node)
	if err == nil {
		return Placement{Node: r.cfg.Node, Addr: r.cfg.Addr}, true, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return Placement{}, false, false, fmt.Errorf("postgres: registry claim: %w", err)
	}
	p, placed, err = r.Lookup(ctx, ref)
	return p, placed && p.Node == r.cfg.Node, placed, err
}

// Lookup returns the node running ref, if a node with a live lease does.
func (r *Registry) Lookup(ctx context.Context, ref qun.RoomRef) (Placement, bool, error) {
	var p Placement
	err := r.pool.QueryRow(ctx, `SELECT n.node, n.addr FROM qun_room_nodes rn JOIN qun_nodes n ON n.node = rn.node
		WHERE rn.tenant = $1 AND rn.room = $2 AND n.expires > now()`, ref.Tenant, ref.Room).Scan(&p.Node, &p.Addr)
	if errors.Is(err, pgx.ErrNoRows) {
		return Placement{}, false, nil
	}
	if err != nil {
		return Placement{}, false, fmt.Errorf("postgres: registry lookup: %w", err)
	}
	return p, true, nil
}

// Release gives up ref if this node holds it (the live ended).
func (r *Registry) Release(ctx context.Context, ref qun.RoomRef) error {
	_, err := r.pool.Exec(ctx, `DELETE FROM qun_room_nodes WHERE tenant = $1 AND room = $2 AND node = $3`, ref.Tenant, ref.Room, r.cfg.Node)
	if err != nil {
		return fmt.Errorf("postgres: registry release: %w", err)
	}
	return nil
}

// Close stops renewing the lease and releases every room of this node at
// once, so that other nodes may claim them. Idempotent.
func (r *Registry) Close() error {
	var err error
	r.closeOnce.Do(func() {
		close(r.stop)
		<-r.done
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `DELETE FROM qun_room_nodes WHERE node = $1`, r.cfg.Node); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `DELETE FROM qun_nodes WHERE node = $1`, r.cfg.Node)
			return err
		})
		if err != nil {
			err = fmt.Errorf("postgres: registry close: %w", err)
		}
	})
	return err
}

// LivePlacement is r as a live.Placement: pass it as live.Config.Placement
// so that each live's media runs on one node and clients are sent there
// (RegistryConfig.Addr is the address they are sent to).
func (r *Registry) LivePlacement() live.Placement { return livePlacement{r} }

type livePlacement struct{ r *Registry }

func (p livePlacement) Claim(ctx context.Context, ref qun.RoomRef) (string, bool, error) {
	pl, here, err := p.r.Claim(ctx, ref)
	return pl.Addr, here, err
}

func (p livePlacement) Release(ctx context.Context, ref qun.RoomRef) error {
	return p.r.Release(ctx, ref)
}
