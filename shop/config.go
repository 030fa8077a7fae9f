package shop

import (
	"context"
	"net/http"
	"time"

	"github.com/qunkit/qun"
	"go.uber.org/zap"
)

// Config configures a Service. Every field's zero value has the documented default.
type Config struct {
	// Hub carries the shop's ops and room events. Required.
	Hub *qun.Hub
	// Store keeps the shop's state: NewSQLiteStore, or an adapter such as
	// postgres.NewShopStore. Required. It stays the caller's: close it after
	// the Service.
	Store Store
	// Catalog supplies products: NewSQLiteCatalog, or the vendor's own.
	// Required. Like Store, it is the caller's to close.
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
	// Locker orders a room's shelf changes with their events. Nil means
	// an in-memory lock: one node. Nodes sharing a Store share a Locker
	// too (postgres.NewRoomLocker), or two nodes changing one shelf at the
	// same instant may publish its events out of commit order.
	Locker Locker
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// Locker is a lock per room shared by the nodes of a deployment (the same
// method as chat.Locker and whiteboard.Locker). The shop takes a room's
// lock exclusively around a shelf change and the publication of its events.
type Locker interface {
	// Lock blocks until it holds room's lock, shared or exclusive, or ctx
	// ends. The caller calls unlock exactly once.
	Lock(ctx context.Context, room qun.RoomRef, shared bool) (unlock func(), err error)
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
