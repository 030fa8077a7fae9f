package shop

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/sqlmigrate"
)

// Catalog is where products come from: the vendor's own product catalogue.
// A vendor with a commerce system implements it over that system; the
// built-in SQLiteCatalog serves vendors (and examples) without one.
// Implementations answer CodeNotFound for products not in tenant.
type Catalog interface {
	// Product returns one product.
	Product(ctx context.Context, tenant qun.TenantID, id ProductID) (*Product, error)
	// Products lists up to limit products of a shop, in a stable order.
	Products(ctx context.Context, tenant qun.TenantID, shop ShopID, limit int) ([]*Product, error)
}

// SQLiteCatalog is the built-in Catalog, on the same database as the store.
// The vendor fills it with PutProduct.
type SQLiteCatalog struct {
	db   *sql.DB
	byID *sql.Stmt // prepared once: Product is on every buyer's path
}

// NewSQLiteCatalog creates the catalogue table on db if needed.
func NewSQLiteCatalog(db *sql.DB) (*SQLiteCatalog, error) {
	if err := sqlmigrate.Apply(context.Background(), db, "shop.catalog", []string{`
CREATE TABLE shop_products (tenant TEXT NOT NULL, id TEXT NOT NULL, shop TEXT NOT NULL, data BLOB NOT NULL,
	PRIMARY KEY (tenant, id)) WITHOUT ROWID;
CREATE INDEX shop_products_shop ON shop_products (tenant, shop, id);`}); err != nil {
		return nil, err
	}
	st, err := db.Prepare(`SELECT data FROM shop_products WHERE tenant=? AND id=?`)
	if err != nil {
		return nil, fmt.Errorf("shop: prepare catalog: %w", err)
	}
	return &SQLiteCatalog{db: db, byID: st}, nil
}

// Close releases the prepared statement; the database stays open.
func (c *SQLiteCatalog) Close() error { return c.byID.Close() }

// PutProduct adds or replaces a product after validating it.
func (c *SQLiteCatalog) PutProduct(ctx context.Context, p *Product) error {
	if err := qun.Validate(p); err != nil {
		return err
	}
	if p.Price.Amount < 1 {
		return &qun.Error{Code: qun.CodeInvalid, Message: "price must be at least 1", Field: "price.amount"}
	}
	_, err := c.db.ExecContext(ctx, `INSERT OR REPLACE INTO shop_products (tenant, id, shop, data) VALUES (?,?,?,?)`,
		string(p.Tenant), string(p.ID), string(p.Shop), mustJSON(p))
	if err != nil {
		return fmt.Errorf("shop: put product: %w", err)
	}
	return nil
}

// DeleteProduct removes a product from the catalogue.
func (c *SQLiteCatalog) DeleteProduct(ctx context.Context, tenant qun.TenantID, id ProductID) error {
	res, err := c.db.ExecContext(ctx, `DELETE FROM shop_products WHERE tenant=? AND id=?`, string(tenant), string(id))
	if err != nil {
		return fmt.Errorf("shop: delete product: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("product")
	}
	return nil
}

// Product implements Catalog.
func (c *SQLiteCatalog) Product(ctx context.Context, tenant qun.TenantID, id ProductID) (*Product, error) {
	var data []byte
	err := c.byID.QueryRowContext(ctx, string(tenant), string(id)).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("product")
	}
	if err != nil {
		return nil, fmt.Errorf("shop: product: %w", err)
	}
	var p Product
	return &p, json.Unmarshal(data, &p)
}

// Products implements Catalog.
func (c *SQLiteCatalog) Products(ctx context.Context, tenant qun.TenantID, shop ShopID, limit int) ([]*Product, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT data FROM shop_products WHERE tenant=? AND shop=? ORDER BY id LIMIT ?`,
		string(tenant), string(shop), limit)
	if err != nil {
		return nil, fmt.Errorf("shop: products: %w", err)
	}
	defer rows.Close()
	var out []*Product
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return nil, err
		}
		p := &Product{}
		if err := json.Unmarshal(data, p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}
