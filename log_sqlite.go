package qun

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/qunkit/qun/internal/groupcommit"
	"github.com/qunkit/qun/internal/sqlmigrate"
)

// SQLiteLogStoreConfig configures NewSQLiteLogStore.
type SQLiteLogStoreConfig struct {
	// MaxBatch bounds how many Append calls share one transaction.
	// Zero means 512.
	MaxBatch int
}

// NewSQLiteLogStore returns the durable LogStore on db (opened with
// sqlite.Open). Appends from all rooms are queued to one writer goroutine
// (internal/groupcommit) that commits them in batches: an Append returns
// after the transaction holding its events has committed (WAL,
// synchronous=FULL), so one fsync is shared by every append waiting at that
// moment.
//
// The store must be the only writer of its tables: it keeps each room's last
// sequence number in memory.
func NewSQLiteLogStore(db *sql.DB, cfg SQLiteLogStoreConfig) (LogStore, error) {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 512
	}
	if err := sqlmigrate.Apply(context.Background(), db, "qun.log", []string{`CREATE TABLE qun_events (
		tenant TEXT NOT NULL,
		room   TEXT NOT NULL,
		seq    INTEGER NOT NULL,
		type   TEXT NOT NULL,
		actor  TEXT NOT NULL,
		ts     INTEGER NOT NULL,
		data   BLOB,
		PRIMARY KEY (tenant, room, seq)
	) WITHOUT ROWID`}); err != nil {
		return nil, err
	}
	s := &sqliteLog{db: db, last: map[RoomRef]uint64{}}
	s.q = groupcommit.New(groupcommit.Config[logAppend]{
		MaxBatch:     cfg.MaxBatch,
		ErrClosed:    ErrClosed,
		CloseTimeout: 30 * time.Second,
		Commit: func(batch []logAppend, errs []error) {
			if err := s.commit(batch); err != nil {
				for i := range errs {
					errs[i] = err
				}
			}
		},
	})
	return s, nil
}

type sqliteLog struct {
	db *sql.DB
	q  *groupcommit.Queue[logAppend] // one writer

	last map[RoomRef]uint64 // owned by the writer goroutine
}

// logAppend is one Append call waiting for its batch.
type logAppend struct {
	ref RoomRef
	evs []*Event
}

// Append returns once the batch holding evs has committed. Once queued, it
// waits for that even if ctx ends, so that the caller never mistakes a
// committed event for a failed one.
func (s *sqliteLog) Append(ctx context.Context, ref RoomRef, evs ...*Event) error {
	if len(evs) == 0 {
		return nil
	}
	return s.q.Do(ctx, logAppend{ref: ref, evs: evs})
}

func (s *sqliteLog) commit(batch []logAppend) (err error) {
	touched := make(map[RoomRef]uint64, len(batch)) // rooms' last seq before this batch
	defer func() {
		if err != nil { // roll the in-memory counters back with the transaction
			for ref, last := range touched {
				s.last[ref] = last
			}
		}
	}()
	ctx := context.Background()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("qun: log begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO qun_events (tenant, room, seq, type, actor, ts, data) VALUES (?,?,?,?,?,?,?)`)
	if err != nil {
		return fmt.Errorf("qun: log prepare: %w", err)
	}
	defer stmt.Close()
	for _, r := range batch {
		last, ok := s.last[r.ref]
		if !ok {
			if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq),0) FROM qun_events WHERE tenant=? AND room=?`,
				string(r.ref.Tenant), string(r.ref.Room)).Scan(&last); err != nil {
				return fmt.Errorf("qun: log last: %w", err)
			}
		}
		if _, seen := touched[r.ref]; !seen {
			touched[r.ref] = last
		}
		for _, ev := range r.evs {
			last++
			ev.Tenant, ev.Room, ev.Seq = r.ref.Tenant, r.ref.Room, last
			if _, err := stmt.ExecContext(ctx, string(ev.Tenant), string(ev.Room), int64(ev.Seq), ev.Type, string(ev.Actor), ev.TS, []byte(ev.Data)); err != nil {
				return fmt.Errorf("qun: log insert: %w", err)
			}
		}
		s.last[r.ref] = last
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("qun: log commit: %w", err)
	}
	return nil
}

func (s *sqliteLog) Read(ctx context.Context, ref RoomRef, after uint64, limit int) ([]*Event, error) {
	if limit <= 0 {
		return nil, nil
	}
	return s.query(ctx, `SELECT seq, type, actor, ts, data FROM qun_events WHERE tenant=? AND room=? AND seq>? ORDER BY seq LIMIT ?`,
		ref, false, string(ref.Tenant), string(ref.Room), int64(after), limit)
}

func (s *sqliteLog) ReadBefore(ctx context.Context, ref RoomRef, before uint64, limit int) ([]*Event, error) {
	if limit <= 0 {
		return nil, nil
	}
	if before == 0 {
		before = 1 << 62
	}
	return s.query(ctx, `SELECT seq, type, actor, ts, data FROM qun_events WHERE tenant=? AND room=? AND seq<? ORDER BY seq DESC LIMIT ?`,
		ref, true, string(ref.Tenant), string(ref.Room), int64(before), limit)
}

func (s *sqliteLog) query(ctx context.Context, q string, ref RoomRef, reverse bool, args ...any) ([]*Event, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("qun: log read: %w", err)
	}
	defer rows.Close()
	var out []*Event
	for rows.Next() {
		ev := &Event{Tenant: ref.Tenant, Room: ref.Room}
		var seq int64
		var actor string
		var data []byte
		if err := rows.Scan(&seq, &ev.Type, &actor, &ev.TS, &data); err != nil {
			return nil, fmt.Errorf("qun: log scan: %w", err)
		}
		ev.Seq, ev.Actor = uint64(seq), UserID(actor)
		if len(data) > 0 {
			ev.Data = data
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("qun: log read: %w", err)
	}
	if reverse {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out, nil
}

func (s *sqliteLog) Last(ctx context.Context, ref RoomRef) (uint64, error) {
	if s.isClosed() {
		return 0, ErrClosed
	}
	var last int64
	err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq),0) FROM qun_events WHERE tenant=? AND room=?`,
		string(ref.Tenant), string(ref.Room)).Scan(&last)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("qun: log last: %w", err)
	}
	return uint64(last), nil
}

func (s *sqliteLog) Redact(ctx context.Context, ref RoomRef, seq uint64, data []byte) error {
	if s.isClosed() {
		return ErrClosed
	}
	res, err := s.db.ExecContext(ctx, `UPDATE qun_events SET data=? WHERE tenant=? AND room=? AND seq=?`,
		data, string(ref.Tenant), string(ref.Room), int64(seq))
	if err != nil {
		return fmt.Errorf("qun: log redact: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Errorf(CodeNotFound, "no event %d", seq)
	}
	return nil
}

func (s *sqliteLog) isClosed() bool { return s.q.Closed() }

// Close stops the writer after it has answered every queued append. It does
// not close the *sql.DB, which belongs to the caller.
func (s *sqliteLog) Close() error {
	if err := s.q.Close(); err != nil {
		return fmt.Errorf("qun: log writer did not stop: %w", err)
	}
	return nil
}
