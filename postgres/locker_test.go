package postgres_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/chat"
	"github.com/qunkit/qun/postgres"
	"github.com/qunkit/qun/postgres/pgtest"
	"github.com/qunkit/qun/shop"
	"github.com/qunkit/qun/whiteboard"
)

var (
	_ chat.Locker       = (*postgres.RoomLocker)(nil)
	_ whiteboard.Locker = (*postgres.RoomLocker)(nil)
	_ shop.Locker       = (*postgres.RoomLocker)(nil)
)

func roomLocker(t *testing.T, url string) *postgres.RoomLocker {
	t.Helper()
	l, err := postgres.NewRoomLocker(context.Background(), pgtest.Pool(t, url), postgres.RoomLockerConfig{Conns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

// Two nodes' lockers on one schema: exclusive holders of a room never
// overlap, shared holders do, other rooms are not held up, and a waiter
// whose context ends gives up without taking the lock.
func TestRoomLockerAcrossNodes(t *testing.T) {
	url := pgtest.Schema(t)
	nodes := []*postgres.RoomLocker{roomLocker(t, url), roomLocker(t, url)}
	ctx := context.Background()
	room := qun.RoomRef{Tenant: "t1", Room: "g:1"}

	var inside, overlaps atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				unlock, err := nodes[i%2].Lock(ctx, room, false)
				if err != nil {
					t.Error(err)
					return
				}
				if inside.Add(1) > 1 {
					overlaps.Add(1)
				}
				time.Sleep(time.Millisecond)
				inside.Add(-1)
				unlock()
			}
		}()
	}
	wg.Wait()
	if overlaps.Load() > 0 {
		t.Fatalf("exclusive holders overlapped %d times", overlaps.Load())
	}

	// Shared holders on both nodes at once.
	u1, err := nodes[0].Lock(ctx, room, true)
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	u2, err := nodes[1].Lock(sctx, room, true)
	cancel()
	if err != nil {
		t.Fatalf("second shared holder: %v", err)
	}
	// An exclusive waiter waits for both, and gives up when its context ends.
	wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, err = nodes[1].Lock(wctx, room, false)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("exclusive lock while shared are held: %v", err)
	}
	// Another room, another tenant's room of the same name: free.
	for _, other := range []qun.RoomRef{{Tenant: "t1", Room: "g:2"}, {Tenant: "t2", Room: "g:1"}} {
		octx, cancel := context.WithTimeout(ctx, 2*time.Second)
		u, err := nodes[1].Lock(octx, other, false)
		cancel()
		if err != nil {
			t.Fatalf("%v held up by %v: %v", other, room, err)
		}
		u()
	}
	u1()
	u2()
	// The waiter that gave up holds nothing: the lock is free.
	xctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	u, err := nodes[0].Lock(xctx, room, false)
	if err != nil {
		t.Fatalf("after the shared holders left: %v", err)
	}
	u()
}

// A node that dies (its connection to PostgreSQL drops) releases its locks.
func TestRoomLockerReleasedWhenANodeDies(t *testing.T) {
	url := pgtest.Schema(t)
	dead, live := roomLocker(t, url), roomLocker(t, url)
	room := qun.RoomRef{Tenant: "t1", Room: "wb:1"}
	ctx := context.Background()
	unlockDead, err := dead.Lock(ctx, room, false)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, err = live.Lock(wctx, room, false)
	cancel()
	if err == nil {
		t.Fatal("took a lock the other node holds")
	}
	// The crash: the server ends the holder's session.
	admin := pgtest.Pool(t, url)
	var n int
	err = admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND objsubid = 2
		AND classid = hashtext('qun.room:' || current_schema())::oid AND objid = hashtext($1 || ':' || $2)::oid`,
		string(room.Tenant), string(room.Room)).Scan(&n)
	if err != nil || n != 1 {
		t.Fatalf("terminated %d sessions: %v", n, err)
	}
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	unlock, err := live.Lock(lctx, room, false)
	if err != nil {
		t.Fatalf("the dead node's lock was not released: %v", err)
	}
	unlock()
	unlockDead() // finds its session gone; must not return a broken connection to the pool
	u, err := dead.Lock(lctx, room, true)
	if err != nil {
		t.Fatalf("the dead node's locker after its connection broke: %v", err)
	}
	u()
}
