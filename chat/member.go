package chat

import (
	"context"
	"time"

	"github.com/qunkit/qun"
)

// Role is a member's role in a group. Owner > admin > member: an owner or
// admin acts only on members ranking strictly below them.
type Role string

const (
	RoleOwner  Role = "owner"  // 群主: one per group
	RoleAdmin  Role = "admin"  // 管理员: set by the owner
	RoleMember Role = "member" // everyone else

	// anyone asks for no role: whoever may see the group (members, and
	// everyone in the tenant for public groups).
	anyone Role = ""
)

func (r Role) rank() int {
	switch r {
	case RoleOwner:
		return 3
	case RoleAdmin:
		return 2
	case RoleMember:
		return 1
	}
	return 0
}

// hubRole maps a rank onto the Hub's room roles, which other packages
// (live, whiteboard) consult for group rooms.
func hubRole(rank int) qun.Role {
	switch rank {
	case 3:
		return qun.RoleOwner
	case 2:
		return qun.RoleModerator
	case 1:
		return qun.RoleMember
	}
	return qun.RoleNone
}

// Member is one user's membership of a group.
type Member struct {
	User       qun.UserID `json:"user"`
	Name       string     `json:"name,omitempty"`
	Role       Role       `json:"role"`
	Joined     int64      `json:"joined"`                // unix ms
	MutedUntil int64      `json:"muted_until,omitempty"` // unix ms; 0 or past: not muted
	// Shown: the member shows this group on their profile page.
	Shown bool `json:"shown,omitempty"`
	// ReadSeq is the member's read position; private, so not in member lists.
	ReadSeq uint64 `json:"-"`
	// LastActive is when the member last sent a message or checked in
	// (unix ms, at ActivityResolution).
	LastActive int64 `json:"-"`
}

func (m *Member) muted(now int64) bool { return m.MutedUntil > now }

// Ban keeps a user out of a group until an admin lifts it.
type Ban struct {
	User   qun.UserID `json:"user"`
	By     qun.UserID `json:"by"`
	Reason string     `json:"reason,omitempty"`
	At     int64      `json:"at"`
}

// Members is the input of Service.Members (op chat.members).
type Members struct {
	Group qun.RoomID `json:"group" validate:"required,startswith=g:,max=40"`
	After qun.UserID `json:"after,omitempty" validate:"max=64"`
	Limit int        `json:"limit,omitempty" validate:"min=0,max=200"`
	// Admins lists only the owner and admins.
	Admins bool `json:"admins,omitempty"`
}

// Target names a user in a group (kick, unban).
type Target struct {
	Group qun.RoomID `json:"group" validate:"required,startswith=g:,max=40"`
	User  qun.UserID `json:"user" validate:"required,max=64"`
}

// BanInput is the input of Service.Ban (op chat.ban).
type BanInput struct {
	Group  qun.RoomID `json:"group" validate:"required,startswith=g:,max=40"`
	User   qun.UserID `json:"user" validate:"required,max=64"`
	Reason string     `json:"reason,omitempty" validate:"max=200"`
}

// Bans is the input of Service.Bans (op chat.bans).
type Bans struct {
	Group qun.RoomID `json:"group" validate:"required,startswith=g:,max=40"`
	After qun.UserID `json:"after,omitempty" validate:"max=64"`
	Limit int        `json:"limit,omitempty" validate:"min=0,max=200"`
}

// MaxMute is the longest one mute lasts.
const MaxMute = 30 * 24 * time.Hour

// Mute is the input of Service.Mute (op chat.mute).
type Mute struct {
	Group qun.RoomID `json:"group" validate:"required,startswith=g:,max=40"`
	User  qun.UserID `json:"user" validate:"required,max=64"`
	// Seconds the mute lasts; 0 lifts it. At most MaxMute.
	Seconds int `json:"seconds" validate:"min=0,max=2592000"`
}

// Toggle switches a group setting (mute all).
type Toggle struct {
	Group qun.RoomID `json:"group" validate:"required,startswith=g:,max=40"`
	On    bool       `json:"on"`
}

// SlowMode is the input of Service.SetSlowMode (op chat.slow_mode).
type SlowMode struct {
	Group qun.RoomID `json:"group" validate:"required,startswith=g:,max=40"`
	// Seconds between one non-admin's messages; 0 turns slow mode off.
	Seconds int `json:"seconds" validate:"min=0,max=3600"`
}

// SetRole is the input of Service.SetRole (op chat.role).
type SetRole struct {
	Group qun.RoomID `json:"group" validate:"required,startswith=g:,max=40"`
	User  qun.UserID `json:"user" validate:"required,max=64"`
	Role  Role       `json:"role" validate:"required,oneof=admin member"`
}

type joinedData struct {
	User qun.UserID `json:"user"`
	Name string     `json:"name,omitempty"`
	Via  string     `json:"via"` // search, invitation, code, approval
	By   qun.UserID `json:"by,omitempty"`
}

// addMember makes user a member of g within tx: banned users are refused,
// full groups are exhausted, members already in are a conflict.
func (s *Service) addMember(tx Tx, c *change, g *Group, user qun.UserID, name, via string, by qun.UserID) error {
	if _, err := tx.Ban(g.ID, user); err == nil {
		return forbidden("banned from this group")
	} else if !isNotFound(err) {
		return err
	}
	if _, err := tx.Member(g.ID, user); err == nil {
		return qun.Errorf(qun.CodeConflict, "already a member")
	} else if !isNotFound(err) {
		return err
	}
	if g.MemberCount >= g.MemberLimit {
		return qun.Errorf(qun.CodeExhausted, "the group is full (%d members)", g.MemberLimit)
	}
	if err := tx.InsertMember(g.ID, &Member{User: user, Name: name, Role: RoleMember, Joined: s.nowMS()}); err != nil {
		return err
	}
	g.MemberCount++
	for _, del := range []func(qun.RoomID, qun.UserID) error{tx.DeleteInvitation, tx.DeleteRequest} {
		if err := del(g.ID, user); err != nil && !isNotFound(err) {
			return err
		}
	}
	c.emit(EvJoined, joinedData{User: user, Name: name, Via: via, By: by})
	return nil
}

// Members lists a group's members (members only).
func (s *Service) Members(ctx context.Context, id *qun.Identity, in Members) ([]*Member, error) {
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	var out []*Member
	err := s.read(ctx, id, in.Group, RoleMember, func(tx Tx, a *access) (err error) {
		q := MemberQuery{After: in.After, Limit: pageLimit(in.Limit, 100, 200)}
		if in.Admins {
			q.MinRole = RoleAdmin
		}
		out, err = tx.Members(in.Group, q)
		return err
	})
	return nonNil(out), err
}

// Leave takes the caller out of a group. The owner must transfer the
// group or dissolve it instead.
func (s *Service) Leave(ctx context.Context, id *qun.Identity, in GroupRef) error {
	if err := qun.Validate(&in); err != nil {
		return err
	}
	_, err := s.update(ctx, id, in.Group, anyone, func(tx Tx, a *access, c *change) (err error) {
		if a.m == nil {
			return forbidden("not a member of this group")
		}
		if a.m.Role == RoleOwner {
			return qun.Errorf(qun.CodeConflict, "the owner cannot leave; transfer the group or dissolve it")
		}
		if err := tx.DeleteMember(in.Group, id.User); err != nil {
			return err
		}
		c.emit(EvLeft, userData{User: id.User})
		c.end(id.User, qun.Errorf(qun.CodeForbidden, "you left the group"))
		return nil
	})
	return err
}

// targetMember loads the member an admin action is aimed at and checks
// the role ordering.
func targetMember(tx Tx, a *access, user qun.UserID) (*Member, error) {
	if err := a.need(RoleAdmin); err != nil {
		return nil, err
	}
	m, err := tx.Member(a.g.ID, user)
	if err != nil {
		return nil, err
	}
	if err := a.over(m); err != nil {
		return nil, err
	}
	return m, nil
}

// Kick removes a member (admins, over members ranking below them). The
// member's live subscription ends at once; they may rejoin unless banned.
func (s *Service) Kick(ctx context.Context, id *qun.Identity, in Target) error {
	if err := qun.Validate(&in); err != nil {
		return err
	}
	_, err := s.update(ctx, id, in.Group, anyone, func(tx Tx, a *access, c *change) (err error) {
		m, err := targetMember(tx, a, in.User)
		if err != nil {
			return err
		}
		if err := tx.DeleteMember(in.Group, m.User); err != nil {
			return err
		}
		c.emit(EvKicked, userData{User: m.User})
		c.end(m.User, qun.Errorf(qun.CodeForbidden, "removed from the group"))
		c.audit("member.kick", m.User, nil)
		return nil
	})
	return err
}

// Ban removes a user (member or not) and keeps them out: joining again by
// any path is refused until Unban.
func (s *Service) Ban(ctx context.Context, id *qun.Identity, in BanInput) error {
	if err := qun.Validate(&in); err != nil {
		return err
	}
	_, err := s.update(ctx, id, in.Group, RoleAdmin, func(tx Tx, a *access, c *change) (err error) {
		m, err := tx.Member(in.Group, in.User)
		switch {
		case err == nil:
			if err := a.over(m); err != nil {
				return err
			}
			if err := tx.DeleteMember(in.Group, in.User); err != nil {
				return err
			}
		case !isNotFound(err):
			return err
		}
		if err := tx.InsertBan(in.Group, &Ban{User: in.User, By: id.User, Reason: in.Reason, At: s.nowMS()}); err != nil {
			return err
		}
		for _, del := range []func(qun.RoomID, qun.UserID) error{tx.DeleteInvitation, tx.DeleteRequest} {
			if err := del(in.Group, in.User); err != nil && !isNotFound(err) {
				return err
			}
		}
		c.emit(EvBanned, map[string]any{"user": in.User, "reason": in.Reason})
		c.end(in.User, qun.Errorf(qun.CodeForbidden, "banned from the group"))
		c.audit("member.ban", in.User, map[string]string{"reason": in.Reason})
		return nil
	})
	return err
}

// Unban lifts a ban (admins).
func (s *Service) Unban(ctx context.Context, id *qun.Identity, in Target) error {
	if err := qun.Validate(&in); err != nil {
		return err
	}
	_, err := s.update(ctx, id, in.Group, RoleAdmin, func(tx Tx, a *access, c *change) (err error) {
		if err := tx.DeleteBan(in.Group, in.User); err != nil {
			return err
		}
		c.emit(EvUnbanned, userData{User: in.User})
		c.audit("member.unban", in.User, nil)
		return nil
	})
	return err
}

// Bans lists a group's bans (admins).
func (s *Service) Bans(ctx context.Context, id *qun.Identity, in Bans) ([]*Ban, error) {
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	var out []*Ban
	err := s.read(ctx, id, in.Group, RoleAdmin, func(tx Tx, a *access) (err error) {
		out, err = tx.Bans(in.Group, in.After, pageLimit(in.Limit, 100, 200))
		return err
	})
	return nonNil(out), err
}

// Mute silences a member for a while (admins, over members ranking below
// them); Seconds 0 lifts it.
func (s *Service) Mute(ctx context.Context, id *qun.Identity, in Mute) error {
	if err := qun.Validate(&in); err != nil {
		return err
	}
	_, err := s.update(ctx, id, in.Group, anyone, func(tx Tx, a *access, c *change) (err error) {
		m, err := targetMember(tx, a, in.User)
		if err != nil {
			return err
		}
		m.MutedUntil = 0
		if in.Seconds > 0 {
			m.MutedUntil = s.now().Add(time.Duration(in.Seconds) * time.Second).UnixMilli()
		}
		if err := tx.UpdateMember(in.Group, m); err != nil {
			return err
		}
		c.emit(EvMuted, map[string]any{"user": m.User, "until": m.MutedUntil})
		c.audit("member.mute", m.User, map[string]int{"seconds": in.Seconds})
		return nil
	})
	return err
}

// MuteAll silences every non-admin member while on (admins).
func (s *Service) MuteAll(ctx context.Context, id *qun.Identity, in Toggle) error {
	if err := qun.Validate(&in); err != nil {
		return err
	}
	return s.setGroup(ctx, id, in.Group, RoleAdmin, func(g *Group, c *change) error {
		g.MuteAll = in.On
		c.emit(EvMuteAll, map[string]bool{"on": in.On})
		c.audit("group.mute_all", "", map[string]bool{"on": in.On})
		return nil
	})
}

// SetSlowMode sets the seconds a non-admin must wait between messages (admins).
func (s *Service) SetSlowMode(ctx context.Context, id *qun.Identity, in SlowMode) error {
	if err := qun.Validate(&in); err != nil {
		return err
	}
	return s.setGroup(ctx, id, in.Group, RoleAdmin, func(g *Group, c *change) error {
		g.SlowMode = in.Seconds
		c.emit(EvSlowMode, map[string]int{"seconds": in.Seconds})
		c.audit("group.slow_mode", "", map[string]int{"seconds": in.Seconds})
		return nil
	})
}

// setGroup changes the group row with fn, for callers of at least role r.
func (s *Service) setGroup(ctx context.Context, id *qun.Identity, group qun.RoomID, r Role, fn func(*Group, *change) error) error {
	_, err := s.update(ctx, id, group, r, func(tx Tx, a *access, c *change) (err error) {
		if err := fn(a.g, c); err != nil {
			return err
		}
		return tx.UpdateGroup(a.g)
	})
	return err
}

// SetRole makes a member an admin or a plain member again (owner only).
func (s *Service) SetRole(ctx context.Context, id *qun.Identity, in SetRole) error {
	if err := qun.Validate(&in); err != nil {
		return err
	}
	_, err := s.update(ctx, id, in.Group, RoleOwner, func(tx Tx, a *access, c *change) (err error) {
		m, err := tx.Member(in.Group, in.User)
		if err != nil {
			return err
		}
		if m.Role == RoleOwner {
			return qun.Errorf(qun.CodeConflict, "the owner's role changes only by transfer")
		}
		if m.Role == in.Role {
			return nil
		}
		if in.Role == RoleAdmin {
			admins, err := tx.Members(in.Group, MemberQuery{MinRole: RoleAdmin, Limit: s.cfg.MaxAdmins + 2})
			if err != nil {
				return err
			}
			if len(admins)-1 >= s.cfg.MaxAdmins { // the owner is not an admin
				return qun.Errorf(qun.CodeExhausted, "a group has at most %d admins", s.cfg.MaxAdmins)
			}
		}
		m.Role = in.Role
		if err := tx.UpdateMember(in.Group, m); err != nil {
			return err
		}
		c.emit(EvRole, map[string]any{"user": m.User, "role": m.Role})
		c.audit("member.role", m.User, map[string]Role{"role": m.Role})
		return nil
	})
	return err
}
