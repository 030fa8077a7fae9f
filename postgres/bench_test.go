package postgres_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/logtest"
	"github.com/qunkit/qun/postgres"
	"github.com/qunkit/qun/postgres/pgtest"
)

// BenchmarkLogAppend measures durable appends of one event each, from many
// concurrent publishers into 64 rooms, as a busy node makes them: the
// writers group them into batched transactions.
func BenchmarkLogAppend(b *testing.B) {
	for _, par := range []int{1, 16, 64} {
		b.Run(fmt.Sprint("publishers=", par*2), func(b *testing.B) {
			st, err := postgres.NewLogStore(context.Background(), pgtest.NewPool(b), postgres.LogStoreConfig{})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			refs := make([]qun.RoomRef, 64)
			for i := range refs {
				refs[i] = logtest.Ref(fmt.Sprint("g:", i))
			}
			data := []byte(`{"text":"a typical chat message of some sixty bytes, more or less"}`)
			var next atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(par) // par × GOMAXPROCS goroutines
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					ref := refs[next.Add(1)%int64(len(refs))]
					ev := &qun.Event{Type: "chat.message", Actor: "u1", TS: 1, Data: data}
					if err := st.Append(ctx, ref, ev); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "appends/s")
		})
	}
}
