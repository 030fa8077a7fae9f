package qun_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/qtest"
)

// benchData is a 200-byte event payload.
var benchData = json.RawMessage(`{"text":"` + strings.Repeat("x", 200-len(`{"text":""}`)) + `"}`)

func benchEvent() *qun.Event {
	return &qun.Event{Type: "bench.said", Actor: "u1", TS: time.Now().UnixMilli(), Data: benchData}
}

// BenchmarkSQLiteAppend measures durable appends into SQLite
// (NewSQLiteLogStore on sqlite.Open: WAL, synchronous=FULL, one writer
// goroutine committing up to 512 appends per transaction, and Append
// returning only after its transaction has committed), one 200-byte event
// per Append, spread over 100 rooms, from concurrent appenders as a busy
// node's publishers would be. Each b.Loop iteration is one Append.
//
// go test -run '^$' -bench SQLiteAppend .
func BenchmarkSQLiteAppend(b *testing.B) {
	for _, appenders := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("appenders=%d", appenders), func(b *testing.B) {
			log, err := qun.NewSQLiteLogStore(qtest.SQLite(b), qun.SQLiteLogStoreConfig{})
			if err != nil {
				b.Fatal(err)
			}
			defer log.Close()
			ctx := context.Background()
			work := make(chan int)
			var wg sync.WaitGroup
			var errOnce sync.Once
			var appendErr error
			for range appenders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for n := range work {
						ref := qun.RoomRef{Tenant: benchTenant, Room: qun.RoomID(fmt.Sprintf("bench:%d", n%100))}
						if err := log.Append(ctx, ref, benchEvent()); err != nil {
							errOnce.Do(func() { appendErr = err })
						}
					}
				}()
			}
			b.ReportAllocs()
			start := time.Now()
			n := 0
			for b.Loop() {
				work <- n
				n++
			}
			close(work)
			wg.Wait()
			if appendErr != nil {
				b.Fatal(appendErr)
			}
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}

// BenchmarkResume measures reading the last 1,000 events of a room of
// 5,000 (200-byte payloads) from the log, as a reconnecting client's
// "sub after" does: LogStore.Read after head-1000, limit 1000.
//
// go test -run '^$' -bench Resume .
func BenchmarkResume(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B) qun.LogStore
	}{
		{"memory", func(*testing.B) qun.LogStore { return qun.NewMemoryLogStore(qun.MemoryLogStoreConfig{}) }},
		{"sqlite", func(b *testing.B) qun.LogStore {
			log, err := qun.NewSQLiteLogStore(qtest.SQLite(b), qun.SQLiteLogStoreConfig{})
			if err != nil {
				b.Fatal(err)
			}
			return log
		}},
	}
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			log := st.open(b)
			defer log.Close()
			ctx := context.Background()
			ref := qun.RoomRef{Tenant: benchTenant, Room: "bench:resume"}
			fillRoom(b, log, ref, 5000)
			head, err := log.Last(ctx, ref)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				evs, err := log.Read(ctx, ref, head-1000, 1000)
				if err != nil || len(evs) != 1000 || evs[999].Seq != head {
					b.Fatalf("read %d events, %v", len(evs), err)
				}
			}
		})
	}
}

// fillRoom appends n 200-byte events to ref, with as many of another
// room's interleaved so that ref's rows are not alone in the table.
func fillRoom(b *testing.B, log qun.LogStore, ref qun.RoomRef, n int) {
	other := qun.RoomRef{Tenant: ref.Tenant, Room: ref.Room + "-other"}
	for i := 0; i < n; i += 100 {
		for _, r := range []qun.RoomRef{ref, other} {
			evs := make([]*qun.Event, 100)
			for j := range evs {
				evs[j] = benchEvent()
			}
			if err := log.Append(context.Background(), r, evs...); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkResumeOverWebSocket is the same resume as a client sees it: a
// connected client subscribes with "after" 1,000 events back and receives
// them all (then unsubscribes), against a Hub on the SQLite log.
//
// go test -run '^$' -bench ResumeOverWebSocket .
func BenchmarkResumeOverWebSocket(b *testing.B) {
	log, err := qun.NewSQLiteLogStore(qtest.SQLite(b), qun.SQLiteLogStoreConfig{})
	if err != nil {
		b.Fatal(err)
	}
	defer log.Close()
	e := qtest.NewEnv(b, qun.Config{Log: log, OpsPerSecond: 1e6, OpBurst: 1000}, openRooms)
	ref := qun.RoomRef{Tenant: "t", Room: "t:resume"} // openRooms lets anyone read kind "t"
	fillRoom(b, log, ref, 5000)
	head, _ := log.Last(context.Background(), ref)
	c := e.Connect(b, "t", "reader")
	b.ReportAllocs()
	for b.Loop() {
		qtest.Call(b, c, "sub", map[string]any{"room": ref.Room, "after": head - 1000}, nil)
		for want := head - 999; want <= head; want++ {
			if f := qtest.NextEvent(b, c, "bench.said"); f.Seq != want {
				b.Fatalf("seq %d, want %d", f.Seq, want)
			}
		}
		qtest.Call(b, c, "unsub", map[string]any{"room": ref.Room}, nil)
	}
}
