package shop

import (
	"context"
	"sync"
	"time"

	"github.com/qunkit/qun"
	"go.uber.org/zap"
)

// MaxShelfItems bounds the products on one shelf.
const MaxShelfItems = 200

// RoomInput names a live room.
type RoomInput struct {
	Room qun.RoomID `json:"room" validate:"required,max=128"`
}

// ShelfProductInput names a product in a room's shelf.
type ShelfProductInput struct {
	Room    qun.RoomID `json:"room" validate:"required,max=128"`
	Product ProductID  `json:"product" validate:"required,max=64"`
	// PerUser, for AddToShelf only, sets the item's purchase limit per
	// user (ShelfItem.PerUser); zero keeps the product's.
	PerUser int64 `json:"per_user,omitempty" validate:"min=0,max=100000000"`
}

// OpenShelfInput attaches a shop's shelf to a live room.
type OpenShelfInput struct {
	Room qun.RoomID `json:"room" validate:"required,max=128"`
	Shop ShopID     `json:"shop" validate:"required,max=64"`
}

// ReorderInput gives the shelf's products in their new order: exactly the
// products now on the shelf.
type ReorderInput struct {
	Room     qun.RoomID  `json:"room" validate:"required,max=128"`
	Products []ProductID `json:"products" validate:"required,max=200,dive,required,max=64"`
}

// itemEvent is the data of shop.item.added.
type itemEvent struct {
	Item ShelfItem `json:"item"`
	Pos  int       `json:"pos"`
}

type explainEvent struct {
	Product ProductID `json:"product"`
	Title   string    `json:"title,omitempty"`
	Price   *Money    `json:"price,omitempty"`
	Image   string    `json:"image,omitempty"`
	// Reason of a stop: "stopped", "replaced" (another product started) or
	// "removed" (the product left the shelf).
	Reason string `json:"reason,omitempty"`
}

// OpenShelf attaches the shop's shelf to a live room. The caller must be a
// moderator (or the host) of the room and own the shop; the shop must be
// verified and have at least one product. Opening an already open shelf of
// the same shop returns it.
func (s *Service) OpenShelf(ctx context.Context, id *qun.Identity, in OpenShelfInput) (*Shelf, error) {
	if err := checkIdentity(id); err != nil {
		return nil, err
	}
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	if err := s.hub.RequireRole(ctx, id, in.Room, qun.RoleModerator); err != nil {
		return nil, err
	}
	sh, err := s.Shop(ctx, id.Tenant, in.Shop)
	if err != nil {
		return nil, err
	}
	if !ownsShop(id, sh) {
		return nil, qun.Errorf(qun.CodeForbidden, "only the shop's owner can open its shelf")
	}
	if !sh.Verified {
		return nil, qun.Errorf(qun.CodeForbidden, "the shop is not verified yet")
	}
	ps, err := s.catalog.Products(ctx, id.Tenant, in.Shop, 1)
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, qun.Errorf(qun.CodeConflict, "the shop has no products")
	}
	unlock, err := s.lockRoom(ctx, id.Tenant, in.Room)
	if err != nil {
		return nil, err
	}
	defer unlock()
	var out *Shelf
	var opened bool
	err = s.update(ctx, func(tx Tx) error {
		cur, err := tx.Shelf(id.Tenant, in.Room)
		if err == nil {
			if cur.Shop != in.Shop {
				return qun.Errorf(qun.CodeConflict, "another shop's shelf is open in this room")
			}
			out = cur
			return nil
		}
		if qun.ErrorCode(err) != qun.CodeNotFound {
			return err
		}
		out = &Shelf{Tenant: id.Tenant, Room: in.Room, Shop: in.Shop, Items: []ShelfItem{}, Opened: s.now()}
		if err := tx.PutShelf(out); err != nil {
			return err
		}
		opened = true
		return s.emit(tx, id.Tenant, "shelf.opened", out)
	})
	if err != nil {
		return nil, err
	}
	if opened {
		s.publish(ctx, id.Tenant, in.Room, "shop.shelf.opened", id.User, map[string]any{"shop": sh.ID, "name": sh.Name})
	}
	return out, nil
}

// Shelf returns a room's shelf with current stock. Viewers and above.
func (s *Service) Shelf(ctx context.Context, id *qun.Identity, room qun.RoomID) (*Shelf, error) {
	if err := checkIdentity(id); err != nil {
		return nil, err
	}
	if err := qun.ValidateVar("room", room, "required,max=128"); err != nil {
		return nil, err
	}
	if err := s.hub.RequireRole(ctx, id, room, qun.RoleViewer); err != nil {
		return nil, err
	}
	var out *Shelf
	err := s.view(ctx, func(tx Tx) (err error) {
		out, err = tx.Shelf(id.Tenant, room)
		if err != nil {
			return err
		}
		for i := range out.Items {
			out.Items[i].Stock, _, err = tx.Stock(id.Tenant, out.Items[i].Product)
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// editShelf is how every change to a room's shelf runs: it checks that id
// may manage the room, holds the room's lock (so that events go out in the
// order of the changes), runs edit on the shelf inside a write, stores the
// shelf if edit reports a change, and then calls publish, still under the
// lock. edit enqueues its webhook messages itself.
func (s *Service) editShelf(ctx context.Context, id *qun.Identity, room qun.RoomID, edit func(tx Tx, sh *Shelf) (changed bool, err error), publish func()) (*Shelf, error) {
	if err := checkIdentity(id); err != nil {
		return nil, err
	}
	if err := s.hub.RequireRole(ctx, id, room, qun.RoleModerator); err != nil {
		return nil, err
	}
	unlock, err := s.lockRoom(ctx, id.Tenant, room)
	if err != nil {
		return nil, err
	}
	defer unlock()
	var out *Shelf
	changed := false
	err = s.update(ctx, func(tx Tx) error {
		sh, err := tx.Shelf(id.Tenant, room)
		if err != nil {
			return noShelf(err)
		}
		out = sh
		if changed, err = edit(tx, sh); err != nil || !changed {
			return err
		}
		return tx.PutShelf(sh)
	})
	if err != nil {
		return nil, err
	}
	if changed && publish != nil {
		publish()
	}
	return out, nil
}

func noShelf(err error) error {
	if qun.ErrorCode(err) == qun.CodeNotFound {
		return qun.Errorf(qun.CodeNotFound, "no shelf is open in this room")
	}
	return err
}

// shelfMsg is the data of shelf webhook messages.
func shelfMsg(sh *Shelf, kv ...any) map[string]any {
	m := map[string]any{"tenant": sh.Tenant, "room": sh.Room}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

// AddToShelf puts one of the shelf's shop's products on the shelf. The
// first time a product goes on any shelf its stock ledger starts at the
// catalogue's Stock.
func (s *Service) AddToShelf(ctx context.Context, id *qun.Identity, in ShelfProductInput) (*Shelf, error) {
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	if err := checkIdentity(id); err != nil {
		return nil, err
	}
	// Refuse non-moderators before asking the catalogue (editShelf checks again).
	if err := s.hub.RequireRole(ctx, id, in.Room, qun.RoleModerator); err != nil {
		return nil, err
	}
	p, err := s.catalog.Product(ctx, id.Tenant, in.Product)
	if err != nil {
		return nil, err
	}
	var ev itemEvent
	return s.editShelf(ctx, id, in.Room, func(tx Tx, sh *Shelf) (bool, error) {
		if p.Shop != sh.Shop {
			return false, qun.Errorf(qun.CodeNotFound, "no such product in this shop")
		}
		if sh.index(p.ID) >= 0 {
			return false, qun.Errorf(qun.CodeConflict, "the product is already on the shelf")
		}
		if len(sh.Items) >= MaxShelfItems {
			return false, qun.Errorf(qun.CodeExhausted, "a shelf holds at most %d products", MaxShelfItems)
		}
		qty, ok, err := tx.Stock(id.Tenant, p.ID)
		if err != nil {
			return false, err
		}
		if !ok {
			qty = p.Stock
			if err := tx.SetStock(id.Tenant, p.ID, qty); err != nil {
				return false, err
			}
		}
		limit := in.PerUser
		if limit == 0 {
			limit = p.PerUser
		}
		ev = itemEvent{Item: ShelfItem{Product: p.ID, Title: p.Title, Price: p.Price, Image: p.Image, Stock: qty, PerUser: limit}, Pos: len(sh.Items)}
		sh.Items = append(sh.Items, ev.Item)
		return true, s.emit(tx, id.Tenant, "shelf.item_added", shelfMsg(sh, "item", ev.Item))
	}, func() {
		s.publish(ctx, id.Tenant, in.Room, "shop.item.added", id.User, ev)
	})
}

// RemoveFromShelf takes a product off the shelf, stopping its explanation
// if it was being explained.
func (s *Service) RemoveFromShelf(ctx context.Context, id *qun.Identity, in ShelfProductInput) (*Shelf, error) {
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	wasExplaining := false
	return s.editShelf(ctx, id, in.Room, func(tx Tx, sh *Shelf) (bool, error) {
		i := sh.index(in.Product)
		if i < 0 {
			return false, qun.Errorf(qun.CodeNotFound, "the product is not on the shelf")
		}
		sh.Items = append(sh.Items[:i], sh.Items[i+1:]...)
		if wasExplaining = sh.Explaining == in.Product; wasExplaining {
			sh.Explaining, sh.ExplainSince = "", 0
			if err := s.emit(tx, id.Tenant, "explain.stopped", shelfMsg(sh, "product", in.Product, "reason", "removed")); err != nil {
				return false, err
			}
		}
		return true, s.emit(tx, id.Tenant, "shelf.item_removed", shelfMsg(sh, "product", in.Product))
	}, func() {
		if wasExplaining {
			s.publish(ctx, id.Tenant, in.Room, "shop.explain.stop", id.User, explainEvent{Product: in.Product, Reason: "removed"})
		}
		s.publish(ctx, id.Tenant, in.Room, "shop.item.removed", id.User, map[string]any{"product": in.Product})
	})
}

// ReorderShelf puts the shelf's products in the given order, which must
// name each product on the shelf exactly once.
func (s *Service) ReorderShelf(ctx context.Context, id *qun.Identity, in ReorderInput) (*Shelf, error) {
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	bad := &qun.Error{Code: qun.CodeInvalid, Message: "products must list every product on the shelf exactly once", Field: "products"}
	return s.editShelf(ctx, id, in.Room, func(tx Tx, sh *Shelf) (bool, error) {
		if len(in.Products) != len(sh.Items) {
			return false, bad
		}
		items := make([]ShelfItem, 0, len(sh.Items))
		seen := make(map[ProductID]bool, len(in.Products))
		for _, p := range in.Products {
			i := sh.index(p)
			if i < 0 || seen[p] {
				return false, bad
			}
			seen[p] = true
			items = append(items, sh.Items[i])
		}
		sh.Items = items
		return true, s.emit(tx, id.Tenant, "shelf.reordered", shelfMsg(sh, "products", in.Products))
	}, func() {
		s.publish(ctx, id.Tenant, in.Room, "shop.shelf.reordered", id.User, map[string]any{"products": in.Products})
	})
}

// StartExplaining marks a shelf product as the one being explained now
// (正在讲解). Exactly one product is explained at a time: starting another
// replaces the current one, which gets a shop.explain.stop event with
// reason "replaced" just before the new shop.explain.start. (Replacing
// rather than refusing matches how a host works: tap the next product.)
// Starting the product already being explained changes nothing.
func (s *Service) StartExplaining(ctx context.Context, id *qun.Identity, in ShelfProductInput) (*Shelf, error) {
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	var prev ProductID
	var item ShelfItem
	return s.editShelf(ctx, id, in.Room, func(tx Tx, sh *Shelf) (bool, error) {
		i := sh.index(in.Product)
		if i < 0 {
			return false, qun.Errorf(qun.CodeNotFound, "the product is not on the shelf")
		}
		if sh.Explaining == in.Product {
			return false, nil
		}
		prev, item = sh.Explaining, sh.Items[i]
		sh.Explaining, sh.ExplainSince = in.Product, s.now()
		if prev != "" {
			if err := s.emit(tx, id.Tenant, "explain.stopped", shelfMsg(sh, "product", prev, "reason", "replaced")); err != nil {
				return false, err
			}
		}
		return true, s.emit(tx, id.Tenant, "explain.started", shelfMsg(sh, "product", in.Product))
	}, func() {
		if prev != "" {
			s.publish(ctx, id.Tenant, in.Room, "shop.explain.stop", id.User, explainEvent{Product: prev, Reason: "replaced"})
		}
		s.publish(ctx, id.Tenant, in.Room, "shop.explain.start", id.User, explainEvent{Product: item.Product, Title: item.Title, Price: &item.Price, Image: item.Image})
	})
}

// StopExplaining ends the current explanation; with none it changes nothing.
func (s *Service) StopExplaining(ctx context.Context, id *qun.Identity, in RoomInput) (*Shelf, error) {
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	var prev ProductID
	return s.editShelf(ctx, id, in.Room, func(tx Tx, sh *Shelf) (bool, error) {
		if prev = sh.Explaining; prev == "" {
			return false, nil
		}
		sh.Explaining, sh.ExplainSince = "", 0
		return true, s.emit(tx, id.Tenant, "explain.stopped", shelfMsg(sh, "product", prev, "reason", "stopped"))
	}, func() {
		s.publish(ctx, id.Tenant, in.Room, "shop.explain.stop", id.User, explainEvent{Product: prev, Reason: "stopped"})
	})
}

// SetStock sets a product's sellable quantity (the vendor's restock or
// correction); reserved units are not included.
func (s *Service) SetStock(ctx context.Context, tenant qun.TenantID, product ProductID, qty int64) error {
	if err := qun.ValidateVar("qty", qty, "min=0,max=100000000"); err != nil {
		return err
	}
	if _, err := s.catalog.Product(ctx, tenant, product); err != nil {
		return err
	}
	err := s.update(ctx, func(tx Tx) error {
		if err := tx.SetStock(tenant, product, qty); err != nil {
			return err
		}
		return s.emit(tx, tenant, "stock.set", map[string]any{"tenant": tenant, "product": product, "stock": qty})
	})
	if err == nil {
		s.stock.changed(tenant, product)
	}
	return err
}

// Stock returns a product's sellable quantity.
func (s *Service) Stock(ctx context.Context, tenant qun.TenantID, product ProductID) (int64, error) {
	var n int64
	err := s.view(ctx, func(tx Tx) error {
		var ok bool
		var err error
		n, ok, err = tx.Stock(tenant, product)
		if err == nil && !ok {
			err = notFound("stock for this product")
		}
		return err
	})
	return n, err
}

// stockNotifier publishes stock changes to the rooms whose shelves hold
// the product, as ephemeral shop.stock events: stock is state, not
// history, and a sale of thousands per second must not become thousands of
// log entries. Changes are coalesced to one event per product per
// StockInterval; a reconnecting client reads current stock with shop.shelf.
//
// It also keeps the sold-out hints that let Buy refuse at once, without a
// write transaction, once a product's stock is zero: after a flash sale
// sells out, thousands of late buyers would otherwise queue behind the
// store's single writer. A hint is dropped by the next change of that
// product's stock, and is only set if no stock changed anywhere since the
// failed reservation began (gen), so a hint never outlives a restock by
// more than the moment between its commit and its changed call.
type stockNotifier struct {
	s       *Service
	mu      sync.Mutex
	dirty   map[stockKey]struct{}
	soldOut map[stockKey]struct{}
	gen     uint64 // counts stock changes
	kick    chan struct{}
}

type stockKey struct {
	tenant  qun.TenantID
	product ProductID
}

func newStockNotifier(s *Service) *stockNotifier {
	return &stockNotifier{s: s, dirty: map[stockKey]struct{}{}, soldOut: map[stockKey]struct{}{}, kick: make(chan struct{}, 1)}
}

// changed is called after every committed change of a product's stock.
func (n *stockNotifier) changed(tenant qun.TenantID, product ProductID) {
	k := stockKey{tenant, product}
	n.mu.Lock()
	n.gen++
	delete(n.soldOut, k)
	n.dirty[k] = struct{}{}
	n.mu.Unlock()
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// generation returns the current count of stock changes.
func (n *stockNotifier) generation() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.gen
}

// markSoldOut records that product had no stock at generation gen.
func (n *stockNotifier) markSoldOut(tenant qun.TenantID, product ProductID, gen uint64) {
	n.mu.Lock()
	if n.gen == gen {
		n.soldOut[stockKey{tenant, product}] = struct{}{}
	}
	n.mu.Unlock()
}

func (n *stockNotifier) isSoldOut(tenant qun.TenantID, product ProductID) bool {
	n.mu.Lock()
	_, ok := n.soldOut[stockKey{tenant, product}]
	n.mu.Unlock()
	return ok
}

func (n *stockNotifier) run() {
	defer n.s.wg.Done()
	ctx := n.s.ctx
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.kick:
		}
		n.flush(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(n.s.cfg.StockInterval):
		}
	}
}

func (n *stockNotifier) flush(ctx context.Context) {
	n.mu.Lock()
	dirty := n.dirty
	n.dirty = map[stockKey]struct{}{}
	n.mu.Unlock()
	for k := range dirty {
		var qty int64
		var rooms []qun.RoomID
		err := n.s.store.View(ctx, func(tx Tx) (err error) {
			if qty, _, err = tx.Stock(k.tenant, k.product); err != nil {
				return err
			}
			rooms, err = tx.ShelvesWith(k.tenant, k.product, 100)
			return err
		})
		if err != nil {
			if ctx.Err() == nil {
				n.s.log.Warn("shop: read stock for event", zap.Error(err))
			}
			continue
		}
		for _, r := range rooms {
			ref := qun.RoomRef{Tenant: k.tenant, Room: r}
			if err := n.s.hub.PublishEphemeral(ctx, ref, qun.Draft{Type: "shop.stock", Data: map[string]any{"product": k.product, "stock": qty}}); err != nil && ctx.Err() == nil {
				n.s.log.Debug("shop: publish stock", zap.Error(err))
			}
		}
	}
}
