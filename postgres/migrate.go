package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrations holds each component's schema changes as
// migrations/<component>/<NNNN>_<what>.sql. Append new files; never edit one
// that has been released.
//
//go:embed migrations
var migrations embed.FS

// migrate applies component's migrations that the database (in the pool's
// search_path) has not recorded yet, in one transaction. An advisory lock
// makes nodes starting together take turns, so each migration runs once.
func migrate(ctx context.Context, pool *pgxpool.Pool, component string) error {
	files, err := migrationFiles(component)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('qun.migrate:' || current_schema(), 0))`); err != nil {
			return fmt.Errorf("postgres: migrate lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS qun_migrations (
			component  text        NOT NULL,
			version    int         NOT NULL,
			name       text        NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now(),
			PRIMARY KEY (component, version))`); err != nil {
			return fmt.Errorf("postgres: migrations table: %w", err)
		}
		var applied int
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM qun_migrations WHERE component = $1`, component).Scan(&applied); err != nil {
			return fmt.Errorf("postgres: read migrations: %w", err)
		}
		for _, f := range files {
			if f.version <= applied {
				continue
			}
			sql, err := migrations.ReadFile(f.path)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, string(sql)); err != nil {
				return fmt.Errorf("postgres: migration %s: %w", f.path, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO qun_migrations (component, version, name) VALUES ($1, $2, $3)`,
				component, f.version, path.Base(f.path)); err != nil {
				return fmt.Errorf("postgres: record migration %s: %w", f.path, err)
			}
		}
		return nil
	})
}

type migrationFile struct {
	version int
	path    string
}

// migrationFiles lists component's migrations in version order, checking
// that versions run 1, 2, 3... without holes or repeats.
func migrationFiles(component string) ([]migrationFile, error) {
	dir := path.Join("migrations", component)
	entries, err := fs.ReadDir(migrations, dir)
	if err != nil {
		return nil, fmt.Errorf("postgres: no migrations for %q: %w", component, err)
	}
	var files []migrationFile
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("postgres: migration %s/%s: want NNNN_name.sql", dir, e.Name())
		}
		files = append(files, migrationFile{v, path.Join(dir, e.Name())})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].version < files[j].version })
	for i, f := range files {
		if f.version != i+1 {
			return nil, fmt.Errorf("postgres: migration %s: want version %d", f.path, i+1)
		}
	}
	return files, nil
}
