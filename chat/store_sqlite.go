package chat

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/sqljson"
	"github.com/qunkit/qun/internal/sqlmigrate"
)

// NewSQLiteStore returns the embedded Store on db (opened with
// sqlite.Open), creating its tables (prefixed chat_) if needed. Every
// table's key starts with the tenant.
func NewSQLiteStore(db *sql.DB) (*SQLiteStore, error) {
	if err := sqlmigrate.Apply(context.Background(), db, "chat.store", migrations); err != nil {
		return nil, err
	}
	return &SQLiteStore{db: db}, nil
}

var migrations = []string{`
CREATE TABLE chat_groups (
	tenant TEXT NOT NULL, id TEXT NOT NULL,
	name TEXT NOT NULL, avatar TEXT NOT NULL, intro TEXT NOT NULL, tags TEXT NOT NULL,
	owner TEXT NOT NULL, public INTEGER NOT NULL, approval INTEGER NOT NULL, members_invite INTEGER NOT NULL,
	member_limit INTEGER NOT NULL, member_count INTEGER NOT NULL DEFAULT 0,
	mute_all INTEGER NOT NULL, slow_mode INTEGER NOT NULL, created INTEGER NOT NULL,
	pinned TEXT NOT NULL, designated TEXT NOT NULL, dissolved INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (tenant, id)) WITHOUT ROWID;
CREATE INDEX chat_groups_owner ON chat_groups (tenant, owner);
CREATE INDEX chat_groups_public ON chat_groups (tenant, public, dissolved, member_count);
CREATE TABLE chat_group_tags (tenant TEXT NOT NULL, tag TEXT NOT NULL, grp TEXT NOT NULL,
	PRIMARY KEY (tenant, tag, grp)) WITHOUT ROWID;
CREATE TABLE chat_members (
	tenant TEXT NOT NULL, grp TEXT NOT NULL, user TEXT NOT NULL,
	name TEXT NOT NULL, role TEXT NOT NULL, joined INTEGER NOT NULL, muted_until INTEGER NOT NULL,
	shown INTEGER NOT NULL, read_seq INTEGER NOT NULL, last_active INTEGER NOT NULL,
	PRIMARY KEY (tenant, grp, user)) WITHOUT ROWID;
CREATE INDEX chat_members_user ON chat_members (tenant, user, grp);
CREATE INDEX chat_members_active ON chat_members (tenant, grp, last_active);
CREATE TABLE chat_bans (tenant TEXT NOT NULL, grp TEXT NOT NULL, user TEXT NOT NULL,
	by_user TEXT NOT NULL, reason TEXT NOT NULL, at INTEGER NOT NULL,
	PRIMARY KEY (tenant, grp, user)) WITHOUT ROWID;
CREATE TABLE chat_invitations (tenant TEXT NOT NULL, grp TEXT NOT NULL, user TEXT NOT NULL,
	by_user TEXT NOT NULL, by_admin INTEGER NOT NULL, at INTEGER NOT NULL,
	PRIMARY KEY (tenant, grp, user)) WITHOUT ROWID;
CREATE INDEX chat_invitations_user ON chat_invitations (tenant, user, at);
CREATE TABLE chat_codes (tenant TEXT NOT NULL, code TEXT NOT NULL, grp TEXT NOT NULL,
	by_user TEXT NOT NULL, created INTEGER NOT NULL, expires INTEGER NOT NULL,
	max_uses INTEGER NOT NULL, uses INTEGER NOT NULL, revoked INTEGER NOT NULL,
	PRIMARY KEY (tenant, code)) WITHOUT ROWID;
CREATE INDEX chat_codes_group ON chat_codes (tenant, grp, created);
CREATE TABLE chat_requests (tenant TEXT NOT NULL, grp TEXT NOT NULL, user TEXT NOT NULL,
	name TEXT NOT NULL, note TEXT NOT NULL, via TEXT NOT NULL, code TEXT NOT NULL, at INTEGER NOT NULL,
	PRIMARY KEY (tenant, grp, user)) WITHOUT ROWID;
CREATE TABLE chat_announcements (id INTEGER PRIMARY KEY AUTOINCREMENT,
	tenant TEXT NOT NULL, grp TEXT NOT NULL, text TEXT NOT NULL, by_user TEXT NOT NULL, at INTEGER NOT NULL);
CREATE INDEX chat_announcements_group ON chat_announcements (tenant, grp, id);
CREATE TABLE chat_patches (tenant TEXT NOT NULL, grp TEXT NOT NULL, seq INTEGER NOT NULL, data TEXT NOT NULL,
	PRIMARY KEY (tenant, grp, seq)) WITHOUT ROWID;
CREATE TABLE chat_reports (id INTEGER PRIMARY KEY AUTOINCREMENT,
	tenant TEXT NOT NULL, grp TEXT NOT NULL, seq INTEGER NOT NULL, reporter TEXT NOT NULL,
	reason TEXT NOT NULL, note TEXT NOT NULL, at INTEGER NOT NULL, resolved INTEGER NOT NULL, by_user TEXT NOT NULL,
	UNIQUE (tenant, grp, seq, reporter));
CREATE INDEX chat_reports_group ON chat_reports (tenant, grp, id);
CREATE TABLE chat_audit (id INTEGER PRIMARY KEY AUTOINCREMENT,
	tenant TEXT NOT NULL, grp TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
	target TEXT NOT NULL, detail TEXT NOT NULL, at INTEGER NOT NULL);
CREATE INDEX chat_audit_group ON chat_audit (tenant, grp, id);
CREATE TABLE chat_checkins (tenant TEXT NOT NULL, grp TEXT NOT NULL, user TEXT NOT NULL, day TEXT NOT NULL,
	name TEXT NOT NULL, streak INTEGER NOT NULL, at INTEGER NOT NULL, n INTEGER NOT NULL,
	PRIMARY KEY (tenant, grp, user, day)) WITHOUT ROWID;
CREATE INDEX chat_checkins_day ON chat_checkins (tenant, grp, day, n);
CREATE TABLE chat_chains (tenant TEXT NOT NULL, id TEXT NOT NULL, grp TEXT NOT NULL,
	title TEXT NOT NULL, by_user TEXT NOT NULL, lim INTEGER NOT NULL, deadline INTEGER NOT NULL,
	closed INTEGER NOT NULL, count INTEGER NOT NULL, created INTEGER NOT NULL, next INTEGER NOT NULL,
	PRIMARY KEY (tenant, id)) WITHOUT ROWID;
CREATE INDEX chat_chains_group ON chat_chains (tenant, grp, closed);
CREATE TABLE chat_chain_entries (tenant TEXT NOT NULL, chain TEXT NOT NULL, user TEXT NOT NULL,
	name TEXT NOT NULL, note TEXT NOT NULL, n INTEGER NOT NULL, at INTEGER NOT NULL,
	PRIMARY KEY (tenant, chain, user)) WITHOUT ROWID;
CREATE INDEX chat_chain_entries_n ON chat_chain_entries (tenant, chain, n);
CREATE TABLE chat_polls (tenant TEXT NOT NULL, id TEXT NOT NULL, grp TEXT NOT NULL,
	question TEXT NOT NULL, options TEXT NOT NULL, multi INTEGER NOT NULL, max_choices INTEGER NOT NULL,
	anonymous INTEGER NOT NULL, deadline INTEGER NOT NULL, closed INTEGER NOT NULL, by_user TEXT NOT NULL,
	created INTEGER NOT NULL, counts TEXT NOT NULL, voters INTEGER NOT NULL,
	PRIMARY KEY (tenant, id)) WITHOUT ROWID;
CREATE INDEX chat_polls_group ON chat_polls (tenant, grp, closed);
CREATE TABLE chat_votes (tenant TEXT NOT NULL, poll TEXT NOT NULL, user TEXT NOT NULL,
	choices TEXT NOT NULL, at INTEGER NOT NULL,
	PRIMARY KEY (tenant, poll, user)) WITHOUT ROWID;
`}

// SQLiteStore is the embedded Store on a database opened with sqlite.Open.
// Its methods are the Store interface's; chat.New takes it as Config.Store.
type SQLiteStore struct{ db *sql.DB }

var _ Store = (*SQLiteStore)(nil)

func (s *SQLiteStore) Update(ctx context.Context, tenant qun.TenantID, fn func(Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("chat: begin: %w", err)
	}
	defer tx.Rollback()
	if err := fn(&sqlTx{ctx: ctx, q: tx, tenant: string(tenant)}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("chat: commit: %w", err)
	}
	return nil
}

// View reads outside a transaction: WAL readers never wait for writers.
func (s *SQLiteStore) View(ctx context.Context, tenant qun.TenantID, fn func(Tx) error) error {
	return fn(&sqlTx{ctx: ctx, q: s.db, tenant: string(tenant), ro: true})
}

func (s *SQLiteStore) Close() error { return nil }

type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// sqlTx is a Tx. Every statement filters on t.tenant (the tenant column
// leads every key), so one tenant's Tx cannot reach another's rows.
type sqlTx struct {
	ctx    context.Context
	q      queryer
	tenant string
	ro     bool
}

var errReadOnly = errors.New("chat: write inside Store.View")

// exec runs a write and returns the rows it affected.
func (t *sqlTx) exec(q string, args ...any) (int64, error) {
	if t.ro {
		return 0, errReadOnly
	}
	res, err := t.q.ExecContext(t.ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("chat: store: %w", err)
	}
	return res.RowsAffected()
}

// must runs a write that must affect a row; otherwise `what` is not_found.
func (t *sqlTx) must(what, q string, args ...any) error {
	n, err := t.exec(q, args...)
	if err == nil && n == 0 {
		return notFound(what)
	}
	return err
}

// insert runs an INSERT ... ON CONFLICT DO NOTHING; a skipped row is a conflict.
func (t *sqlTx) insert(what, q string, args ...any) error {
	n, err := t.exec(q, args...)
	if err == nil && n == 0 {
		return qun.Errorf(qun.CodeConflict, "%s already exists", what)
	}
	return err
}

// one scans the single row q returns, or answers `what` not_found.
func (t *sqlTx) one(what, q string, args []any, dest ...any) error {
	err := t.q.QueryRowContext(t.ctx, q, args...).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound(what)
	}
	if err != nil {
		return fmt.Errorf("chat: store: %w", err)
	}
	return nil
}

// list scans every row q returns with scan.
func list[T any](t *sqlTx, q string, args []any, scan func(sc scanner) (*T, error)) ([]*T, error) {
	rs, err := t.q.QueryContext(t.ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("chat: store: %w", err)
	}
	defer rs.Close()
	var out []*T
	for rs.Next() {
		v, err := scan(rs)
		if err != nil {
			return nil, fmt.Errorf("chat: store: %w", err)
		}
		out = append(out, v)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("chat: store: %w", err)
	}
	return out, nil
}

type scanner interface{ Scan(dest ...any) error }

func (t *sqlTx) count(q string, args ...any) (int, error) {
	var n int
	err := t.one("count", q, args, &n)
	return n, err
}

// ---- groups

const groupCols = `g.id, g.name, g.avatar, g.intro, g.tags, g.owner, g.public, g.approval, g.members_invite,
	g.member_limit, g.member_count, g.mute_all, g.slow_mode, g.created, g.pinned, g.designated, g.dissolved`

func scanGroup(sc scanner) (*Group, error) {
	g := &Group{}
	err := sc.Scan(&g.ID, &g.Name, &g.Avatar, &g.Intro, sqljson.Into(&g.Tags), &g.Owner, &g.Public, &g.Approval, &g.MembersInvite,
		&g.MemberLimit, &g.MemberCount, &g.MuteAll, &g.SlowMode, &g.Created, sqljson.Into(&g.Pinned), sqljson.Into(&g.Designated), &g.Dissolved)
	return g, err
}

func (t *sqlTx) InsertGroup(g *Group) error {
	err := t.insert("group", `INSERT INTO chat_groups (tenant, id, name, avatar, intro, tags, owner, public, approval, members_invite,
		member_limit, member_count, mute_all, slow_mode, created, pinned, designated, dissolved)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,0,?,?,?,?,?,?) ON CONFLICT DO NOTHING`,
		t.tenant, g.ID, g.Name, g.Avatar, g.Intro, sqljson.Text(nonNil(g.Tags)), g.Owner, g.Public, g.Approval, g.MembersInvite,
		g.MemberLimit, g.MuteAll, g.SlowMode, g.Created, sqljson.Text(nonNil(g.Pinned)), sqljson.Text(nonNil(g.Designated)), g.Dissolved)
	if err != nil {
		return err
	}
	return t.putTags(g)
}

func (t *sqlTx) putTags(g *Group) error {
	if _, err := t.exec(`DELETE FROM chat_group_tags WHERE tenant=? AND grp=?`, t.tenant, g.ID); err != nil {
		return err
	}
	for _, tag := range g.Tags {
		if _, err := t.exec(`INSERT INTO chat_group_tags (tenant, tag, grp) VALUES (?,?,?) ON CONFLICT DO NOTHING`,
			t.tenant, strings.ToLower(tag), g.ID); err != nil {
			return err
		}
	}
	return nil
}

func (t *sqlTx) Group(id qun.RoomID) (*Group, error) {
	gs, err := list(t, `SELECT `+groupCols+` FROM chat_groups g WHERE g.tenant=? AND g.id=?`, []any{t.tenant, id}, scanGroup)
	if err != nil {
		return nil, err
	}
	if len(gs) == 0 {
		return nil, notFound("group")
	}
	return gs[0], nil
}

func (t *sqlTx) UpdateGroup(g *Group) error {
	err := t.must("group", `UPDATE chat_groups SET name=?, avatar=?, intro=?, tags=?, owner=?, public=?, approval=?,
		members_invite=?, member_limit=?, mute_all=?, slow_mode=?, pinned=?, designated=?, dissolved=?
		WHERE tenant=? AND id=?`,
		g.Name, g.Avatar, g.Intro, sqljson.Text(nonNil(g.Tags)), g.Owner, g.Public, g.Approval, g.MembersInvite, g.MemberLimit,
		g.MuteAll, g.SlowMode, sqljson.Text(nonNil(g.Pinned)), sqljson.Text(nonNil(g.Designated)), g.Dissolved, t.tenant, g.ID)
	if err != nil {
		return err
	}
	return t.putTags(g)
}

func (t *sqlTx) SearchGroups(q GroupQuery) ([]*Group, error) {
	query := `SELECT ` + groupCols + ` FROM chat_groups g`
	var args []any
	if q.Tag != "" {
		query += ` JOIN chat_group_tags t ON t.tenant=g.tenant AND t.grp=g.id AND t.tag=?`
		args = append(args, strings.ToLower(q.Tag))
	}
	query += ` WHERE g.tenant=? AND g.public=1 AND g.dissolved=0`
	args = append(args, t.tenant)
	if q.Name != "" {
		query += ` AND g.name LIKE ? ESCAPE '\'`
		args = append(args, "%"+likeEscape(q.Name)+"%")
	}
	query += ` ORDER BY g.member_count DESC, g.id LIMIT ? OFFSET ?`
	args = append(args, max(q.Limit, 1), q.Offset)
	return list(t, query, args, scanGroup)
}

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

func (t *sqlTx) CountOwned(user qun.UserID) (int, error) {
	return t.count(`SELECT COUNT(*) FROM chat_groups WHERE tenant=? AND owner=? AND dissolved=0`, t.tenant, user)
}

// ---- members

const memberCols = `m.user, m.name, m.role, m.joined, m.muted_until, m.shown, m.read_seq, m.last_active`

func scanMember(sc scanner) (*Member, error) {
	m := &Member{}
	err := sc.Scan(&m.User, &m.Name, &m.Role, &m.Joined, &m.MutedUntil, &m.Shown, &m.ReadSeq, &m.LastActive)
	return m, err
}

func (t *sqlTx) Member(group qun.RoomID, user qun.UserID) (*Member, error) {
	ms, err := list(t, `SELECT `+memberCols+` FROM chat_members m WHERE m.tenant=? AND m.grp=? AND m.user=?`,
		[]any{t.tenant, group, user}, scanMember)
	if err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		return nil, notFound("member")
	}
	return ms[0], nil
}

func (t *sqlTx) InsertMember(group qun.RoomID, m *Member) error {
	if err := t.insert("member", `INSERT INTO chat_members (tenant, grp, user, name, role, joined, muted_until, shown, read_seq, last_active)
		VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING`,
		t.tenant, group, m.User, m.Name, m.Role, m.Joined, m.MutedUntil, m.Shown, m.ReadSeq, m.LastActive); err != nil {
		return err
	}
	return t.must("group", `UPDATE chat_groups SET member_count=member_count+1 WHERE tenant=? AND id=?`, t.tenant, group)
}

func (t *sqlTx) UpdateMember(group qun.RoomID, m *Member) error {
	return t.must("member", `UPDATE chat_members SET name=?, role=?, muted_until=?, shown=?, read_seq=?, last_active=?
		WHERE tenant=? AND grp=? AND user=?`,
		m.Name, m.Role, m.MutedUntil, m.Shown, m.ReadSeq, m.LastActive, t.tenant, group, m.User)
}

func (t *sqlTx) DeleteMember(group qun.RoomID, user qun.UserID) error {
	if err := t.must("member", `DELETE FROM chat_members WHERE tenant=? AND grp=? AND user=?`, t.tenant, group, user); err != nil {
		return err
	}
	return t.must("group", `UPDATE chat_groups SET member_count=member_count-1 WHERE tenant=? AND id=?`, t.tenant, group)
}

func (t *sqlTx) Members(group qun.RoomID, q MemberQuery) ([]*Member, error) {
	query := `SELECT ` + memberCols + ` FROM chat_members m WHERE m.tenant=? AND m.grp=? AND m.user>?`
	args := []any{t.tenant, group, q.After}
	if q.MinRole == RoleAdmin {
		query += ` AND m.role IN ('owner','admin')`
	} else if q.MinRole == RoleOwner {
		query += ` AND m.role='owner'`
	}
	query += ` ORDER BY m.user LIMIT ?`
	return list(t, query, append(args, max(q.Limit, 1)), scanMember)
}

func (t *sqlTx) UserGroups(user qun.UserID, shownOnly bool, after qun.RoomID, limit int) ([]*Membership, error) {
	query := `SELECT ` + groupCols + `, ` + memberCols + ` FROM chat_members m
		JOIN chat_groups g ON g.tenant=m.tenant AND g.id=m.grp
		WHERE m.tenant=? AND m.user=? AND m.grp>? AND g.dissolved=0`
	if shownOnly {
		query += ` AND m.shown=1`
	}
	query += ` ORDER BY m.grp LIMIT ?`
	return list(t, query, []any{t.tenant, user, after, max(limit, 1)}, func(sc scanner) (*Membership, error) {
		g, m := &Group{}, &Member{}
		err := sc.Scan(&g.ID, &g.Name, &g.Avatar, &g.Intro, sqljson.Into(&g.Tags), &g.Owner, &g.Public, &g.Approval, &g.MembersInvite,
			&g.MemberLimit, &g.MemberCount, &g.MuteAll, &g.SlowMode, &g.Created, sqljson.Into(&g.Pinned), sqljson.Into(&g.Designated), &g.Dissolved,
			&m.User, &m.Name, &m.Role, &m.Joined, &m.MutedUntil, &m.Shown, &m.ReadSeq, &m.LastActive)
		return &Membership{Group: g, Member: m}, err
	})
}

func (t *sqlTx) ExistingMembers(group qun.RoomID, users []qun.UserID) ([]qun.UserID, error) {
	if len(users) == 0 {
		return nil, nil
	}
	args := []any{t.tenant, group}
	for _, u := range users {
		args = append(args, u)
	}
	rows, err := list(t, `SELECT user FROM chat_members WHERE tenant=? AND grp=? AND user IN (?`+strings.Repeat(",?", len(users)-1)+`) ORDER BY user`,
		args, func(sc scanner) (*qun.UserID, error) {
			var u qun.UserID
			return &u, sc.Scan(&u)
		})
	out := make([]qun.UserID, len(rows))
	for i, u := range rows {
		out[i] = *u
	}
	return out, err
}

func (t *sqlTx) CountActive(group qun.RoomID, since int64) (int, error) {
	return t.count(`SELECT COUNT(*) FROM chat_members WHERE tenant=? AND grp=? AND last_active>=?`, t.tenant, group, since)
}

// ---- bans

func scanBan(sc scanner) (*Ban, error) {
	b := &Ban{}
	return b, sc.Scan(&b.User, &b.By, &b.Reason, &b.At)
}

func (t *sqlTx) Ban(group qun.RoomID, user qun.UserID) (*Ban, error) {
	b := &Ban{}
	err := t.one("ban", `SELECT user, by_user, reason, at FROM chat_bans WHERE tenant=? AND grp=? AND user=?`,
		[]any{t.tenant, group, user}, &b.User, &b.By, &b.Reason, &b.At)
	return b, err
}

func (t *sqlTx) InsertBan(group qun.RoomID, b *Ban) error {
	return t.insert("ban", `INSERT INTO chat_bans (tenant, grp, user, by_user, reason, at) VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING`,
		t.tenant, group, b.User, b.By, b.Reason, b.At)
}

func (t *sqlTx) DeleteBan(group qun.RoomID, user qun.UserID) error {
	return t.must("ban", `DELETE FROM chat_bans WHERE tenant=? AND grp=? AND user=?`, t.tenant, group, user)
}

func (t *sqlTx) Bans(group qun.RoomID, after qun.UserID, limit int) ([]*Ban, error) {
	return list(t, `SELECT user, by_user, reason, at FROM chat_bans WHERE tenant=? AND grp=? AND user>? ORDER BY user LIMIT ?`,
		[]any{t.tenant, group, after, max(limit, 1)}, scanBan)
}

// ---- invitations

const invCols = `grp, user, by_user, by_admin, at`

func scanInvitation(sc scanner) (*Invitation, error) {
	i := &Invitation{}
	return i, sc.Scan(&i.Group, &i.User, &i.By, &i.ByAdmin, &i.At)
}

func (t *sqlTx) PutInvitation(inv *Invitation) error {
	_, err := t.exec(`INSERT INTO chat_invitations (tenant, `+invCols+`) VALUES (?,?,?,?,?,?)
		ON CONFLICT (tenant, grp, user) DO UPDATE SET by_user=excluded.by_user, by_admin=excluded.by_admin, at=excluded.at`,
		t.tenant, inv.Group, inv.User, inv.By, inv.ByAdmin, inv.At)
	return err
}

func (t *sqlTx) Invitation(group qun.RoomID, user qun.UserID) (*Invitation, error) {
	invs, err := list(t, `SELECT `+invCols+` FROM chat_invitations WHERE tenant=? AND grp=? AND user=?`, []any{t.tenant, group, user}, scanInvitation)
	if err != nil {
		return nil, err
	}
	if len(invs) == 0 {
		return nil, notFound("invitation")
	}
	return invs[0], nil
}

func (t *sqlTx) DeleteInvitation(group qun.RoomID, user qun.UserID) error {
	return t.must("invitation", `DELETE FROM chat_invitations WHERE tenant=? AND grp=? AND user=?`, t.tenant, group, user)
}

func (t *sqlTx) Invitations(user qun.UserID, limit int) ([]*Invitation, error) {
	return list(t, `SELECT `+invCols+` FROM chat_invitations WHERE tenant=? AND user=? ORDER BY at DESC, grp LIMIT ?`,
		[]any{t.tenant, user, max(limit, 1)}, scanInvitation)
}

// ---- invite codes

const codeCols = `code, grp, by_user, created, expires, max_uses, uses, revoked`

func scanCode(sc scanner) (*InviteCode, error) {
	c := &InviteCode{}
	return c, sc.Scan(&c.Code, &c.Group, &c.By, &c.Created, &c.Expires, &c.MaxUses, &c.Uses, &c.Revoked)
}

func (t *sqlTx) InsertCode(c *InviteCode) error {
	return t.insert("invite code", `INSERT INTO chat_codes (tenant, `+codeCols+`) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING`,
		t.tenant, c.Code, c.Group, c.By, c.Created, c.Expires, c.MaxUses, c.Uses, c.Revoked)
}

func (t *sqlTx) Code(code string) (*InviteCode, error) {
	cs, err := list(t, `SELECT `+codeCols+` FROM chat_codes WHERE tenant=? AND code=?`, []any{t.tenant, code}, scanCode)
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, notFound("invite code")
	}
	return cs[0], nil
}

func (t *sqlTx) UpdateCode(c *InviteCode) error {
	return t.must("invite code", `UPDATE chat_codes SET uses=?, revoked=?, expires=?, max_uses=? WHERE tenant=? AND code=?`,
		c.Uses, c.Revoked, c.Expires, c.MaxUses, t.tenant, c.Code)
}

func (t *sqlTx) Codes(group qun.RoomID, limit int) ([]*InviteCode, error) {
	return list(t, `SELECT `+codeCols+` FROM chat_codes WHERE tenant=? AND grp=? ORDER BY created DESC, code LIMIT ?`,
		[]any{t.tenant, group, max(limit, 1)}, scanCode)
}

// ---- join requests

const reqCols = `grp, user, name, note, via, code, at`

func scanRequest(sc scanner) (*JoinRequest, error) {
	r := &JoinRequest{}
	return r, sc.Scan(&r.Group, &r.User, &r.Name, &r.Note, &r.Via, &r.Code, &r.At)
}

func (t *sqlTx) PutRequest(r *JoinRequest) error {
	_, err := t.exec(`INSERT INTO chat_requests (tenant, `+reqCols+`) VALUES (?,?,?,?,?,?,?,?)
		ON CONFLICT (tenant, grp, user) DO UPDATE SET name=excluded.name, note=excluded.note, via=excluded.via, code=excluded.code, at=excluded.at`,
		t.tenant, r.Group, r.User, r.Name, r.Note, r.Via, r.Code, r.At)
	return err
}

func (t *sqlTx) Request(group qun.RoomID, user qun.UserID) (*JoinRequest, error) {
	rs, err := list(t, `SELECT `+reqCols+` FROM chat_requests WHERE tenant=? AND grp=? AND user=?`, []any{t.tenant, group, user}, scanRequest)
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, notFound("join request")
	}
	return rs[0], nil
}

func (t *sqlTx) DeleteRequest(group qun.RoomID, user qun.UserID) error {
	return t.must("join request", `DELETE FROM chat_requests WHERE tenant=? AND grp=? AND user=?`, t.tenant, group, user)
}

func (t *sqlTx) Requests(group qun.RoomID, limit int) ([]*JoinRequest, error) {
	return list(t, `SELECT `+reqCols+` FROM chat_requests WHERE tenant=? AND grp=? ORDER BY at, user LIMIT ?`,
		[]any{t.tenant, group, max(limit, 1)}, scanRequest)
}

func (t *sqlTx) CountRequests(group qun.RoomID) (int, error) {
	return t.count(`SELECT COUNT(*) FROM chat_requests WHERE tenant=? AND grp=?`, t.tenant, group)
}

// ---- announcements

func (t *sqlTx) InsertAnnouncement(group qun.RoomID, a *Announcement) error {
	if t.ro {
		return errReadOnly
	}
	return t.one("announcement", `INSERT INTO chat_announcements (tenant, grp, text, by_user, at) VALUES (?,?,?,?,?) RETURNING id`,
		[]any{t.tenant, group, a.Text, a.By, a.At}, &a.ID)
}

// before returns the upper bound for "ID < before" paging, 0 meaning none.
func before(b int64) int64 {
	if b <= 0 {
		return 1<<63 - 1
	}
	return b
}

func (t *sqlTx) Announcements(group qun.RoomID, bef int64, limit int) ([]*Announcement, error) {
	return list(t, `SELECT id, text, by_user, at FROM chat_announcements WHERE tenant=? AND grp=? AND id<? ORDER BY id DESC LIMIT ?`,
		[]any{t.tenant, group, before(bef), max(limit, 1)}, func(sc scanner) (*Announcement, error) {
			a := &Announcement{}
			return a, sc.Scan(&a.ID, &a.Text, &a.By, &a.At)
		})
}

// ---- message patches

func (t *sqlTx) Patch(group qun.RoomID, seq uint64) (*Patch, error) {
	p := &Patch{}
	err := t.one("patch", `SELECT data FROM chat_patches WHERE tenant=? AND grp=? AND seq=?`, []any{t.tenant, group, int64(seq)}, sqljson.Into(p))
	return p, err
}

func (t *sqlTx) PutPatch(group qun.RoomID, p *Patch) error {
	_, err := t.exec(`INSERT INTO chat_patches (tenant, grp, seq, data) VALUES (?,?,?,?)
		ON CONFLICT (tenant, grp, seq) DO UPDATE SET data=excluded.data`, t.tenant, group, int64(p.Seq), sqljson.Text(p))
	return err
}

func (t *sqlTx) Patches(group qun.RoomID, seqs []uint64) (map[uint64]*Patch, error) {
	out := map[uint64]*Patch{}
	if len(seqs) == 0 {
		return out, nil
	}
	args := []any{t.tenant, group}
	for _, s := range seqs {
		args = append(args, int64(s))
	}
	ps, err := list(t, `SELECT data FROM chat_patches WHERE tenant=? AND grp=? AND seq IN (?`+strings.Repeat(",?", len(seqs)-1)+`)`,
		args, func(sc scanner) (*Patch, error) {
			p := &Patch{}
			return p, sc.Scan(sqljson.Into(p))
		})
	for _, p := range ps {
		out[p.Seq] = p
	}
	return out, err
}

// ---- reports

const reportCols = `id, grp, seq, reporter, reason, note, at, resolved, by_user`

func scanReport(sc scanner) (*Report, error) {
	r := &Report{}
	return r, sc.Scan(&r.ID, &r.Group, &r.Seq, &r.Reporter, &r.Reason, &r.Note, &r.At, &r.Resolved, &r.By)
}

func (t *sqlTx) InsertReport(r *Report) error {
	if t.ro {
		return errReadOnly
	}
	err := t.one("report", `INSERT INTO chat_reports (tenant, grp, seq, reporter, reason, note, at, resolved, by_user)
		VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING RETURNING id`,
		[]any{t.tenant, r.Group, int64(r.Seq), r.Reporter, r.Reason, r.Note, r.At, r.Resolved, r.By}, &r.ID)
	if isNotFound(err) { // nothing returned: the report exists
		return qun.Errorf(qun.CodeConflict, "you have already reported this message")
	}
	return err
}

func (t *sqlTx) Report(group qun.RoomID, id int64) (*Report, error) {
	rs, err := list(t, `SELECT `+reportCols+` FROM chat_reports WHERE tenant=? AND grp=? AND id=?`, []any{t.tenant, group, id}, scanReport)
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, notFound("report")
	}
	return rs[0], nil
}

func (t *sqlTx) UpdateReport(r *Report) error {
	return t.must("report", `UPDATE chat_reports SET resolved=?, by_user=? WHERE tenant=? AND grp=? AND id=?`,
		r.Resolved, r.By, t.tenant, r.Group, r.ID)
}

func (t *sqlTx) Reports(group qun.RoomID, open bool, bef int64, limit int) ([]*Report, error) {
	q := `SELECT ` + reportCols + ` FROM chat_reports WHERE tenant=? AND grp=? AND id<?`
	if open {
		q += ` AND resolved=0`
	}
	return list(t, q+` ORDER BY id DESC LIMIT ?`, []any{t.tenant, group, before(bef), max(limit, 1)}, scanReport)
}

// ---- audit log

func (t *sqlTx) InsertAudit(group qun.RoomID, e *AuditEntry) error {
	if t.ro {
		return errReadOnly
	}
	return t.one("audit", `INSERT INTO chat_audit (tenant, grp, actor, action, target, detail, at) VALUES (?,?,?,?,?,?,?) RETURNING id`,
		[]any{t.tenant, group, e.Actor, e.Action, e.Target, string(e.Detail), e.At}, &e.ID)
}

func (t *sqlTx) Audit(group qun.RoomID, bef int64, limit int) ([]*AuditEntry, error) {
	return list(t, `SELECT id, actor, action, target, detail, at FROM chat_audit WHERE tenant=? AND grp=? AND id<? ORDER BY id DESC LIMIT ?`,
		[]any{t.tenant, group, before(bef), max(limit, 1)}, func(sc scanner) (*AuditEntry, error) {
			e := &AuditEntry{}
			var detail string
			err := sc.Scan(&e.ID, &e.Actor, &e.Action, &e.Target, &detail, &e.At)
			if detail != "" {
				e.Detail = json.RawMessage(detail)
			}
			return e, err
		})
}

// ---- check-ins

const checkinCols = `user, name, day, streak, at, n`

func scanCheckIn(sc scanner) (*CheckIn, error) {
	c := &CheckIn{}
	return c, sc.Scan(&c.User, &c.Name, &c.Day, &c.Streak, &c.At, &c.N)
}

func (t *sqlTx) CheckIn(group qun.RoomID, user qun.UserID, day string) (*CheckIn, error) {
	cs, err := list(t, `SELECT `+checkinCols+` FROM chat_checkins WHERE tenant=? AND grp=? AND user=? AND day=?`,
		[]any{t.tenant, group, user, day}, scanCheckIn)
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, notFound("check-in")
	}
	return cs[0], nil
}

func (t *sqlTx) InsertCheckIn(group qun.RoomID, c *CheckIn) error {
	return t.insert("check-in", `INSERT INTO chat_checkins (tenant, grp, `+checkinCols+`) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING`,
		t.tenant, group, c.User, c.Name, c.Day, c.Streak, c.At, c.N)
}

func (t *sqlTx) CheckIns(group qun.RoomID, day string, limit int) ([]*CheckIn, error) {
	return list(t, `SELECT `+checkinCols+` FROM chat_checkins WHERE tenant=? AND grp=? AND day=? ORDER BY n, user LIMIT ?`,
		[]any{t.tenant, group, day, max(limit, 1)}, scanCheckIn)
}

func (t *sqlTx) CountCheckIns(group qun.RoomID, day string) (int, error) {
	return t.count(`SELECT COUNT(*) FROM chat_checkins WHERE tenant=? AND grp=? AND day=?`, t.tenant, group, day)
}

// ---- chains

const chainCols = `id, grp, title, by_user, lim, deadline, closed, count, created, next`

func scanChain(sc scanner) (*Chain, error) {
	c := &Chain{}
	return c, sc.Scan(&c.ID, &c.Group, &c.Title, &c.By, &c.Limit, &c.Deadline, &c.Closed, &c.Count, &c.Created, &c.Next)
}

func (t *sqlTx) InsertChain(c *Chain) error {
	return t.insert("chain", `INSERT INTO chat_chains (tenant, `+chainCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING`,
		t.tenant, c.ID, c.Group, c.Title, c.By, c.Limit, c.Deadline, c.Closed, c.Count, c.Created, c.Next)
}

func (t *sqlTx) Chain(group qun.RoomID, id string) (*Chain, error) {
	cs, err := list(t, `SELECT `+chainCols+` FROM chat_chains WHERE tenant=? AND grp=? AND id=?`, []any{t.tenant, group, id}, scanChain)
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, notFound("chain")
	}
	return cs[0], nil
}

func (t *sqlTx) UpdateChain(c *Chain) error {
	return t.must("chain", `UPDATE chat_chains SET title=?, lim=?, deadline=?, closed=?, count=?, next=? WHERE tenant=? AND grp=? AND id=?`,
		c.Title, c.Limit, c.Deadline, c.Closed, c.Count, c.Next, t.tenant, c.Group, c.ID)
}

func (t *sqlTx) CountOpenChains(group qun.RoomID) (int, error) {
	return t.count(`SELECT COUNT(*) FROM chat_chains WHERE tenant=? AND grp=? AND closed=0`, t.tenant, group)
}

func (t *sqlTx) InsertEntry(chain string, e *ChainEntry) error {
	err := t.insert("entry", `INSERT INTO chat_chain_entries (tenant, chain, user, name, note, n, at) VALUES (?,?,?,?,?,?,?) ON CONFLICT DO NOTHING`,
		t.tenant, chain, e.User, e.Name, e.Note, e.N, e.At)
	if qun.ErrorCode(err) == qun.CodeConflict {
		return qun.Errorf(qun.CodeConflict, "already in this chain")
	}
	return err
}

func (t *sqlTx) DeleteEntry(chain string, user qun.UserID) error {
	return t.must("entry", `DELETE FROM chat_chain_entries WHERE tenant=? AND chain=? AND user=?`, t.tenant, chain, user)
}

func (t *sqlTx) Entries(chain string, limit int) ([]*ChainEntry, error) {
	return list(t, `SELECT user, name, note, n, at FROM chat_chain_entries WHERE tenant=? AND chain=? ORDER BY n LIMIT ?`,
		[]any{t.tenant, chain, max(limit, 1)}, func(sc scanner) (*ChainEntry, error) {
			e := &ChainEntry{}
			return e, sc.Scan(&e.User, &e.Name, &e.Note, &e.N, &e.At)
		})
}

// ---- polls

const pollCols = `id, grp, question, options, multi, max_choices, anonymous, deadline, closed, by_user, created, counts, voters`

func scanPoll(sc scanner) (*Poll, error) {
	p := &Poll{}
	return p, sc.Scan(&p.ID, &p.Group, &p.Question, sqljson.Into(&p.Options), &p.Multi, &p.MaxChoices, &p.Anonymous, &p.Deadline,
		&p.Closed, &p.By, &p.Created, sqljson.Into(&p.Counts), &p.Voters)
}

func (t *sqlTx) InsertPoll(p *Poll) error {
	return t.insert("poll", `INSERT INTO chat_polls (tenant, `+pollCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING`,
		t.tenant, p.ID, p.Group, p.Question, sqljson.Text(p.Options), p.Multi, p.MaxChoices, p.Anonymous, p.Deadline, p.Closed,
		p.By, p.Created, sqljson.Text(p.Counts), p.Voters)
}

func (t *sqlTx) Poll(group qun.RoomID, id string) (*Poll, error) {
	ps, err := list(t, `SELECT `+pollCols+` FROM chat_polls WHERE tenant=? AND grp=? AND id=?`, []any{t.tenant, group, id}, scanPoll)
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, notFound("poll")
	}
	return ps[0], nil
}

func (t *sqlTx) UpdatePoll(p *Poll) error {
	return t.must("poll", `UPDATE chat_polls SET closed=?, deadline=?, counts=?, voters=? WHERE tenant=? AND grp=? AND id=?`,
		p.Closed, p.Deadline, sqljson.Text(p.Counts), p.Voters, t.tenant, p.Group, p.ID)
}

func (t *sqlTx) CountOpenPolls(group qun.RoomID) (int, error) {
	return t.count(`SELECT COUNT(*) FROM chat_polls WHERE tenant=? AND grp=? AND closed=0`, t.tenant, group)
}

func (t *sqlTx) InsertVote(poll string, v *Vote) error {
	return t.insert("vote", `INSERT INTO chat_votes (tenant, poll, user, choices, at) VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING`,
		t.tenant, poll, v.User, sqljson.Text(v.Choices), v.At)
}

func scanVote(sc scanner) (*Vote, error) {
	v := &Vote{}
	return v, sc.Scan(&v.User, sqljson.Into(&v.Choices), &v.At)
}

func (t *sqlTx) Vote(poll string, user qun.UserID) (*Vote, error) {
	vs, err := list(t, `SELECT user, choices, at FROM chat_votes WHERE tenant=? AND poll=? AND user=?`, []any{t.tenant, poll, user}, scanVote)
	if err != nil {
		return nil, err
	}
	if len(vs) == 0 {
		return nil, notFound("vote")
	}
	return vs[0], nil
}

func (t *sqlTx) Votes(poll string, after qun.UserID, limit int) ([]*Vote, error) {
	return list(t, `SELECT user, choices, at FROM chat_votes WHERE tenant=? AND poll=? AND user>? ORDER BY user LIMIT ?`,
		[]any{t.tenant, poll, after, max(limit, 1)}, scanVote)
}
