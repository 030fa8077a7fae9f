package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/groupcommit"
	"go.uber.org/zap"
)

// LogStoreConfig configures NewLogStore.
type LogStoreConfig struct {
	// MaxBatch bounds the events one transaction appends (a single larger
	// Append still goes in one). Zero means 1024.
	MaxBatch int
	// Writers is how many batches may be in flight at once: one is being
	// committed while the next fills. Zero means 2.
	Writers int
	// CommitTimeout bounds one batch's transaction. Zero means 30 s.
	CommitTimeout time.Duration
	// Logger receives warnings (retried deadlocks). Nil means zap.NewNop().
	Logger *zap.Logger
}

// LogStore is the qun.LogStore on PostgreSQL. Create it with NewLogStore.
type LogStore struct {
	pool *pgxpool.Pool
	cfg  LogStoreConfig
	q    *groupcommit.Queue[appendReq] // cfg.Writers writers, batches of cfg.MaxBatch events
}

var _ qun.LogStore = (*LogStore)(nil)

// appendReq is one Append call waiting for its batch.
type appendReq struct {
	ref qun.RoomRef
	evs []*qun.Event
}

// NewLogStore applies the log's migrations to the pool's database (in its
// search_path) and returns a store appending through it. The pool belongs to
// the caller, who closes it after the store.
//
// Several nodes may run a LogStore on one database and append to the same
// rooms: sequence numbers stay consecutive and gapless across them.
func NewLogStore(ctx context.Context, pool *pgxpool.Pool, cfg LogStoreConfig) (*LogStore, error) {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 1024
	}
	if cfg.Writers <= 0 {
		cfg.Writers = 2
	}
	if cfg.CommitTimeout <= 0 {
		cfg.CommitTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if err := migrate(ctx, pool, "log"); err != nil {
		return nil, err
	}
	s := &LogStore{pool: pool, cfg: cfg}
	s.q = groupcommit.New(groupcommit.Config[appendReq]{
		MaxBatch:     cfg.MaxBatch,
		Weight:       func(r appendReq) int { return len(r.evs) },
		Writers:      cfg.Writers,
		ErrClosed:    qun.ErrClosed,
		CloseTimeout: cfg.CommitTimeout + 5*time.Second,
		Commit:       s.commit,
	})
	return s, nil
}

// Append queues evs for the next batch and returns when that batch has
// committed (synchronous_commit as the server is configured: on by default,
// so a nil return means the events are on disk). Once queued, it waits for
// that even if ctx ends, so that the caller never mistakes a committed event
// for a failed one.
func (s *LogStore) Append(ctx context.Context, ref qun.RoomRef, evs ...*qun.Event) error {
	if len(evs) == 0 {
		return nil
	}
	// PostgreSQL text refuses NUL and invalid UTF-8; refuse them here, so that
	// one bad event cannot fail the batch it would share with others.
	if err := storable(ref, evs); err != nil {
		return err
	}
	return s.q.Do(ctx, appendReq{ref: ref, evs: evs})
}

func storable(ref qun.RoomRef, evs []*qun.Event) error {
	ok := func(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }
	if !ok(string(ref.Tenant)) || !ok(string(ref.Room)) {
		return qun.Errorf(qun.CodeInvalid, "room reference is not valid UTF-8 text")
	}
	for _, ev := range evs {
		if !ok(ev.Type) || !ok(string(ev.Actor)) {
			return qun.Errorf(qun.CodeInvalid, "event type or actor is not valid UTF-8 text")
		}
	}
	return nil
}

// commit appends batch and reports each request's outcome. If the server
// refused the batch (so nothing of it was written) and it holds several
// appends, they are retried one by one, so that one failing append cannot
// fail the others.
func (s *LogStore) commit(batch []appendReq, errs []error) {
	err := s.appendBatch(batch)
	var pgErr *pgconn.PgError
	if err != nil && len(batch) > 1 && errors.As(err, &pgErr) {
		for i := range batch {
			errs[i] = s.appendBatch(batch[i : i+1])
		}
		return
	}
	for i := range errs {
		errs[i] = err
	}
}

// appendSQL appends a batch in one statement, so in one round trip and one
// implicit transaction. It bumps each room's counter (rooms in a fixed order,
// so two nodes' batches lock them in the same order), stores the events with
// the seqs reserved, and returns each room's new last seq.
const appendSQL = `WITH input AS (
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::bytea[], $7::int8[])
		AS e(tenant, room, type, actor, ts, data, ord)
), counts AS (
	SELECT tenant, room, count(*)::int8 AS n FROM input GROUP BY tenant, room
), bumped AS (
	INSERT INTO qun_log_rooms AS r (tenant, room, last_seq)
	SELECT tenant, room, n FROM counts ORDER BY tenant, room
	ON CONFLICT (tenant, room) DO UPDATE SET last_seq = r.last_seq + EXCLUDED.last_seq
	RETURNING tenant, room, last_seq
), stored AS (
	INSERT INTO qun_log_events (tenant, room, seq, type, actor, ts, data)
	SELECT i.tenant, i.room, b.last_seq - c.n + i.ord, i.type, i.actor, i.ts, i.data
	FROM input i JOIN bumped b USING (tenant, room) JOIN counts c USING (tenant, room)
)
SELECT tenant, room, last_seq FROM bumped`

type roomBatch struct {
	n    int64 // events of the room in the batch
	last int64 // the room's last seq after the batch
}

func (s *LogStore) appendBatch(batch []appendReq) error {
	n := 0
	for _, r := range batch {
		n += len(r.evs)
	}
	var (
		tenants = make([]string, 0, n)
		rooms   = make([]string, 0, n)
		types   = make([]string, 0, n)
		actors  = make([]string, 0, n)
		tss     = make([]int64, 0, n)
		data    = make([][]byte, 0, n)
		ords    = make([]int64, 0, n)
		byRoom  = make(map[qun.RoomRef]*roomBatch, len(batch))
	)
	for _, r := range batch {
		rb := byRoom[r.ref]
		if rb == nil {
			rb = &roomBatch{}
			byRoom[r.ref] = rb
		}
		for _, ev := range r.evs {
			rb.n++
			tenants = append(tenants, string(r.ref.Tenant))
			rooms = append(rooms, string(r.ref.Room))
			types = append(types, ev.Type)
			actors = append(actors, string(ev.Actor))
			tss = append(tss, ev.TS)
			if len(ev.Data) == 0 {
				data = append(data, nil)
			} else {
				data = append(data, ev.Data)
			}
			ords = append(ords, rb.n)
		}
	}
	var err error
	for attempt := 1; ; attempt++ {
		err = s.runAppend(byRoom, tenants, rooms, types, actors, tss, data, ords)
		var pgErr *pgconn.PgError
		// A deadlock or serialisation failure rolled everything back: retry.
		if err == nil || attempt == 5 || !errors.As(err, &pgErr) || (pgErr.Code != "40P01" && pgErr.Code != "40001") {
			break
		}
		s.cfg.Logger.Warn("log append retried", zap.String("code", pgErr.Code), zap.Int("attempt", attempt))
	}
	if err != nil {
		return err
	}
	next := make(map[qun.RoomRef]int64, len(byRoom))
	for _, r := range batch {
		rb := byRoom[r.ref]
		for _, ev := range r.evs {
			seq := rb.last - rb.n + 1 + next[r.ref]
			next[r.ref]++
			ev.Tenant, ev.Room, ev.Seq = r.ref.Tenant, r.ref.Room, uint64(seq)
		}
	}
	return nil
}

func (s *LogStore) runAppend(byRoom map[qun.RoomRef]*roomBatch, args ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.CommitTimeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, appendSQL, args...)
	if err != nil {
		return fmt.Errorf("postgres: log append: %w", err)
	}
	defer rows.Close()
	got := 0
	for rows.Next() {
		var tenant, room string
		var last int64
		if err := rows.Scan(&tenant, &room, &last); err != nil {
			return fmt.Errorf("postgres: log append: %w", err)
		}
		if rb := byRoom[qun.RoomRef{Tenant: qun.TenantID(tenant), Room: qun.RoomID(room)}]; rb != nil {
			rb.last = last
			got++
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres: log append: %w", err)
	}
	if got != len(byRoom) {
		return fmt.Errorf("postgres: log append: %d rooms answered, want %d", got, len(byRoom))
	}
	return nil
}

// Read returns up to limit events after `after`. It answers CodeTooOld when
// the first event after `after` is gone (rows deleted for retention) while
// later ones remain.
func (s *LogStore) Read(ctx context.Context, ref qun.RoomRef, after uint64, limit int) ([]*qun.Event, error) {
	if s.isClosed() {
		return nil, qun.ErrClosed
	}
	if limit <= 0 || after >= math.MaxInt64 {
		return nil, nil
	}
	evs, err := s.query(ctx, ref, false, `SELECT seq, type, actor, ts, data FROM qun_log_events
		WHERE tenant = $1 AND room = $2 AND seq > $3 ORDER BY seq LIMIT $4`,
		string(ref.Tenant), string(ref.Room), int64(after), limit)
	if err != nil {
		return nil, err
	}
	if len(evs) > 0 && evs[0].Seq != after+1 {
		return nil, qun.Errorf(qun.CodeTooOld, "events after seq %d are no longer kept; reload history", after)
	}
	return evs, nil
}

// ReadBefore returns up to limit events before `before` (0: the end), in
// ascending order.
func (s *LogStore) ReadBefore(ctx context.Context, ref qun.RoomRef, before uint64, limit int) ([]*qun.Event, error) {
	if s.isClosed() {
		return nil, qun.ErrClosed
	}
	if limit <= 0 {
		return nil, nil
	}
	if before == 0 || before > math.MaxInt64 {
		before = math.MaxInt64
	}
	return s.query(ctx, ref, true, `SELECT seq, type, actor, ts, data FROM qun_log_events
		WHERE tenant = $1 AND room = $2 AND seq < $3 ORDER BY seq DESC LIMIT $4`,
		string(ref.Tenant), string(ref.Room), int64(before), limit)
}

func (s *LogStore) query(ctx context.Context, ref qun.RoomRef, reverse bool, sql string, args ...any) ([]*qun.Event, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: log read: %w", err)
	}
	defer rows.Close()
	var out []*qun.Event
	for rows.Next() {
		ev := &qun.Event{Tenant: ref.Tenant, Room: ref.Room}
		var seq int64
		var actor string
		var data []byte
		if err := rows.Scan(&seq, &ev.Type, &actor, &ev.TS, &data); err != nil {
			return nil, fmt.Errorf("postgres: log read: %w", err)
		}
		ev.Seq, ev.Actor = uint64(seq), qun.UserID(actor)
		if len(data) > 0 {
			ev.Data = data
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: log read: %w", err)
	}
	if reverse {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out, nil
}

// Last returns the room's last seq from its counter row.
func (s *LogStore) Last(ctx context.Context, ref qun.RoomRef) (uint64, error) {
	if s.isClosed() {
		return 0, qun.ErrClosed
	}
	var last int64
	err := s.pool.QueryRow(ctx, `SELECT last_seq FROM qun_log_rooms WHERE tenant = $1 AND room = $2`,
		string(ref.Tenant), string(ref.Room)).Scan(&last)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("postgres: log last: %w", err)
	}
	return uint64(last), nil
}

// Redact replaces one event's data in place (a recalled message).
func (s *LogStore) Redact(ctx context.Context, ref qun.RoomRef, seq uint64, data []byte) error {
	if s.isClosed() {
		return qun.ErrClosed
	}
	if seq > math.MaxInt64 {
		return qun.Errorf(qun.CodeNotFound, "no event %d", seq)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE qun_log_events SET data = $4 WHERE tenant = $1 AND room = $2 AND seq = $3`,
		string(ref.Tenant), string(ref.Room), int64(seq), data)
	if err != nil {
		return fmt.Errorf("postgres: log redact: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return qun.Errorf(qun.CodeNotFound, "no event %d", seq)
	}
	return nil
}

func (s *LogStore) isClosed() bool { return s.q.Closed() }

// Close stops the writers after they have answered every queued append. It
// does not close the pool, which belongs to the caller. Idempotent.
func (s *LogStore) Close() error {
	if err := s.q.Close(); err != nil {
		return fmt.Errorf("postgres: log writers did not stop: %w", err)
	}
	return nil
}
