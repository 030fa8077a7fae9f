package live_test

import (
	"testing"

	"github.com/qunkit/qun/internal/qtest"
	"github.com/qunkit/qun/live"
	"github.com/qunkit/qun/live/livetest"
)

func TestMemoryStore(t *testing.T) {
	livetest.RunStoreTests(t, func(*testing.T) live.Store { return live.NewMemoryStore() })
}

func TestSQLiteStore(t *testing.T) {
	livetest.RunStoreTests(t, func(t *testing.T) live.Store {
		s, err := live.NewSQLiteStore(qtest.SQLite(t))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
