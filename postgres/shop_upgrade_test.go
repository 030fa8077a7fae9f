package postgres_test

import (
	"context"
	"os"
	"testing"

	"github.com/qunkit/qun/postgres"
	"github.com/qunkit/qun/postgres/pgtest"
	"github.com/qunkit/qun/shop/shoptest"
)

// A database at the first shop schema keeps its red packets and orders
// findable by the queries migration 0002 added (its backfill).
func TestShopStoreUpgradeBackfills(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	v1, err := os.ReadFile("migrations/shop/0001_shop.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{string(v1),
		`CREATE TABLE qun_migrations (component text NOT NULL, version int NOT NULL, name text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (component, version))`,
		`INSERT INTO qun_migrations (component, version, name) VALUES ('shop', 1, '0001_shop.sql')`,
		`INSERT INTO shop_redpackets (tenant, id, status, expires, data)
			VALUES ('t1', 'rp1', 'active', 100, '{"id":"rp1","tenant":"t1","room":"live:1","status":"active","expires_at":100}')`,
		`INSERT INTO shop_orders (tenant, id, status, expires, room, sharer, total, data)
			VALUES ('t1', 'o1', 'paid', 0, 'live:1', '', 3, '{"id":"o1","tenant":"t1","buyer":"bob","product":"p1","qty":3,"status":"paid"}')`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q[:min(len(q), 60)], err)
		}
	}
	s, err := postgres.NewShopStore(ctx, pool, postgres.ShopStoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	shoptest.CheckBackfilled(t, s)
}
