// Package replaytest holds the conformance suites every implementation of
// replay.Store and replay.Storage must pass: the SQLite store and the
// filesystem storage run them, and so must adapters for other engines
// (PostgreSQL, object stores).
package replaytest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/replay"
)

// RunStoreTests runs the Store suite; newStore returns an empty store.
func RunStoreTests(t *testing.T, newStore func(t *testing.T) replay.Store) {
	t.Run("CreateGet", func(t *testing.T) { testCreateGet(t, newStore(t)) })
	t.Run("Update", func(t *testing.T) { testUpdate(t, newStore(t)) })
	t.Run("List", func(t *testing.T) { testList(t, newStore(t)) })
	t.Run("Due", func(t *testing.T) { testDue(t, newStore(t)) })
}

var t0 = time.Date(2025, 3, 1, 20, 0, 0, 0, time.UTC)

func sample(tenant qun.TenantID, id string) *replay.Replay {
	return &replay.Replay{
		ID: id, Tenant: tenant, Live: "live:l1", Group: "g:1", Host: "host", Title: "Spring sale", State: replay.StateRecording,
		StartedAt: t0, Heartbeat: t0.Add(time.Second),
		Tracks: []replay.Track{{ID: "t1", Kind: "video", Source: "camera", Publisher: "host", Codec: "vp8", MimeType: `video/webm; codecs="vp8"`,
			OffsetMs: 12, DurationMs: 3400, Bytes: 9999, Width: 320, Height: 240, Key: string(tenant) + "/" + id + "/t1.webm", Done: true, Synced: true}},
		Rooms:       []replay.RoomStart{{Room: "live:l1", After: 7}, {Room: "g:1", After: 42}},
		TimelineKey: "k/timeline.jsonl",
	}
}

func code(err error) qun.Code { return qun.ErrorCode(err) }

func testCreateGet(t *testing.T, s replay.Store) {
	ctx := context.Background()
	r := sample("ten1", "r1")
	if err := s.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	if r.Version != 1 {
		t.Fatalf("version after create: %d", r.Version)
	}
	got, err := s.Get(ctx, "ten1", "r1")
	if err != nil {
		t.Fatal(err)
	}
	equal(t, got, r)
	if err := s.Create(ctx, sample("ten1", "r1")); code(err) != qun.CodeConflict {
		t.Fatalf("duplicate create: %v", err)
	}
	if _, err := s.Get(ctx, "ten2", "r1"); code(err) != qun.CodeNotFound {
		t.Fatalf("another tenant's replay: %v", err)
	}
	if _, err := s.Get(ctx, "ten1", "nope"); code(err) != qun.CodeNotFound {
		t.Fatalf("unknown replay: %v", err)
	}
	// The same id in another tenant is another replay.
	if err := s.Create(ctx, sample("ten2", "r1")); err != nil {
		t.Fatalf("same id, other tenant: %v", err)
	}
}

// equal compares what a store must keep, times to the millisecond.
func equal(t *testing.T, got, want *replay.Replay) {
	t.Helper()
	same := func(a, b time.Time) bool { return a.Truncate(time.Millisecond).Equal(b.Truncate(time.Millisecond)) }
	if got.ID != want.ID || got.Tenant != want.Tenant || got.Live != want.Live || got.Group != want.Group || got.Host != want.Host ||
		got.Title != want.Title || got.State != want.State || got.DurationMs != want.DurationMs || got.Events != want.Events ||
		got.TimelineKey != want.TimelineKey || got.Purged != want.Purged || got.Version != want.Version ||
		!same(got.StartedAt, want.StartedAt) || !same(got.EndedAt, want.EndedAt) || !same(got.DecideBy, want.DecideBy) ||
		!same(got.ExpiresAt, want.ExpiresAt) || !same(got.Heartbeat, want.Heartbeat) {
		t.Fatalf("stored replay differs:\n got %+v\nwant %+v", got, want)
	}
	if len(got.Tracks) != len(want.Tracks) || len(got.Rooms) != len(want.Rooms) {
		t.Fatalf("tracks or rooms differ: %+v / %+v", got, want)
	}
	for i := range got.Tracks {
		if got.Tracks[i] != want.Tracks[i] {
			t.Fatalf("track %d differs:\n got %+v\nwant %+v", i, got.Tracks[i], want.Tracks[i])
		}
	}
	for i := range got.Rooms {
		if got.Rooms[i] != want.Rooms[i] {
			t.Fatalf("room %d differs: %+v / %+v", i, got.Rooms[i], want.Rooms[i])
		}
	}
}

func testUpdate(t *testing.T, s replay.Store) {
	ctx := context.Background()
	r := sample("ten1", "r1")
	if err := s.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	stale := *r
	r.State, r.EndedAt, r.DurationMs, r.Events = replay.StatePending, t0.Add(time.Hour), 3_600_000, 12
	r.DecideBy, r.Purged = t0.Add(48*time.Hour), true
	r.Tracks = append(r.Tracks, replay.Track{ID: "t2", Kind: "audio", Codec: "opus", Key: "k2"})
	if err := s.Update(ctx, r); err != nil {
		t.Fatal(err)
	}
	if r.Version != 2 {
		t.Fatalf("version after update: %d", r.Version)
	}
	got, err := s.Get(ctx, "ten1", "r1")
	if err != nil {
		t.Fatal(err)
	}
	equal(t, got, r)
	if err := s.Update(ctx, &stale); code(err) != qun.CodeConflict {
		t.Fatalf("update with a stale version: %v", err)
	}
	if got, _ := s.Get(ctx, "ten1", "r1"); got.State != replay.StatePending {
		t.Fatal("a stale update changed the replay")
	}
	other := *r
	other.Tenant = "ten2"
	if err := s.Update(ctx, &other); code(err) != qun.CodeNotFound {
		t.Fatalf("update in another tenant: %v", err)
	}
}

func testList(t *testing.T, s replay.Store) {
	ctx := context.Background()
	mk := func(tenant qun.TenantID, id string, live, group qun.RoomID, state replay.State, min int) {
		r := sample(tenant, id)
		r.Live, r.Group, r.State, r.StartedAt = live, group, state, t0.Add(time.Duration(min)*time.Minute)
		if err := s.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	mk("ten1", "a", "live:1", "g:1", replay.StateKept, 1)
	mk("ten1", "b", "live:2", "g:1", replay.StatePending, 2)
	mk("ten1", "c", "live:3", "g:2", replay.StateKept, 3)
	mk("ten1", "d", "live:4", "g:1", replay.StateDiscarded, 4)
	mk("ten2", "e", "live:1", "g:1", replay.StateKept, 5)
	ids := func(q replay.Query) string {
		rs, err := s.List(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var b []byte
		for _, r := range rs {
			b = append(b, r.ID...)
		}
		return string(b)
	}
	for _, c := range []struct {
		q    replay.Query
		want string
	}{
		{replay.Query{Tenant: "ten1", Group: "g:1"}, "dba"},
		{replay.Query{Tenant: "ten1", Group: "g:1", States: []replay.State{replay.StateKept, replay.StatePending}}, "ba"},
		{replay.Query{Tenant: "ten1", Live: "live:1"}, "a"},
		{replay.Query{Tenant: "ten1", Live: "live:2", Group: "g:1"}, "b"},
		{replay.Query{Tenant: "ten1", Group: "g:1", Limit: 2}, "db"},
		{replay.Query{Tenant: "ten1", Group: "g:1", Before: t0.Add(2 * time.Minute)}, "a"},
		{replay.Query{Tenant: "ten2", Group: "g:1"}, "e"},
		{replay.Query{Tenant: "ten3", Group: "g:1"}, ""},
	} {
		if got := ids(c.q); got != c.want {
			t.Fatalf("%+v: got %q, want %q", c.q, got, c.want)
		}
	}
}

func testDue(t *testing.T, s replay.Store) {
	ctx := context.Background()
	now := t0.Add(24 * time.Hour)
	mk := func(tenant qun.TenantID, id string, f func(r *replay.Replay)) {
		r := sample(tenant, id)
		f(r)
		if err := s.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	// Due:
	mk("ten1", "pending-late", func(r *replay.Replay) { r.State, r.DecideBy = replay.StatePending, now.Add(-time.Second) })
	mk("ten2", "kept-expired", func(r *replay.Replay) { r.State, r.ExpiresAt = replay.StateKept, now.Add(-time.Second) })
	mk("ten1", "recording-stale", func(r *replay.Replay) { r.Heartbeat = now.Add(-2 * time.Minute) })
	mk("ten1", "discarded-files", func(r *replay.Replay) { r.State = replay.StateDiscarded })
	mk("ten2", "expired-files", func(r *replay.Replay) { r.State = replay.StateExpired })
	// Not due:
	mk("ten1", "pending", func(r *replay.Replay) { r.State, r.DecideBy = replay.StatePending, now.Add(time.Hour) })
	mk("ten1", "kept", func(r *replay.Replay) { r.State, r.ExpiresAt = replay.StateKept, now.Add(time.Hour) })
	mk("ten1", "kept-forever", func(r *replay.Replay) { r.State = replay.StateKept })
	mk("ten1", "recording", func(r *replay.Replay) { r.Heartbeat = now.Add(-time.Second) })
	mk("ten1", "discarded", func(r *replay.Replay) { r.State, r.Purged = replay.StateDiscarded, true })
	rs, err := s.Due(ctx, now, now.Add(-time.Minute), 100)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, r := range rs {
		got[r.ID] = true
	}
	for _, id := range []string{"pending-late", "kept-expired", "recording-stale", "discarded-files", "expired-files"} {
		if !got[id] {
			t.Fatalf("%s is due but not returned (%v)", id, got)
		}
	}
	if len(got) != 5 {
		t.Fatalf("not-due replays returned: %v", got)
	}
	if rs, err := s.Due(ctx, now, now.Add(-time.Minute), 2); err != nil || len(rs) != 2 {
		t.Fatalf("due limit: %d %v", len(rs), err)
	}
}

// RunStorageTests runs the Storage suite; newStorage returns an empty storage.
func RunStorageTests(t *testing.T, newStorage func(t *testing.T) replay.Storage) {
	ctx := context.Background()
	t.Run("WriteRead", func(t *testing.T) {
		s := newStorage(t)
		f, err := s.Create(ctx, "ten1/r1/t1.webm")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte("hello, world")); err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte("HELLO"), 0); err != nil {
			t.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		// Synced bytes are readable while the file is still open: a
		// recording's files are, when its process dies.
		readAll(t, s, "ten1/r1/t1.webm", "HELLO, world")
		if _, err := f.Write([]byte("!")); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatalf("second close: %v", err)
		}
		o := readAll(t, s, "ten1/r1/t1.webm", "HELLO, world!")
		if o.ModTime().IsZero() {
			t.Fatal("no modification time")
		}
		// Create truncates.
		f, err = s.Create(ctx, "ten1/r1/t1.webm")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = f.Write([]byte("x"))
		_ = f.Close()
		readAll(t, s, "ten1/r1/t1.webm", "x")
	})
	t.Run("Missing", func(t *testing.T) {
		s := newStorage(t)
		if _, err := s.Open(ctx, "ten1/none"); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("open missing: %v", err)
		}
		if err := s.Delete(ctx, "ten1/none"); err != nil {
			t.Fatalf("delete missing: %v", err)
		}
	})
	t.Run("Delete", func(t *testing.T) {
		s := newStorage(t)
		for _, k := range []string{"a/b/1", "a/b/2"} {
			f, err := s.Create(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			_ = f.Close()
		}
		if err := s.Delete(ctx, "a/b/1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Open(ctx, "a/b/1"); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("deleted object opens: %v", err)
		}
		readAll(t, s, "a/b/2", "")
	})
	t.Run("BadKeys", func(t *testing.T) {
		s := newStorage(t)
		for _, k := range []string{"", "../x", "a/../../x", "/abs", "a//b", "a/./b"} {
			if f, err := s.Create(ctx, k); err == nil {
				_ = f.Close()
				t.Fatalf("key %q accepted", k)
			}
		}
	})
}

func readAll(t *testing.T, s replay.Storage, key, want string) replay.Object {
	t.Helper()
	o, err := s.Open(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	b, err := io.ReadAll(o)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, []byte(want)) || o.Size() != int64(len(want)) {
		t.Fatalf("%s: %q (size %d), want %q", key, b, o.Size(), want)
	}
	if _, err := o.Seek(0, io.SeekStart); err != nil {
		t.Fatalf("seek: %v", err)
	}
	return o
}
