package chat_test

import (
	"testing"

	"github.com/qunkit/qun/chat"
	"github.com/qunkit/qun/chat/chattest"
	"github.com/qunkit/qun/internal/qtest"
)

func TestSQLiteStore(t *testing.T) {
	chattest.RunStoreTests(t, func(t *testing.T) chat.Store {
		s, err := chat.NewSQLiteStore(qtest.SQLite(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
