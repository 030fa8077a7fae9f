package shop

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/sqlmigrate"
)

// SQLiteStoreConfig configures NewSQLiteStore.
type SQLiteStoreConfig struct {
	// MaxBatch bounds how many Updates share one transaction. Zero means 512.
	MaxBatch int
}

// SQLiteStore is the embedded Store on a database opened with sqlite.Open.
//
// SQLite allows one writer at a time, and one fsync per small transaction
// caps a disk at a few hundred commits per second. So every Update is queued
// to one writer goroutine, which holds a dedicated connection with its
// statements prepared once, and runs all queued fns in one transaction
// (BEGIN IMMEDIATE … COMMIT), each inside its own SAVEPOINT so that one fn's
// failure rolls back only its own writes. Every caller of the batch returns
// after the one COMMIT (WAL, synchronous=FULL): one fsync is shared by all.
// This is how a flash sale on one product reaches thousands of durable
// reservations per second; see doc.go for measured figures.
//
// The store must be the only writer of its tables.
type SQLiteStore struct {
	db   *sql.DB
	max  int
	reqs chan *updateReq

	wconn *sql.Conn
	wq    *connQ // owned by the writer goroutine

	rmu   sync.Mutex
	rstmt map[string]*sql.Stmt // db-level prepared statements for View

	mu     sync.RWMutex // Update holds it shared while queueing; Close exclusively
	closed bool
	close  chan struct{}
	done   chan struct{}
}

type updateReq struct {
	fn   func(Tx) error
	err  error
	done chan error
}

var sqliteMigrations = []string{`
CREATE TABLE shop_shops (tenant TEXT NOT NULL, id TEXT NOT NULL, owner TEXT NOT NULL, data BLOB NOT NULL,
	PRIMARY KEY (tenant, id)) WITHOUT ROWID;
CREATE TABLE shop_shelves (tenant TEXT NOT NULL, room TEXT NOT NULL, data BLOB NOT NULL,
	PRIMARY KEY (tenant, room)) WITHOUT ROWID;
CREATE TABLE shop_shelf_items (tenant TEXT NOT NULL, product TEXT NOT NULL, room TEXT NOT NULL,
	PRIMARY KEY (tenant, product, room)) WITHOUT ROWID;
CREATE TABLE shop_stock (tenant TEXT NOT NULL, product TEXT NOT NULL, qty INTEGER NOT NULL CHECK (qty >= 0),
	PRIMARY KEY (tenant, product)) WITHOUT ROWID;
CREATE TABLE shop_orders (tenant TEXT NOT NULL, id TEXT NOT NULL, status TEXT NOT NULL, expires INTEGER NOT NULL,
	room TEXT NOT NULL, sharer TEXT NOT NULL, total INTEGER NOT NULL,
	pay_ref TEXT NOT NULL, pay_url TEXT NOT NULL, updated INTEGER NOT NULL, data BLOB NOT NULL);
CREATE UNIQUE INDEX shop_orders_id ON shop_orders (tenant, id);
CREATE INDEX shop_orders_due ON shop_orders (expires) WHERE status = 'reserved';
CREATE INDEX shop_orders_sharer ON shop_orders (tenant, room, sharer) WHERE sharer != '';
CREATE TABLE shop_coupons (tenant TEXT NOT NULL, id TEXT NOT NULL, room TEXT NOT NULL, created INTEGER NOT NULL,
	data BLOB NOT NULL, PRIMARY KEY (tenant, id)) WITHOUT ROWID;
CREATE INDEX shop_coupons_room ON shop_coupons (tenant, room, created);
CREATE TABLE shop_claims (tenant TEXT NOT NULL, id TEXT NOT NULL, coupon TEXT NOT NULL, user TEXT NOT NULL,
	data BLOB NOT NULL, PRIMARY KEY (tenant, id)) WITHOUT ROWID;
CREATE INDEX shop_claims_user ON shop_claims (tenant, coupon, user);
CREATE TABLE shop_tips (tenant TEXT NOT NULL, id TEXT NOT NULL, data BLOB NOT NULL,
	PRIMARY KEY (tenant, id)) WITHOUT ROWID;
CREATE TABLE shop_contrib (tenant TEXT NOT NULL, room TEXT NOT NULL, user TEXT NOT NULL,
	amount INTEGER NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (tenant, room, user)) WITHOUT ROWID;
CREATE INDEX shop_contrib_rank ON shop_contrib (tenant, room, amount DESC);
CREATE TABLE shop_redpackets (tenant TEXT NOT NULL, id TEXT NOT NULL, status TEXT NOT NULL, expires INTEGER NOT NULL,
	data BLOB NOT NULL, PRIMARY KEY (tenant, id)) WITHOUT ROWID;
CREATE INDEX shop_redpackets_due ON shop_redpackets (expires) WHERE status IN ('pending', 'active');
CREATE TABLE shop_redpacket_claims (tenant TEXT NOT NULL, packet TEXT NOT NULL, user TEXT NOT NULL,
	n INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (tenant, packet, user)) WITHOUT ROWID;
CREATE INDEX shop_redpacket_claims_order ON shop_redpacket_claims (tenant, packet, n);
CREATE TABLE shop_attrib (tenant TEXT NOT NULL, room TEXT NOT NULL, viewer TEXT NOT NULL, sharer TEXT NOT NULL,
	data BLOB NOT NULL, PRIMARY KEY (tenant, room, viewer)) WITHOUT ROWID;
CREATE INDEX shop_attrib_sharer ON shop_attrib (tenant, room, sharer);
CREATE TABLE shop_idem (tenant TEXT NOT NULL, user TEXT NOT NULL, scope TEXT NOT NULL, key TEXT NOT NULL,
	hash BLOB NOT NULL, ref TEXT NOT NULL, ts INTEGER NOT NULL, PRIMARY KEY (tenant, user, scope, key)) WITHOUT ROWID;
CREATE INDEX shop_idem_ts ON shop_idem (ts);
CREATE TABLE shop_endpoints (id TEXT PRIMARY KEY NOT NULL, tenant TEXT NOT NULL, disabled INTEGER NOT NULL, data BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE shop_outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, tenant TEXT NOT NULL,
	type TEXT NOT NULL, ts INTEGER NOT NULL, body BLOB NOT NULL);
CREATE TABLE shop_deliveries (msg INTEGER NOT NULL, endpoint TEXT NOT NULL, state INTEGER NOT NULL,
	attempts INTEGER NOT NULL, next_at INTEGER NOT NULL, last_status INTEGER NOT NULL, last_error TEXT NOT NULL,
	updated INTEGER NOT NULL, PRIMARY KEY (msg, endpoint)) WITHOUT ROWID;
CREATE INDEX shop_deliveries_due ON shop_deliveries (state, next_at);
CREATE INDEX shop_deliveries_endpoint ON shop_deliveries (endpoint, state, msg);
CREATE TABLE shop_cursors (name TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL) WITHOUT ROWID;
`}

// NewSQLiteStore creates the shop tables on db if needed and starts the
// writer. Close stops it; db stays open.
func NewSQLiteStore(db *sql.DB, cfg SQLiteStoreConfig) (*SQLiteStore, error) {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 512
	}
	ctx := context.Background()
	if err := sqlmigrate.Apply(ctx, db, "shop.store", sqliteMigrations); err != nil {
		return nil, err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("shop: writer connection: %w", err)
	}
	s := &SQLiteStore{
		db:    db,
		max:   cfg.MaxBatch,
		reqs:  make(chan *updateReq, cfg.MaxBatch),
		wconn: conn,
		wq:    &connQ{prep: func(q string) (*sql.Stmt, error) { return conn.PrepareContext(ctx, q) }, stmts: map[string]*sql.Stmt{}},
		rstmt: map[string]*sql.Stmt{},
		close: make(chan struct{}),
		done:  make(chan struct{}),
	}
	go s.writer()
	return s, nil
}

// Update implements Store.
func (s *SQLiteStore) Update(ctx context.Context, fn func(Tx) error) error {
	r := &updateReq{fn: fn, done: make(chan error, 1)}
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

// View implements Store.
func (s *SQLiteStore) View(ctx context.Context, fn func(Tx) error) error {
	if s.isClosed() {
		return qun.ErrClosed
	}
	return fn(&sqlTx{q: &dbQ{s: s, ctx: ctx}, ro: true})
}

func (s *SQLiteStore) isClosed() bool {
	select {
	case <-s.close:
		return true
	default:
		return false
	}
}

func (s *SQLiteStore) writer() {
	defer close(s.done)
	batch := make([]*updateReq, 0, s.max)
	for {
		select {
		case r := <-s.reqs:
			batch = append(batch[:0], r)
		case <-s.close:
			// Nothing more can be queued: run what already was.
			for len(s.reqs) > 0 {
				batch = batch[:0]
				for len(batch) < s.max && len(s.reqs) > 0 {
					batch = append(batch, <-s.reqs)
				}
				s.run(batch)
			}
			return
		}
	fill:
		for len(batch) < s.max {
			select {
			case r := <-s.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		s.run(batch)
	}
}

// run executes a batch in one transaction and answers every request.
func (s *SQLiteStore) run(batch []*updateReq) {
	err := s.commit(batch)
	for _, r := range batch {
		if r.err != nil {
			r.done <- r.err
		} else {
			r.done <- err
		}
		r.err = nil
	}
}

func (s *SQLiteStore) commit(batch []*updateReq) (err error) {
	q := s.wq
	if _, err := q.exec("BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("shop: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_, _ = q.exec("ROLLBACK")
		}
	}()
	tx := &sqlTx{q: q}
	// A single request needs no savepoint: its failure rolls back the whole
	// transaction.
	single := len(batch) == 1
	for _, r := range batch {
		if !single {
			if _, err := q.exec("SAVEPOINT u"); err != nil {
				return fmt.Errorf("shop: savepoint: %w", err)
			}
		}
		r.err = callFn(r.fn, tx)
		if single {
			if r.err != nil {
				_, _ = q.exec("ROLLBACK")
				return nil
			}
			break
		}
		if r.err != nil {
			if _, err := q.exec("ROLLBACK TO u"); err != nil {
				return fmt.Errorf("shop: rollback to savepoint: %w", err)
			}
		}
		if _, err := q.exec("RELEASE u"); err != nil {
			return fmt.Errorf("shop: release savepoint: %w", err)
		}
	}
	if _, err := q.exec("COMMIT"); err != nil {
		return fmt.Errorf("shop: commit: %w", err)
	}
	return nil
}

func callFn(fn func(Tx) error, tx Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("shop: update panicked: %v", p)
		}
	}()
	return fn(tx)
}

// Close stops the writer after it has run every queued Update.
func (s *SQLiteStore) Close() error {
	s.mu.Lock()
	already := s.closed
	if !s.closed {
		s.closed = true
		close(s.close)
	}
	s.mu.Unlock()
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		return errors.New("shop: store writer did not stop")
	}
	if already {
		return nil
	}
	for _, st := range s.wq.stmts {
		st.Close()
	}
	s.rmu.Lock()
	for _, st := range s.rstmt {
		st.Close()
	}
	s.rstmt = nil
	s.rmu.Unlock()
	return s.wconn.Close()
}

// querier runs statements on the writer's connection or the pool.
type querier interface {
	exec(q string, args ...any) (sql.Result, error)
	queryRow(q string, args ...any) row
	query(q string, args ...any) (*sql.Rows, error)
	writable() bool
}

// row is a *sql.Row that may also carry a statement preparation error.
type row struct {
	r   *sql.Row
	err error
}

func (r row) Scan(dst ...any) error {
	if r.err != nil {
		return r.err
	}
	return r.r.Scan(dst...)
}

// connQ is the writer connection with statements prepared once.
type connQ struct {
	prep  func(string) (*sql.Stmt, error)
	stmts map[string]*sql.Stmt
}

func (c *connQ) stmt(q string) (*sql.Stmt, error) {
	if st, ok := c.stmts[q]; ok {
		return st, nil
	}
	st, err := c.prep(q)
	if err != nil {
		return nil, err
	}
	c.stmts[q] = st
	return st, nil
}

var bg = context.Background()

func (c *connQ) exec(q string, args ...any) (sql.Result, error) {
	st, err := c.stmt(q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(bg, args...)
}

func (c *connQ) queryRow(q string, args ...any) row {
	st, err := c.stmt(q)
	if err != nil {
		return row{err: err}
	}
	return row{r: st.QueryRowContext(bg, args...)}
}

func (c *connQ) query(q string, args ...any) (*sql.Rows, error) {
	st, err := c.stmt(q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(bg, args...)
}

func (c *connQ) writable() bool { return true }

// dbQ reads through the pool with statements prepared per database.
type dbQ struct {
	s   *SQLiteStore
	ctx context.Context
}

func (d *dbQ) stmt(q string) (*sql.Stmt, error) {
	d.s.rmu.Lock()
	defer d.s.rmu.Unlock()
	if d.s.rstmt == nil {
		return nil, qun.ErrClosed
	}
	if st, ok := d.s.rstmt[q]; ok {
		return st, nil
	}
	st, err := d.s.db.PrepareContext(d.ctx, q)
	if err != nil {
		return nil, err
	}
	d.s.rstmt[q] = st
	return st, nil
}

func (d *dbQ) exec(string, ...any) (sql.Result, error) { return nil, errReadOnly }

func (d *dbQ) queryRow(q string, args ...any) row {
	st, err := d.stmt(q)
	if err != nil {
		return row{err: err}
	}
	return row{r: st.QueryRowContext(d.ctx, args...)}
}

func (d *dbQ) query(q string, args ...any) (*sql.Rows, error) {
	st, err := d.stmt(q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(d.ctx, args...)
}

func (d *dbQ) writable() bool { return false }
