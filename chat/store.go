package chat

import (
	"context"

	"github.com/qunkit/qun"
)

// Store keeps chat's state: groups, members, bans, invitations, invite
// codes, join requests, announcements, message overlays (edits, recalls),
// reports, the audit log and the group tools. Messages themselves live in
// the Hub's room log (see doc.go).
//
// Every call is scoped to one tenant: a Tx can neither see nor touch
// another tenant's rows, so no chat code can forget the tenant filter.
// NewSQLiteStore is the embedded implementation; adapters for other engines
// pass chattest.RunStoreTests.
type Store interface {
	// Update runs fn in one read-write transaction of tenant's data: all of
	// fn's writes commit together when fn returns nil, none when it returns
	// an error (which Update returns). The Tx is bound to ctx and must not be
	// used after fn returns.
	Update(ctx context.Context, tenant qun.TenantID, fn func(Tx) error) error
	// View runs fn with read-only access to tenant's data. Reads need not
	// see one snapshot; fn must not write.
	View(ctx context.Context, tenant qun.TenantID, fn func(Tx) error) error
	// Close releases resources (not the *sql.DB, which the caller owns). Idempotent.
	Close() error
}

// Tx is the tenant-scoped data access that Store.Update and Store.View
// hand out. Lookups of one thing answer an *qun.Error with CodeNotFound when
// it does not exist; inserts of something that exists answer CodeConflict.
// Lists are ordered as documented and bounded by their limit.
type Tx interface {
	// InsertGroup adds g with MemberCount 0.
	InsertGroup(g *Group) error
	// Group returns the group, dissolved or not.
	Group(id qun.RoomID) (*Group, error)
	// UpdateGroup overwrites g's row, except MemberCount, which only member
	// inserts and deletes change.
	UpdateGroup(g *Group) error
	// SearchGroups returns public, not dissolved groups matching q, the
	// most members first, then by id.
	SearchGroups(q GroupQuery) ([]*Group, error)
	// CountOwned counts the not dissolved groups user owns.
	CountOwned(user qun.UserID) (int, error)

	// Member returns user's membership of group.
	Member(group qun.RoomID, user qun.UserID) (*Member, error)
	// InsertMember adds m to group and increments its MemberCount.
	InsertMember(group qun.RoomID, m *Member) error
	// UpdateMember overwrites m's row.
	UpdateMember(group qun.RoomID, m *Member) error
	// DeleteMember removes user from group and decrements its MemberCount.
	DeleteMember(group qun.RoomID, user qun.UserID) error
	// Members lists group's members ordered by user id, after q.After.
	Members(group qun.RoomID, q MemberQuery) ([]*Member, error)
	// UserGroups lists the not dissolved groups user is in, ordered by group
	// id after `after`; shownOnly keeps those the user shows on their profile.
	UserGroups(user qun.UserID, shownOnly bool, after qun.RoomID, limit int) ([]*Membership, error)
	// ExistingMembers returns those of users that are members of group.
	ExistingMembers(group qun.RoomID, users []qun.UserID) ([]qun.UserID, error)
	// CountActive counts group's members whose LastActive ≥ since (unix ms).
	CountActive(group qun.RoomID, since int64) (int, error)

	// Ban returns the ban of user in group.
	Ban(group qun.RoomID, user qun.UserID) (*Ban, error)
	InsertBan(group qun.RoomID, b *Ban) error
	DeleteBan(group qun.RoomID, user qun.UserID) error
	// Bans lists group's bans ordered by user id after `after`.
	Bans(group qun.RoomID, after qun.UserID, limit int) ([]*Ban, error)

	// PutInvitation inserts or replaces the invitation of inv.User to inv.Group.
	PutInvitation(inv *Invitation) error
	Invitation(group qun.RoomID, user qun.UserID) (*Invitation, error)
	DeleteInvitation(group qun.RoomID, user qun.UserID) error
	// Invitations lists user's invitations, newest first.
	Invitations(user qun.UserID, limit int) ([]*Invitation, error)

	InsertCode(c *InviteCode) error
	Code(code string) (*InviteCode, error)
	UpdateCode(c *InviteCode) error
	// Codes lists group's codes, newest first.
	Codes(group qun.RoomID, limit int) ([]*InviteCode, error)

	// PutRequest inserts or replaces r (one pending request per user and group).
	PutRequest(r *JoinRequest) error
	Request(group qun.RoomID, user qun.UserID) (*JoinRequest, error)
	DeleteRequest(group qun.RoomID, user qun.UserID) error
	// Requests lists group's pending requests, oldest first.
	Requests(group qun.RoomID, limit int) ([]*JoinRequest, error)
	CountRequests(group qun.RoomID) (int, error)

	// InsertAnnouncement adds a and sets a.ID (increasing per store).
	InsertAnnouncement(group qun.RoomID, a *Announcement) error
	// Announcements lists group's announcements with ID < before (0: all),
	// newest first.
	Announcements(group qun.RoomID, before int64, limit int) ([]*Announcement, error)

	// Patch returns the overlay of message seq (edits, recall).
	Patch(group qun.RoomID, seq uint64) (*Patch, error)
	PutPatch(group qun.RoomID, p *Patch) error
	// Patches returns the overlays of those of seqs that have one.
	Patches(group qun.RoomID, seqs []uint64) (map[uint64]*Patch, error)

	// InsertReport adds r and sets r.ID; a second report of the same
	// message by the same user is a conflict.
	InsertReport(r *Report) error
	Report(group qun.RoomID, id int64) (*Report, error)
	UpdateReport(r *Report) error
	// Reports lists group's reports with ID < before (0: all), newest first.
	Reports(group qun.RoomID, open bool, before int64, limit int) ([]*Report, error)

	// InsertAudit adds e and sets e.ID.
	InsertAudit(group qun.RoomID, e *AuditEntry) error
	// Audit lists group's audit entries with ID < before (0: all), newest first.
	Audit(group qun.RoomID, before int64, limit int) ([]*AuditEntry, error)

	CheckIn(group qun.RoomID, user qun.UserID, day string) (*CheckIn, error)
	InsertCheckIn(group qun.RoomID, c *CheckIn) error
	// CheckIns lists the check-ins of day in the order they happened.
	CheckIns(group qun.RoomID, day string, limit int) ([]*CheckIn, error)
	CountCheckIns(group qun.RoomID, day string) (int, error)

	InsertChain(c *Chain) error
	Chain(group qun.RoomID, id string) (*Chain, error)
	UpdateChain(c *Chain) error
	CountOpenChains(group qun.RoomID) (int, error)
	InsertEntry(chain string, e *ChainEntry) error
	DeleteEntry(chain string, user qun.UserID) error
	// Entries lists a chain's entries ordered by N.
	Entries(chain string, limit int) ([]*ChainEntry, error)

	InsertPoll(p *Poll) error
	Poll(group qun.RoomID, id string) (*Poll, error)
	UpdatePoll(p *Poll) error
	CountOpenPolls(group qun.RoomID) (int, error)
	InsertVote(poll string, v *Vote) error
	Vote(poll string, user qun.UserID) (*Vote, error)
	// Votes lists a poll's votes ordered by user id after `after`.
	Votes(poll string, after qun.UserID, limit int) ([]*Vote, error)
}

// GroupQuery selects public groups in SearchGroups.
type GroupQuery struct {
	// Name matches groups whose name contains it (case-insensitive for ASCII).
	Name string
	// Tag matches groups carrying exactly this tag.
	Tag    string
	Offset int
	Limit  int
}

// MemberQuery selects members in Members.
type MemberQuery struct {
	After qun.UserID
	Limit int
	// MinRole keeps members of at least this role ("" keeps all).
	MinRole Role
}

// Membership is one of a user's groups, with the user's membership of it.
type Membership struct {
	Group  *Group
	Member *Member
}
