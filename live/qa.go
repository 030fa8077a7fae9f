package live

import (
	"context"
	"strconv"
	"strings"

	"github.com/qunkit/qun"
	"golang.org/x/time/rate"
)

// Q&A (问答): viewers ask questions during a live; the host and the home
// group's moderators answer them and feature the best (问答精选). Every
// change is a durable event in the live's room, so it reaches everyone
// watching and lands on the replay's timeline.
//
// Co-hosts (RoleMember, on stage) ask like any viewer but do not answer or
// feature: in a class they are students brought on stage, and featuring is
// the teacher's curation.

// Question is one question and its answer.
type Question struct {
	Tenant qun.TenantID `json:"-"`
	Live   string       `json:"live"`
	// ID numbers the live's questions from 1, in the order they were asked.
	ID   int64      `json:"id"`
	User qun.UserID `json:"user"`
	Name string     `json:"name"`
	Text string     `json:"text"`
	// Answer is "" until answered; a later answer replaces it.
	Answer     string     `json:"answer,omitempty"`
	AnsweredBy qun.UserID `json:"answered_by,omitempty"`
	Answerer   string     `json:"answerer,omitempty"` // AnsweredBy's display name
	AnsweredAt int64      `json:"answered_at,omitempty"`
	Featured   bool       `json:"featured"`
	Created    int64      `json:"created"` // unix milliseconds
}

// QuestionQuery pages through a live's questions, oldest first.
type QuestionQuery struct {
	// FeaturedOnly keeps the featured questions (问答精选).
	FeaturedOnly bool
	// After is the last ID of the previous page; 0 starts at the beginning.
	After int64
	// Limit is the most questions returned.
	Limit int
}

// ReviewFunc reviews the text of a question or answer before it is stored:
// it returns the text to keep (masked, say) or a *qun.Error with
// CodeRejected to refuse it. Any other error refuses the text with
// CodeUnavailable. live does not import chat; a vendor adapts chat's
// Reviewer (see examples/classroom).
type ReviewFunc func(ctx context.Context, id *qun.Identity, text string) (string, error)

// Text bounds, in characters.
const (
	maxQuestionText = 500
	maxAnswerText   = 2000
)

// The qa ops' inputs.
type (
	askIn struct {
		Live string `json:"live" validate:"required,max=32"`
		Text string `json:"text" validate:"required,max=500"`
	}
	qaAnswerIn struct {
		Live string `json:"live" validate:"required,max=32"`
		ID   int64  `json:"id" validate:"required,min=1"`
		Text string `json:"text" validate:"required,max=2000"`
	}
	questionIn struct {
		Live string `json:"live" validate:"required,max=32"`
		ID   int64  `json:"id" validate:"required,min=1"`
	}
	qaListIn struct {
		Live     string `json:"live" validate:"required,max=32"`
		Featured bool   `json:"featured,omitempty"`
		After    int64  `json:"after,omitempty" validate:"min=0"`
		Limit    int    `json:"limit,omitempty" validate:"min=0,max=200"`
	}
)

// QuestionPage is a page of questions; More says another page follows
// (ask again with After set to the last ID).
type QuestionPage struct {
	Questions []*Question `json:"questions"`
	More      bool        `json:"more"`
}

func (s *Service) registerQA() {
	h := s.hub
	h.Handle("live.qa.ask", op(func(ctx context.Context, c *qun.Call, in *askIn) (any, error) {
		return s.Ask(ctx, c.Identity(), in.Live, in.Text)
	}))
	h.Handle("live.qa.answer", op(func(ctx context.Context, c *qun.Call, in *qaAnswerIn) (any, error) {
		return s.AnswerQuestion(ctx, c.Identity(), in.Live, in.ID, in.Text)
	}))
	h.Handle("live.qa.feature", op(func(ctx context.Context, c *qun.Call, in *questionIn) (any, error) {
		return s.FeatureQuestion(ctx, c.Identity(), in.Live, in.ID, true)
	}))
	h.Handle("live.qa.unfeature", op(func(ctx context.Context, c *qun.Call, in *questionIn) (any, error) {
		return s.FeatureQuestion(ctx, c.Identity(), in.Live, in.ID, false)
	}))
	h.Handle("live.qa.list", op(func(ctx context.Context, c *qun.Call, in *qaListIn) (any, error) {
		return s.Questions(ctx, c.Identity(), in.Live, QuestionQuery{FeaturedOnly: in.Featured, After: in.After, Limit: in.Limit})
	}))
}

// review trims text, bounds it and passes it through Config.Review.
func (s *Service) review(ctx context.Context, id *qun.Identity, text string, max int) (string, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return "", &qun.Error{Code: qun.CodeInvalid, Message: "the text is empty", Field: "text"}
	}
	if err := qun.ValidateVar("text", text, "max="+strconv.Itoa(max)); err != nil {
		return "", err
	}
	if s.cfg.Review == nil {
		return text, nil
	}
	out, err := s.cfg.Review(ctx, id, text)
	if err != nil {
		if qun.ErrorCode(err) == qun.CodeRejected {
			return "", err
		}
		return "", qun.Errorf(qun.CodeUnavailable, "review is unavailable; try again")
	}
	if out = strings.TrimSpace(out); out == "" {
		return "", qun.Errorf(qun.CodeRejected, "the text was not accepted")
	}
	return out, nil
}

// qaLive loads a live and checks id's role in it.
func (s *Service) qaLive(ctx context.Context, id *qun.Identity, live string, min qun.Role) (*Record, error) {
	if err := qun.ValidateVar("live", live, "required,max=32"); err != nil {
		return nil, err
	}
	rec, err := s.store.Get(ctx, id.Tenant, live)
	if err != nil {
		return nil, err
	}
	if _, err := s.require(ctx, id, rec, min); err != nil {
		return nil, err
	}
	return rec, nil
}

// Ask adds a question to a live on air (any viewer). Each user's
// questions are bounded by Config.QuestionsPerMinute/QuestionBurst and
// MaxQuestionsPerUser; the text by 500 characters and Config.Review.
func (s *Service) Ask(ctx context.Context, id *qun.Identity, live, text string) (*Question, error) {
	rec, err := s.qaLive(ctx, id, live, qun.RoleViewer)
	if err != nil {
		return nil, err
	}
	if rec.State != StateLive && rec.State != StatePaused {
		return nil, qun.Errorf(qun.CodeConflict, "the live is %s", rec.State)
	}
	if text, err = s.review(ctx, id, text, maxQuestionText); err != nil {
		return nil, err
	}
	if !s.askAllowed(rec, id.User) {
		return nil, qun.Errorf(qun.CodeRateLimited, "too many questions; wait a moment")
	}
	q := &Question{Tenant: id.Tenant, Live: rec.ID, User: id.User, Name: id.Name, Text: text, Created: s.cfg.Now().UnixMilli()}
	if err := s.store.AddQuestion(ctx, q, s.cfg.MaxQuestionsPerUser); err != nil {
		return nil, err
	}
	return q, s.publishQA(ctx, rec, "live.qa.asked", id.User, q)
}

// AnswerQuestion answers (or re-answers) a question: the host and
// moderators, in any state after the live started.
func (s *Service) AnswerQuestion(ctx context.Context, id *qun.Identity, live string, qid int64, text string) (*Question, error) {
	rec, err := s.qaLive(ctx, id, live, qun.RoleModerator)
	if err != nil {
		return nil, err
	}
	if text, err = s.review(ctx, id, text, maxAnswerText); err != nil {
		return nil, err
	}
	q, err := s.store.AnswerQuestion(ctx, id.Tenant, rec.ID, qid, Question{Answer: text, AnsweredBy: id.User, Answerer: id.Name, AnsweredAt: s.cfg.Now().UnixMilli()})
	if err != nil {
		return nil, err
	}
	return q, s.publishQA(ctx, rec, "live.qa.answered", id.User, q)
}

// FeatureQuestion features (on) or unfeatures a question: the host and moderators.
func (s *Service) FeatureQuestion(ctx context.Context, id *qun.Identity, live string, qid int64, on bool) (*Question, error) {
	rec, err := s.qaLive(ctx, id, live, qun.RoleModerator)
	if err != nil {
		return nil, err
	}
	q, err := s.store.FeatureQuestion(ctx, id.Tenant, rec.ID, qid, on)
	if err != nil {
		return nil, err
	}
	typ := "live.qa.featured"
	if !on {
		typ = "live.qa.unfeatured"
	}
	return q, s.publishQA(ctx, rec, typ, id.User, q)
}

// Questions pages through a live's questions, oldest first (any viewer).
// A Limit of 0 (or above 200) means 50.
func (s *Service) Questions(ctx context.Context, id *qun.Identity, live string, q QuestionQuery) (*QuestionPage, error) {
	rec, err := s.qaLive(ctx, id, live, qun.RoleViewer)
	if err != nil {
		return nil, err
	}
	if q.Limit <= 0 || q.Limit > 200 {
		q.Limit = 50
	}
	q.After = max(q.After, 0)
	want := q.Limit
	q.Limit++ // one more tells whether another page follows
	qs, err := s.store.Questions(ctx, id.Tenant, rec.ID, q)
	if err != nil {
		return nil, err
	}
	page := &QuestionPage{Questions: qs, More: len(qs) > want}
	if page.More {
		page.Questions = qs[:want]
	}
	if page.Questions == nil {
		page.Questions = []*Question{}
	}
	return page, nil
}

func (s *Service) publishQA(ctx context.Context, rec *Record, typ string, actor qun.UserID, q *Question) error {
	_, err := s.hub.Publish(ctx, qun.RoomRef{Tenant: rec.Tenant, Room: rec.Room()}, qun.Draft{Type: typ, Actor: actor, Data: q})
	return err
}

type askerKey struct {
	tenant qun.TenantID
	live   string
	user   qun.UserID
}

// askAllowed takes a token from the user's bucket for this live.
func (s *Service) askAllowed(rec *Record, user qun.UserID) bool {
	s.qaMu.Lock()
	defer s.qaMu.Unlock()
	k := askerKey{rec.Tenant, rec.ID, user}
	lim := s.askers[k]
	if lim == nil {
		if len(s.askers) >= 100_000 {
			clear(s.askers) // bound memory; a cleared bucket starts full again
		}
		lim = rate.NewLimiter(rate.Limit(s.cfg.QuestionsPerMinute/60), s.cfg.QuestionBurst)
		s.askers[k] = lim
	}
	return lim.AllowN(s.cfg.Now(), 1)
}
