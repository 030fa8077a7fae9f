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
	"github.com/qunkit/qun/shop"
)

// ShopStoreConfig configures NewShopStore.
type ShopStoreConfig struct {
	// MaxBatch bounds how many Updates share one transaction. Zero means 256.
	MaxBatch int
	// CommitTimeout bounds one batch's transaction. Zero means 30 s.
	CommitTimeout time.Duration
}

// ShopStore is shop.Store on PostgreSQL. Create it with NewShopStore.
//
// Like the SQLite store, it queues Updates to one writer goroutine that runs
// what is waiting in one transaction (group commit), each fn inside its own
// savepoint so that one fn's failure rolls back only its writes. Every
// batch first takes one transaction-scoped advisory lock, so shop writes of
// all nodes take turns as they do on SQLite: read-check-write sequences
// (stock, coupon limits, order states) need no row locks, and outbox seqs
// commit in order, so the webhook dispatcher never skips one. Throughput is
// that of one writer, batches amortising the commit; Views never wait.
type ShopStore struct {
	pool *pgxpool.Pool
	cfg  ShopStoreConfig
	reqs chan *shopReq

	mu      sync.RWMutex // Update holds it shared while queueing; Close exclusively
	closed  bool
	closing chan struct{}
	done    chan struct{}
}

var _ shop.Store = (*ShopStore)(nil)

type shopReq struct {
	fn   func(shop.Tx) error
	err  error
	done chan error
}

// NewShopStore applies the shop migrations (tables prefixed shop_) and
// starts the writer; Close stops it. The pool belongs to the caller.
func NewShopStore(ctx context.Context, pool *pgxpool.Pool, cfg ShopStoreConfig) (*ShopStore, error) {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 256
	}
	if cfg.CommitTimeout <= 0 {
		cfg.CommitTimeout = 30 * time.Second
	}
	if err := migrate(ctx, pool, "shop"); err != nil {
		return nil, err
	}
	s := &ShopStore{pool: pool, cfg: cfg, reqs: make(chan *shopReq, cfg.MaxBatch), closing: make(chan struct{}), done: make(chan struct{})}
	go s.writer()
	return s, nil
}

// Update implements shop.Store.
func (s *ShopStore) Update(ctx context.Context, fn func(shop.Tx) error) error {
	r := &shopReq{fn: fn, done: make(chan error, 1)}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return qun.ErrClosed
	}
	select {
	case s.reqs <- r:
		s.mu.RUnlock()
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	// Queued: the outcome will be decided; wait for it even if ctx ends so
	// that a committed change is never reported as failed.
	return <-r.done
}

// View implements shop.Store.
func (s *ShopStore) View(ctx context.Context, fn func(shop.Tx) error) error {
	select {
	case <-s.closing:
		return qun.ErrClosed
	default:
	}
	return fn(&shopTx{ctx: ctx, q: s.pool, ro: true})
}

func (s *ShopStore) writer() {
	defer close(s.done)
	batch := make([]*shopReq, 0, s.cfg.MaxBatch)
	for {
		var r *shopReq
		select {
		case r = <-s.reqs:
		case <-s.closing:
			select { // nothing more can be queued: run what was
			case r = <-s.reqs:
			default:
				return
			}
		}
		batch = append(batch[:0], r)
	fill:
		for len(batch) < s.cfg.MaxBatch {
			select {
			case r := <-s.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		err := s.commit(batch)
		for _, r := range batch {
			if r.err != nil {
				r.done <- r.err
			} else {
				r.done <- err
			}
		}
		clear(batch)
	}
}

// shopLock is the advisory lock key every shop transaction holds.
const shopLock = `SELECT pg_advisory_xact_lock(hashtextextended('qun.shop:' || current_schema(), 0))`

func (s *ShopStore) commit(batch []*shopReq) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.CommitTimeout)
	defer cancel()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("shop: begin: %w", err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, shopLock); err != nil {
		return fmt.Errorf("shop: lock: %w", err)
	}
	st := &shopTx{ctx: ctx, q: tx}
	for _, r := range batch {
		if _, err := tx.Exec(ctx, "SAVEPOINT u"); err != nil {
			return fmt.Errorf("shop: savepoint: %w", err)
		}
		r.err = callShopFn(r.fn, st)
		if r.err == nil {
			_, err := tx.Exec(ctx, "RELEASE SAVEPOINT u")
			if err == nil {
				continue
			}
			// fn ignored a failed statement, which aborted the transaction:
			// its changes cannot be kept.
			r.err = fmt.Errorf("shop: update: %w", err)
		}
		if _, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT u"); err != nil {
			return fmt.Errorf("shop: rollback to savepoint: %w", err)
		}
		if _, err := tx.Exec(ctx, "RELEASE SAVEPOINT u"); err != nil {
			return fmt.Errorf("shop: release savepoint: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("shop: commit: %w", err)
	}
	return nil
}

func callShopFn(fn func(shop.Tx) error, tx shop.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("shop: update panicked: %v", p)
		}
	}()
	return fn(tx)
}

// Close stops the writer after it has run every queued Update. Idempotent.
func (s *ShopStore) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.closing)
	}
	s.mu.Unlock()
	select {
	case <-s.done:
		return nil
	case <-time.After(s.cfg.CommitTimeout + 5*time.Second):
		return errors.New("shop: store writer did not stop")
	}
}

// shopTx implements shop.Tx on the batch's transaction or, read-only, on
// the pool. Statements use ? placeholders, numbered by pq.
type shopTx struct {
	ctx context.Context
	q   querier
	ro  bool
}

var errShopReadOnly = errors.New("shop: write in a read-only view")

func (t *shopTx) exec(what, q string, args ...any) (int64, error) {
	if t.ro {
		return 0, errShopReadOnly
	}
	tag, err := t.q.Exec(t.ctx, pq(q), args...)
	if err != nil {
		return 0, fmt.Errorf("shop: write %s: %w", what, err)
	}
	return tag.RowsAffected(), nil
}

func (t *shopTx) row(q string, args ...any) pgx.Row { return t.q.QueryRow(t.ctx, pq(q), args...) }

// writeRow runs a writing statement that returns a row (RETURNING).
func (t *shopTx) writeRow(q string, args ...any) pgx.Row {
	if t.ro {
		return errRow{errShopReadOnly}
	}
	return t.row(q, args...)
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
