package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/qunkit/qun"
	"github.com/qunkit/qun/replay"
)

// ReplayStore is replay.Store on PostgreSQL. Create it with NewReplayStore.
// Updates are optimistic (a version column), as in the SQLite store, so
// nodes need no lock to share it.
type ReplayStore struct{ pool *pgxpool.Pool }

var _ replay.Store = (*ReplayStore)(nil)

// NewReplayStore applies the replay migrations (tables prefixed replay_)
// and returns the store. The pool belongs to the caller.
func NewReplayStore(ctx context.Context, pool *pgxpool.Pool) (*ReplayStore, error) {
	if err := migrate(ctx, pool, "replay"); err != nil {
		return nil, err
	}
	return &ReplayStore{pool: pool}, nil
}

var errNoReplay = qun.Errorf(qun.CodeNotFound, "no such replay")

// replayArgs are the values of the columns after tenant and id, in table order.
func replayArgs(r *replay.Replay) ([]any, error) {
	data, err := replay.EncodeRecord(r)
	if err != nil {
		return nil, err
	}
	return []any{string(r.Live), string(r.Group), string(r.State), replay.UnixMS(r.StartedAt), replay.UnixMS(r.DecideBy), replay.UnixMS(r.ExpiresAt),
		replay.UnixMS(r.Heartbeat), r.Purged, data}, nil
}

// Create implements replay.Store.
func (s *ReplayStore) Create(ctx context.Context, r *replay.Replay) error {
	a, err := replayArgs(r)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO replay_replays (tenant, id, live, grp, state, started_at, decide_by, expires_at, heartbeat, purged, data, version)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1)`, append([]any{string(r.Tenant), r.ID}, a...)...)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return qun.Errorf(qun.CodeConflict, "replay %s exists", r.ID)
	}
	if err != nil {
		return fmt.Errorf("replay: create: %w", err)
	}
	r.Version = 1
	return nil
}

const replayCols = `SELECT tenant, id, state, decide_by, expires_at, heartbeat, purged, version, data FROM replay_replays `

func scanReplay(row pgx.Row) (*replay.Replay, error) {
	var (
		r                     replay.Replay
		tenant, state         string
		decide, expires, beat int64
		data                  []byte
	)
	if err := row.Scan(&tenant, &r.ID, &state, &decide, &expires, &beat, &r.Purged, &r.Version, &data); err != nil {
		return nil, err
	}
	if err := replay.DecodeRecord(data, &r); err != nil {
		return nil, err
	}
	r.Tenant, r.State = qun.TenantID(tenant), replay.State(state)
	r.DecideBy, r.ExpiresAt, r.Heartbeat = replay.FromUnixMS(decide), replay.FromUnixMS(expires), replay.FromUnixMS(beat)
	return &r, nil
}

// Get implements replay.Store.
func (s *ReplayStore) Get(ctx context.Context, tenant qun.TenantID, id string) (*replay.Replay, error) {
	r, err := scanReplay(s.pool.QueryRow(ctx, replayCols+`WHERE tenant = $1 AND id = $2`, string(tenant), id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errNoReplay
	}
	if err != nil {
		return nil, fmt.Errorf("replay: get: %w", err)
	}
	return r, nil
}

// Update implements replay.Store.
func (s *ReplayStore) Update(ctx context.Context, r *replay.Replay) error {
	a, err := replayArgs(r)
	if err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `UPDATE replay_replays SET live = $4, grp = $5, state = $6, started_at = $7, decide_by = $8, expires_at = $9,
		heartbeat = $10, purged = $11, data = $12, version = version + 1 WHERE tenant = $1 AND id = $2 AND version = $3`,
		append([]any{string(r.Tenant), r.ID, r.Version}, a...)...)
	if err != nil {
		return fmt.Errorf("replay: update: %w", err)
	}
	if tag.RowsAffected() == 0 {
		var v int64
		err := s.pool.QueryRow(ctx, `SELECT version FROM replay_replays WHERE tenant = $1 AND id = $2`, string(r.Tenant), r.ID).Scan(&v)
		if errors.Is(err, pgx.ErrNoRows) {
			return errNoReplay
		}
		return qun.Errorf(qun.CodeConflict, "replay %s changed meanwhile", r.ID)
	}
	r.Version++
	return nil
}

// List implements replay.Store.
func (s *ReplayStore) List(ctx context.Context, q replay.Query) ([]*replay.Replay, error) {
	states := make([]string, len(q.States))
	for i, st := range q.States {
		states[i] = string(st)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	return s.collect(ctx, "list", replayCols+`WHERE tenant = $1 AND ($2 = '' OR live = $2) AND ($3 = '' OR grp = $3)
		AND (cardinality($4::text[]) = 0 OR state = ANY($4)) AND ($5::bigint = 0 OR started_at < $5)
		ORDER BY started_at DESC, id DESC LIMIT $6`, string(q.Tenant), string(q.Live), string(q.Group), states, replay.UnixMS(q.Before), limit)
}

// Due implements replay.Store.
func (s *ReplayStore) Due(ctx context.Context, now, stale time.Time, limit int) ([]*replay.Replay, error) {
	return s.collect(ctx, "due", replayCols+`WHERE (state = 'pending' AND decide_by > 0 AND decide_by <= $1)
		OR (state = 'kept' AND expires_at > 0 AND expires_at <= $1)
		OR (state = 'recording' AND heartbeat < $2)
		OR (state IN ('discarded', 'expired') AND NOT purged)
		LIMIT $3`, replay.UnixMS(now), replay.UnixMS(stale), max(limit, 0))
}

func (s *ReplayStore) collect(ctx context.Context, what, q string, args ...any) ([]*replay.Replay, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("replay: %s: %w", what, err)
	}
	defer rows.Close()
	var out []*replay.Replay
	for rows.Next() {
		r, err := scanReplay(rows)
		if err != nil {
			return nil, fmt.Errorf("replay: %s: %w", what, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("replay: %s: %w", what, err)
	}
	return out, nil
}
