package shop_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/qunkit/qun/internal/qtest"
	"github.com/qunkit/qun/internal/sqlmigrate"
	"github.com/qunkit/qun/shop"
	"github.com/qunkit/qun/shop/shoptest"
)

func TestSQLiteStoreConformance(t *testing.T) {
	shoptest.RunStoreTests(t, func(t *testing.T) shop.Store {
		s, err := shop.NewSQLiteStore(qtest.SQLite(t))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// A database made by the first schema keeps its red packets and orders
// findable by the queries the second one added.
func TestSQLiteStoreUpgradeBackfills(t *testing.T) {
	db := qtest.SQLite(t)
	ctx := context.Background()
	if err := sqlmigrate.Apply(ctx, db, "shop.store", shop.SQLiteMigrationsForTest[:1]); err != nil {
		t.Fatal(err)
	}
	p, _ := json.Marshal(&shop.RedPacket{ID: "rp1", Tenant: "t1", Room: "live:1", Status: shop.PacketActive, ExpiresAt: 100})
	o, _ := json.Marshal(&shop.Order{ID: "o1", Tenant: "t1", Room: "live:1", Buyer: "bob", Product: "p1", Qty: 3, Status: shop.StatusPaid})
	if _, err := db.Exec(`INSERT INTO shop_redpackets (tenant, id, status, expires, data) VALUES ('t1','rp1','active',100,?)`, p); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO shop_orders (tenant, id, status, expires, room, sharer, total, pay_ref, pay_url, updated, data)
		VALUES ('t1','o1','paid',0,'live:1','',3,'','',0,?)`, o); err != nil {
		t.Fatal(err)
	}
	s, err := shop.NewSQLiteStore(db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	shoptest.CheckBackfilled(t, s)
}
