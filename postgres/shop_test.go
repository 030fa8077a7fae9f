package postgres_test

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/postgres"
	"github.com/qunkit/qun/postgres/pgtest"
	"github.com/qunkit/qun/shop"
	"github.com/qunkit/qun/shop/shoptest"
)

func TestShopStoreConformance(t *testing.T) {
	shoptest.RunStoreTests(t, func(t *testing.T) shop.Store {
		s, err := postgres.NewShopStore(context.Background(), pgtest.NewPool(t), postgres.ShopStoreConfig{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// Two nodes' stores on one database sell one product's stock: never more
// than there is, every sale with its outbox message.
func TestShopStoreTwoNodes(t *testing.T) {
	url := pgtest.Schema(t)
	var stores []*postgres.ShopStore
	for range 2 {
		s, err := postgres.NewShopStore(context.Background(), pgtest.Pool(t, url), postgres.ShopStoreConfig{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores = append(stores, s)
	}
	ctx := context.Background()
	if err := stores[0].Update(ctx, func(tx shop.Tx) error { return tx.SetStock("t1", "p1", 100) }); err != nil {
		t.Fatal(err)
	}
	var sold, soldOut atomic.Int64
	var wg sync.WaitGroup
	for g := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				err := stores[(g+i)%2].Update(ctx, func(tx shop.Tx) error {
					if _, err := tx.AddStock("t1", "p1", -1); err != nil {
						return err
					}
					return tx.Enqueue(&shop.Message{ID: fmt.Sprint("m", g, "-", i), Tenant: "t1", Type: "order.reserved", Body: []byte("{}")})
				})
				switch qun.ErrorCode(err) {
				case "":
					sold.Add(1)
				case qun.CodeExhausted:
					soldOut.Add(1)
				default:
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if sold.Load() != 100 || soldOut.Load() != 100 {
		t.Fatalf("sold %d, sold out %d; want 100 and 100", sold.Load(), soldOut.Load())
	}
	err := stores[1].View(ctx, func(tx shop.Tx) error {
		ms, err := tx.Messages(0, 1000)
		if err != nil {
			return err
		}
		if len(ms) != 100 {
			t.Fatalf("%d outbox messages for 100 sales", len(ms))
		}
		for i := 1; i < len(ms); i++ {
			if ms[i].Seq <= ms[i-1].Seq {
				t.Fatalf("outbox seqs out of order: %d then %d", ms[i-1].Seq, ms[i].Seq)
			}
		}
		n, _, err := tx.Stock("t1", "p1")
		if n != 0 {
			t.Fatalf("stock %d, %v", n, err)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A fn that ignores a failed statement cannot commit what it wrote (the
// transaction was aborted); the other fns of its batch are unaffected.
func TestShopStoreIgnoredFailure(t *testing.T) {
	s, err := postgres.NewShopStore(context.Background(), pgtest.NewPool(t), postgres.ShopStoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Update(ctx, func(tx shop.Tx) error { return tx.SetStock("t1", "big", math.MaxInt64) }); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 50)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Update(ctx, func(tx shop.Tx) error {
				if err := tx.PutShop(&shop.Shop{ID: shop.ShopID(fmt.Sprint("s", i)), Tenant: "t1"}); err != nil {
					return err
				}
				if i%10 == 3 {
					_, _ = tx.AddStock("t1", "big", 1) // overflows: the statement fails
				}
				return nil
			})
		}()
	}
	wg.Wait()
	err = s.View(ctx, func(tx shop.Tx) error {
		for i, err := range errs {
			_, gone := tx.Shop("t1", shop.ShopID(fmt.Sprint("s", i)))
			if i%10 == 3 {
				if err == nil || gone == nil {
					t.Errorf("update %d ignored a failed statement: err %v, its shop kept: %v", i, err, gone == nil)
				}
			} else if err != nil || gone != nil {
				t.Errorf("update %d: %v, %v", i, err, gone)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
