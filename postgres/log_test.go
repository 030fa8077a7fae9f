package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/qunkit/qun"
	"github.com/qunkit/qun/logtest"
	"github.com/qunkit/qun/postgres"
	"github.com/qunkit/qun/postgres/pgtest"
)

func openLog(t *testing.T, pool *pgxpool.Pool, cfg postgres.LogStoreConfig) *postgres.LogStore {
	t.Helper()
	st, err := postgres.NewLogStore(context.Background(), pool, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestLogStoreConformance(t *testing.T) {
	logtest.Run(t,
		func(t *testing.T) qun.LogStore { return openLog(t, pgtest.NewPool(t), postgres.LogStoreConfig{}) },
		logtest.Reopen(func(t *testing.T) func(t *testing.T) qun.LogStore {
			url := pgtest.Schema(t)
			// Each store gets its own pool, as a restarted or another node does.
			return func(t *testing.T) qun.LogStore { return openLog(t, pgtest.Pool(t, url), postgres.LogStoreConfig{}) }
		}),
		logtest.MultiWriter())
}
