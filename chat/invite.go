package chat

import (
	"context"
	"net/url"
	"time"

	"github.com/qunkit/qun"
)

// Invitation is a member's invitation of another user to a group. An
// invitation from an admin or the owner skips the approval queue.
type Invitation struct {
	Group   qun.RoomID `json:"group"`
	User    qun.UserID `json:"user"`
	By      qun.UserID `json:"by"`
	ByAdmin bool       `json:"by_admin,omitempty"`
	At      int64      `json:"at"`
	// Card describes the group in listings (not stored).
	Card *Card `json:"card,omitempty"`
}

// InviteCode (邀请码) lets whoever holds it join a group, public or not,
// until it expires, is used up, or is revoked.
type InviteCode struct {
	Code    string     `json:"code"`
	Group   qun.RoomID `json:"group"`
	By      qun.UserID `json:"by"`
	Created int64      `json:"created"`
	Expires int64      `json:"expires"`
	MaxUses int        `json:"max_uses,omitempty"` // 0: unlimited
	Uses    int        `json:"uses"`
	Revoked bool       `json:"revoked,omitempty"`
	// Link is InviteLink(Config.InviteBaseURL, Code), if a base is set (not stored).
	Link string `json:"link,omitempty"`
}

// JoinRequest waits in a group's approval queue.
type JoinRequest struct {
	Group qun.RoomID `json:"group"`
	User  qun.UserID `json:"user"`
	Name  string     `json:"name,omitempty"`
	Note  string     `json:"note,omitempty"`
	Via   string     `json:"via"` // search, invitation, code
	Code  string     `json:"code,omitempty"`
	At    int64      `json:"at"`
}

// Limits of the joining paths.
const (
	DefaultCodeTTL     = 7 * 24 * time.Hour
	MaxCodeTTL         = 365 * 24 * time.Hour
	MaxCodesPerGroup   = 200
	MaxPendingRequests = 1000
)

// InviteLink returns the shareable link for code on the vendor's landing
// page base (for example "https://vendor.example/join"): base with the
// query parameter invite=<code>. The page reads the parameter and calls
// chat.code.preview / chat.code.join.
func InviteLink(base, code string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base + "?invite=" + url.QueryEscape(code)
	}
	q := u.Query()
	q.Set("invite", code)
	u.RawQuery = q.Encode()
	return u.String()
}

// Invite is the input of Service.Invite (op chat.invite).
type Invite struct {
	Group qun.RoomID   `json:"group" validate:"required,startswith=g:,max=40"`
	Users []qun.UserID `json:"users" validate:"required,min=1,max=50,dive,required,max=64"`
}

// InviteResult says who was invited and who was skipped, and why.
type InviteResult struct {
	Invited []qun.UserID `json:"invited"`
	Skipped []Skipped    `json:"skipped,omitempty"`
}

// Skipped is a user an invitation left out.
type Skipped struct {
	User   qun.UserID `json:"user"`
	Reason qun.Code   `json:"reason"` // conflict: already a member; forbidden: banned
}

// CreateCode is the input of Service.CreateCode (op chat.code.create).
type CreateCode struct {
	Group qun.RoomID `json:"group" validate:"required,startswith=g:,max=40"`
	// TTL in seconds; 0 means DefaultCodeTTL; at most MaxCodeTTL.
	TTL int `json:"ttl,omitempty" validate:"min=0,max=31536000"`
	// MaxUses; 0 means unlimited (the member limit still applies).
	MaxUses int `json:"max_uses,omitempty" validate:"min=0,max=100000"`
}

// CodeRef names an invite code.
type CodeRef struct {
	Code string `json:"code" validate:"required,max=32,alphanum"`
}

// JoinCode is the input of Service.JoinByCode (op chat.code.join).
type JoinCode struct {
	Code string `json:"code" validate:"required,max=32,alphanum"`
	Note string `json:"note,omitempty" validate:"max=200"`
}

// Join is the input of Service.Join (op chat.join), for public groups.
type Join struct {
	Group qun.RoomID `json:"group" validate:"required,startswith=g:,max=40"`
	Note  string     `json:"note,omitempty" validate:"max=200"`
}

// JoinResult says whether the caller is in or waits for approval.
type JoinResult struct {
	Status string `json:"status"` // joined or pending
	Group  *Card  `json:"group"`
}

// Decide is the input of Service.Approve and Service.Reject.
type Decide struct {
	Group  qun.RoomID `json:"group" validate:"required,startswith=g:,max=40"`
	User   qun.UserID `json:"user" validate:"required,max=64"`
	Reason string     `json:"reason,omitempty" validate:"max=200"`
}

// Requests is the input of Service.Requests (op chat.requests).
type Requests struct {
	Group qun.RoomID `json:"group" validate:"required,startswith=g:,max=40"`
	Limit int        `json:"limit,omitempty" validate:"min=0,max=200"`
}

// mayInvite: admins always; members when the group lets them.
func (a *access) mayInvite() error {
	if err := a.need(RoleMember); err != nil {
		return err
	}
	if a.rank < RoleAdmin.rank() && !a.g.MembersInvite {
		return forbidden("only admins may invite to this group")
	}
	return nil
}

// Invite invites users of the caller's tenant; each gets a chat.invited
// event in their personal room.
func (s *Service) Invite(ctx context.Context, id *qun.Identity, in Invite) (*InviteResult, error) {
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	res := &InviteResult{Invited: []qun.UserID{}}
	_, err := s.mutate(ctx, id, in.Group, func(tx Tx, c *change) error {
		res.Invited, res.Skipped = res.Invited[:0], nil
		a, err := s.access(tx, id, in.Group)
		if err != nil {
			return err
		}
		if err := a.mayInvite(); err != nil {
			return err
		}
		seen := map[qun.UserID]bool{}
		for _, u := range in.Users {
			if seen[u] {
				continue
			}
			seen[u] = true
			if skip, err := s.skipInvite(tx, in.Group, u); err != nil {
				return err
			} else if skip != "" {
				res.Skipped = append(res.Skipped, Skipped{User: u, Reason: skip})
				continue
			}
			inv := &Invitation{Group: in.Group, User: u, By: id.User, ByAdmin: a.rank >= RoleAdmin.rank(), At: s.nowMS()}
			if err := tx.PutInvitation(inv); err != nil {
				return err
			}
			res.Invited = append(res.Invited, u)
			c.notify(u, EvInvited, map[string]any{"group": a.g.Card(), "by": id.User})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

func (s *Service) skipInvite(tx Tx, group qun.RoomID, u qun.UserID) (qun.Code, error) {
	if _, err := tx.Member(group, u); err == nil {
		return qun.CodeConflict, nil
	} else if !isNotFound(err) {
		return "", err
	}
	if _, err := tx.Ban(group, u); err == nil {
		return qun.CodeForbidden, nil
	} else if !isNotFound(err) {
		return "", err
	}
	return "", nil
}

// Invitations lists the caller's pending invitations, with group cards.
func (s *Service) Invitations(ctx context.Context, id *qun.Identity) ([]*Invitation, error) {
	var out []*Invitation
	err := s.view(ctx, id, func(tx Tx) error {
		invs, err := tx.Invitations(id.User, 100)
		if err != nil {
			return err
		}
		for _, inv := range invs {
			g, err := tx.Group(inv.Group)
			if isNotFound(err) || err == nil && g.Dissolved != 0 {
				continue
			}
			if err != nil {
				return err
			}
			inv.Card = g.Card()
			out = append(out, inv)
		}
		return nil
	})
	return nonNil(out), err
}

// AcceptInvitation joins the group the caller was invited to (or queues
// for approval if a plain member invited them to a group that needs it).
func (s *Service) AcceptInvitation(ctx context.Context, id *qun.Identity, in GroupRef) (*JoinResult, error) {
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	var res *JoinResult
	_, err := s.mutate(ctx, id, in.Group, func(tx Tx, c *change) error {
		inv, g, err := s.invitation(tx, id, in.Group)
		if err != nil {
			return err
		}
		res, err = s.joinOrQueue(tx, c, g, id, "invitation", "", "", inv.ByAdmin)
		return err
	})
	return res, err
}

// DeclineInvitation drops the caller's invitation to a group.
func (s *Service) DeclineInvitation(ctx context.Context, id *qun.Identity, in GroupRef) error {
	if err := qun.Validate(&in); err != nil {
		return err
	}
	_, err := s.mutate(ctx, id, in.Group, func(tx Tx, c *change) error {
		if _, _, err := s.invitation(tx, id, in.Group); err != nil {
			return err
		}
		return tx.DeleteInvitation(in.Group, id.User)
	})
	return err
}

// invitation loads the caller's invitation to a live group; anything else
// is not_found, so an invitation reveals nothing once the group is gone.
func (s *Service) invitation(tx Tx, id *qun.Identity, group qun.RoomID) (*Invitation, *Group, error) {
	inv, err := tx.Invitation(group, id.User)
	if err != nil {
		return nil, nil, err
	}
	g, err := tx.Group(group)
	if err != nil {
		return nil, nil, err
	}
	if g.Dissolved != 0 {
		return nil, nil, notFound("invitation")
	}
	return inv, g, nil
}

// Join joins a public group found by search, or queues for approval.
func (s *Service) Join(ctx context.Context, id *qun.Identity, in Join) (*JoinResult, error) {
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	var res *JoinResult
	_, err := s.update(ctx, id, in.Group, anyone, func(tx Tx, a *access, c *change) (err error) {
		if a.m != nil {
			return qun.Errorf(qun.CodeConflict, "already a member")
		}
		res, err = s.joinOrQueue(tx, c, a.g, id, "search", "", in.Note, false)
		return err
	})
	return res, err
}

// joinOrQueue adds id to g, or files a join request if g needs approval
// and the path does not skip it.
func (s *Service) joinOrQueue(tx Tx, c *change, g *Group, id *qun.Identity, via, code, note string, skipApproval bool) (*JoinResult, error) {
	if !g.Approval || skipApproval {
		if err := s.addMember(tx, c, g, id.User, id.Name, via, ""); err != nil {
			return nil, err
		}
		return &JoinResult{Status: "joined", Group: g.Card()}, nil
	}
	if skip, err := s.skipInvite(tx, g.ID, id.User); err != nil {
		return nil, err
	} else if skip == qun.CodeConflict {
		return nil, qun.Errorf(qun.CodeConflict, "already a member")
	} else if skip == qun.CodeForbidden {
		return nil, forbidden("banned from this group")
	}
	if _, err := tx.Request(g.ID, id.User); isNotFound(err) {
		n, err := tx.CountRequests(g.ID)
		if err != nil {
			return nil, err
		}
		if n >= MaxPendingRequests {
			return nil, qun.Errorf(qun.CodeExhausted, "too many pending requests; try later")
		}
	} else if err != nil {
		return nil, err
	}
	r := &JoinRequest{Group: g.ID, User: id.User, Name: id.Name, Note: note, Via: via, Code: code, At: s.nowMS()}
	if err := tx.PutRequest(r); err != nil {
		return nil, err
	}
	if via == "invitation" {
		if err := tx.DeleteInvitation(g.ID, id.User); err != nil && !isNotFound(err) {
			return nil, err
		}
	}
	admins, err := tx.Members(g.ID, MemberQuery{MinRole: RoleAdmin, Limit: s.cfg.MaxAdmins + 1})
	if err != nil {
		return nil, err
	}
	for _, m := range admins {
		c.notify(m.User, EvRequest, r)
	}
	return &JoinResult{Status: "pending", Group: g.Card()}, nil
}

// CreateCode creates an invite code (admins; members if the group lets them).
func (s *Service) CreateCode(ctx context.Context, id *qun.Identity, in CreateCode) (*InviteCode, error) {
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	ttl := DefaultCodeTTL
	if in.TTL > 0 {
		ttl = time.Duration(in.TTL) * time.Second
	}
	var code *InviteCode
	_, err := s.update(ctx, id, in.Group, anyone, func(tx Tx, a *access, c *change) (err error) {
		if err := a.mayInvite(); err != nil {
			return err
		}
		codes, err := tx.Codes(in.Group, MaxCodesPerGroup)
		if err != nil {
			return err
		}
		live := 0
		for _, c := range codes {
			if s.codeUsable(c) == nil {
				live++
			}
		}
		if live >= MaxCodesPerGroup {
			return qun.Errorf(qun.CodeExhausted, "at most %d live invite codes per group; revoke some", MaxCodesPerGroup)
		}
		now := s.now()
		code = &InviteCode{Code: qun.NewID()[:10], Group: in.Group, By: id.User, Created: now.UnixMilli(), Expires: now.Add(ttl).UnixMilli(), MaxUses: in.MaxUses}
		if err := tx.InsertCode(code); err != nil {
			return err
		}
		c.audit("code.create", "", map[string]any{"code": code.Code, "ttl": int(ttl.Seconds()), "max_uses": in.MaxUses})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.withLink(code), nil
}

func (s *Service) withLink(c *InviteCode) *InviteCode {
	if s.cfg.InviteBaseURL != "" {
		c.Link = InviteLink(s.cfg.InviteBaseURL, c.Code)
	}
	return c
}

// codeUsable says why c cannot be used now, or nil.
func (s *Service) codeUsable(c *InviteCode) error {
	switch {
	case c.Revoked:
		return notFound("invite code")
	case s.nowMS() >= c.Expires:
		return qun.Errorf(qun.CodeExpired, "the invite code has expired")
	case c.MaxUses > 0 && c.Uses >= c.MaxUses:
		return qun.Errorf(qun.CodeExhausted, "the invite code has been used up")
	}
	return nil
}

// code loads a usable code and its live group.
func (s *Service) code(tx Tx, code string) (*InviteCode, *Group, error) {
	c, err := tx.Code(code)
	if err != nil {
		return nil, nil, err
	}
	g, err := tx.Group(c.Group)
	if err != nil {
		return nil, nil, err
	}
	if g.Dissolved != 0 {
		return nil, nil, notFound("invite code")
	}
	if err := s.codeUsable(c); err != nil {
		return nil, nil, err
	}
	return c, g, nil
}

// RevokeCode revokes a code (its creator, or the group's admins).
func (s *Service) RevokeCode(ctx context.Context, id *qun.Identity, in CodeRef) error {
	if err := qun.Validate(&in); err != nil {
		return err
	}
	var group qun.RoomID
	if err := s.view(ctx, id, func(tx Tx) error {
		c, err := tx.Code(in.Code)
		if err == nil {
			group = c.Group
		}
		return err
	}); err != nil {
		return err
	}
	_, err := s.mutate(ctx, id, group, func(tx Tx, ch *change) error {
		c, err := tx.Code(in.Code)
		if err != nil {
			return err
		}
		a, err := s.access(tx, id, c.Group)
		if isNotFound(err) {
			return notFound("invite code")
		} else if err != nil {
			return err
		}
		if c.By != id.User {
			if err := a.need(RoleAdmin); err != nil {
				return err
			}
		} else if a.rank == 0 {
			return notFound("invite code")
		}
		if c.Revoked {
			return nil
		}
		c.Revoked = true
		if err := tx.UpdateCode(c); err != nil {
			return err
		}
		ch.audit("code.revoke", "", map[string]string{"code": c.Code})
		return nil
	})
	return err
}

// Codes lists a group's codes: all of them for admins, their own for members.
func (s *Service) Codes(ctx context.Context, id *qun.Identity, in GroupRef) ([]*InviteCode, error) {
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	var out []*InviteCode
	err := s.read(ctx, id, in.Group, RoleMember, func(tx Tx, a *access) (err error) {
		codes, err := tx.Codes(in.Group, MaxCodesPerGroup)
		for _, c := range codes {
			if a.rank >= RoleAdmin.rank() || c.By == id.User {
				out = append(out, s.withLink(c))
			}
		}
		return err
	})
	return nonNil(out), err
}

// PreviewCode shows the group a usable code leads to.
func (s *Service) PreviewCode(ctx context.Context, id *qun.Identity, in CodeRef) (*Card, error) {
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	var card *Card
	err := s.view(ctx, id, func(tx Tx) error {
		_, g, err := s.code(tx, in.Code)
		if err == nil {
			card = g.Card()
		}
		return err
	})
	return card, err
}

// JoinByCode joins (or queues for approval in) the group of a usable
// code. Each redemption counts as one use.
func (s *Service) JoinByCode(ctx context.Context, id *qun.Identity, in JoinCode) (*JoinResult, error) {
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	var group qun.RoomID
	if err := s.view(ctx, id, func(tx Tx) error {
		c, err := tx.Code(in.Code)
		if err == nil {
			group = c.Group
		}
		return err
	}); err != nil {
		return nil, err
	}
	var res *JoinResult
	_, err := s.mutate(ctx, id, group, func(tx Tx, ch *change) error {
		c, g, err := s.code(tx, in.Code)
		if err != nil {
			return err
		}
		if res, err = s.joinOrQueue(tx, ch, g, id, "code", c.Code, in.Note, false); err != nil {
			return err
		}
		c.Uses++
		return tx.UpdateCode(c)
	})
	return res, err
}

// Requests lists a group's approval queue (admins).
func (s *Service) Requests(ctx context.Context, id *qun.Identity, in Requests) ([]*JoinRequest, error) {
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	var out []*JoinRequest
	err := s.read(ctx, id, in.Group, RoleAdmin, func(tx Tx, a *access) (err error) {
		out, err = tx.Requests(in.Group, pageLimit(in.Limit, 100, 200))
		return err
	})
	return nonNil(out), err
}

// Approve admits a queued user (admins).
func (s *Service) Approve(ctx context.Context, id *qun.Identity, in Decide) error {
	return s.decide(ctx, id, in, true)
}

// Reject drops a queued request (admins); the user is told the reason.
func (s *Service) Reject(ctx context.Context, id *qun.Identity, in Decide) error {
	return s.decide(ctx, id, in, false)
}

func (s *Service) decide(ctx context.Context, id *qun.Identity, in Decide, approve bool) error {
	if err := qun.Validate(&in); err != nil {
		return err
	}
	_, err := s.update(ctx, id, in.Group, RoleAdmin, func(tx Tx, a *access, c *change) (err error) {
		r, err := tx.Request(in.Group, in.User)
		if err != nil {
			return err
		}
		if !approve {
			if err := tx.DeleteRequest(in.Group, in.User); err != nil {
				return err
			}
			c.notify(in.User, EvRejected, map[string]any{"group": a.g.Card(), "reason": in.Reason})
			c.audit("request.reject", in.User, map[string]string{"reason": in.Reason})
			return nil
		}
		if err := s.addMember(tx, c, a.g, r.User, r.Name, "approval", id.User); err != nil {
			return err
		}
		c.notify(in.User, EvApproved, map[string]any{"group": a.g.Card()})
		c.audit("request.approve", in.User, nil)
		return nil
	})
	return err
}
