package postgres_test

import (
	"context"
	"testing"

	"github.com/qunkit/qun/chat"
	"github.com/qunkit/qun/chat/chattest"
	"github.com/qunkit/qun/postgres"
	"github.com/qunkit/qun/postgres/pgtest"
)

func TestChatStoreConformance(t *testing.T) {
	chattest.RunStoreTests(t, func(t *testing.T) chat.Store {
		s, err := postgres.NewChatStore(context.Background(), pgtest.NewPool(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
