package shop

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"hash/fnv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qunkit/qun"
	"go.uber.org/zap"
)

// Service is live selling for one Hub: shops, shelves, now explaining,
// coupons, orders, tips, red packets, share attribution, shipping and
// webhooks. Create it with New; Close it before closing the database.
type Service struct {
	cfg     Config
	hub     *qun.Hub
	store   Store
	catalog Catalog
	log     *zap.Logger
	share   []byte

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool
	once   sync.Once

	rooms [64]sync.Mutex // serialise changes and their events per room

	stock *stockNotifier
	hooks *deliverer
}

// New creates the Service, registers its "shop.*" ops on cfg.Hub and starts
// its sweeper, stock publisher and webhook deliverer. One Hub carries one
// Service (registering the ops twice panics, like http.ServeMux); after a
// restart, create both again.
func New(cfg Config) (*Service, error) {
	if cfg.Hub == nil {
		return nil, errors.New("shop: Config.Hub is required")
	}
	if cfg.Store == nil {
		return nil, errors.New("shop: Config.Store is required")
	}
	if cfg.Catalog == nil {
		return nil, errors.New("shop: Config.Catalog is required")
	}
	cfg.setDefaults()
	s := &Service{cfg: cfg, hub: cfg.Hub, store: cfg.Store, catalog: cfg.Catalog, log: cfg.Logger}
	if s.log == nil {
		s.log = cfg.Hub.Logger()
	}
	s.share = cfg.ShareSecret
	if len(s.share) == 0 {
		s.share = make([]byte, 32)
		_, _ = rand.Read(s.share)
		s.log.Warn("shop: no ShareSecret configured; share links will not survive a restart")
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.stock = newStockNotifier(s)
	s.hooks = newDeliverer(s)
	s.registerOps()
	s.wg.Add(3)
	go s.sweeper()
	go s.stock.run()
	go s.hooks.run()
	return s, nil
}

// Close stops the background work (in-flight webhook attempts are cancelled
// and retried after a restart) and waits for it. Ops then answer
// "unavailable". The Store and Catalog stay open: they are the caller's, to
// close after the Service. Idempotent; the error is always nil today (Close
// has the io.Closer shape so that stacks can collect it with the others).
func (s *Service) Close() error {
	s.once.Do(func() {
		s.closed.Store(true)
		s.cancel()
		s.wg.Wait()
		s.cfg.Webhooks.Client.CloseIdleConnections()
	})
	return nil
}

// Store returns the Service's store (for the vendor's reports and tests).
func (s *Service) Store() Store { return s.store }

// Catalog returns the Service's catalogue.
func (s *Service) Catalog() Catalog { return s.catalog }

func (s *Service) now() int64 { return s.cfg.Now().UnixMilli() }

var errUnavailable = qun.Errorf(qun.CodeUnavailable, "the shop is shutting down")

// update runs fn through the store and wakes the webhook deliverer, since
// almost every change enqueues a message.
func (s *Service) update(ctx context.Context, fn func(Tx) error) error {
	if s.closed.Load() {
		return errUnavailable
	}
	err := s.store.Update(ctx, fn)
	if err == nil {
		s.hooks.wake()
	}
	if errors.Is(err, qun.ErrClosed) {
		return errUnavailable
	}
	return err
}

func (s *Service) view(ctx context.Context, fn func(Tx) error) error {
	if s.closed.Load() {
		return errUnavailable
	}
	err := s.store.View(ctx, fn)
	if errors.Is(err, qun.ErrClosed) {
		return errUnavailable
	}
	return err
}

// lockRoom serialises changes to one room's shelf so that its events are
// published in the order the changes were made: through Config.Locker
// across nodes, else in memory.
func (s *Service) lockRoom(ctx context.Context, tenant qun.TenantID, room qun.RoomID) (func(), error) {
	if s.cfg.Locker != nil {
		return s.cfg.Locker.Lock(ctx, qun.RoomRef{Tenant: tenant, Room: room}, false)
	}
	h := fnv.New32a()
	h.Write([]byte(tenant))
	h.Write([]byte{0})
	h.Write([]byte(room))
	m := &s.rooms[h.Sum32()%uint32(len(s.rooms))]
	m.Lock()
	return m.Unlock, nil
}

// requireIn checks id's role in the room of an object that find looks up
// (a coupon's or a red packet's room); an unknown object answers its
// lookup's not_found.
func (s *Service) requireIn(ctx context.Context, id *qun.Identity, min qun.Role, find func(tx Tx) (qun.RoomID, error)) (qun.RoomID, error) {
	var room qun.RoomID
	if err := s.view(ctx, func(tx Tx) (err error) { room, err = find(tx); return err }); err != nil {
		return "", err
	}
	return room, s.hub.RequireRole(ctx, id, room, min)
}

func checkIdentity(id *qun.Identity) error {
	if id == nil || id.Tenant == "" || id.User == "" {
		return qun.Errorf(qun.CodeUnauthenticated, "no identity")
	}
	return nil
}

// publish appends a room event. The change it reports has committed, so a
// failure is logged rather than returned: the op did happen.
func (s *Service) publish(ctx context.Context, tenant qun.TenantID, room qun.RoomID, typ string, actor qun.UserID, data any) {
	ref := qun.RoomRef{Tenant: tenant, Room: room}
	if _, err := s.hub.Publish(context.WithoutCancel(ctx), ref, qun.Draft{Type: typ, Actor: actor, Data: data}); err != nil {
		s.log.Error("shop: publish room event", zap.Stringer("room", ref), zap.String("type", typ), zap.Error(err))
	}
}

// webhookBody is the Standard Webhooks payload shape.
type webhookBody struct {
	Type      string `json:"type"`
	Timestamp string `json:"timestamp"`
	Data      any    `json:"data"`
}

// emit enqueues a webhook message in tx, so it commits with the change.
func (s *Service) emit(tx Tx, tenant qun.TenantID, typ string, data any) error {
	now := s.cfg.Now()
	body := mustJSON(webhookBody{Type: typ, Timestamp: now.UTC().Format(time.RFC3339Nano), Data: data})
	return tx.Enqueue(&Message{ID: "msg_" + qun.NewID(), Tenant: tenant, Type: typ, TS: now.UnixMilli(), Body: body})
}

// bodyHash fingerprints a create request (with its key cleared) for
// idempotency.
func bodyHash(v any) []byte {
	h := sha256.Sum256(mustJSON(v))
	return h[:]
}

// replayed checks an idempotency key inside tx: it returns the id the key
// created before, "" if the key is new, or a conflict if the key came with
// another request.
func replayed(tx Tx, id *qun.Identity, scope, key string, hash []byte) (string, error) {
	r, err := tx.Idem(id.Tenant, id.User, scope, key)
	if err != nil || r == nil {
		return "", err
	}
	if !bytes.Equal(r.Hash, hash) {
		return "", &qun.Error{Code: qun.CodeConflict, Message: "this idempotency key was used with a different request", Field: "key"}
	}
	return r.Ref, nil
}

func (s *Service) remember(tx Tx, id *qun.Identity, scope, key string, hash []byte, ref string) error {
	return tx.PutIdem(&IdemRecord{Tenant: id.Tenant, User: id.User, Scope: scope, Key: key, Hash: hash, Ref: ref, TS: s.now()})
}

func (s *Service) reward(ctx context.Context, r Reward) {
	if s.cfg.Reward == nil {
		return
	}
	if err := s.cfg.Reward(context.WithoutCancel(ctx), r); err != nil {
		s.log.Warn("shop: reward hook failed", zap.String("kind", r.Kind), zap.String("ref", r.Ref), zap.Error(err))
	}
}

// checkout calls the vendor's Checkout hook.
func (s *Service) checkout(ctx context.Context, req *CheckoutRequest) (*CheckoutResult, error) {
	if s.cfg.Checkout == nil {
		return nil, qun.Errorf(qun.CodeUnavailable, "checkout is not configured")
	}
	res, err := s.cfg.Checkout(ctx, req)
	if err != nil {
		var qe *qun.Error
		if errors.As(err, &qe) {
			return nil, qe
		}
		s.log.Warn("shop: checkout failed", zap.String("kind", req.Kind), zap.String("id", req.ID), zap.Error(err))
		return nil, qun.Errorf(qun.CodeUnavailable, "checkout failed; try again")
	}
	if res == nil {
		res = &CheckoutResult{}
	}
	if len(res.PaymentRef) > 256 || len(res.URL) > 2048 {
		return nil, qun.Errorf(qun.CodeUnavailable, "checkout answered an oversized reference")
	}
	return res, nil
}
