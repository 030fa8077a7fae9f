package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/qunkit/qun"
	"github.com/qunkit/qun/whiteboard"
)

// NewWhiteboardStore returns whiteboard.Store on PostgreSQL, applying its
// migrations (tables prefixed whiteboard_). The pool belongs to the caller.
func NewWhiteboardStore(ctx context.Context, pool *pgxpool.Pool) (whiteboard.Store, error) {
	if err := migrate(ctx, pool, "whiteboard"); err != nil {
		return nil, err
	}
	return &whiteboardStore{pool: pool}, nil
}

type whiteboardStore struct{ pool *pgxpool.Pool }

func errNoBoard() error { return qun.Errorf(qun.CodeNotFound, "no such board") }

func wbErr(err error) error {
	if err == nil {
		return nil
	}
	var qe *qun.Error
	if errors.As(err, &qe) {
		return err
	}
	return fmt.Errorf("whiteboard: store: %w", err)
}

func (s *whiteboardStore) CreateBoard(ctx context.Context, b *whiteboard.Board, maxPerRoom int) error {
	return wbErr(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if maxPerRoom > 0 {
			// Boards created at once on several nodes count one at a time.
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('qun.whiteboard:' || $1 || '/' || $2, 0))`, b.Tenant, b.Room); err != nil {
				return err
			}
			var n int
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM whiteboard_boards WHERE tenant=$1 AND room=$2`, b.Tenant, b.Room).Scan(&n); err != nil {
				return err
			}
			if n >= maxPerRoom {
				return qun.Errorf(qun.CodeExhausted, "a room has at most %d boards", maxPerRoom)
			}
		}
		tag, err := tx.Exec(ctx, `INSERT INTO whiteboard_boards (tenant, id, room, title, created_by, created_at)
			VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT DO NOTHING`, b.Tenant, b.ID, b.Room, b.Title, b.CreatedBy, b.CreatedAt)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return qun.Errorf(qun.CodeConflict, "board %s exists", b.ID)
		}
		return nil
	}))
}

func (s *whiteboardStore) Board(ctx context.Context, tenant qun.TenantID, id whiteboard.BoardID) (*whiteboard.Board, error) {
	b := &whiteboard.Board{Tenant: tenant, ID: id}
	err := s.pool.QueryRow(ctx, `SELECT room, title, created_by, created_at FROM whiteboard_boards WHERE tenant=$1 AND id=$2`, tenant, id).
		Scan(&b.Room, &b.Title, &b.CreatedBy, &b.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errNoBoard()
	}
	if err != nil {
		return nil, wbErr(err)
	}
	return b, nil
}

func (s *whiteboardStore) Boards(ctx context.Context, tenant qun.TenantID, room qun.RoomID) ([]*whiteboard.Board, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, title, created_by, created_at FROM whiteboard_boards
		WHERE tenant=$1 AND room=$2 ORDER BY created_at, id`, tenant, room)
	if err != nil {
		return nil, wbErr(err)
	}
	defer rows.Close()
	var out []*whiteboard.Board
	for rows.Next() {
		b := &whiteboard.Board{Tenant: tenant, Room: room}
		if err := rows.Scan(&b.ID, &b.Title, &b.CreatedBy, &b.CreatedAt); err != nil {
			return nil, wbErr(err)
		}
		out = append(out, b)
	}
	return out, wbErr(rows.Err())
}

func (s *whiteboardStore) DeleteBoard(ctx context.Context, tenant qun.TenantID, id whiteboard.BoardID) error {
	return wbErr(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM whiteboard_boards WHERE tenant=$1 AND id=$2`, tenant, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errNoBoard()
		}
		for _, table := range []string{"whiteboard_snapshots", "whiteboard_snapshot_pages", "whiteboard_files"} {
			if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE tenant=$1 AND board=$2`, tenant, id); err != nil {
				return err
			}
		}
		return nil
	}))
}

func (s *whiteboardStore) SaveSnapshot(ctx context.Context, tenant qun.TenantID, board whiteboard.BoardID, snap *whiteboard.Snapshot) error {
	pages := make([]int64, len(snap.Pages))
	items := make([][]byte, len(snap.Pages))
	for i, p := range snap.Pages {
		pages[i], items[i] = int64(p.Page), nonNilBytes(p.Items)
	}
	return wbErr(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO whiteboard_snapshots (tenant, board, seq, meta) VALUES ($1,$2,$3,$4)
			ON CONFLICT (tenant, board, seq) DO UPDATE SET meta = EXCLUDED.meta`,
			tenant, board, int64(snap.Seq), nonNilBytes(snap.Meta)); err != nil {
			return err
		}
		if len(pages) == 0 {
			return nil
		}
		_, err := tx.Exec(ctx, `INSERT INTO whiteboard_snapshot_pages (tenant, board, page, seq, items)
			SELECT $1, $2, p.page, $3, p.items FROM unnest($4::int8[], $5::bytea[]) AS p(page, items)
			ON CONFLICT (tenant, board, page, seq) DO UPDATE SET items = EXCLUDED.items`,
			tenant, board, int64(snap.Seq), pages, items)
		return err
	}))
}

func nonNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func (s *whiteboardStore) LoadSnapshot(ctx context.Context, tenant qun.TenantID, board whiteboard.BoardID, at uint64) (*whiteboard.Snapshot, error) {
	if at == 0 || at > math.MaxInt64 {
		at = math.MaxInt64
	}
	var snap *whiteboard.Snapshot
	// One snapshot of the database for both reads: a concurrent save or
	// prune cannot mix two versions.
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var seq int64
		var meta []byte
		err := tx.QueryRow(ctx, `SELECT seq, meta FROM whiteboard_snapshots WHERE tenant=$1 AND board=$2 AND seq<=$3
			ORDER BY seq DESC LIMIT 1`, tenant, board, int64(at)).Scan(&seq, &meta)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		snap = &whiteboard.Snapshot{Seq: uint64(seq), Meta: meta}
		rows, err := tx.Query(ctx, `SELECT DISTINCT ON (page) page, items FROM whiteboard_snapshot_pages
			WHERE tenant=$1 AND board=$2 AND seq<=$3 ORDER BY page, seq DESC`, tenant, board, seq)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var pb whiteboard.PageBlob
			var page int64
			if err := rows.Scan(&page, &pb.Items); err != nil {
				return err
			}
			pb.Page = uint64(page)
			snap.Pages = append(snap.Pages, pb)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, wbErr(err)
	}
	return snap, nil
}

func (s *whiteboardStore) PruneSnapshots(ctx context.Context, tenant qun.TenantID, board whiteboard.BoardID, keepFrom uint64) error {
	return wbErr(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var base *int64
		if err := tx.QueryRow(ctx, `SELECT MAX(seq) FROM whiteboard_snapshots WHERE tenant=$1 AND board=$2 AND seq<=$3`,
			tenant, board, int64(min(keepFrom, math.MaxInt64))).Scan(&base); err != nil {
			return err
		}
		if base == nil {
			return nil
		}
		if _, err := tx.Exec(ctx, `DELETE FROM whiteboard_snapshots WHERE tenant=$1 AND board=$2 AND seq<$3`, tenant, board, *base); err != nil {
			return err
		}
		// A page blob older than base is still needed if it is its page's
		// newest at base: the snapshot at base reads it.
		_, err := tx.Exec(ctx, `DELETE FROM whiteboard_snapshot_pages p
			WHERE p.tenant=$1 AND p.board=$2 AND p.seq < (
				SELECT MAX(q.seq) FROM whiteboard_snapshot_pages q
				WHERE q.tenant=p.tenant AND q.board=p.board AND q.page=p.page AND q.seq<=$3)`, tenant, board, *base)
		return err
	}))
}

func (s *whiteboardStore) PutFiles(ctx context.Context, files []*whiteboard.File) error {
	if len(files) == 0 {
		return nil
	}
	return wbErr(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		checked := map[qun.RoomRef]bool{}
		for _, f := range files {
			k := qun.RoomRef{Tenant: f.Tenant, Room: qun.RoomID(f.Board)}
			if !checked[k] {
				var n int
				// FOR SHARE: the board cannot be deleted under us.
				if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM whiteboard_boards WHERE tenant=$1 AND id=$2 FOR SHARE) b`,
					f.Tenant, f.Board).Scan(&n); err != nil {
					return err
				}
				if n == 0 {
					return errNoBoard()
				}
				checked[k] = true
			}
			tag, err := tx.Exec(ctx, `INSERT INTO whiteboard_files (tenant, board, id, content_type, width, height, data, created_at)
				VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT DO NOTHING`,
				f.Tenant, f.Board, f.ID, f.ContentType, f.Width, f.Height, nonNilBytes(f.Data), f.CreatedAt)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				return qun.Errorf(qun.CodeConflict, "file %s exists", f.ID)
			}
		}
		return nil
	}))
}

func (s *whiteboardStore) File(ctx context.Context, tenant qun.TenantID, board whiteboard.BoardID, id string) (*whiteboard.File, error) {
	f := &whiteboard.File{Tenant: tenant, Board: board, ID: id}
	err := s.pool.QueryRow(ctx, `SELECT content_type, width, height, data, created_at FROM whiteboard_files
		WHERE tenant=$1 AND board=$2 AND id=$3`, tenant, board, id).Scan(&f.ContentType, &f.Width, &f.Height, &f.Data, &f.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, qun.Errorf(qun.CodeNotFound, "no such file")
	}
	if err != nil {
		return nil, wbErr(err)
	}
	return f, nil
}
