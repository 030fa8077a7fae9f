package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/groupcommit"
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
// what is waiting in one transaction (internal/groupcommit), each fn inside its own
// savepoint so that one fn's failure rolls back only its writes. Every
// batch first takes one transaction-scoped advisory lock, so shop writes of
// all nodes take turns as they do on SQLite: read-check-write sequences
// (stock, coupon limits, order states) need no row locks, and outbox seqs
// commit in order, so the webhook dispatcher never skips one. Throughput is
// that of one writer, batches amortising the commit; Views never wait.
type ShopStore struct {
	pool *pgxpool.Pool
	cfg  ShopStoreConfig
	q    *groupcommit.Queue[func(shop.Tx) error] // one writer
}

var _ shop.Store = (*ShopStore)(nil)

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
	s := &ShopStore{pool: pool, cfg: cfg}
	s.q = groupcommit.New(groupcommit.Config[func(shop.Tx) error]{
		MaxBatch:     cfg.MaxBatch,
		ErrClosed:    qun.ErrClosed,
		CloseTimeout: cfg.CommitTimeout + 5*time.Second,
		Commit: func(batch []func(shop.Tx) error, errs []error) {
			if err := s.commit(batch, errs); err != nil {
				for i := range errs {
					if errs[i] == nil {
						errs[i] = err
					}
				}
			}
		},
	})
	return s, nil
}

// Update implements shop.Store. Once queued, it waits for the outcome even
// if ctx ends, so that a committed change is never reported as failed.
func (s *ShopStore) Update(ctx context.Context, fn func(shop.Tx) error) error {
	return s.q.Do(ctx, fn)
}

// View implements shop.Store.
func (s *ShopStore) View(ctx context.Context, fn func(shop.Tx) error) error {
	if s.q.Closed() {
		return qun.ErrClosed
	}
	return fn(&shopTx{ctx: ctx, q: s.pool, ro: true})
}

// shopLock is the advisory lock key every shop transaction holds.
const shopLock = `SELECT pg_advisory_xact_lock(hashtextextended('qun.shop:' || current_schema(), 0))`

// commit runs batch in one transaction, each fn's error in errs[i]; it
// returns the transaction's error, which fails the fns that succeeded.
func (s *ShopStore) commit(batch []func(shop.Tx) error, errs []error) error {
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
	for i, fn := range batch {
		if _, err := tx.Exec(ctx, "SAVEPOINT u"); err != nil {
			return fmt.Errorf("shop: savepoint: %w", err)
		}
		errs[i] = callShopFn(fn, st)
		if errs[i] == nil {
			_, err := tx.Exec(ctx, "RELEASE SAVEPOINT u")
			if err == nil {
				continue
			}
			// fn ignored a failed statement, which aborted the transaction:
			// its changes cannot be kept.
			errs[i] = fmt.Errorf("shop: update: %w", err)
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
	if err := s.q.Close(); err != nil {
		return fmt.Errorf("shop: store writer did not stop: %w", err)
	}
	return nil
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
