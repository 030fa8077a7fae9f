// Package whiteboardtest is the conformance suite every whiteboard.Store
// implementation passes.
package whiteboardtest

import (
	"context"
	"errors"
	"testing"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/whiteboard"
)

// RunStoreTests runs the suite; open returns a fresh, empty store.
func RunStoreTests(t *testing.T, open func(t *testing.T) whiteboard.Store) {
	t.Run("Boards", func(t *testing.T) { testBoards(t, open(t)) })
	t.Run("Snapshots", func(t *testing.T) { testSnapshots(t, open(t)) })
	t.Run("Prune", func(t *testing.T) { testPrune(t, open(t)) })
	t.Run("Files", func(t *testing.T) { testFiles(t, open(t)) })
	t.Run("Delete", func(t *testing.T) { testDelete(t, open(t)) })
}

func code(t *testing.T, err error, want qun.Code) {
	t.Helper()
	if got := qun.ErrorCode(err); got != want {
		t.Fatalf("error %v: code %q, want %q", err, got, want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func board(tenant, id, room string, at int64) *whiteboard.Board {
	return &whiteboard.Board{Tenant: qun.TenantID(tenant), ID: whiteboard.BoardID(id), Room: qun.RoomID(room), Title: "b " + id, CreatedBy: "u1", CreatedAt: at}
}

func testBoards(t *testing.T, s whiteboard.Store) {
	ctx := context.Background()
	must(t, s.CreateBoard(ctx, board("t1", "b1", "g:1", 10), 2))
	must(t, s.CreateBoard(ctx, board("t1", "b2", "g:1", 20), 2))
	code(t, s.CreateBoard(ctx, board("t1", "b3", "g:1", 30), 2), qun.CodeExhausted)
	code(t, s.CreateBoard(ctx, board("t1", "b1", "g:2", 30), 0), qun.CodeConflict)
	// The same id in another tenant is another board.
	must(t, s.CreateBoard(ctx, board("t2", "b1", "g:1", 5), 2))

	b, err := s.Board(ctx, "t1", "b1")
	must(t, err)
	if want := board("t1", "b1", "g:1", 10); *b != *want {
		t.Fatalf("board %+v, want %+v", b, want)
	}
	_, err = s.Board(ctx, "t3", "b1")
	code(t, err, qun.CodeNotFound)
	_, err = s.Board(ctx, "t1", "nope")
	code(t, err, qun.CodeNotFound)

	bs, err := s.Boards(ctx, "t1", "g:1")
	must(t, err)
	if len(bs) != 2 || bs[0].ID != "b1" || bs[1].ID != "b2" {
		t.Fatalf("boards %+v", bs)
	}
	bs, err = s.Boards(ctx, "t2", "g:1")
	must(t, err)
	if len(bs) != 1 || bs[0].Tenant != "t2" {
		t.Fatalf("t2 boards %+v", bs)
	}
	bs, err = s.Boards(ctx, "t1", "g:9")
	must(t, err)
	if len(bs) != 0 {
		t.Fatalf("empty room: %+v", bs)
	}
}

func snap(seq uint64, meta string, pages ...whiteboard.PageBlob) *whiteboard.Snapshot {
	return &whiteboard.Snapshot{Seq: seq, Meta: []byte(meta), Pages: pages}
}

func blob(page uint64, items string) whiteboard.PageBlob {
	return whiteboard.PageBlob{Page: page, Items: []byte(items)}
}

func wantSnap(t *testing.T, got *whiteboard.Snapshot, want *whiteboard.Snapshot) {
	t.Helper()
	if want == nil {
		if got != nil {
			t.Fatalf("snapshot %d, want none", got.Seq)
		}
		return
	}
	if got == nil {
		t.Fatalf("no snapshot, want %d", want.Seq)
	}
	if got.Seq != want.Seq || string(got.Meta) != string(want.Meta) || len(got.Pages) != len(want.Pages) {
		t.Fatalf("snapshot %d %q %d pages, want %d %q %d pages", got.Seq, got.Meta, len(got.Pages), want.Seq, want.Meta, len(want.Pages))
	}
	for i := range got.Pages {
		if got.Pages[i].Page != want.Pages[i].Page || string(got.Pages[i].Items) != string(want.Pages[i].Items) {
			t.Fatalf("page %d: %d %q, want %d %q", i, got.Pages[i].Page, got.Pages[i].Items, want.Pages[i].Page, want.Pages[i].Items)
		}
	}
}

func testSnapshots(t *testing.T, s whiteboard.Store) {
	ctx := context.Background()
	must(t, s.CreateBoard(ctx, board("t1", "b1", "g:1", 1), 0))
	got, err := s.LoadSnapshot(ctx, "t1", "b1", 0)
	must(t, err)
	wantSnap(t, got, nil)

	must(t, s.SaveSnapshot(ctx, "t1", "b1", snap(10, "m10", blob(1, "[1]"), blob(2, "[2]"))))
	must(t, s.SaveSnapshot(ctx, "t1", "b1", snap(20, "m20", blob(2, "[2,2]"), blob(3, "[3]"))))
	must(t, s.SaveSnapshot(ctx, "t1", "b1", snap(30, "m30")))

	got, err = s.LoadSnapshot(ctx, "t1", "b1", 0)
	must(t, err)
	wantSnap(t, got, snap(30, "m30", blob(1, "[1]"), blob(2, "[2,2]"), blob(3, "[3]")))
	got, err = s.LoadSnapshot(ctx, "t1", "b1", 25)
	must(t, err)
	wantSnap(t, got, snap(20, "m20", blob(1, "[1]"), blob(2, "[2,2]"), blob(3, "[3]")))
	got, err = s.LoadSnapshot(ctx, "t1", "b1", 19)
	must(t, err)
	wantSnap(t, got, snap(10, "m10", blob(1, "[1]"), blob(2, "[2]")))
	got, err = s.LoadSnapshot(ctx, "t1", "b1", 9)
	must(t, err)
	wantSnap(t, got, nil)

	// Saving a seq again replaces it.
	must(t, s.SaveSnapshot(ctx, "t1", "b1", snap(30, "m30b", blob(1, "[]"))))
	got, err = s.LoadSnapshot(ctx, "t1", "b1", 0)
	must(t, err)
	wantSnap(t, got, snap(30, "m30b", blob(1, "[]"), blob(2, "[2,2]"), blob(3, "[3]")))

	// Other tenants see nothing.
	got, err = s.LoadSnapshot(ctx, "t2", "b1", 0)
	must(t, err)
	wantSnap(t, got, nil)
}

func testPrune(t *testing.T, s whiteboard.Store) {
	ctx := context.Background()
	must(t, s.CreateBoard(ctx, board("t1", "b1", "g:1", 1), 0))
	must(t, s.SaveSnapshot(ctx, "t1", "b1", snap(10, "m10", blob(1, "[1]"), blob(2, "[2]"))))
	must(t, s.SaveSnapshot(ctx, "t1", "b1", snap(20, "m20", blob(2, "[2,2]"))))
	must(t, s.SaveSnapshot(ctx, "t1", "b1", snap(30, "m30", blob(2, "[2,2,2]"))))
	must(t, s.SaveSnapshot(ctx, "t2", "b1", snap(10, "x10", blob(1, "[9]"))))

	must(t, s.PruneSnapshots(ctx, "t1", "b1", 25)) // keeps 20 and 30
	got, err := s.LoadSnapshot(ctx, "t1", "b1", 15)
	must(t, err)
	wantSnap(t, got, nil)
	got, err = s.LoadSnapshot(ctx, "t1", "b1", 20)
	must(t, err)
	wantSnap(t, got, snap(20, "m20", blob(1, "[1]"), blob(2, "[2,2]")))
	got, err = s.LoadSnapshot(ctx, "t1", "b1", 0)
	must(t, err)
	wantSnap(t, got, snap(30, "m30", blob(1, "[1]"), blob(2, "[2,2,2]")))
	got, err = s.LoadSnapshot(ctx, "t2", "b1", 0)
	must(t, err)
	wantSnap(t, got, snap(10, "x10", blob(1, "[9]")))
	must(t, s.PruneSnapshots(ctx, "t1", "b1", 5)) // nothing that old: no-op
}

func file(tenant, board, id string) *whiteboard.File {
	return &whiteboard.File{Tenant: qun.TenantID(tenant), Board: whiteboard.BoardID(board), ID: id, ContentType: "image/png", Width: 4, Height: 3, Data: []byte("png " + id), CreatedAt: 7}
}

func testFiles(t *testing.T, s whiteboard.Store) {
	ctx := context.Background()
	must(t, s.CreateBoard(ctx, board("t1", "b1", "g:1", 1), 0))
	must(t, s.PutFiles(ctx, []*whiteboard.File{file("t1", "b1", "f1"), file("t1", "b1", "f2")}))
	f, err := s.File(ctx, "t1", "b1", "f2")
	must(t, err)
	if want := file("t1", "b1", "f2"); f.ID != want.ID || string(f.Data) != string(want.Data) || f.ContentType != want.ContentType || f.Width != 4 || f.Height != 3 || f.CreatedAt != 7 {
		t.Fatalf("file %+v", f)
	}
	_, err = s.File(ctx, "t2", "b1", "f2")
	code(t, err, qun.CodeNotFound)
	_, err = s.File(ctx, "t1", "b2", "f2")
	code(t, err, qun.CodeNotFound)
	code(t, s.PutFiles(ctx, []*whiteboard.File{file("t2", "b1", "f3")}), qun.CodeNotFound)
	// All or none: f1 exists, so f4 must not be stored either.
	err = s.PutFiles(ctx, []*whiteboard.File{file("t1", "b1", "f4"), file("t1", "b1", "f1")})
	if err == nil {
		t.Fatal("duplicate file id stored")
	}
	_, err = s.File(ctx, "t1", "b1", "f4")
	code(t, err, qun.CodeNotFound)
}

func testDelete(t *testing.T, s whiteboard.Store) {
	ctx := context.Background()
	must(t, s.CreateBoard(ctx, board("t1", "b1", "g:1", 1), 0))
	must(t, s.CreateBoard(ctx, board("t2", "b1", "g:1", 1), 0))
	must(t, s.SaveSnapshot(ctx, "t1", "b1", snap(10, "m", blob(1, "[]"))))
	must(t, s.SaveSnapshot(ctx, "t2", "b1", snap(10, "m2", blob(1, "[]"))))
	must(t, s.PutFiles(ctx, []*whiteboard.File{file("t1", "b1", "f1")}))
	code(t, s.DeleteBoard(ctx, "t3", "b1"), qun.CodeNotFound)
	must(t, s.DeleteBoard(ctx, "t1", "b1"))
	code(t, s.DeleteBoard(ctx, "t1", "b1"), qun.CodeNotFound)
	_, err := s.Board(ctx, "t1", "b1")
	code(t, err, qun.CodeNotFound)
	got, err := s.LoadSnapshot(ctx, "t1", "b1", 0)
	must(t, err)
	wantSnap(t, got, nil)
	_, err = s.File(ctx, "t1", "b1", "f1")
	if !errors.Is(err, &qun.Error{Code: qun.CodeNotFound}) {
		t.Fatalf("file after delete: %v", err)
	}
	// The other tenant's board is untouched.
	got, err = s.LoadSnapshot(ctx, "t2", "b1", 0)
	must(t, err)
	wantSnap(t, got, snap(10, "m2", blob(1, "[]")))
	// A deleted board's id can be reused.
	must(t, s.CreateBoard(ctx, board("t1", "b1", "g:1", 2), 0))
}
