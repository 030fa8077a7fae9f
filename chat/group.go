package chat

import (
	"context"
	"slices"
	"strings"

	"github.com/qunkit/qun"
)

// RoomKind is the room kind of groups: a group's id is its RoomID, "g:<id>".
const RoomKind = "g"

// Group is a group room (群) and its settings.
type Group struct {
	ID     qun.RoomID `json:"id"`
	Name   string     `json:"name"`
	Avatar string     `json:"avatar,omitempty"`
	Intro  string     `json:"intro,omitempty"`
	Tags   []string   `json:"tags,omitempty"`
	Owner  qun.UserID `json:"owner"`
	// Public groups can be found by search and seen by non-members;
	// others are invisible (not_found) to all but their members.
	Public bool `json:"public"`
	// Approval sends joins (other than admins' invitations) to the admins'
	// approval queue.
	Approval bool `json:"approval"`
	// MembersInvite lets plain members invite and create invite codes.
	MembersInvite bool  `json:"members_invite"`
	MemberLimit   int   `json:"member_limit"`
	MemberCount   int   `json:"member_count"`
	MuteAll       bool  `json:"mute_all"`
	SlowMode      int   `json:"slow_mode"` // seconds between a non-admin's messages; 0 is off
	Created       int64 `json:"created"`   // unix ms
	// Pinned and Designated are message seqs, in the order they were marked.
	Pinned     []uint64 `json:"pinned,omitempty"`
	Designated []uint64 `json:"designated,omitempty"`
	// Dissolved is when the group was dissolved (0: it was not). A
	// dissolved group answers not_found to everyone.
	Dissolved int64 `json:"-"`
}

// Card is what anyone who may see a group learns about it: search results,
// invitations, invite code previews, profile pages.
type Card struct {
	ID          qun.RoomID `json:"id"`
	Name        string     `json:"name"`
	Avatar      string     `json:"avatar,omitempty"`
	Intro       string     `json:"intro,omitempty"`
	Tags        []string   `json:"tags,omitempty"`
	Public      bool       `json:"public"`
	Approval    bool       `json:"approval"`
	MemberCount int        `json:"member_count"`
}

// Card returns g's public face.
func (g *Group) Card() *Card {
	return &Card{ID: g.ID, Name: g.Name, Avatar: g.Avatar, Intro: g.Intro, Tags: g.Tags, Public: g.Public, Approval: g.Approval, MemberCount: g.MemberCount}
}

// GroupView is a group as one user sees it.
type GroupView struct {
	Group *Group `json:"group"`
	// Role is the caller's role; "" if not a member.
	Role       Role   `json:"role,omitempty"`
	MutedUntil int64  `json:"muted_until,omitempty"`
	Shown      bool   `json:"shown,omitempty"`
	ReadSeq    uint64 `json:"read_seq"`
	// Head is the room's last seq; Unread counts others' messages after
	// ReadSeq, at most MaxUnread.
	Head         uint64        `json:"head"`
	Unread       int           `json:"unread"`
	Announcement *Announcement `json:"announcement,omitempty"`
}

// CreateGroup is the input of Service.CreateGroup (op chat.create).
type CreateGroup struct {
	Name          string   `json:"name" validate:"required,max=64"`
	Avatar        string   `json:"avatar,omitempty" validate:"max=512"`
	Intro         string   `json:"intro,omitempty" validate:"max=1000"`
	Tags          []string `json:"tags,omitempty" validate:"max=10,dive,required,max=20"`
	Public        bool     `json:"public,omitempty"`
	Approval      bool     `json:"approval,omitempty"`
	MembersInvite *bool    `json:"members_invite,omitempty"` // nil means true
	MemberLimit   int      `json:"member_limit,omitempty" validate:"min=0,max=100000"`
}

// GroupRef names a group (ops that take nothing else).
type GroupRef struct {
	Group qun.RoomID `json:"group" validate:"required,startswith=g:,max=40"`
}

// UpdateGroup is the input of Service.UpdateGroup (op chat.update); nil
// fields are left as they are.
type UpdateGroup struct {
	Group         qun.RoomID `json:"group" validate:"required,startswith=g:,max=40"`
	Name          *string    `json:"name,omitempty" validate:"omitempty,min=1,max=64"`
	Avatar        *string    `json:"avatar,omitempty" validate:"omitempty,max=512"`
	Intro         *string    `json:"intro,omitempty" validate:"omitempty,max=1000"`
	Tags          *[]string  `json:"tags,omitempty" validate:"omitempty,max=10,dive,required,max=20"`
	Public        *bool      `json:"public,omitempty"`
	Approval      *bool      `json:"approval,omitempty"`
	MembersInvite *bool      `json:"members_invite,omitempty"`
	MemberLimit   *int       `json:"member_limit,omitempty" validate:"omitempty,min=1,max=100000"`
}

// Search is the input of Service.Search (op chat.search).
type Search struct {
	Q      string `json:"q,omitempty" validate:"max=64"`
	Tag    string `json:"tag,omitempty" validate:"max=20"`
	Offset int    `json:"offset,omitempty" validate:"min=0,max=1000"`
	Limit  int    `json:"limit,omitempty" validate:"min=0,max=50"`
}

// Page asks for one page of a list ordered by group id.
type Page struct {
	After qun.RoomID `json:"after,omitempty" validate:"omitempty,max=40"`
	Limit int        `json:"limit,omitempty" validate:"min=0,max=100"`
}

// UserRef names a user of the caller's tenant.
type UserRef struct {
	User qun.UserID `json:"user" validate:"required,max=64"`
}

// Transfer is the input of Service.Transfer (op chat.transfer).
type Transfer struct {
	Group qun.RoomID `json:"group" validate:"required,startswith=g:,max=40"`
	To    qun.UserID `json:"to" validate:"required,max=64"`
}

// ShowOnProfile is the input of Service.ShowOnProfile (op chat.profile.show).
type ShowOnProfile struct {
	Group qun.RoomID `json:"group" validate:"required,startswith=g:,max=40"`
	Show  bool       `json:"show"`
}

// access is what the caller is in one group, checked against its state in
// the current transaction.
type access struct {
	g        *Group
	m        *Member // nil if the caller is not a member
	rank     int     // effective rank: a tenant operator ranks as owner
	operator bool
}

// access loads group as id sees it. Groups of other tenants (the Tx cannot
// see them), dissolved groups, and non-public groups id is not in all
// answer the same not_found.
func (s *Service) access(tx Tx, id *qun.Identity, group qun.RoomID) (*access, error) {
	if !validGroupID(group) {
		return nil, notFound("group")
	}
	g, err := tx.Group(group)
	if err != nil {
		return nil, err
	}
	if g.Dissolved != 0 {
		return nil, notFound("group")
	}
	a := &access{g: g}
	m, err := tx.Member(group, id.User)
	switch {
	case err == nil:
		a.m, a.rank = m, m.Role.rank()
	case !isNotFound(err):
		return nil, err
	}
	if id.Has(qun.GrantAdmin) {
		a.operator, a.rank = true, RoleOwner.rank()
	}
	if a.rank == 0 && !g.Public {
		return nil, notFound("group")
	}
	return a, nil
}

// need answers forbidden unless the caller ranks at least r.
func (a *access) need(r Role) error {
	if a.rank < r.rank() {
		if a.rank == 0 {
			return forbidden("not a member of this group")
		}
		return forbidden("requires %s", r)
	}
	return nil
}

// over answers forbidden unless the caller is an admin or owner ranking
// strictly above target: admins cannot act on the owner or other admins.
func (a *access) over(target *Member) error {
	if err := a.need(RoleAdmin); err != nil {
		return err
	}
	if a.rank <= target.Role.rank() {
		return forbidden("cannot act on a group %s", target.Role)
	}
	return nil
}

func validGroupID(g qun.RoomID) bool {
	return strings.HasPrefix(string(g), RoomKind+":") && len(g) <= 40
}

// roomRole is the Hub's RoomAccess for rooms of kind "g".
func (s *Service) roomRole(ctx context.Context, id *qun.Identity, room qun.RoomID) (qun.Role, error) {
	var role qun.Role
	err := s.read(ctx, id, room, anyone, func(tx Tx, a *access) (err error) {
		role = hubRole(a.rank)
		return nil
	})
	return role, err
}

// CreateGroup creates a group owned by id, if the CreatePolicy allows.
func (s *Service) CreateGroup(ctx context.Context, id *qun.Identity, in CreateGroup) (*Group, error) {
	if err := s.check(id); err != nil {
		return nil, err
	}
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	name, err := cleanLine("name", in.Name)
	if err != nil {
		return nil, err
	}
	tags, err := cleanTags(in.Tags)
	if err != nil {
		return nil, err
	}
	if in.MemberLimit > s.cfg.MaxMemberLimit {
		return nil, &qun.Error{Code: qun.CodeInvalid, Message: "member_limit is above this server's maximum", Field: "member_limit"}
	}
	if err := s.cfg.CreatePolicy.MayCreate(ctx, id); err != nil {
		return nil, err
	}
	now := s.nowMS()
	g := &Group{
		ID: qun.RoomID(RoomKind + ":" + qun.NewID()), Name: name, Avatar: in.Avatar, Intro: strings.TrimSpace(in.Intro), Tags: tags,
		Owner: id.User, Public: in.Public, Approval: in.Approval, MembersInvite: first(in.MembersInvite, true),
		MemberLimit: in.MemberLimit, Created: now,
	}
	if g.MemberLimit == 0 {
		g.MemberLimit = s.cfg.DefaultMemberLimit
	}
	_, err = s.mutate(ctx, id, g.ID, func(tx Tx, c *change) error {
		n, err := tx.CountOwned(id.User)
		if err != nil {
			return err
		}
		if n >= s.cfg.MaxOwnedGroups {
			return qun.Errorf(qun.CodeExhausted, "you own %d groups, the most allowed", n)
		}
		if err := tx.InsertGroup(g); err != nil {
			return err
		}
		if err := tx.InsertMember(g.ID, &Member{User: id.User, Name: id.Name, Role: RoleOwner, Joined: now}); err != nil {
			return err
		}
		g.MemberCount = 1
		c.emit(EvGroupCreated, g)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return g, nil
}

// Group returns group as id sees it: members get their role, read position
// and unread count; non-members of a public group get the group alone.
func (s *Service) Group(ctx context.Context, id *qun.Identity, group qun.RoomID) (*GroupView, error) {
	var v *GroupView
	err := s.read(ctx, id, group, anyone, func(tx Tx, a *access) (err error) {
		v = &GroupView{Group: a.g}
		if a.m != nil {
			v.Role, v.MutedUntil, v.Shown, v.ReadSeq = a.m.Role, a.m.MutedUntil, a.m.Shown, a.m.ReadSeq
		}
		anns, err := tx.Announcements(group, 0, 1)
		if err != nil {
			return err
		}
		if len(anns) > 0 {
			v.Announcement = anns[0]
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if v.Role != "" {
		if err := s.fillUnread(ctx, id, v); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// UpdateGroup changes a group's profile and policies (admins and owner).
func (s *Service) UpdateGroup(ctx context.Context, id *qun.Identity, in UpdateGroup) (*Group, error) {
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	var name string
	if in.Name != nil {
		var err error
		if name, err = cleanLine("name", *in.Name); err != nil {
			return nil, err
		}
	}
	var tags []string
	if in.Tags != nil {
		var err error
		if tags, err = cleanTags(*in.Tags); err != nil {
			return nil, err
		}
	}
	if in.MemberLimit != nil && *in.MemberLimit > s.cfg.MaxMemberLimit {
		return nil, &qun.Error{Code: qun.CodeInvalid, Message: "member_limit is above this server's maximum", Field: "member_limit"}
	}
	var g *Group
	_, err := s.update(ctx, id, in.Group, RoleAdmin, func(tx Tx, a *access, c *change) (err error) {
		g = a.g
		if in.Name != nil {
			g.Name = name
		}
		if in.Tags != nil {
			g.Tags = tags
		}
		if in.MemberLimit != nil {
			if *in.MemberLimit < g.MemberCount {
				return qun.Errorf(qun.CodeConflict, "the group already has %d members", g.MemberCount)
			}
			g.MemberLimit = *in.MemberLimit
		}
		g.Avatar = first(in.Avatar, g.Avatar)
		if in.Intro != nil {
			g.Intro = strings.TrimSpace(*in.Intro)
		}
		g.Public = first(in.Public, g.Public)
		g.Approval = first(in.Approval, g.Approval)
		g.MembersInvite = first(in.MembersInvite, g.MembersInvite)
		if err := tx.UpdateGroup(g); err != nil {
			return err
		}
		c.emit(EvGroupUpdated, g)
		c.audit("group.update", "", in)
		return nil
	})
	return g, err
}

// Dissolve ends a group (owner only): everyone's subscription ends and
// every later call about it answers not_found.
func (s *Service) Dissolve(ctx context.Context, id *qun.Identity, group qun.RoomID) error {
	_, err := s.update(ctx, id, group, RoleOwner, func(tx Tx, a *access, c *change) (err error) {
		a.g.Dissolved = s.nowMS()
		if err := tx.UpdateGroup(a.g); err != nil {
			return err
		}
		c.emit(EvDissolved, nil)
		c.audit("group.dissolve", "", nil)
		c.endAll = qun.Errorf(qun.CodeNotFound, "the group was dissolved")
		return nil
	})
	return err
}

// Transfer makes another member the owner; the old owner becomes a member.
func (s *Service) Transfer(ctx context.Context, id *qun.Identity, in Transfer) error {
	if err := qun.Validate(&in); err != nil {
		return err
	}
	_, err := s.update(ctx, id, in.Group, RoleOwner, func(tx Tx, a *access, c *change) (err error) {
		to, err := tx.Member(in.Group, in.To)
		if err != nil {
			return err
		}
		if to.Role == RoleOwner {
			return qun.Errorf(qun.CodeConflict, "already the owner")
		}
		old, err := tx.Member(in.Group, a.g.Owner)
		if err != nil {
			return err
		}
		old.Role, to.Role, a.g.Owner = RoleMember, RoleOwner, to.User
		for _, m := range []*Member{old, to} {
			if err := tx.UpdateMember(in.Group, m); err != nil {
				return err
			}
		}
		if err := tx.UpdateGroup(a.g); err != nil {
			return err
		}
		c.emit(EvOwner, map[string]qun.UserID{"from": old.User, "to": to.User})
		c.audit("owner.transfer", to.User, map[string]qun.UserID{"from": old.User})
		return nil
	})
	return err
}

// Search finds public groups of id's tenant by name and/or tag.
func (s *Service) Search(ctx context.Context, id *qun.Identity, in Search) ([]*Card, error) {
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	var out []*Card
	err := s.view(ctx, id, func(tx Tx) error {
		gs, err := tx.SearchGroups(GroupQuery{Name: strings.TrimSpace(in.Q), Tag: strings.TrimSpace(in.Tag), Offset: in.Offset, Limit: pageLimit(in.Limit, 20, 50)})
		for _, g := range gs {
			out = append(out, g.Card())
		}
		return err
	})
	return nonNil(out), err
}

// MyGroups lists the groups id is in, with unread counts.
func (s *Service) MyGroups(ctx context.Context, id *qun.Identity, in Page) ([]*GroupView, error) {
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	var out []*GroupView
	err := s.view(ctx, id, func(tx Tx) error {
		ms, err := tx.UserGroups(id.User, false, in.After, pageLimit(in.Limit, 50, 100))
		for _, m := range ms {
			out = append(out, &GroupView{Group: m.Group, Role: m.Member.Role, MutedUntil: m.Member.MutedUntil, Shown: m.Member.Shown, ReadSeq: m.Member.ReadSeq})
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, v := range out {
		if err := s.fillUnread(ctx, id, v); err != nil {
			return nil, err
		}
	}
	return nonNil(out), nil
}

// ProfileGroups lists the groups user (of id's tenant) shows on their
// profile page.
func (s *Service) ProfileGroups(ctx context.Context, id *qun.Identity, in UserRef) ([]*Card, error) {
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	var out []*Card
	err := s.view(ctx, id, func(tx Tx) error {
		ms, err := tx.UserGroups(in.User, true, "", 100)
		for _, m := range ms {
			out = append(out, m.Group.Card())
		}
		return err
	})
	return nonNil(out), err
}

// ShowOnProfile sets whether the group shows on the caller's profile page.
func (s *Service) ShowOnProfile(ctx context.Context, id *qun.Identity, in ShowOnProfile) error {
	if err := qun.Validate(&in); err != nil {
		return err
	}
	_, err := s.update(ctx, id, in.Group, anyone, func(tx Tx, a *access, c *change) (err error) {
		if a.m == nil {
			return forbidden("not a member of this group")
		}
		a.m.Shown = in.Show
		return tx.UpdateMember(in.Group, a.m)
	})
	return err
}

// cleanLine trims s and refuses empty or control characters: names and
// titles are one line.
func cleanLine(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", &qun.Error{Code: qun.CodeInvalid, Message: field + " is required", Field: field}
	}
	if strings.ContainsFunc(s, isControl) {
		return "", &qun.Error{Code: qun.CodeInvalid, Message: field + " must be one line of text", Field: field}
	}
	return s, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func cleanTags(in []string) ([]string, error) {
	var out []string
	for _, t := range in {
		t, err := cleanLine("tags", t)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
