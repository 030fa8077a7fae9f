package replay_test

import (
	"testing"

	"github.com/qunkit/qun/internal/qtest"
	"github.com/qunkit/qun/replay"
	"github.com/qunkit/qun/replay/replaytest"
)

func TestSQLiteStore(t *testing.T) {
	replaytest.RunStoreTests(t, func(t *testing.T) replay.Store {
		s, err := replay.NewSQLiteStore(qtest.SQLite(t))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestFSStorage(t *testing.T) {
	replaytest.RunStorageTests(t, func(t *testing.T) replay.Storage {
		s, err := replay.NewFSStorage(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
