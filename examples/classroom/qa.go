package main

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/chat"
	"github.com/qunkit/qun/internal/sqlmigrate"
)

// Q&A (问答) is what this school adds to qun itself: students ask questions
// during a class, the teacher answers and features the best ones (问答精选).
// It shows how a vendor extends the Hub with its own ops: they are
// registered like the packages' ops, checked against the live room's roles,
// stored in the vendor's own table and published as events in the live's
// room, so they reach everyone in class and land on the replay's timeline.
//
//	qa.ask     {"live","text"}          → Question   (viewers; reviewed like chat)
//	qa.answer  {"live","id","text"}     → Question   (the teacher: host or moderators)
//	qa.feature {"live","id","on"}       → Question   (the teacher)
//	qa.list    {"live"}                 → {"questions":[Question…]} oldest first
//
// Events in live:<id>: qa.asked, qa.answered, qa.featured, each carrying the Question.
type qaService struct {
	hub      *qun.Hub
	db       *sql.DB
	reviewer chat.Reviewer
}

// Question is one question and its answer.
type Question struct {
	ID         int64      `json:"id"`
	User       qun.UserID `json:"user"`
	Name       string     `json:"name"`
	Text       string     `json:"text"`
	Answer     string     `json:"answer,omitempty"`
	AnsweredBy string     `json:"answered_by,omitempty"`
	Featured   bool       `json:"featured"`
	Created    int64      `json:"created"`
}

const maxQuestionsPerUser = 50

func newQA(hub *qun.Hub, db *sql.DB) (*qaService, error) {
	err := sqlmigrate.Apply(context.Background(), db, "classroom.qa", []string{`
		CREATE TABLE classroom_qa (
			tenant TEXT NOT NULL, live TEXT NOT NULL, id INTEGER NOT NULL,
			user TEXT NOT NULL, name TEXT NOT NULL, text TEXT NOT NULL,
			answer TEXT NOT NULL DEFAULT '', answered_by TEXT NOT NULL DEFAULT '',
			featured INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL,
			PRIMARY KEY (tenant, live, id))`})
	if err != nil {
		return nil, err
	}
	q := &qaService{hub: hub, db: db, reviewer: chat.NewKeywordReviewer(chat.KeywordConfig{})}
	handle(q, "qa.ask", qun.RoleViewer, q.ask)
	handle(q, "qa.answer", qun.RoleModerator, q.answer)
	handle(q, "qa.feature", qun.RoleModerator, q.feature)
	handle(q, "qa.list", qun.RoleViewer, q.list)
	return q, nil
}

// liveRef is what every qa op names: the live.
type liveRef interface{ liveID() string }

// handle registers op: bind its input, require role in the live's room,
// then run fn — the same steps a qun package's ops take.
func handle[T any, PT interface {
	*T
	liveRef
}](q *qaService, op string, role qun.Role, fn func(ctx context.Context, id *qun.Identity, in PT) (any, error)) {
	q.hub.Handle(op, func(ctx context.Context, c *qun.Call) (any, error) {
		in := PT(new(T))
		if err := c.Bind(in); err != nil {
			return nil, err
		}
		if err := q.hub.RequireRole(ctx, c.Identity(), room(in.liveID()), role); err != nil {
			return nil, err
		}
		return fn(ctx, c.Identity(), in)
	})
}

func (in *askIn) liveID() string     { return in.Live }
func (in *answerIn) liveID() string  { return in.Live }
func (in *featureIn) liveID() string { return in.Live }
func (in *listIn) liveID() string    { return in.Live }

type askIn struct {
	Live string `json:"live" validate:"required,max=64"`
	Text string `json:"text" validate:"required,max=500"`
}

type answerIn struct {
	Live string `json:"live" validate:"required,max=64"`
	ID   int64  `json:"id" validate:"required,min=1"`
	Text string `json:"text" validate:"required,max=2000"`
}

type featureIn struct {
	Live string `json:"live" validate:"required,max=64"`
	ID   int64  `json:"id" validate:"required,min=1"`
	On   bool   `json:"on"`
}

type listIn struct {
	Live string `json:"live" validate:"required,max=64"`
}

func room(liveID string) qun.RoomID { return qun.RoomID("live:" + liveID) }

// review refuses off-platform contact details, as chat does for messages.
func (q *qaService) review(ctx context.Context, id *qun.Identity, text string) (string, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return "", &qun.Error{Code: qun.CodeInvalid, Message: "the text is empty", Field: "text"}
	}
	v, err := q.reviewer.Review(ctx, &chat.ReviewRequest{Tenant: id.Tenant, User: id.User, Content: &chat.Content{Kind: chat.KindText, Text: text}})
	if err != nil {
		return "", qun.Errorf(qun.CodeUnavailable, "review is unavailable; try again")
	}
	switch v.Action {
	case chat.Reject:
		return "", qun.Errorf(qun.CodeRejected, "%s", v.Reason)
	case chat.Mask:
		return v.Text, nil
	}
	return text, nil
}

func (q *qaService) ask(ctx context.Context, id *qun.Identity, in *askIn) (any, error) {
	text, err := q.review(ctx, id, in.Text)
	if err != nil {
		return nil, err
	}
	qn := &Question{User: id.User, Name: id.Name, Text: text, Created: time.Now().UnixMilli()}
	err = q.tx(ctx, func(tx *sql.Tx) error {
		var mine int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM classroom_qa WHERE tenant=? AND live=? AND user=?`, id.Tenant, in.Live, id.User).Scan(&mine); err != nil {
			return err
		}
		if mine >= maxQuestionsPerUser {
			return qun.Errorf(qun.CodeExhausted, "at most %d questions per class", maxQuestionsPerUser)
		}
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(id),0)+1 FROM classroom_qa WHERE tenant=? AND live=?`, id.Tenant, in.Live).Scan(&qn.ID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO classroom_qa (tenant, live, id, user, name, text, created) VALUES (?,?,?,?,?,?,?)`,
			id.Tenant, in.Live, qn.ID, qn.User, qn.Name, qn.Text, qn.Created)
		return err
	})
	if err != nil {
		return nil, err
	}
	return q.publish(ctx, id, in.Live, "qa.asked", qn)
}

func (q *qaService) answer(ctx context.Context, id *qun.Identity, in *answerIn) (any, error) {
	text, err := q.review(ctx, id, in.Text)
	if err != nil {
		return nil, err
	}
	qn, err := q.update(ctx, id.Tenant, in.Live, in.ID, `UPDATE classroom_qa SET answer=?, answered_by=? WHERE tenant=? AND live=? AND id=?`, text, id.Name)
	if err != nil {
		return nil, err
	}
	return q.publish(ctx, id, in.Live, "qa.answered", qn)
}

func (q *qaService) feature(ctx context.Context, id *qun.Identity, in *featureIn) (any, error) {
	qn, err := q.update(ctx, id.Tenant, in.Live, in.ID, `UPDATE classroom_qa SET featured=? WHERE tenant=? AND live=? AND id=?`, in.On)
	if err != nil {
		return nil, err
	}
	return q.publish(ctx, id, in.Live, "qa.featured", qn)
}

func (q *qaService) list(ctx context.Context, id *qun.Identity, in *listIn) (any, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT `+qaCols+` FROM classroom_qa WHERE tenant=? AND live=? ORDER BY id LIMIT 500`, id.Tenant, in.Live)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*Question{}
	for rows.Next() {
		qn, err := scanQuestion(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, qn)
	}
	return map[string]any{"questions": out}, rows.Err()
}

const qaCols = `id, user, name, text, answer, answered_by, featured, created`

func scanQuestion(s interface{ Scan(...any) error }) (*Question, error) {
	var qn Question
	err := s.Scan(&qn.ID, &qn.User, &qn.Name, &qn.Text, &qn.Answer, &qn.AnsweredBy, &qn.Featured, &qn.Created)
	return &qn, err
}

// update changes one question and reads it back, in one transaction.
func (q *qaService) update(ctx context.Context, tenant qun.TenantID, liveID string, qid int64, stmt string, args ...any) (*Question, error) {
	var qn *Question
	err := q.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, stmt, append(args, tenant, liveID, qid)...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return &qun.Error{Code: qun.CodeNotFound, Message: "no such question", Field: "id"}
		}
		qn, err = scanQuestion(tx.QueryRowContext(ctx, `SELECT `+qaCols+` FROM classroom_qa WHERE tenant=? AND live=? AND id=?`, tenant, liveID, qid))
		return err
	})
	return qn, err
}

func (q *qaService) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func (q *qaService) publish(ctx context.Context, id *qun.Identity, liveID, typ string, qn *Question) (*Question, error) {
	if _, err := q.hub.Publish(ctx, qun.RoomRef{Tenant: id.Tenant, Room: room(liveID)}, qun.Draft{Type: typ, Actor: id.User, Data: qn}); err != nil {
		return nil, err
	}
	return qn, nil
}
