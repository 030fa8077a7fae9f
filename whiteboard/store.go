package whiteboard

import (
	"context"

	"github.com/qunkit/qun"
)

// BoardID identifies a board within its tenant. A board's events live in
// the room Room(id) = "wb:<id>".
type BoardID string

// RoomKind is the room kind of boards' own rooms.
const RoomKind = "wb"

// Room returns the room that carries board's events.
func Room(board BoardID) qun.RoomID { return qun.RoomID(RoomKind + ":" + string(board)) }

// Board is a whiteboard attached to a room (a group "g:..." or a live
// "live:..."). Who presents on it, and who may watch, is what the room's
// owner package says through Hub.RoomRole.
type Board struct {
	Tenant    qun.TenantID `json:"-"`
	ID        BoardID      `json:"id"`
	Room      qun.RoomID   `json:"room"`
	Title     string       `json:"title"`
	CreatedBy qun.UserID   `json:"by"`
	CreatedAt int64        `json:"created"` // unix milliseconds
}

// Ref returns the scoped name of the board's own room.
func (b *Board) Ref() qun.RoomRef { return qun.RoomRef{Tenant: b.Tenant, Room: Room(b.ID)} }

// Snapshot is a board's persisted state at room seq Seq: Meta (pages, current
// page, viewport, drawing rights, undo histories) and each page's items. A
// snapshot is saved incrementally: SaveSnapshot receives only the pages that
// changed since the previous snapshot, and LoadSnapshot merges the newest
// version of every page at or before the snapshot's seq. The store treats
// Meta and page blobs as opaque bytes.
type Snapshot struct {
	Seq   uint64
	Meta  []byte
	Pages []PageBlob
}

// PageBlob is one page's items (a JSON array) as of a snapshot.
type PageBlob struct {
	Page  uint64
	Items []byte
}

// File is an uploaded or rendered page image.
type File struct {
	Tenant      qun.TenantID
	Board       BoardID
	ID          string
	ContentType string
	Width       int
	Height      int
	Data        []byte
	CreatedAt   int64 // unix milliseconds
}

// Store keeps boards, their snapshots and their page images. Every method
// is scoped by tenant: another tenant's board is never visible.
// NewSQLiteStore is the embedded implementation; adapters for other engines
// pass whiteboardtest.RunStoreTests.
type Store interface {
	// CreateBoard stores a new board. It returns CodeExhausted if the board's
	// room already has maxPerRoom boards (0: no limit) and CodeConflict if
	// the id is taken.
	CreateBoard(ctx context.Context, b *Board, maxPerRoom int) error
	// Board returns a board, or CodeNotFound.
	Board(ctx context.Context, tenant qun.TenantID, id BoardID) (*Board, error)
	// Boards lists a room's boards, oldest first.
	Boards(ctx context.Context, tenant qun.TenantID, room qun.RoomID) ([]*Board, error)
	// DeleteBoard removes a board with its snapshots and files, or returns
	// CodeNotFound.
	DeleteBoard(ctx context.Context, tenant qun.TenantID, id BoardID) error

	// SaveSnapshot stores s, whose Pages hold only the pages that changed
	// since the previous snapshot. Saving a seq that exists replaces it.
	SaveSnapshot(ctx context.Context, tenant qun.TenantID, board BoardID, s *Snapshot) error
	// LoadSnapshot returns the newest snapshot with Seq ≤ at (at 0: the
	// newest), its Pages holding, for every page ever saved, the newest blob
	// with seq ≤ that Seq, ordered by page. It returns nil, nil if there is none.
	LoadSnapshot(ctx context.Context, tenant qun.TenantID, board BoardID, at uint64) (*Snapshot, error)
	// PruneSnapshots deletes the snapshots older than the newest one with
	// Seq ≤ keepFrom, and page blobs no remaining snapshot needs.
	PruneSnapshots(ctx context.Context, tenant qun.TenantID, board BoardID, keepFrom uint64) error

	// PutFiles stores files, all or none. Their board must exist.
	PutFiles(ctx context.Context, files []*File) error
	// File returns a board's file, or CodeNotFound.
	File(ctx context.Context, tenant qun.TenantID, board BoardID, id string) (*File, error)
}
