package postgres_test

import (
	"context"
	"testing"

	"github.com/qunkit/qun/postgres"
	"github.com/qunkit/qun/postgres/pgtest"
	"github.com/qunkit/qun/whiteboard"
	"github.com/qunkit/qun/whiteboard/whiteboardtest"
)

func TestWhiteboardStoreConformance(t *testing.T) {
	whiteboardtest.RunStoreTests(t, func(t *testing.T) whiteboard.Store {
		s, err := postgres.NewWhiteboardStore(context.Background(), pgtest.NewPool(t))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
