package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/qunkit/qun"
	"github.com/qunkit/qun/live"
)

// LiveStore is live.Store on PostgreSQL. Create it with NewLiveStore.
type LiveStore struct{ pool *pgxpool.Pool }

var _ live.Store = (*LiveStore)(nil)

// NewLiveStore applies the live migrations (tables prefixed live_) and
// returns the store. The pool belongs to the caller.
func NewLiveStore(ctx context.Context, pool *pgxpool.Pool) (*LiveStore, error) {
	if err := migrate(ctx, pool, "live"); err != nil {
		return nil, err
	}
	return &LiveStore{pool: pool}, nil
}

func errNoLive() error { return qun.Errorf(qun.CodeNotFound, "no such live") }

func (s *LiveStore) Create(ctx context.Context, r *live.Record) error {
	body, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO live_lives (tenant, id, grp, host, state, created_at, body)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
			r.Tenant, r.ID, r.Group, r.Host, r.State, r.CreatedAt.UnixNano(), body)
		if err != nil {
			return fmt.Errorf("live: store: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return qun.Errorf(qun.CodeConflict, "live %s exists", r.ID)
		}
		return writeLiveGroups(ctx, tx, r)
	})
}

func writeLiveGroups(ctx context.Context, tx pgx.Tx, r *live.Record) error {
	groups := make([]string, 0, 1+len(r.Relays))
	for _, g := range r.Groups() {
		groups = append(groups, string(g))
	}
	if _, err := tx.Exec(ctx, `DELETE FROM live_groups WHERE tenant = $1 AND live = $2`, r.Tenant, r.ID); err != nil {
		return fmt.Errorf("live: store: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO live_groups (tenant, grp, live) SELECT $1, g, $2 FROM unnest($3::text[]) AS g
		ON CONFLICT DO NOTHING`, r.Tenant, r.ID, groups); err != nil {
		return fmt.Errorf("live: store: %w", err)
	}
	return nil
}

func liveRecord(tenant qun.TenantID, body []byte) (*live.Record, error) {
	var r live.Record
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("live: store: %w", err)
	}
	r.Tenant = tenant
	return &r, nil
}

func (s *LiveStore) get(ctx context.Context, q querier, tenant qun.TenantID, id string, lock bool) (*live.Record, error) {
	sql := `SELECT body FROM live_lives WHERE tenant = $1 AND id = $2`
	if lock {
		sql += ` FOR UPDATE`
	}
	var body []byte
	err := q.QueryRow(ctx, sql, tenant, id).Scan(&body)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errNoLive()
	}
	if err != nil {
		return nil, fmt.Errorf("live: store: %w", err)
	}
	return liveRecord(tenant, body)
}

func (s *LiveStore) Get(ctx context.Context, tenant qun.TenantID, id string) (*live.Record, error) {
	return s.get(ctx, s.pool, tenant, id, false)
}

// Update replaces r's mutable fields; group, host and creation time stay.
func (s *LiveStore) Update(ctx context.Context, r *live.Record) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		old, err := s.get(ctx, tx, r.Tenant, r.ID, true)
		if err != nil {
			return err
		}
		c := *r
		c.Relays = slices.Clone(r.Relays)
		c.Group, c.Host, c.CreatedAt = old.Group, old.Host, old.CreatedAt
		body, err := json.Marshal(&c)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE live_lives SET state = $1, body = $2 WHERE tenant = $3 AND id = $4`,
			c.State, body, c.Tenant, c.ID); err != nil {
			return fmt.Errorf("live: store: %w", err)
		}
		return writeLiveGroups(ctx, tx, &c)
	})
}

func (s *LiveStore) ListByGroup(ctx context.Context, tenant qun.TenantID, group qun.RoomID, states []live.State, limit int) ([]*live.Record, error) {
	if len(states) == 0 || limit <= 0 {
		return nil, nil
	}
	st := make([]string, len(states))
	for i, x := range states {
		st[i] = string(x)
	}
	rows, err := s.pool.Query(ctx, `SELECT l.body FROM live_groups g JOIN live_lives l ON l.tenant = g.tenant AND l.id = g.live
		WHERE g.tenant = $1 AND g.grp = $2 AND l.state = ANY($3::text[])
		ORDER BY l.created_at DESC, l.id DESC LIMIT $4`, tenant, group, st, limit)
	if err != nil {
		return nil, fmt.Errorf("live: store: %w", err)
	}
	defer rows.Close()
	var out []*live.Record
	for rows.Next() {
		var body []byte
		if err := rows.Scan(&body); err != nil {
			return nil, fmt.Errorf("live: store: %w", err)
		}
		r, err := liveRecord(tenant, body)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (s *LiveStore) SetReminder(ctx context.Context, tenant qun.TenantID, id string, user qun.UserID, on bool) error {
	if _, err := s.Get(ctx, tenant, id); err != nil {
		return err
	}
	var err error
	if on {
		_, err = s.pool.Exec(ctx, `INSERT INTO live_reminders (tenant, live, usr) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, tenant, id, user)
	} else {
		_, err = s.pool.Exec(ctx, `DELETE FROM live_reminders WHERE tenant = $1 AND live = $2 AND usr = $3`, tenant, id, user)
	}
	if err != nil {
		return fmt.Errorf("live: store: %w", err)
	}
	return nil
}

func (s *LiveStore) Reminders(ctx context.Context, tenant qun.TenantID, id string, after qun.UserID, limit int) ([]qun.UserID, error) {
	if _, err := s.Get(ctx, tenant, id); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT usr FROM live_reminders WHERE tenant = $1 AND live = $2 AND usr > $3 ORDER BY usr LIMIT $4`,
		tenant, id, after, max(limit, 0))
	if err != nil {
		return nil, fmt.Errorf("live: store: %w", err)
	}
	defer rows.Close()
	var out []qun.UserID
	for rows.Next() {
		var u qun.UserID
		if err := rows.Scan(&u); err != nil {
			return nil, fmt.Errorf("live: store: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

const liveQuestionCols = `tenant, live, id, usr, name, text, answer, answered_by, answerer, answered_at, featured, created`

func scanLiveQuestion(row pgx.Row) (*live.Question, error) {
	var q live.Question
	err := row.Scan(&q.Tenant, &q.Live, &q.ID, &q.User, &q.Name, &q.Text, &q.Answer, &q.AnsweredBy, &q.Answerer, &q.AnsweredAt, &q.Featured, &q.Created)
	if err != nil {
		return nil, err
	}
	return &q, nil
}

// AddQuestion numbers q under a transaction-scoped advisory lock on the
// live, so concurrent askers get consecutive IDs.
func (s *LiveStore) AddQuestion(ctx context.Context, q *live.Question, perUser int) error {
	var id int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('live.qa:' || $1 || ':' || $2, 0))`, q.Tenant, q.Live); err != nil {
			return fmt.Errorf("live: store: %w", err)
		}
		var mine int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM live_questions WHERE tenant = $1 AND live = $2 AND usr = $3`, q.Tenant, q.Live, q.User).Scan(&mine); err != nil {
			return fmt.Errorf("live: store: %w", err)
		}
		if mine >= perUser {
			return qun.Errorf(qun.CodeExhausted, "at most %d questions per live", perUser)
		}
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(id), 0) + 1 FROM live_questions WHERE tenant = $1 AND live = $2`, q.Tenant, q.Live).Scan(&id); err != nil {
			return fmt.Errorf("live: store: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO live_questions (`+liveQuestionCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			q.Tenant, q.Live, id, q.User, q.Name, q.Text, q.Answer, q.AnsweredBy, q.Answerer, q.AnsweredAt, q.Featured, q.Created); err != nil {
			return fmt.Errorf("live: store: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	q.ID = id
	return nil
}

// updateQuestion runs stmt, whose first three arguments are tenant, live
// and id, returning the question's columns.
func (s *LiveStore) updateQuestion(ctx context.Context, stmt string, args ...any) (*live.Question, error) {
	q, err := scanLiveQuestion(s.pool.QueryRow(ctx, stmt+` RETURNING `+liveQuestionCols, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, &qun.Error{Code: qun.CodeNotFound, Message: "no such question", Field: "id"}
	}
	if err != nil {
		return nil, fmt.Errorf("live: store: %w", err)
	}
	return q, nil
}

func (s *LiveStore) AnswerQuestion(ctx context.Context, tenant qun.TenantID, liveID string, id int64, a live.Question) (*live.Question, error) {
	return s.updateQuestion(ctx, `UPDATE live_questions SET answer = $4, answered_by = $5, answerer = $6, answered_at = $7
		WHERE tenant = $1 AND live = $2 AND id = $3`, tenant, liveID, id, a.Answer, a.AnsweredBy, a.Answerer, a.AnsweredAt)
}

func (s *LiveStore) FeatureQuestion(ctx context.Context, tenant qun.TenantID, liveID string, id int64, on bool) (*live.Question, error) {
	return s.updateQuestion(ctx, `UPDATE live_questions SET featured = $4 WHERE tenant = $1 AND live = $2 AND id = $3`, tenant, liveID, id, on)
}

func (s *LiveStore) Questions(ctx context.Context, tenant qun.TenantID, liveID string, qq live.QuestionQuery) ([]*live.Question, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+liveQuestionCols+` FROM live_questions
		WHERE tenant = $1 AND live = $2 AND id > $3 AND (featured OR NOT $4) ORDER BY id LIMIT $5`,
		tenant, liveID, qq.After, qq.FeaturedOnly, max(qq.Limit, 0))
	if err != nil {
		return nil, fmt.Errorf("live: store: %w", err)
	}
	defer rows.Close()
	var out []*live.Question
	for rows.Next() {
		q, err := scanLiveQuestion(rows)
		if err != nil {
			return nil, fmt.Errorf("live: store: %w", err)
		}
		out = append(out, q)
	}
	return out, rows.Err()
}
