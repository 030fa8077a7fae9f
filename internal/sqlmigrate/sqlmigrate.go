// Package sqlmigrate applies a component's ordered schema migrations to a
// SQLite database once each, recording them in qun_migrations. Stores call
// Apply from their constructor with migrations embedded as Go strings:
// append new ones, never edit applied ones.
package sqlmigrate

import (
	"context"
	"database/sql"
	"fmt"
)

// Apply runs migrations[v] for every v not yet recorded for component, each
// in its own transaction, in order.
func Apply(ctx context.Context, db *sql.DB, component string, migrations []string) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS qun_migrations (
		component TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (component, version))`); err != nil {
		return fmt.Errorf("sqlmigrate: %w", err)
	}
	for v, m := range migrations {
		if err := apply(ctx, db, component, v+1, m); err != nil {
			return fmt.Errorf("sqlmigrate: %s v%d: %w", component, v+1, err)
		}
	}
	return nil
}

func apply(ctx context.Context, db *sql.DB, component string, version int, stmt string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM qun_migrations WHERE component=? AND version=?`, component, version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, stmt); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO qun_migrations (component, version) VALUES (?, ?)`, component, version); err != nil {
		return err
	}
	return tx.Commit()
}
