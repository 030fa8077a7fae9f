package replay

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/sqlmigrate"
)

var sqliteMigrations = []string{`
CREATE TABLE replay_replays (
	tenant     TEXT    NOT NULL,
	id         TEXT    NOT NULL,
	live       TEXT    NOT NULL,
	grp        TEXT    NOT NULL,
	state      TEXT    NOT NULL,
	started_at INTEGER NOT NULL,
	decide_by  INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	heartbeat  INTEGER NOT NULL,
	purged     INTEGER NOT NULL,
	version    INTEGER NOT NULL,
	data       TEXT    NOT NULL,
	PRIMARY KEY (tenant, id)
);
CREATE INDEX replay_replays_live ON replay_replays (tenant, live, started_at);
CREATE INDEX replay_replays_grp ON replay_replays (tenant, grp, started_at);
CREATE INDEX replay_replays_state ON replay_replays (state);
`}

// SQLiteStore is the embedded Store: one row per replay, its tracks and
// internal fields as JSON, with columns for what queries filter on.
type SQLiteStore struct {
	db *sql.DB
}

// NewSQLiteStore returns a Store in db (see package sqlite), creating its
// tables (prefixed replay_) if needed.
func NewSQLiteStore(db *sql.DB) (*SQLiteStore, error) {
	if err := sqlmigrate.Apply(context.Background(), db, "replay.store", sqliteMigrations); err != nil {
		return nil, err
	}
	return &SQLiteStore{db: db}, nil
}

func (s *SQLiteStore) args(r *Replay) ([]any, error) {
	data, err := EncodeRecord(r)
	if err != nil {
		return nil, err
	}
	purged := 0
	if r.Purged {
		purged = 1
	}
	return []any{string(r.Live), string(r.Group), string(r.State), UnixMS(r.StartedAt), UnixMS(r.DecideBy), UnixMS(r.ExpiresAt), UnixMS(r.Heartbeat), purged, string(data)}, nil
}

// Create implements Store.
func (s *SQLiteStore) Create(ctx context.Context, r *Replay) error {
	a, err := s.args(r)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO replay_replays (live, grp, state, started_at, decide_by, expires_at, heartbeat, purged, data, tenant, id, version)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`, append(a, string(r.Tenant), r.ID)...)
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE") || strings.Contains(err.Error(), "PRIMARY KEY") {
			return qun.Errorf(qun.CodeConflict, "replay %s exists", r.ID)
		}
		return fmt.Errorf("replay: create: %w", err)
	}
	r.Version = 1
	return nil
}

const selectCols = `SELECT tenant, id, state, decide_by, expires_at, heartbeat, purged, version, data FROM replay_replays `

func scanReplay(sc interface{ Scan(...any) error }) (*Replay, error) {
	var (
		r                     Replay
		state, data           string
		decide, expires, beat int64
		purged                int
		tenant                string
	)
	if err := sc.Scan(&tenant, &r.ID, &state, &decide, &expires, &beat, &purged, &r.Version, &data); err != nil {
		return nil, err
	}
	if err := DecodeRecord([]byte(data), &r); err != nil {
		return nil, err
	}
	r.Tenant, r.State = qun.TenantID(tenant), State(state)
	r.DecideBy, r.ExpiresAt, r.Heartbeat, r.Purged = FromUnixMS(decide), FromUnixMS(expires), FromUnixMS(beat), purged != 0
	return &r, nil
}

// Get implements Store.
func (s *SQLiteStore) Get(ctx context.Context, tenant qun.TenantID, id string) (*Replay, error) {
	r, err := scanReplay(s.db.QueryRowContext(ctx, selectCols+`WHERE tenant=? AND id=?`, string(tenant), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoReplay
	}
	return r, err
}

// Update implements Store.
func (s *SQLiteStore) Update(ctx context.Context, r *Replay) error {
	a, err := s.args(r)
	if err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, `UPDATE replay_replays SET live=?, grp=?, state=?, started_at=?, decide_by=?, expires_at=?, heartbeat=?, purged=?, data=?, version=version+1
		WHERE tenant=? AND id=? AND version=?`, append(a, string(r.Tenant), r.ID, r.Version)...)
	if err != nil {
		return fmt.Errorf("replay: update: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var v int64
		err := s.db.QueryRowContext(ctx, `SELECT version FROM replay_replays WHERE tenant=? AND id=?`, string(r.Tenant), r.ID).Scan(&v)
		if errors.Is(err, sql.ErrNoRows) {
			return errNoReplay
		}
		return qun.Errorf(qun.CodeConflict, "replay %s changed meanwhile", r.ID)
	}
	r.Version++
	return nil
}

// List implements Store.
func (s *SQLiteStore) List(ctx context.Context, q Query) ([]*Replay, error) {
	where := []string{"tenant=?"}
	args := []any{string(q.Tenant)}
	if q.Live != "" {
		where, args = append(where, "live=?"), append(args, string(q.Live))
	}
	if q.Group != "" {
		where, args = append(where, "grp=?"), append(args, string(q.Group))
	}
	if len(q.States) > 0 {
		where = append(where, "state IN (?"+strings.Repeat(",?", len(q.States)-1)+")")
		for _, st := range q.States {
			args = append(args, string(st))
		}
	}
	if !q.Before.IsZero() {
		where, args = append(where, "started_at<?"), append(args, UnixMS(q.Before))
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	rows, err := s.db.QueryContext(ctx, selectCols+`WHERE `+strings.Join(where, " AND ")+` ORDER BY started_at DESC, id DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("replay: list: %w", err)
	}
	return collect(rows)
}

// Due implements Store.
func (s *SQLiteStore) Due(ctx context.Context, now, stale time.Time, limit int) ([]*Replay, error) {
	n := UnixMS(now)
	rows, err := s.db.QueryContext(ctx, selectCols+`WHERE (state='pending' AND decide_by>0 AND decide_by<=?)
		OR (state='kept' AND expires_at>0 AND expires_at<=?)
		OR (state='recording' AND heartbeat<?)
		OR (state IN ('discarded','expired') AND purged=0)
		LIMIT ?`, n, n, UnixMS(stale), limit)
	if err != nil {
		return nil, fmt.Errorf("replay: due: %w", err)
	}
	return collect(rows)
}

func collect(rows *sql.Rows) ([]*Replay, error) {
	defer rows.Close()
	var out []*Replay
	for rows.Next() {
		r, err := scanReplay(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

var errNoReplay = qun.Errorf(qun.CodeNotFound, "no such replay")
