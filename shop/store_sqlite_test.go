package shop_test

import (
	"testing"

	"github.com/qunkit/qun/internal/qtest"
	"github.com/qunkit/qun/shop"
	"github.com/qunkit/qun/shop/shoptest"
)

func TestSQLiteStoreConformance(t *testing.T) {
	shoptest.RunStoreTests(t, func(t *testing.T) shop.Store {
		s, err := shop.NewSQLiteStore(qtest.SQLite(t), shop.SQLiteStoreConfig{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
