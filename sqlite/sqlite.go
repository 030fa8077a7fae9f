// Package sqlite opens the embedded SQLite database (modernc.org/sqlite,
// pure Go, no cgo) that qun's durable stores use by default.
//
// One *sql.DB is shared by all stores of a process; pass it to
// qun.NewSQLiteLogStore, chat.NewSQLiteStore and the other SQLite stores.
// Only one process may write a database file at a time.
//
// Durability: the database runs in WAL mode with synchronous=FULL, so a
// committed transaction survives a process crash and a power loss. Stores
// that take many small writes (the room log) batch them into one commit, so
// the fsync cost is shared.
package sqlite

import (
	"database/sql"
	"fmt"
	"net/url"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Open opens (creating if needed) the SQLite database at path with qun's
// settings. path ":memory:" is refused: several connections would each see
// their own empty database; use a file in t.TempDir() in tests.
func Open(path string) (*sql.DB, error) {
	if path == "" || path == ":memory:" {
		return nil, fmt.Errorf("sqlite: a file path is required")
	}
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)", "foreign_keys(1)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate") // write transactions take the lock up front: no upgrade deadlocks
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return db, nil
}
