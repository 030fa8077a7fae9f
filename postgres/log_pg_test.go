package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/logtest"
	"github.com/qunkit/qun/postgres"
	"github.com/qunkit/qun/postgres/pgtest"
)

func ev(ref qun.RoomRef, typ string) *qun.Event {
	return &qun.Event{Tenant: ref.Tenant, Room: ref.Room, Type: typ, TS: 1}
}

// Text PostgreSQL cannot store is refused before it can spoil a batch.
func TestLogStoreRefusesUnstorableText(t *testing.T) {
	st := openLog(t, pgtest.NewPool(t), postgres.LogStoreConfig{})
	defer st.Close()
	ctx := context.Background()
	ref := logtest.Ref("g:1")
	for _, bad := range []struct {
		ref qun.RoomRef
		ev  *qun.Event
	}{
		{ref, ev(ref, "a\x00b")},
		{ref, &qun.Event{Type: "ok", Actor: "\xff"}},
		{qun.RoomRef{Tenant: ref.Tenant, Room: "g:\x00"}, ev(ref, "ok")},
	} {
		if err := st.Append(ctx, bad.ref, ev(ref, "fine"), bad.ev); qun.ErrorCode(err) != qun.CodeInvalid {
			t.Fatalf("Append(%q, %q) = %v, want invalid", bad.ref.Room, bad.ev.Type, err)
		}
	}
	if n, _ := st.Last(ctx, ref); n != 0 {
		t.Fatalf("refused appends left %d events", n)
	}
}

// When the server refuses a batch, its appends are retried one by one: only
// the failing one fails.
func TestLogStoreBatchFailureIsolated(t *testing.T) {
	pool := pgtest.NewPool(t)
	st := openLog(t, pool, postgres.LogStoreConfig{Writers: 1})
	defer st.Close()
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `ALTER TABLE qun_log_events ADD CONSTRAINT no_poison CHECK (type <> 'poison')`); err != nil {
		t.Fatal(err)
	}
	ref := logtest.Ref("g:1")
	const n = 200
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			typ := "ok"
			if i%50 == 7 {
				typ = "poison"
			}
			errs[i] = st.Append(ctx, ref, ev(ref, typ))
		}()
	}
	wg.Wait()
	failed := 0
	for i, err := range errs {
		if (i%50 == 7) != (err != nil) {
			t.Fatalf("append %d: %v", i, err)
		}
		if err != nil {
			failed++
		}
	}
	evs, err := st.Read(ctx, ref, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != n-failed || evs[len(evs)-1].Seq != uint64(n-failed) {
		t.Fatalf("log holds %d events, last seq %d; want %d gapless", len(evs), evs[len(evs)-1].Seq, n-failed)
	}
}

// Nodes starting together on an empty database migrate it once.
func TestMigrateConcurrently(t *testing.T) {
	url := pgtest.Schema(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := postgres.NewLogStore(context.Background(), pgtest.Pool(t, url), postgres.LogStoreConfig{})
			if err != nil {
				errs <- err
				return
			}
			errs <- st.Close()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := pgtest.Pool(t, url).QueryRow(context.Background(),
		`SELECT count(*) FROM qun_migrations WHERE component = 'log'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d log migrations recorded, want 1", n)
	}
}

// Deleting a room's oldest rows (retention) makes reading from before them
// answer too_old.
func TestLogStoreTrimmedByRetention(t *testing.T) {
	pool := pgtest.NewPool(t)
	st := openLog(t, pool, postgres.LogStoreConfig{})
	defer st.Close()
	ctx := context.Background()
	ref := logtest.Ref("g:1")
	for i := range 10 {
		if err := st.Append(ctx, ref, ev(ref, fmt.Sprint("e", i))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, `DELETE FROM qun_log_events WHERE tenant = $1 AND seq <= 4`, string(ref.Tenant)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Read(ctx, ref, 2, 10); qun.ErrorCode(err) != qun.CodeTooOld {
		t.Fatalf("Read after 2 = %v, want too_old", err)
	}
	evs, err := st.Read(ctx, ref, 4, 10)
	if err != nil || len(evs) != 6 || evs[0].Seq != 5 {
		t.Fatalf("Read after 4 = %d events, %v", len(evs), err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.Append(ctx, ref, ev(ref, "x")); !errors.Is(err, qun.ErrClosed) {
		t.Fatalf("Append after Close = %v", err)
	}
}
