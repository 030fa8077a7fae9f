package postgres_test

import (
	"context"
	"testing"

	"github.com/qunkit/qun/postgres"
	"github.com/qunkit/qun/postgres/pgtest"
	"github.com/qunkit/qun/replay"
	"github.com/qunkit/qun/replay/replaytest"
)

func TestReplayStoreConformance(t *testing.T) {
	replaytest.RunStoreTests(t, func(t *testing.T) replay.Store {
		s, err := postgres.NewReplayStore(context.Background(), pgtest.NewPool(t))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
