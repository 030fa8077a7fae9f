package logtest_test

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/qtest"
	"github.com/qunkit/qun/logtest"
	"github.com/qunkit/qun/sqlite"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestMemoryLogStore(t *testing.T) {
	logtest.Run(t,
		func(t *testing.T) qun.LogStore { return qun.NewMemoryLogStore(qun.MemoryLogStoreConfig{}) },
		logtest.Trimming(1000, func(t *testing.T) qun.LogStore {
			return qun.NewMemoryLogStore(qun.MemoryLogStoreConfig{MaxEventsPerRoom: 1000})
		}))
}

func TestSQLiteLogStore(t *testing.T) {
	logtest.Run(t, func(t *testing.T) qun.LogStore { return openSQLite(t, qtest.SQLite(t)) },
		logtest.Reopen(func(t *testing.T) func(t *testing.T) qun.LogStore {
			path := filepath.Join(t.TempDir(), "qun.db")
			// Each store gets its own *sql.DB, as after a restart.
			return func(t *testing.T) qun.LogStore {
				db, err := sqlite.Open(path)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				return openSQLite(t, db)
			}
		}))
}

func openSQLite(t *testing.T, db *sql.DB) qun.LogStore {
	t.Helper()
	st, err := qun.NewSQLiteLogStore(db, qun.SQLiteLogStoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestMemoryBroker(t *testing.T) {
	logtest.RunBroker(t, func(t *testing.T) qun.Broker { return qun.NewMemoryBroker() })
}
