// Package pgtest gives tests a PostgreSQL schema of their own: a fresh
// schema per test on the server at QUN_POSTGRES_URL (default
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable), dropped when the
// test ends, so that runs never collide. When the server cannot be reached
// the test is skipped with the reason, unless CI=true, where it fails: CI
// must run the PostgreSQL suites, not skip them.
package pgtest

import (
	"context"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/qunkit/qun"
)

// DefaultURL is used when QUN_POSTGRES_URL is not set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// URL returns the server's URL from QUN_POSTGRES_URL or DefaultURL.
func URL() string {
	if u := os.Getenv("QUN_POSTGRES_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// Unreachable skips t (fails it when CI=true) because of err.
func Unreachable(t testing.TB, what string, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s unreachable and CI=true: %v", what, err)
	}
	t.Skipf("%s unreachable, skipping (CI=true makes this a failure): %v", what, err)
}

// Schema creates an empty schema and returns a connection URL whose
// search_path is that schema. The schema is dropped when t ends.
func Schema(t testing.TB) string {
	t.Helper()
	base := URL()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		Unreachable(t, "PostgreSQL at "+redact(base)+" (QUN_POSTGRES_URL)", err)
	}
	defer conn.Close(context.Background())
	schema := "qun_test_" + strings.ToLower(qun.NewID())
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("QUN_POSTGRES_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Pool opens a pool on connURL (from Schema), closed when t ends.
func Pool(t testing.TB, connURL string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), connURL)
	if err != nil {
		t.Fatalf("pgxpool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// NewPool is Pool(t, Schema(t)): a pool on a fresh schema.
func NewPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return Pool(t, Schema(t))
}

func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
