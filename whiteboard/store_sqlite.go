package whiteboard

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/sqlmigrate"
)

// NewSQLiteStore returns the embedded Store on db (opened with sqlite.Open).
// Every write is one transaction (WAL, synchronous=FULL): a saved snapshot
// or file survives a crash.
func NewSQLiteStore(db *sql.DB) (*SQLiteStore, error) {
	if err := sqlmigrate.Apply(context.Background(), db, "whiteboard.store", sqliteMigrations); err != nil {
		return nil, err
	}
	return &SQLiteStore{db: db}, nil
}

var sqliteMigrations = []string{`
CREATE TABLE whiteboard_boards (
	tenant     TEXT NOT NULL,
	id         TEXT NOT NULL,
	room       TEXT NOT NULL,
	title      TEXT NOT NULL,
	created_by TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (tenant, id)
) WITHOUT ROWID;
CREATE INDEX whiteboard_boards_room ON whiteboard_boards (tenant, room, created_at);
CREATE TABLE whiteboard_snapshots (
	tenant TEXT NOT NULL,
	board  TEXT NOT NULL,
	seq    INTEGER NOT NULL,
	meta   BLOB NOT NULL,
	UNIQUE (tenant, board, seq)
);
CREATE TABLE whiteboard_snapshot_pages (
	tenant TEXT NOT NULL,
	board  TEXT NOT NULL,
	page   INTEGER NOT NULL,
	seq    INTEGER NOT NULL,
	items  BLOB NOT NULL,
	UNIQUE (tenant, board, page, seq)
);
CREATE TABLE whiteboard_files (
	tenant       TEXT NOT NULL,
	board        TEXT NOT NULL,
	id           TEXT NOT NULL,
	content_type TEXT NOT NULL,
	width        INTEGER NOT NULL,
	height       INTEGER NOT NULL,
	data         BLOB NOT NULL,
	created_at   INTEGER NOT NULL,
	UNIQUE (tenant, board, id)
);`}

// SQLiteStore is the embedded Store on a database opened with sqlite.Open.
// Its methods are the Store interface's; whiteboard.New takes it as Config.Store.
type SQLiteStore struct{ db *sql.DB }

var _ Store = (*SQLiteStore)(nil)

func (s *SQLiteStore) CreateBoard(ctx context.Context, b *Board, maxPerRoom int) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if maxPerRoom > 0 {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM whiteboard_boards WHERE tenant=? AND room=?`, b.Tenant, b.Room).Scan(&n); err != nil {
			return err
		}
		if n >= maxPerRoom {
			return qun.Errorf(qun.CodeExhausted, "a room has at most %d boards", maxPerRoom)
		}
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO whiteboard_boards (tenant, id, room, title, created_by, created_at) VALUES (?,?,?,?,?,?)`,
		b.Tenant, b.ID, b.Room, b.Title, b.CreatedBy, b.CreatedAt)
	if err != nil {
		if isUnique(err) {
			return qun.Errorf(qun.CodeConflict, "board %s exists", b.ID)
		}
		return err
	}
	return tx.Commit()
}

func isUnique(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

func (s *SQLiteStore) Board(ctx context.Context, tenant qun.TenantID, id BoardID) (*Board, error) {
	b := &Board{Tenant: tenant, ID: id}
	err := s.db.QueryRowContext(ctx, `SELECT room, title, created_by, created_at FROM whiteboard_boards WHERE tenant=? AND id=?`, tenant, id).
		Scan(&b.Room, &b.Title, &b.CreatedBy, &b.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoBoard
	}
	if err != nil {
		return nil, err
	}
	return b, nil
}

var errNoBoard = qun.Errorf(qun.CodeNotFound, "no such board")

func (s *SQLiteStore) Boards(ctx context.Context, tenant qun.TenantID, room qun.RoomID) ([]*Board, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, title, created_by, created_at FROM whiteboard_boards WHERE tenant=? AND room=? ORDER BY created_at, id`, tenant, room)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Board
	for rows.Next() {
		b := &Board{Tenant: tenant, Room: room}
		if err := rows.Scan(&b.ID, &b.Title, &b.CreatedBy, &b.CreatedAt); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

func (s *SQLiteStore) DeleteBoard(ctx context.Context, tenant qun.TenantID, id BoardID) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `DELETE FROM whiteboard_boards WHERE tenant=? AND id=?`, tenant, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errNoBoard
	}
	for _, table := range []string{"whiteboard_snapshots", "whiteboard_snapshot_pages", "whiteboard_files"} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE tenant=? AND board=?`, tenant, id); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func (s *SQLiteStore) SaveSnapshot(ctx context.Context, tenant qun.TenantID, board BoardID, snap *Snapshot) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO whiteboard_snapshots (tenant, board, seq, meta) VALUES (?,?,?,?)`,
		tenant, board, int64(snap.Seq), snap.Meta); err != nil {
		return err
	}
	for _, p := range snap.Pages {
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO whiteboard_snapshot_pages (tenant, board, page, seq, items) VALUES (?,?,?,?,?)`,
			tenant, board, int64(p.Page), int64(snap.Seq), p.Items); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func (s *SQLiteStore) LoadSnapshot(ctx context.Context, tenant qun.TenantID, board BoardID, at uint64) (*Snapshot, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if at == 0 || at > 1<<62 {
		at = 1 << 62
	}
	snap := &Snapshot{}
	var seq int64
	err = tx.QueryRowContext(ctx, `SELECT seq, meta FROM whiteboard_snapshots WHERE tenant=? AND board=? AND seq<=? ORDER BY seq DESC LIMIT 1`,
		tenant, board, int64(at)).Scan(&seq, &snap.Meta)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	snap.Seq = uint64(seq)
	rows, err := tx.QueryContext(ctx, `SELECT p.page, p.items FROM whiteboard_snapshot_pages p
		WHERE p.tenant=? AND p.board=? AND p.seq = (
			SELECT MAX(q.seq) FROM whiteboard_snapshot_pages q
			WHERE q.tenant=p.tenant AND q.board=p.board AND q.page=p.page AND q.seq<=?)
		ORDER BY p.page`, tenant, board, seq)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var pb PageBlob
		var page int64
		if err := rows.Scan(&page, &pb.Items); err != nil {
			return nil, err
		}
		pb.Page = uint64(page)
		snap.Pages = append(snap.Pages, pb)
	}
	return snap, rows.Err()
}

func (s *SQLiteStore) PruneSnapshots(ctx context.Context, tenant qun.TenantID, board BoardID, keepFrom uint64) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var base sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT MAX(seq) FROM whiteboard_snapshots WHERE tenant=? AND board=? AND seq<=?`,
		tenant, board, int64(min(keepFrom, 1<<62))).Scan(&base); err != nil {
		return err
	}
	if !base.Valid {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM whiteboard_snapshots WHERE tenant=? AND board=? AND seq<?`, tenant, board, base.Int64); err != nil {
		return err
	}
	// A page blob older than base is still needed if it is its page's newest
	// at base: the snapshot at base reads it.
	if _, err := tx.ExecContext(ctx, `DELETE FROM whiteboard_snapshot_pages
		WHERE tenant=? AND board=? AND seq<? AND seq < (
			SELECT MAX(q.seq) FROM whiteboard_snapshot_pages q
			WHERE q.tenant=whiteboard_snapshot_pages.tenant AND q.board=whiteboard_snapshot_pages.board
			AND q.page=whiteboard_snapshot_pages.page AND q.seq<=?)`, tenant, board, base.Int64, base.Int64); err != nil {
		return err
	}
	return tx.Commit()
}

func (s *SQLiteStore) PutFiles(ctx context.Context, files []*File) error {
	if len(files) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	checked := map[qun.RoomRef]bool{}
	for _, f := range files {
		k := qun.RoomRef{Tenant: f.Tenant, Room: qun.RoomID(f.Board)}
		if !checked[k] {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM whiteboard_boards WHERE tenant=? AND id=?`, f.Tenant, f.Board).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return errNoBoard
			}
			checked[k] = true
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO whiteboard_files (tenant, board, id, content_type, width, height, data, created_at) VALUES (?,?,?,?,?,?,?,?)`,
			f.Tenant, f.Board, f.ID, f.ContentType, f.Width, f.Height, f.Data, f.CreatedAt); err != nil {
			if isUnique(err) {
				return qun.Errorf(qun.CodeConflict, "file %s exists", f.ID)
			}
			return err
		}
	}
	return tx.Commit()
}

func (s *SQLiteStore) File(ctx context.Context, tenant qun.TenantID, board BoardID, id string) (*File, error) {
	f := &File{Tenant: tenant, Board: board, ID: id}
	err := s.db.QueryRowContext(ctx, `SELECT content_type, width, height, data, created_at FROM whiteboard_files WHERE tenant=? AND board=? AND id=?`,
		tenant, board, id).Scan(&f.ContentType, &f.Width, &f.Height, &f.Data, &f.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, qun.Errorf(qun.CodeNotFound, "no such file")
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}
