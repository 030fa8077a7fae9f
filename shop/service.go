package shop

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"errors"
	"hash/fnv"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qunkit/qun"
	"go.uber.org/zap"
)

// Config configures a Service. Every field's zero value has the documented default.
type Config struct {
	// Hub carries the shop's ops and room events. Required.
	Hub *qun.Hub
	// DB is the SQLite database (sqlite.Open) for the default Store and
	// Catalog. Required unless both Store and Catalog are set.
	DB *sql.DB
	// Store keeps the shop's state. Nil means NewSQLiteStore(DB), which the
	// Service closes on Close; a Store passed in is the caller's to close.
	Store Store
	// Catalog supplies products. Nil means NewSQLiteCatalog(DB).
	Catalog Catalog
	// Checkout hands an order, tip or red packet to the vendor's payment.
	// Nil means buying, tipping and sending red packets answer "unavailable".
	Checkout CheckoutFunc
	// Reward, if set, is told of paid orders, tips and red packets and of
	// orders a sharer brought, so the vendor can grant points or member
	// levels. It is called after the change has committed, at most once;
	// the same facts reach the webhooks at least once.
	Reward RewardFunc
	// Logger receives the Service's logs. Nil means the Hub's logger.
	Logger *zap.Logger

	// Currency is the currency of tips and red packets. Zero means CNY.
	Currency Currency
	// ReservationTTL is how long an unpaid order holds its stock. Zero means 15 minutes.
	ReservationTTL time.Duration
	// RedPacketTTL is how long a red packet can be claimed; the remainder is
	// then refunded (webhook red_packet.expired). Zero means 24 hours.
	RedPacketTTL time.Duration
	// SweepInterval is how often expired reservations and red packets are
	// swept. Zero means 1 second.
	SweepInterval time.Duration
	// StockInterval is the least time between two stock events of one
	// product; changes in between are coalesced. Zero means 250 ms.
	StockInterval time.Duration
	// IdempotencyTTL is how long an idempotency key is remembered. Zero means 24 hours.
	IdempotencyTTL time.Duration
	// ShareSecret signs share links. Nil means a random secret per process:
	// links then stop working after a restart. Give 32 random bytes.
	ShareSecret []byte
	// ShareTTL is how long a share link is valid. Zero means 30 days.
	ShareTTL time.Duration
	// CallbackSecrets verify the vendor's calls to CallbackHandler (Standard
	// Webhooks signatures, "whsec_..."; several during a rotation). Empty
	// means the handler refuses every call.
	CallbackSecrets []string
	// Webhooks tunes delivery to the vendor's endpoints.
	Webhooks WebhookConfig
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// WebhookConfig tunes webhook delivery. Zero values have the documented defaults.
type WebhookConfig struct {
	// Client sends deliveries. Nil means an http.Client with Timeout that
	// does not follow redirects.
	Client *http.Client
	// Timeout bounds one delivery attempt. Zero means 15 seconds.
	Timeout time.Duration
	// Concurrency bounds attempts in flight. Zero means 16.
	Concurrency int
	// BackoffBase and BackoffMax shape the retry delay: attempt n waits
	// BackoffBase·2^(n-1), at most BackoffMax, with half of it random
	// (jitter). Zero means 5 seconds and 1 hour.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// MaxAttempts is how many attempts a delivery gets before it is marked
	// failed. Zero means 15 (about 10 hours with the default backoff).
	MaxAttempts int
	// MaxRetryAfter bounds how long a Retry-After header can postpone a
	// retry. Zero means 24 hours.
	MaxRetryAfter time.Duration
	// PollInterval is how often the worker looks for due deliveries when
	// nothing wakes it. Zero means 1 second.
	PollInterval time.Duration
	// Retention is how long finished deliveries and their messages are
	// kept. Zero means 7 days.
	Retention time.Duration
}

func (c *Config) setDefaults() {
	def := func(p *time.Duration, d time.Duration) {
		if *p <= 0 {
			*p = d
		}
	}
	if c.Currency == "" {
		c.Currency = CNY
	}
	def(&c.ReservationTTL, 15*time.Minute)
	def(&c.RedPacketTTL, 24*time.Hour)
	def(&c.SweepInterval, time.Second)
	def(&c.StockInterval, 250*time.Millisecond)
	def(&c.IdempotencyTTL, 24*time.Hour)
	def(&c.ShareTTL, 30*24*time.Hour)
	if c.Now == nil {
		c.Now = time.Now
	}
	w := &c.Webhooks
	def(&w.Timeout, 15*time.Second)
	def(&w.BackoffBase, 5*time.Second)
	def(&w.BackoffMax, time.Hour)
	def(&w.MaxRetryAfter, 24*time.Hour)
	def(&w.PollInterval, time.Second)
	def(&w.Retention, 7*24*time.Hour)
	if w.Concurrency <= 0 {
		w.Concurrency = 16
	}
	if w.MaxAttempts <= 0 {
		w.MaxAttempts = 15
	}
	if w.Client == nil {
		w.Client = &http.Client{
			Timeout:       w.Timeout,
			Transport:     &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: w.Concurrency, IdleConnTimeout: 90 * time.Second},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
}

// CheckoutRequest is what the vendor's checkout is asked to collect.
type CheckoutRequest struct {
	// Kind is "order", "tip" or "red_packet".
	Kind   string       `json:"kind"`
	Tenant qun.TenantID `json:"tenant"`
	// ID is the order, tip or red packet id. Use it as the payment's
	// idempotency key: Checkout may be called again for the same id after a
	// crash or a client's retry.
	ID     string     `json:"id"`
	User   qun.UserID `json:"user"`
	Room   qun.RoomID `json:"room"`
	Amount Money      `json:"amount"`
	// Order is set for Kind "order".
	Order *Order `json:"order,omitempty"`
	// ExpiresAt is when an unpaid order's reservation ends (unix ms); the
	// payment must not complete after it.
	ExpiresAt int64 `json:"expires_at,omitempty"`
}

// CheckoutResult is the vendor's answer.
type CheckoutResult struct {
	// PaymentRef is the vendor's reference for the payment (a prepay id).
	PaymentRef string `json:"payment_ref,omitempty"`
	// URL, if set, is opened by the client to pay (a cashier page).
	URL string `json:"url,omitempty"`
	// Paid says the payment already completed (a debit of a coin balance):
	// no Service.UpdatePayment call will follow.
	Paid bool `json:"paid,omitempty"`
}

// CheckoutFunc starts the payment of an order, tip or red packet. It
// returns quickly: the buyer pays afterwards, and the vendor reports the
// outcome with Service.UpdatePayment (or its HTTP CallbackHandler). An
// *qun.Error it returns reaches the client as is; any other error answers
// "unavailable". Either way the reservation is released.
type CheckoutFunc func(ctx context.Context, req *CheckoutRequest) (*CheckoutResult, error)

// Reward tells the vendor that a user earned something.
type Reward struct {
	Tenant qun.TenantID `json:"tenant"`
	User   qun.UserID   `json:"user"`
	Room   qun.RoomID   `json:"room"`
	// Kind is "order" (the buyer paid), "tip", "red_packet" (the sender
	// paid) or "share_order" (User shared the link that brought a paid order).
	Kind   string `json:"kind"`
	Ref    string `json:"ref"` // the order, tip or red packet id
	Amount Money  `json:"amount"`
}

// RewardFunc grants points or member rewards; errors are logged.
type RewardFunc func(ctx context.Context, r Reward) error

// Service is live selling for one Hub: shops, shelves, now explaining,
// coupons, orders, tips, red packets, share attribution, shipping and
// webhooks. Create it with New; Close it before closing the database.
type Service struct {
	cfg      Config
	hub      *qun.Hub
	store    Store
	ownStore bool
	catalog  Catalog
	ownCat   *SQLiteCatalog // closed by Close if the Service made it
	log      *zap.Logger
	share    []byte

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
	if cfg.DB == nil && (cfg.Store == nil || cfg.Catalog == nil) {
		return nil, errors.New("shop: Config.DB is required unless Store and Catalog are both set")
	}
	cfg.setDefaults()
	s := &Service{cfg: cfg, hub: cfg.Hub, store: cfg.Store, catalog: cfg.Catalog, log: cfg.Logger}
	if s.log == nil {
		s.log = cfg.Hub.Logger()
	}
	if s.catalog == nil {
		c, err := NewSQLiteCatalog(cfg.DB)
		if err != nil {
			return nil, err
		}
		s.catalog, s.ownCat = c, c
	}
	if s.store == nil {
		st, err := NewSQLiteStore(cfg.DB, SQLiteStoreConfig{})
		if err != nil {
			if s.ownCat != nil {
				s.ownCat.Close()
			}
			return nil, err
		}
		s.store, s.ownStore = st, true
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
// and retried after a restart), waits for it, and closes the Store if the
// Service opened it. Ops then answer "unavailable". Idempotent.
func (s *Service) Close() error {
	var err error
	s.once.Do(func() {
		s.closed.Store(true)
		s.cancel()
		s.wg.Wait()
		s.cfg.Webhooks.Client.CloseIdleConnections()
		if s.ownStore {
			err = s.store.Close()
		}
		if s.ownCat != nil {
			s.ownCat.Close()
		}
	})
	return err
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
// published in the order the changes were made.
func (s *Service) lockRoom(tenant qun.TenantID, room qun.RoomID) func() {
	h := fnv.New32a()
	h.Write([]byte(tenant))
	h.Write([]byte{0})
	h.Write([]byte(room))
	m := &s.rooms[h.Sum32()%uint32(len(s.rooms))]
	m.Lock()
	return m.Unlock
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
