package shop

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/groupcommit"
	"github.com/qunkit/qun/internal/sqlmigrate"
)

// sqliteMaxBatch bounds how many Updates share one transaction: enough to
// absorb a flash sale's burst (doc.go's figures were measured with it), small
// enough that one batch's transaction stays short.
const sqliteMaxBatch = 512

// SQLiteStore is the embedded Store on a database opened with sqlite.Open.
//
// SQLite allows one writer at a time, and one fsync per small transaction
// caps a disk at a few hundred commits per second. So every Update is queued
// (internal/groupcommit) to one writer goroutine, which holds a dedicated connection with its
// statements prepared once, and runs all queued fns in one transaction
// (BEGIN IMMEDIATE … COMMIT), each inside its own SAVEPOINT so that one fn's
// failure rolls back only its own writes. Every caller of the batch returns
// after the one COMMIT (WAL, synchronous=FULL): one fsync is shared by all.
// This is how a flash sale on one product reaches thousands of durable
// reservations per second; see doc.go for measured figures.
//
// The store must be the only writer of its tables.
type SQLiteStore struct {
	db *sql.DB
	q  *groupcommit.Queue[func(Tx) error] // one writer

	wconn *sql.Conn
	wq    *connQ // owned by the writer goroutine

	rmu   sync.Mutex
	rstmt map[string]*sql.Stmt // db-level prepared statements for View

	closeOnce sync.Once
	closeErr  error
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
`, `
ALTER TABLE shop_redpackets ADD COLUMN room TEXT NOT NULL DEFAULT '';
UPDATE shop_redpackets SET room = json_extract(CAST(data AS TEXT), '$.room');
CREATE INDEX shop_redpackets_open ON shop_redpackets (tenant, room, expires) WHERE status = 'active';
ALTER TABLE shop_orders ADD COLUMN buyer TEXT NOT NULL DEFAULT '';
ALTER TABLE shop_orders ADD COLUMN product TEXT NOT NULL DEFAULT '';
ALTER TABLE shop_orders ADD COLUMN qty INTEGER NOT NULL DEFAULT 0;
UPDATE shop_orders SET buyer = json_extract(CAST(data AS TEXT), '$.buyer'),
	product = json_extract(CAST(data AS TEXT), '$.product'), qty = json_extract(CAST(data AS TEXT), '$.qty');
CREATE INDEX shop_orders_bought ON shop_orders (tenant, product, buyer) WHERE status IN ('reserved', 'paid', 'shipped');
`}

// NewSQLiteStore creates the shop tables on db if needed and starts the
// writer. Close stops it; db stays open.
func NewSQLiteStore(db *sql.DB) (*SQLiteStore, error) {
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
		wconn: conn,
		wq:    &connQ{prep: func(q string) (*sql.Stmt, error) { return conn.PrepareContext(ctx, q) }, stmts: map[string]*sql.Stmt{}},
		rstmt: map[string]*sql.Stmt{},
	}
	s.q = groupcommit.New(groupcommit.Config[func(Tx) error]{
		MaxBatch:     sqliteMaxBatch,
		ErrClosed:    qun.ErrClosed,
		CloseTimeout: 30 * time.Second,
		Commit:       s.run,
	})
	return s, nil
}

// Update implements Store. Once queued, it waits for the outcome even if
// ctx ends, so that a committed change is never reported as failed.
func (s *SQLiteStore) Update(ctx context.Context, fn func(Tx) error) error {
	return s.q.Do(ctx, fn)
}

// View implements Store.
func (s *SQLiteStore) View(ctx context.Context, fn func(Tx) error) error {
	if s.isClosed() {
		return qun.ErrClosed
	}
	return fn(&sqlTx{q: &dbQ{s: s, ctx: ctx}, ro: true})
}

func (s *SQLiteStore) isClosed() bool { return s.q.Closed() }

// run executes a batch in one transaction and answers every request: with
// its fn's error, or else the transaction's.
func (s *SQLiteStore) run(batch []func(Tx) error, errs []error) {
	if err := s.commit(batch, errs); err != nil {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	}
}

func (s *SQLiteStore) commit(batch []func(Tx) error, errs []error) (err error) {
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
	for i, fn := range batch {
		if !single {
			if _, err := q.exec("SAVEPOINT u"); err != nil {
				return fmt.Errorf("shop: savepoint: %w", err)
			}
		}
		errs[i] = callFn(fn, tx)
		if single {
			if errs[i] != nil {
				_, _ = q.exec("ROLLBACK")
				return nil
			}
			break
		}
		if errs[i] != nil {
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

// Close stops the writer after it has run every queued Update, then closes
// the writer's connection and statements. Idempotent.
func (s *SQLiteStore) Close() error {
	s.closeOnce.Do(func() {
		if err := s.q.Close(); err != nil {
			// The writer may still use its connection: leave it be.
			s.closeErr = fmt.Errorf("shop: store writer did not stop: %w", err)
			return
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
		s.closeErr = s.wconn.Close()
	})
	return s.closeErr
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
