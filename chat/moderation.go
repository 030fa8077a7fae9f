package chat

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/qunkit/qun"
	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// Reviewer (智能审核) checks a message's content before it is stored or
// fanned out. The vendor plugs in its own (a moderation API, a model);
// KeywordReviewer is the default. Review must be quick: the sender waits.
type Reviewer interface {
	Review(ctx context.Context, r *ReviewRequest) (Verdict, error)
}

// ReviewerFunc adapts a function to Reviewer.
type ReviewerFunc func(ctx context.Context, r *ReviewRequest) (Verdict, error)

// Review calls f.
func (f ReviewerFunc) Review(ctx context.Context, r *ReviewRequest) (Verdict, error) {
	return f(ctx, r)
}

// ReviewRequest is what a Reviewer sees.
type ReviewRequest struct {
	Tenant  qun.TenantID
	Group   qun.RoomID
	User    qun.UserID
	Content *Content
}

// Action is a Reviewer's decision.
type Action int

const (
	Allow  Action = iota // deliver as is
	Reject               // refuse with CodeRejected and Verdict.Reason
	Mask                 // deliver Verdict.Text instead of the text
)

// Verdict is a Reviewer's answer.
type Verdict struct {
	Action Action
	// Reason is shown to the sender of a rejected message.
	Reason string
	// Text replaces the content's text when Action is Mask.
	Text string
}

// review runs the Reviewer over c, masking c.Text in place if told to.
func (s *Service) review(ctx context.Context, id *qun.Identity, group qun.RoomID, c *Content) (masked bool, err error) {
	v, err := s.cfg.Reviewer.Review(ctx, &ReviewRequest{Tenant: id.Tenant, Group: group, User: id.User, Content: c})
	if err != nil {
		s.log.Error("chat: reviewer failed", zap.Error(err))
		return false, qun.Errorf(qun.CodeUnavailable, "message review is unavailable; try again")
	}
	switch v.Action {
	case Allow:
		return false, nil
	case Mask:
		if n := len([]rune(v.Text)); n == 0 || n > 4000 {
			return false, qun.Errorf(qun.CodeRejected, "message refused")
		}
		c.Text = v.Text
		return true, nil
	}
	reason := v.Reason
	if reason == "" {
		reason = "message refused by moderation"
	}
	return false, qun.Errorf(qun.CodeRejected, "%s", reason)
}

// rateLimits is a token bucket per user, across groups.
type rateLimits struct {
	limit rate.Limit
	burst int
	mu    sync.Mutex
	users map[userKey]*rate.Limiter
}

type userKey struct {
	tenant qun.TenantID
	user   qun.UserID
}

// maxTracked bounds the entries of the in-memory rate maps; beyond it,
// entries that no longer restrict anyone are dropped.
const maxTracked = 100_000

func newRateLimits(perSecond float64, burst int) *rateLimits {
	return &rateLimits{limit: rate.Limit(perSecond), burst: burst, users: map[userKey]*rate.Limiter{}}
}

func (r *rateLimits) allow(tenant qun.TenantID, user qun.UserID, now time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := userKey{tenant, user}
	l := r.users[k]
	if l == nil {
		if len(r.users) >= maxTracked {
			for k, l := range r.users {
				if l.TokensAt(now) >= float64(r.burst) {
					delete(r.users, k)
				}
			}
		}
		l = rate.NewLimiter(r.limit, r.burst)
		r.users[k] = l
	}
	if !l.AllowN(now, 1) {
		return qun.Errorf(qun.CodeRateLimited, "you are sending messages too fast")
	}
	return nil
}

// slowMode remembers when each user last posted in each slow group.
type slowMode struct {
	mu   sync.Mutex
	last map[slowKey]time.Time
}

type slowKey struct {
	ref  qun.RoomRef
	user qun.UserID
}

func newSlowMode() *slowMode { return &slowMode{last: map[slowKey]time.Time{}} }

func (m *slowMode) allow(ref qun.RoomRef, user qun.UserID, now time.Time, seconds int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := slowKey{ref, user}
	if t, ok := m.last[k]; ok {
		if wait := t.Add(time.Duration(seconds) * time.Second).Sub(now); wait > 0 {
			return qun.Errorf(qun.CodeRateLimited, "slow mode: wait %d more seconds", int(wait.Seconds()+0.999))
		}
	}
	if len(m.last) >= maxTracked {
		for k, t := range m.last {
			if now.Sub(t) > time.Hour { // longer than any slow mode
				delete(m.last, k)
			}
		}
	}
	m.last[k] = now
	return nil
}

// Report is a member's report of a message to the group's admins.
type Report struct {
	ID       int64      `json:"id"`
	Group    qun.RoomID `json:"group"`
	Seq      uint64     `json:"seq"`
	Reporter qun.UserID `json:"reporter"`
	Reason   string     `json:"reason"`
	Note     string     `json:"note,omitempty"`
	At       int64      `json:"at"`
	Resolved int64      `json:"resolved,omitempty"` // unix ms; 0 while open
	By       qun.UserID `json:"by,omitempty"`       // who resolved it
}

// ReportInput is the input of Service.Report (op chat.report).
type ReportInput struct {
	Group  qun.RoomID `json:"group" validate:"required,startswith=g:,max=40"`
	Seq    uint64     `json:"seq" validate:"required"`
	Reason string     `json:"reason" validate:"required,oneof=spam fraud abuse porn illegal contact other"`
	Note   string     `json:"note,omitempty" validate:"max=500"`
}

// Reports is the input of Service.Reports (op chat.reports).
type Reports struct {
	Group  qun.RoomID `json:"group" validate:"required,startswith=g:,max=40"`
	Open   bool       `json:"open,omitempty"` // only unresolved ones
	Before int64      `json:"before,omitempty" validate:"min=0"`
	Limit  int        `json:"limit,omitempty" validate:"min=0,max=200"`
}

// ReportRef names a report.
type ReportRef struct {
	Group qun.RoomID `json:"group" validate:"required,startswith=g:,max=40"`
	ID    int64      `json:"id" validate:"required,min=1"`
}

// AuditEntry records one admin action (C7): who did what to whom, when.
type AuditEntry struct {
	ID     int64           `json:"id"`
	Actor  qun.UserID      `json:"actor"`
	Action string          `json:"action"` // member.kick, member.ban, group.mute_all, ...
	Target qun.UserID      `json:"target,omitempty"`
	Detail json.RawMessage `json:"detail,omitempty"`
	At     int64           `json:"at"`
}

// AuditQuery is the input of Service.Audit (op chat.audit).
type AuditQuery struct {
	Group  qun.RoomID `json:"group" validate:"required,startswith=g:,max=40"`
	Before int64      `json:"before,omitempty" validate:"min=0"`
	Limit  int        `json:"limit,omitempty" validate:"min=0,max=200"`
}

// Report files a member's report of a message; one per member and message.
func (s *Service) Report(ctx context.Context, id *qun.Identity, in ReportInput) (*Report, error) {
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	if err := s.needMember(ctx, id, in.Group); err != nil {
		return nil, err
	}
	if _, err := s.message(ctx, qun.RoomRef{Tenant: id.Tenant, Room: in.Group}, in.Seq); err != nil {
		return nil, err
	}
	r := &Report{Group: in.Group, Seq: in.Seq, Reporter: id.User, Reason: in.Reason, Note: in.Note, At: s.nowMS()}
	_, err := s.update(ctx, id, in.Group, RoleMember, func(tx Tx, a *access, c *change) (err error) {
		return tx.InsertReport(r)
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// Reports lists a group's reports, newest first (admins).
func (s *Service) Reports(ctx context.Context, id *qun.Identity, in Reports) ([]*Report, error) {
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	var out []*Report
	err := s.read(ctx, id, in.Group, RoleAdmin, func(tx Tx, a *access) (err error) {
		out, err = tx.Reports(in.Group, in.Open, in.Before, pageLimit(in.Limit, 50, 200))
		return err
	})
	return nonNil(out), err
}

// ResolveReport closes a report (admins).
func (s *Service) ResolveReport(ctx context.Context, id *qun.Identity, in ReportRef) error {
	if err := qun.Validate(&in); err != nil {
		return err
	}
	_, err := s.update(ctx, id, in.Group, RoleAdmin, func(tx Tx, a *access, c *change) (err error) {
		r, err := tx.Report(in.Group, in.ID)
		if err != nil {
			return err
		}
		if r.Resolved != 0 {
			return nil
		}
		r.Resolved, r.By = s.nowMS(), id.User
		if err := tx.UpdateReport(r); err != nil {
			return err
		}
		c.audit("report.resolve", r.Reporter, map[string]any{"report": r.ID, "seq": r.Seq})
		return nil
	})
	return err
}

// Audit lists a group's audit log, newest first (admins).
func (s *Service) Audit(ctx context.Context, id *qun.Identity, in AuditQuery) ([]*AuditEntry, error) {
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	var out []*AuditEntry
	err := s.read(ctx, id, in.Group, RoleAdmin, func(tx Tx, a *access) (err error) {
		out, err = tx.Audit(in.Group, in.Before, pageLimit(in.Limit, 50, 200))
		return err
	})
	return nonNil(out), err
}
