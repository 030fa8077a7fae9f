package shop_test

import (
	"context"
	"strings"
	"testing"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/qtest"
	"github.com/qunkit/qun/shop"
)

// Store and Catalog are both required (no DB shortcut), and Close leaves
// them to their owner: the store still commits after the Service is gone.
func TestConfigStoreAndCatalogAreTheCallers(t *testing.T) {
	db := qtest.SQLite(t)
	store, err := shop.NewSQLiteStore(db)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	cat, err := shop.NewSQLiteCatalog(db)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	qtest.NewEnv(t, qun.Config{}, func(e *qtest.Env) {
		for _, c := range []struct {
			cfg  shop.Config
			want string
		}{
			{shop.Config{Hub: e.Hub, Catalog: cat}, "Store is required"},
			{shop.Config{Hub: e.Hub, Store: store}, "Catalog is required"},
		} {
			if _, err := shop.New(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("New: %v; want %q", err, c.want)
			}
		}
		svc, err := shop.New(shop.Config{Hub: e.Hub, Store: store, Catalog: cat})
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.Close(); err != nil {
			t.Fatal(err)
		}
	})
	if err := store.Update(context.Background(), func(shop.Tx) error { return nil }); err != nil {
		t.Fatalf("store after the Service's Close: %v", err)
	}
	if _, err := cat.Product(context.Background(), "t1", "none"); qun.ErrorCode(err) != qun.CodeNotFound {
		t.Fatalf("catalog after the Service's Close: %v", err)
	}
}
