package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/qunkit/qun"
	"github.com/qunkit/qun/chat"
	"github.com/qunkit/qun/internal/sqljson"
)

// NewChatStore returns chat.Store on PostgreSQL, applying its migrations
// (tables prefixed chat_). The pool belongs to the caller.
//
// Update transactions of one tenant take turns (a transaction-scoped
// advisory lock on the tenant), on every node: chat's read-check-write
// sequences (member limits, invite code uses, counters) then behave as on
// SQLite, whose writers are serialised, without serialisation failures to
// retry. Views read without a transaction and never wait.
func NewChatStore(ctx context.Context, pool *pgxpool.Pool) (chat.Store, error) {
	if err := migrate(ctx, pool, "chat"); err != nil {
		return nil, err
	}
	return &chatStore{pool: pool}, nil
}

type chatStore struct{ pool *pgxpool.Pool }

func (s *chatStore) Update(ctx context.Context, tenant qun.TenantID, fn func(chat.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("chat: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('qun.chat:' || $1, 0))`, string(tenant)); err != nil {
		return fmt.Errorf("chat: lock: %w", err)
	}
	if err := fn(&chatTx{ctx: ctx, q: tx, tenant: string(tenant)}); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("chat: commit: %w", err)
	}
	return nil
}

func (s *chatStore) View(ctx context.Context, tenant qun.TenantID, fn func(chat.Tx) error) error {
	return fn(&chatTx{ctx: ctx, q: s.pool, tenant: string(tenant), ro: true})
}

func (s *chatStore) Close() error { return nil }

// querier is what a pool and a transaction share.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// chatTx is a chat.Tx. Every statement filters on t.tenant (the tenant
// column leads every key), so one tenant's Tx cannot reach another's rows.
// Statements are written with ? placeholders, numbered by pq.
type chatTx struct {
	ctx    context.Context
	q      querier
	tenant string
	ro     bool
}

var errReadOnly = errors.New("chat: write inside Store.View")

// pq numbers the ? placeholders of q ($1, $2, ...); q has no ? elsewhere.
func pq(q string) string {
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

func chatNotFound(what string) *qun.Error { return qun.Errorf(qun.CodeNotFound, "no such %s", what) }

// exec runs a write and returns the rows it affected.
func (t *chatTx) exec(q string, args ...any) (int64, error) {
	if t.ro {
		return 0, errReadOnly
	}
	tag, err := t.q.Exec(t.ctx, pq(q), args...)
	if err != nil {
		return 0, fmt.Errorf("chat: store: %w", err)
	}
	return tag.RowsAffected(), nil
}

// must runs a write that must affect a row; otherwise `what` is not_found.
func (t *chatTx) must(what, q string, args ...any) error {
	n, err := t.exec(q, args...)
	if err == nil && n == 0 {
		return chatNotFound(what)
	}
	return err
}

// insert runs an INSERT ... ON CONFLICT DO NOTHING; a skipped row is a conflict.
func (t *chatTx) insert(what, q string, args ...any) error {
	n, err := t.exec(q, args...)
	if err == nil && n == 0 {
		return qun.Errorf(qun.CodeConflict, "%s already exists", what)
	}
	return err
}

// one scans the single row q returns, or answers `what` not_found.
func (t *chatTx) one(what, q string, args []any, dest ...any) error {
	err := t.q.QueryRow(t.ctx, pq(q), args...).Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return chatNotFound(what)
	}
	if err != nil {
		return fmt.Errorf("chat: store: %w", err)
	}
	return nil
}

type scanner interface{ Scan(dest ...any) error }

// rows scans every row q returns with scan.
func rows[T any](t *chatTx, q string, args []any, scan func(sc scanner) (*T, error)) ([]*T, error) {
	rs, err := t.q.Query(t.ctx, pq(q), args...)
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

// first returns the only row q returns, or `what` not_found.
func first[T any](t *chatTx, what, q string, args []any, scan func(sc scanner) (*T, error)) (*T, error) {
	vs, err := rows(t, q, args, scan)
	if err != nil {
		return nil, err
	}
	if len(vs) == 0 {
		return nil, chatNotFound(what)
	}
	return vs[0], nil
}

func (t *chatTx) count(q string, args ...any) (int, error) {
	var n int
	err := t.one("count", q, args, &n)
	return n, err
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// before returns the upper bound for "ID < before" paging, 0 meaning none.
func before(b int64) int64 {
	if b <= 0 {
		return 1<<63 - 1
	}
	return b
}

// ---- groups

const groupCols = `g.id, g.name, g.avatar, g.intro, g.tags, g.owner, g.public, g.approval, g.members_invite,
	g.member_limit, g.member_count, g.mute_all, g.slow_mode, g.created, g.pinned, g.designated, g.dissolved`

func groupDest(g *chat.Group) []any {
	return []any{&g.ID, &g.Name, &g.Avatar, &g.Intro, sqljson.Into(&g.Tags), &g.Owner, &g.Public, &g.Approval, &g.MembersInvite,
		&g.MemberLimit, &g.MemberCount, &g.MuteAll, &g.SlowMode, &g.Created, sqljson.Into(&g.Pinned), sqljson.Into(&g.Designated), &g.Dissolved}
}

func scanGroup(sc scanner) (*chat.Group, error) {
	g := &chat.Group{}
	return g, sc.Scan(groupDest(g)...)
}

func (t *chatTx) InsertGroup(g *chat.Group) error {
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

func (t *chatTx) putTags(g *chat.Group) error {
	if _, err := t.exec(`DELETE FROM chat_group_tags WHERE tenant=? AND grp=?`, t.tenant, g.ID); err != nil {
		return err
	}
	if len(g.Tags) == 0 {
		return nil
	}
	tags := make([]string, len(g.Tags))
	for i, tag := range g.Tags {
		tags[i] = strings.ToLower(tag)
	}
	_, err := t.exec(`INSERT INTO chat_group_tags (tenant, tag, grp) SELECT ?, tag, ? FROM unnest(?::text[]) AS tag ON CONFLICT DO NOTHING`,
		t.tenant, g.ID, tags)
	return err
}

func (t *chatTx) Group(id qun.RoomID) (*chat.Group, error) {
	return first(t, "group", `SELECT `+groupCols+` FROM chat_groups g WHERE g.tenant=? AND g.id=?`, []any{t.tenant, id}, scanGroup)
}

func (t *chatTx) UpdateGroup(g *chat.Group) error {
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

func (t *chatTx) SearchGroups(q chat.GroupQuery) ([]*chat.Group, error) {
	query := `SELECT ` + groupCols + ` FROM chat_groups g`
	var args []any
	if q.Tag != "" {
		query += ` JOIN chat_group_tags t ON t.tenant=g.tenant AND t.grp=g.id AND t.tag=?`
		args = append(args, strings.ToLower(q.Tag))
	}
	query += ` WHERE g.tenant=? AND g.public AND g.dissolved=0`
	args = append(args, t.tenant)
	if q.Name != "" {
		// As SQLite's LIKE: case-insensitive for ASCII letters only.
		query += ` AND translate(g.name, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') LIKE ? ESCAPE '\'`
		args = append(args, "%"+likeEscape(asciiLower(q.Name))+"%")
	}
	query += ` ORDER BY g.member_count DESC, g.id LIMIT ? OFFSET ?`
	args = append(args, max(q.Limit, 1), max(q.Offset, 0))
	return rows(t, query, args, scanGroup)
}

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

func (t *chatTx) CountOwned(user qun.UserID) (int, error) {
	return t.count(`SELECT COUNT(*) FROM chat_groups WHERE tenant=? AND owner=? AND dissolved=0`, t.tenant, user)
}

// ---- members

const memberCols = `m.usr, m.name, m.role, m.joined, m.muted_until, m.shown, m.read_seq, m.last_active`

func memberDest(m *chat.Member) []any {
	return []any{&m.User, &m.Name, &m.Role, &m.Joined, &m.MutedUntil, &m.Shown, &m.ReadSeq, &m.LastActive}
}

func scanMember(sc scanner) (*chat.Member, error) {
	m := &chat.Member{}
	return m, sc.Scan(memberDest(m)...)
}

func (t *chatTx) Member(group qun.RoomID, user qun.UserID) (*chat.Member, error) {
	return first(t, "member", `SELECT `+memberCols+` FROM chat_members m WHERE m.tenant=? AND m.grp=? AND m.usr=?`,
		[]any{t.tenant, group, user}, scanMember)
}

func (t *chatTx) InsertMember(group qun.RoomID, m *chat.Member) error {
	if err := t.insert("member", `INSERT INTO chat_members (tenant, grp, usr, name, role, joined, muted_until, shown, read_seq, last_active)
		VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING`,
		t.tenant, group, m.User, m.Name, m.Role, m.Joined, m.MutedUntil, m.Shown, int64(m.ReadSeq), m.LastActive); err != nil {
		return err
	}
	return t.must("group", `UPDATE chat_groups SET member_count=member_count+1 WHERE tenant=? AND id=?`, t.tenant, group)
}

func (t *chatTx) UpdateMember(group qun.RoomID, m *chat.Member) error {
	return t.must("member", `UPDATE chat_members SET name=?, role=?, muted_until=?, shown=?, read_seq=?, last_active=?
		WHERE tenant=? AND grp=? AND usr=?`,
		m.Name, m.Role, m.MutedUntil, m.Shown, int64(m.ReadSeq), m.LastActive, t.tenant, group, m.User)
}

func (t *chatTx) DeleteMember(group qun.RoomID, user qun.UserID) error {
	if err := t.must("member", `DELETE FROM chat_members WHERE tenant=? AND grp=? AND usr=?`, t.tenant, group, user); err != nil {
		return err
	}
	return t.must("group", `UPDATE chat_groups SET member_count=member_count-1 WHERE tenant=? AND id=?`, t.tenant, group)
}

func (t *chatTx) Members(group qun.RoomID, q chat.MemberQuery) ([]*chat.Member, error) {
	query := `SELECT ` + memberCols + ` FROM chat_members m WHERE m.tenant=? AND m.grp=? AND m.usr>?`
	args := []any{t.tenant, group, q.After}
	if q.MinRole == chat.RoleAdmin {
		query += ` AND m.role IN ('owner','admin')`
	} else if q.MinRole == chat.RoleOwner {
		query += ` AND m.role='owner'`
	}
	query += ` ORDER BY m.usr LIMIT ?`
	return rows(t, query, append(args, max(q.Limit, 1)), scanMember)
}

func (t *chatTx) UserGroups(user qun.UserID, shownOnly bool, after qun.RoomID, limit int) ([]*chat.Membership, error) {
	query := `SELECT ` + groupCols + `, ` + memberCols + ` FROM chat_members m
		JOIN chat_groups g ON g.tenant=m.tenant AND g.id=m.grp
		WHERE m.tenant=? AND m.usr=? AND m.grp>? AND g.dissolved=0`
	if shownOnly {
		query += ` AND m.shown`
	}
	query += ` ORDER BY m.grp LIMIT ?`
	return rows(t, query, []any{t.tenant, user, after, max(limit, 1)}, func(sc scanner) (*chat.Membership, error) {
		g, m := &chat.Group{}, &chat.Member{}
		err := sc.Scan(append(groupDest(g), memberDest(m)...)...)
		return &chat.Membership{Group: g, Member: m}, err
	})
}

func (t *chatTx) ExistingMembers(group qun.RoomID, users []qun.UserID) ([]qun.UserID, error) {
	if len(users) == 0 {
		return nil, nil
	}
	ids := make([]string, len(users))
	for i, u := range users {
		ids[i] = string(u)
	}
	rs, err := rows(t, `SELECT usr FROM chat_members WHERE tenant=? AND grp=? AND usr = ANY(?::text[]) ORDER BY usr`,
		[]any{t.tenant, group, ids}, func(sc scanner) (*qun.UserID, error) {
			var u qun.UserID
			return &u, sc.Scan(&u)
		})
	out := make([]qun.UserID, len(rs))
	for i, u := range rs {
		out[i] = *u
	}
	return out, err
}

func (t *chatTx) CountActive(group qun.RoomID, since int64) (int, error) {
	return t.count(`SELECT COUNT(*) FROM chat_members WHERE tenant=? AND grp=? AND last_active>=?`, t.tenant, group, since)
}

// ---- bans

func scanBan(sc scanner) (*chat.Ban, error) {
	b := &chat.Ban{}
	return b, sc.Scan(&b.User, &b.By, &b.Reason, &b.At)
}

func (t *chatTx) Ban(group qun.RoomID, user qun.UserID) (*chat.Ban, error) {
	return first(t, "ban", `SELECT usr, by_user, reason, at FROM chat_bans WHERE tenant=? AND grp=? AND usr=?`,
		[]any{t.tenant, group, user}, scanBan)
}

func (t *chatTx) InsertBan(group qun.RoomID, b *chat.Ban) error {
	return t.insert("ban", `INSERT INTO chat_bans (tenant, grp, usr, by_user, reason, at) VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING`,
		t.tenant, group, b.User, b.By, b.Reason, b.At)
}

func (t *chatTx) DeleteBan(group qun.RoomID, user qun.UserID) error {
	return t.must("ban", `DELETE FROM chat_bans WHERE tenant=? AND grp=? AND usr=?`, t.tenant, group, user)
}

func (t *chatTx) Bans(group qun.RoomID, after qun.UserID, limit int) ([]*chat.Ban, error) {
	return rows(t, `SELECT usr, by_user, reason, at FROM chat_bans WHERE tenant=? AND grp=? AND usr>? ORDER BY usr LIMIT ?`,
		[]any{t.tenant, group, after, max(limit, 1)}, scanBan)
}

// ---- invitations

const invCols = `grp, usr, by_user, by_admin, at`

func scanInvitation(sc scanner) (*chat.Invitation, error) {
	i := &chat.Invitation{}
	return i, sc.Scan(&i.Group, &i.User, &i.By, &i.ByAdmin, &i.At)
}

func (t *chatTx) PutInvitation(inv *chat.Invitation) error {
	_, err := t.exec(`INSERT INTO chat_invitations (tenant, `+invCols+`) VALUES (?,?,?,?,?,?)
		ON CONFLICT (tenant, grp, usr) DO UPDATE SET by_user=excluded.by_user, by_admin=excluded.by_admin, at=excluded.at`,
		t.tenant, inv.Group, inv.User, inv.By, inv.ByAdmin, inv.At)
	return err
}

func (t *chatTx) Invitation(group qun.RoomID, user qun.UserID) (*chat.Invitation, error) {
	return first(t, "invitation", `SELECT `+invCols+` FROM chat_invitations WHERE tenant=? AND grp=? AND usr=?`,
		[]any{t.tenant, group, user}, scanInvitation)
}

func (t *chatTx) DeleteInvitation(group qun.RoomID, user qun.UserID) error {
	return t.must("invitation", `DELETE FROM chat_invitations WHERE tenant=? AND grp=? AND usr=?`, t.tenant, group, user)
}

func (t *chatTx) Invitations(user qun.UserID, limit int) ([]*chat.Invitation, error) {
	return rows(t, `SELECT `+invCols+` FROM chat_invitations WHERE tenant=? AND usr=? ORDER BY at DESC, grp LIMIT ?`,
		[]any{t.tenant, user, max(limit, 1)}, scanInvitation)
}

// ---- invite codes

const codeCols = `code, grp, by_user, created, expires, max_uses, uses, revoked`

func scanCode(sc scanner) (*chat.InviteCode, error) {
	c := &chat.InviteCode{}
	return c, sc.Scan(&c.Code, &c.Group, &c.By, &c.Created, &c.Expires, &c.MaxUses, &c.Uses, &c.Revoked)
}

func (t *chatTx) InsertCode(c *chat.InviteCode) error {
	return t.insert("invite code", `INSERT INTO chat_codes (tenant, `+codeCols+`) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING`,
		t.tenant, c.Code, c.Group, c.By, c.Created, c.Expires, c.MaxUses, c.Uses, c.Revoked)
}

func (t *chatTx) Code(code string) (*chat.InviteCode, error) {
	return first(t, "invite code", `SELECT `+codeCols+` FROM chat_codes WHERE tenant=? AND code=?`, []any{t.tenant, code}, scanCode)
}

func (t *chatTx) UpdateCode(c *chat.InviteCode) error {
	return t.must("invite code", `UPDATE chat_codes SET uses=?, revoked=?, expires=?, max_uses=? WHERE tenant=? AND code=?`,
		c.Uses, c.Revoked, c.Expires, c.MaxUses, t.tenant, c.Code)
}

func (t *chatTx) Codes(group qun.RoomID, limit int) ([]*chat.InviteCode, error) {
	return rows(t, `SELECT `+codeCols+` FROM chat_codes WHERE tenant=? AND grp=? ORDER BY created DESC, code LIMIT ?`,
		[]any{t.tenant, group, max(limit, 1)}, scanCode)
}

// ---- join requests

const reqCols = `grp, usr, name, note, via, code, at`

func scanRequest(sc scanner) (*chat.JoinRequest, error) {
	r := &chat.JoinRequest{}
	return r, sc.Scan(&r.Group, &r.User, &r.Name, &r.Note, &r.Via, &r.Code, &r.At)
}

func (t *chatTx) PutRequest(r *chat.JoinRequest) error {
	_, err := t.exec(`INSERT INTO chat_requests (tenant, `+reqCols+`) VALUES (?,?,?,?,?,?,?,?)
		ON CONFLICT (tenant, grp, usr) DO UPDATE SET name=excluded.name, note=excluded.note, via=excluded.via, code=excluded.code, at=excluded.at`,
		t.tenant, r.Group, r.User, r.Name, r.Note, r.Via, r.Code, r.At)
	return err
}

func (t *chatTx) Request(group qun.RoomID, user qun.UserID) (*chat.JoinRequest, error) {
	return first(t, "join request", `SELECT `+reqCols+` FROM chat_requests WHERE tenant=? AND grp=? AND usr=?`,
		[]any{t.tenant, group, user}, scanRequest)
}

func (t *chatTx) DeleteRequest(group qun.RoomID, user qun.UserID) error {
	return t.must("join request", `DELETE FROM chat_requests WHERE tenant=? AND grp=? AND usr=?`, t.tenant, group, user)
}

func (t *chatTx) Requests(group qun.RoomID, limit int) ([]*chat.JoinRequest, error) {
	return rows(t, `SELECT `+reqCols+` FROM chat_requests WHERE tenant=? AND grp=? ORDER BY at, usr LIMIT ?`,
		[]any{t.tenant, group, max(limit, 1)}, scanRequest)
}

func (t *chatTx) CountRequests(group qun.RoomID) (int, error) {
	return t.count(`SELECT COUNT(*) FROM chat_requests WHERE tenant=? AND grp=?`, t.tenant, group)
}

// ---- announcements

func (t *chatTx) InsertAnnouncement(group qun.RoomID, a *chat.Announcement) error {
	if t.ro {
		return errReadOnly
	}
	return t.one("announcement", `INSERT INTO chat_announcements (tenant, grp, text, by_user, at) VALUES (?,?,?,?,?) RETURNING id`,
		[]any{t.tenant, group, a.Text, a.By, a.At}, &a.ID)
}

func (t *chatTx) Announcements(group qun.RoomID, bef int64, limit int) ([]*chat.Announcement, error) {
	return rows(t, `SELECT id, text, by_user, at FROM chat_announcements WHERE tenant=? AND grp=? AND id<? ORDER BY id DESC LIMIT ?`,
		[]any{t.tenant, group, before(bef), max(limit, 1)}, func(sc scanner) (*chat.Announcement, error) {
			a := &chat.Announcement{}
			return a, sc.Scan(&a.ID, &a.Text, &a.By, &a.At)
		})
}

// ---- message patches

func (t *chatTx) Patch(group qun.RoomID, seq uint64) (*chat.Patch, error) {
	p := &chat.Patch{}
	err := t.one("patch", `SELECT data FROM chat_patches WHERE tenant=? AND grp=? AND seq=?`, []any{t.tenant, group, int64(seq)}, sqljson.Into(p))
	return p, err
}

func (t *chatTx) PutPatch(group qun.RoomID, p *chat.Patch) error {
	_, err := t.exec(`INSERT INTO chat_patches (tenant, grp, seq, data) VALUES (?,?,?,?)
		ON CONFLICT (tenant, grp, seq) DO UPDATE SET data=excluded.data`, t.tenant, group, int64(p.Seq), sqljson.Text(p))
	return err
}

func (t *chatTx) Patches(group qun.RoomID, seqs []uint64) (map[uint64]*chat.Patch, error) {
	out := map[uint64]*chat.Patch{}
	if len(seqs) == 0 {
		return out, nil
	}
	ss := make([]int64, len(seqs))
	for i, s := range seqs {
		ss[i] = int64(s)
	}
	ps, err := rows(t, `SELECT data FROM chat_patches WHERE tenant=? AND grp=? AND seq = ANY(?::int8[])`,
		[]any{t.tenant, group, ss}, func(sc scanner) (*chat.Patch, error) {
			p := &chat.Patch{}
			return p, sc.Scan(sqljson.Into(p))
		})
	for _, p := range ps {
		out[p.Seq] = p
	}
	return out, err
}

// ---- reports

const reportCols = `id, grp, seq, reporter, reason, note, at, resolved, by_user`

func scanReport(sc scanner) (*chat.Report, error) {
	r := &chat.Report{}
	return r, sc.Scan(&r.ID, &r.Group, &r.Seq, &r.Reporter, &r.Reason, &r.Note, &r.At, &r.Resolved, &r.By)
}

func (t *chatTx) InsertReport(r *chat.Report) error {
	if t.ro {
		return errReadOnly
	}
	err := t.one("report", `INSERT INTO chat_reports (tenant, grp, seq, reporter, reason, note, at, resolved, by_user)
		VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING RETURNING id`,
		[]any{t.tenant, r.Group, int64(r.Seq), r.Reporter, r.Reason, r.Note, r.At, r.Resolved, r.By}, &r.ID)
	if qun.ErrorCode(err) == qun.CodeNotFound { // nothing returned: the report exists
		return qun.Errorf(qun.CodeConflict, "you have already reported this message")
	}
	return err
}

func (t *chatTx) Report(group qun.RoomID, id int64) (*chat.Report, error) {
	return first(t, "report", `SELECT `+reportCols+` FROM chat_reports WHERE tenant=? AND grp=? AND id=?`, []any{t.tenant, group, id}, scanReport)
}

func (t *chatTx) UpdateReport(r *chat.Report) error {
	return t.must("report", `UPDATE chat_reports SET resolved=?, by_user=? WHERE tenant=? AND grp=? AND id=?`,
		r.Resolved, r.By, t.tenant, r.Group, r.ID)
}

func (t *chatTx) Reports(group qun.RoomID, open bool, bef int64, limit int) ([]*chat.Report, error) {
	q := `SELECT ` + reportCols + ` FROM chat_reports WHERE tenant=? AND grp=? AND id<?`
	if open {
		q += ` AND resolved=0`
	}
	return rows(t, q+` ORDER BY id DESC LIMIT ?`, []any{t.tenant, group, before(bef), max(limit, 1)}, scanReport)
}

// ---- audit log

func (t *chatTx) InsertAudit(group qun.RoomID, e *chat.AuditEntry) error {
	if t.ro {
		return errReadOnly
	}
	return t.one("audit", `INSERT INTO chat_audit (tenant, grp, actor, action, target, detail, at) VALUES (?,?,?,?,?,?,?) RETURNING id`,
		[]any{t.tenant, group, e.Actor, e.Action, e.Target, string(e.Detail), e.At}, &e.ID)
}

func (t *chatTx) Audit(group qun.RoomID, bef int64, limit int) ([]*chat.AuditEntry, error) {
	return rows(t, `SELECT id, actor, action, target, detail, at FROM chat_audit WHERE tenant=? AND grp=? AND id<? ORDER BY id DESC LIMIT ?`,
		[]any{t.tenant, group, before(bef), max(limit, 1)}, func(sc scanner) (*chat.AuditEntry, error) {
			e := &chat.AuditEntry{}
			var detail string
			err := sc.Scan(&e.ID, &e.Actor, &e.Action, &e.Target, &detail, &e.At)
			if detail != "" {
				e.Detail = json.RawMessage(detail)
			}
			return e, err
		})
}

// ---- check-ins

const checkinCols = `usr, name, day, streak, at, n`

func scanCheckIn(sc scanner) (*chat.CheckIn, error) {
	c := &chat.CheckIn{}
	return c, sc.Scan(&c.User, &c.Name, &c.Day, &c.Streak, &c.At, &c.N)
}

func (t *chatTx) CheckIn(group qun.RoomID, user qun.UserID, day string) (*chat.CheckIn, error) {
	return first(t, "check-in", `SELECT `+checkinCols+` FROM chat_checkins WHERE tenant=? AND grp=? AND usr=? AND day=?`,
		[]any{t.tenant, group, user, day}, scanCheckIn)
}

func (t *chatTx) InsertCheckIn(group qun.RoomID, c *chat.CheckIn) error {
	return t.insert("check-in", `INSERT INTO chat_checkins (tenant, grp, `+checkinCols+`) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING`,
		t.tenant, group, c.User, c.Name, c.Day, c.Streak, c.At, c.N)
}

func (t *chatTx) CheckIns(group qun.RoomID, day string, limit int) ([]*chat.CheckIn, error) {
	return rows(t, `SELECT `+checkinCols+` FROM chat_checkins WHERE tenant=? AND grp=? AND day=? ORDER BY n, usr LIMIT ?`,
		[]any{t.tenant, group, day, max(limit, 1)}, scanCheckIn)
}

func (t *chatTx) CountCheckIns(group qun.RoomID, day string) (int, error) {
	return t.count(`SELECT COUNT(*) FROM chat_checkins WHERE tenant=? AND grp=? AND day=?`, t.tenant, group, day)
}

// ---- chains

const chainCols = `id, grp, title, by_user, lim, deadline, closed, count, created, next`

func scanChain(sc scanner) (*chat.Chain, error) {
	c := &chat.Chain{}
	return c, sc.Scan(&c.ID, &c.Group, &c.Title, &c.By, &c.Limit, &c.Deadline, &c.Closed, &c.Count, &c.Created, &c.Next)
}

func (t *chatTx) InsertChain(c *chat.Chain) error {
	return t.insert("chain", `INSERT INTO chat_chains (tenant, `+chainCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING`,
		t.tenant, c.ID, c.Group, c.Title, c.By, c.Limit, c.Deadline, c.Closed, c.Count, c.Created, c.Next)
}

func (t *chatTx) Chain(group qun.RoomID, id string) (*chat.Chain, error) {
	return first(t, "chain", `SELECT `+chainCols+` FROM chat_chains WHERE tenant=? AND grp=? AND id=?`, []any{t.tenant, group, id}, scanChain)
}

func (t *chatTx) UpdateChain(c *chat.Chain) error {
	return t.must("chain", `UPDATE chat_chains SET title=?, lim=?, deadline=?, closed=?, count=?, next=? WHERE tenant=? AND grp=? AND id=?`,
		c.Title, c.Limit, c.Deadline, c.Closed, c.Count, c.Next, t.tenant, c.Group, c.ID)
}

func (t *chatTx) CountOpenChains(group qun.RoomID) (int, error) {
	return t.count(`SELECT COUNT(*) FROM chat_chains WHERE tenant=? AND grp=? AND NOT closed`, t.tenant, group)
}

func (t *chatTx) InsertEntry(chain string, e *chat.ChainEntry) error {
	err := t.insert("entry", `INSERT INTO chat_chain_entries (tenant, chain, usr, name, note, n, at) VALUES (?,?,?,?,?,?,?) ON CONFLICT DO NOTHING`,
		t.tenant, chain, e.User, e.Name, e.Note, e.N, e.At)
	if qun.ErrorCode(err) == qun.CodeConflict {
		return qun.Errorf(qun.CodeConflict, "already in this chain")
	}
	return err
}

func (t *chatTx) DeleteEntry(chain string, user qun.UserID) error {
	return t.must("entry", `DELETE FROM chat_chain_entries WHERE tenant=? AND chain=? AND usr=?`, t.tenant, chain, user)
}

func (t *chatTx) Entries(chain string, limit int) ([]*chat.ChainEntry, error) {
	return rows(t, `SELECT usr, name, note, n, at FROM chat_chain_entries WHERE tenant=? AND chain=? ORDER BY n LIMIT ?`,
		[]any{t.tenant, chain, max(limit, 1)}, func(sc scanner) (*chat.ChainEntry, error) {
			e := &chat.ChainEntry{}
			return e, sc.Scan(&e.User, &e.Name, &e.Note, &e.N, &e.At)
		})
}

// ---- polls

const pollCols = `id, grp, question, options, multi, max_choices, anonymous, deadline, closed, by_user, created, counts, voters`

func scanPoll(sc scanner) (*chat.Poll, error) {
	p := &chat.Poll{}
	return p, sc.Scan(&p.ID, &p.Group, &p.Question, sqljson.Into(&p.Options), &p.Multi, &p.MaxChoices, &p.Anonymous, &p.Deadline,
		&p.Closed, &p.By, &p.Created, sqljson.Into(&p.Counts), &p.Voters)
}

func (t *chatTx) InsertPoll(p *chat.Poll) error {
	return t.insert("poll", `INSERT INTO chat_polls (tenant, `+pollCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING`,
		t.tenant, p.ID, p.Group, p.Question, sqljson.Text(p.Options), p.Multi, p.MaxChoices, p.Anonymous, p.Deadline, p.Closed,
		p.By, p.Created, sqljson.Text(p.Counts), p.Voters)
}

func (t *chatTx) Poll(group qun.RoomID, id string) (*chat.Poll, error) {
	return first(t, "poll", `SELECT `+pollCols+` FROM chat_polls WHERE tenant=? AND grp=? AND id=?`, []any{t.tenant, group, id}, scanPoll)
}

func (t *chatTx) UpdatePoll(p *chat.Poll) error {
	return t.must("poll", `UPDATE chat_polls SET closed=?, deadline=?, counts=?, voters=? WHERE tenant=? AND grp=? AND id=?`,
		p.Closed, p.Deadline, sqljson.Text(p.Counts), p.Voters, t.tenant, p.Group, p.ID)
}

func (t *chatTx) CountOpenPolls(group qun.RoomID) (int, error) {
	return t.count(`SELECT COUNT(*) FROM chat_polls WHERE tenant=? AND grp=? AND NOT closed`, t.tenant, group)
}

func (t *chatTx) InsertVote(poll string, v *chat.Vote) error {
	return t.insert("vote", `INSERT INTO chat_votes (tenant, poll, usr, choices, at) VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING`,
		t.tenant, poll, v.User, sqljson.Text(v.Choices), v.At)
}

func scanVote(sc scanner) (*chat.Vote, error) {
	v := &chat.Vote{}
	return v, sc.Scan(&v.User, sqljson.Into(&v.Choices), &v.At)
}

func (t *chatTx) Vote(poll string, user qun.UserID) (*chat.Vote, error) {
	return first(t, "vote", `SELECT usr, choices, at FROM chat_votes WHERE tenant=? AND poll=? AND usr=?`, []any{t.tenant, poll, user}, scanVote)
}

func (t *chatTx) Votes(poll string, after qun.UserID, limit int) ([]*chat.Vote, error) {
	return rows(t, `SELECT usr, choices, at FROM chat_votes WHERE tenant=? AND poll=? AND usr>? ORDER BY usr LIMIT ?`,
		[]any{t.tenant, poll, after, max(limit, 1)}, scanVote)
}
