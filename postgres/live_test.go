package postgres_test

import (
	"context"
	"testing"

	"github.com/qunkit/qun/live"
	"github.com/qunkit/qun/live/livetest"
	"github.com/qunkit/qun/postgres"
	"github.com/qunkit/qun/postgres/pgtest"
)

func TestLiveStoreConformance(t *testing.T) {
	livetest.RunStoreTests(t, func(t *testing.T) live.Store {
		s, err := postgres.NewLiveStore(context.Background(), pgtest.NewPool(t))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
