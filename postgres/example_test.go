package postgres_test

import (
	"context"
	"log"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/qunkit/qun"
	"github.com/qunkit/qun/postgres"
)

// A node keeps its rooms' event logs in PostgreSQL. Every node of a
// deployment does the same with the same database. (Not run as a test: it
// needs a server; TestLogStoreConformance runs the store against one.)
func ExampleNewLogStore() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres://qun@db.internal:5432/qun")
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	logStore, err := postgres.NewLogStore(ctx, pool, postgres.LogStoreConfig{})
	if err != nil {
		log.Fatal(err)
	}
	defer logStore.Close() // before pool.Close: deferred calls run last-in first-out
	hub, err := qun.NewHub(qun.Config{Authenticator: authenticator(), Log: logStore})
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Close()
}

func authenticator() qun.Authenticator {
	tokens, err := qun.NewTokens(qun.TokenConfig{Secret: []byte("a secret of at least 32 bytes....")})
	if err != nil {
		log.Fatal(err)
	}
	return tokens
}
