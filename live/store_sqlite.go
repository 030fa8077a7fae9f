package live

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/sqlmigrate"
)

// SQLiteStore is a Store in the shared SQLite database (see package sqlite).
type SQLiteStore struct{ db *sql.DB }

var sqliteMigrations = []string{
	`CREATE TABLE live_lives (
		tenant TEXT NOT NULL, id TEXT NOT NULL, grp TEXT NOT NULL, host TEXT NOT NULL,
		state TEXT NOT NULL, created_at INTEGER NOT NULL, body TEXT NOT NULL,
		PRIMARY KEY (tenant, id))`,
	`CREATE TABLE live_groups (
		tenant TEXT NOT NULL, grp TEXT NOT NULL, live TEXT NOT NULL,
		PRIMARY KEY (tenant, grp, live))`,
	`CREATE TABLE live_reminders (
		tenant TEXT NOT NULL, live TEXT NOT NULL, user TEXT NOT NULL,
		PRIMARY KEY (tenant, live, user))`,
	`CREATE TABLE live_questions (
		tenant TEXT NOT NULL, live TEXT NOT NULL, id INTEGER NOT NULL,
		user TEXT NOT NULL, name TEXT NOT NULL, text TEXT NOT NULL,
		answer TEXT NOT NULL DEFAULT '', answered_by TEXT NOT NULL DEFAULT '',
		answerer TEXT NOT NULL DEFAULT '', answered_at INTEGER NOT NULL DEFAULT 0,
		featured INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL,
		PRIMARY KEY (tenant, live, id));
	CREATE INDEX live_questions_user ON live_questions (tenant, live, user)`,
}

// NewSQLiteStore applies the package's migrations to db and returns the store.
func NewSQLiteStore(db *sql.DB) (*SQLiteStore, error) {
	if err := sqlmigrate.Apply(context.Background(), db, "live.store", sqliteMigrations); err != nil {
		return nil, err
	}
	return &SQLiteStore{db: db}, nil
}

func (s *SQLiteStore) Create(ctx context.Context, r *Record) error {
	body, err := json.Marshal(r)
	if err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT INTO live_lives (tenant, id, grp, host, state, created_at, body)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		r.Tenant, r.ID, r.Group, r.Host, r.State, r.CreatedAt.UnixNano(), body)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return qun.Errorf(qun.CodeConflict, "live %s exists", r.ID)
	}
	if err := writeGroups(ctx, tx, r); err != nil {
		return err
	}
	return tx.Commit()
}

func writeGroups(ctx context.Context, tx *sql.Tx, r *Record) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM live_groups WHERE tenant = ? AND live = ?`, r.Tenant, r.ID); err != nil {
		return err
	}
	for _, g := range r.Groups() {
		if _, err := tx.ExecContext(ctx, `INSERT INTO live_groups (tenant, grp, live) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, r.Tenant, g, r.ID); err != nil {
			return err
		}
	}
	return nil
}

func scanRecord(tenant qun.TenantID, body []byte) (*Record, error) {
	var r Record
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, err
	}
	r.Tenant = tenant
	return &r, nil
}

func (s *SQLiteStore) Get(ctx context.Context, tenant qun.TenantID, id string) (*Record, error) {
	var body []byte
	err := s.db.QueryRowContext(ctx, `SELECT body FROM live_lives WHERE tenant = ? AND id = ?`, tenant, id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoLive()
	}
	if err != nil {
		return nil, err
	}
	return scanRecord(tenant, body)
}

func (s *SQLiteStore) Update(ctx context.Context, r *Record) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var body []byte
	err = tx.QueryRowContext(ctx, `SELECT body FROM live_lives WHERE tenant = ? AND id = ?`, r.Tenant, r.ID).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return errNoLive()
	}
	if err != nil {
		return err
	}
	old, err := scanRecord(r.Tenant, body)
	if err != nil {
		return err
	}
	c := r.clone()
	c.Group, c.Host, c.CreatedAt = old.Group, old.Host, old.CreatedAt
	nb, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE live_lives SET state = ?, body = ? WHERE tenant = ? AND id = ?`, c.State, nb, c.Tenant, c.ID); err != nil {
		return err
	}
	if err := writeGroups(ctx, tx, c); err != nil {
		return err
	}
	return tx.Commit()
}

func (s *SQLiteStore) ListByGroup(ctx context.Context, tenant qun.TenantID, group qun.RoomID, states []State, limit int) ([]*Record, error) {
	if len(states) == 0 || limit <= 0 {
		return nil, nil
	}
	args := []any{tenant, group}
	for _, st := range states {
		args = append(args, st)
	}
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, `SELECT l.body FROM live_groups g JOIN live_lives l ON l.tenant = g.tenant AND l.id = g.live
		WHERE g.tenant = ? AND g.grp = ? AND l.state IN (?`+strings.Repeat(",?", len(states)-1)+`)
		ORDER BY l.created_at DESC, l.id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Record
	for rows.Next() {
		var body []byte
		if err := rows.Scan(&body); err != nil {
			return nil, err
		}
		r, err := scanRecord(tenant, body)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (s *SQLiteStore) SetReminder(ctx context.Context, tenant qun.TenantID, id string, user qun.UserID, on bool) error {
	if _, err := s.Get(ctx, tenant, id); err != nil {
		return err
	}
	var err error
	if on {
		_, err = s.db.ExecContext(ctx, `INSERT INTO live_reminders (tenant, live, user) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, tenant, id, user)
	} else {
		_, err = s.db.ExecContext(ctx, `DELETE FROM live_reminders WHERE tenant = ? AND live = ? AND user = ?`, tenant, id, user)
	}
	return err
}

func (s *SQLiteStore) Reminders(ctx context.Context, tenant qun.TenantID, id string, after qun.UserID, limit int) ([]qun.UserID, error) {
	if _, err := s.Get(ctx, tenant, id); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT user FROM live_reminders WHERE tenant = ? AND live = ? AND user > ? ORDER BY user LIMIT ?`, tenant, id, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []qun.UserID
	for rows.Next() {
		var u qun.UserID
		if err := rows.Scan(&u); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

const questionCols = `tenant, live, id, user, name, text, answer, answered_by, answerer, answered_at, featured, created`

func scanQuestion(row interface{ Scan(...any) error }) (*Question, error) {
	var q Question
	err := row.Scan(&q.Tenant, &q.Live, &q.ID, &q.User, &q.Name, &q.Text, &q.Answer, &q.AnsweredBy, &q.Answerer, &q.AnsweredAt, &q.Featured, &q.Created)
	if err != nil {
		return nil, err
	}
	return &q, nil
}

func (s *SQLiteStore) AddQuestion(ctx context.Context, q *Question, perUser int) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var mine int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM live_questions WHERE tenant = ? AND live = ? AND user = ?`, q.Tenant, q.Live, q.User).Scan(&mine); err != nil {
		return err
	}
	if mine >= perUser {
		return errTooManyQuestions(perUser)
	}
	var id int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) + 1 FROM live_questions WHERE tenant = ? AND live = ?`, q.Tenant, q.Live).Scan(&id); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO live_questions (`+questionCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		q.Tenant, q.Live, id, q.User, q.Name, q.Text, q.Answer, q.AnsweredBy, q.Answerer, q.AnsweredAt, q.Featured, q.Created); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	q.ID = id
	return nil
}

// updateQuestion runs stmt (whose last arguments are tenant, live, id) and
// reads the question back, in one transaction.
func (s *SQLiteStore) updateQuestion(ctx context.Context, tenant qun.TenantID, live string, id int64, stmt string, args ...any) (*Question, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, stmt, append(args, tenant, live, id)...)
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, errNoQuestion()
	}
	q, err := scanQuestion(tx.QueryRowContext(ctx, `SELECT `+questionCols+` FROM live_questions WHERE tenant = ? AND live = ? AND id = ?`, tenant, live, id))
	if err != nil {
		return nil, err
	}
	return q, tx.Commit()
}

func (s *SQLiteStore) AnswerQuestion(ctx context.Context, tenant qun.TenantID, live string, id int64, a Question) (*Question, error) {
	return s.updateQuestion(ctx, tenant, live, id, `UPDATE live_questions SET answer = ?, answered_by = ?, answerer = ?, answered_at = ?
		WHERE tenant = ? AND live = ? AND id = ?`, a.Answer, a.AnsweredBy, a.Answerer, a.AnsweredAt)
}

func (s *SQLiteStore) FeatureQuestion(ctx context.Context, tenant qun.TenantID, live string, id int64, on bool) (*Question, error) {
	return s.updateQuestion(ctx, tenant, live, id, `UPDATE live_questions SET featured = ? WHERE tenant = ? AND live = ? AND id = ?`, on)
}

func (s *SQLiteStore) Questions(ctx context.Context, tenant qun.TenantID, live string, qq QuestionQuery) ([]*Question, error) {
	stmt := `SELECT ` + questionCols + ` FROM live_questions WHERE tenant = ? AND live = ? AND id > ?`
	if qq.FeaturedOnly {
		stmt += ` AND featured = 1`
	}
	rows, err := s.db.QueryContext(ctx, stmt+` ORDER BY id LIMIT ?`, tenant, live, qq.After, max(qq.Limit, 0))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Question
	for rows.Next() {
		q, err := scanQuestion(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	return out, rows.Err()
}
