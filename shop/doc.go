// Package shop is live selling for qun (features S1–S9): shops, the product
// shelf of a live room, "now explaining", coupons, orders with flash-sale
// stock reservations, tips and red packets with leaderboards, share
// attribution, batch shipping, and signed webhooks for every business event.
//
// qun never owns payment or fulfilment. Products come from the vendor's
// catalogue (Catalog; SQLiteCatalog is the built-in one); orders, tips and
// red packets are handed to the vendor's cashier (Config.Checkout), which
// answers a payment reference or a URL; the vendor reports the outcome with
// Service.UpdatePayment or the signed HTTP CallbackHandler, ships with
// Service.Ship, and learns of everything through webhooks.
//
// # Rooms and roles
//
// A shelf attaches to a room the shop does not own ("live:<id>", owned by
// the live package): who may do what is asked of the Hub
// (qun.Hub.RequireRole). Moderators and the owner (the host) open and
// manage the shelf, explain products and issue coupons; viewers and above
// read the shelf, buy, claim, tip and share. Opening a shelf also needs the
// caller to own the shop (or hold qun.GrantAdmin), the shop to be verified
// by the vendor (VerifyShop), and its catalogue to hold a product.
//
// Now explaining is exactly one product at a time. Starting another
// replaces the current one: shop.explain.stop (reason "replaced") then
// shop.explain.start, both durable room events, so viewers and the replay
// timeline see the same sequence. Shelf changes, explanations, coupons,
// tips and red packets are durable room events (hub.Publish); a viewer
// arriving later reads the red packets still open with OpenRedPackets
// (shop.redpackets). Stock is state rather than history, so stock changes
// are ephemeral shop.stock events, coalesced to one per product per
// Config.StockInterval.
//
// # Orders and stock
//
// Buy reserves stock in a durable write, then calls Checkout. The
// reservation holds the stock for Config.ReservationTTL; a sweeper owned by
// the Service returns expired reservations to stock. Stock is taken inside
// the store's single write transaction with a check that it stays ≥ 0 (and
// a CHECK constraint), so it is never oversold. Once a product's stock is
// zero, later buyers are refused from memory without a write, until the
// next stock change. A shelf item (or its catalogue product) may carry a
// purchase limit per user (限购, ShelfItem.PerUser): the user's reserved,
// paid and shipped orders of the product are counted in the same write
// transaction as the stock, so concurrent buys never exceed it, and a
// cancelled or expired order frees its quantity. A payment that arrives after its order expired or was
// cancelled answers CodeExpired and the vendor refunds it; a paid order
// cannot expire, but the vendor may cancel it (a refund), which also
// returns the stock.
//
// # Idempotency
//
// Every create call (shop.create, coupon.issue, coupon.claim, buy, tip,
// redpacket.send, redpacket.claim) requires a key, scoped to the tenant,
// the user and the operation. The same key with the same request answers
// the object the first call created (as it is now); the same key with
// another request answers CodeConflict. Failed calls are not remembered,
// so a retry after an error runs again. Keys are kept Config.IdempotencyTTL.
//
// # Webhooks
//
// Every business change enqueues its webhook message in the same store
// transaction as the change (Tx.Enqueue), so a message exists if and only
// if the change committed. A deliverer goroutine fans each message out to
// the endpoints that want it and POSTs it signed per Standard Webhooks
// (webhook-id, webhook-timestamp, webhook-signature "v1,<base64
// HMAC-SHA256(id.timestamp.body)>", one signature per secret during a
// rotation). Failures are retried with exponential backoff and jitter
// (WebhookConfig), later if the endpoint's Retry-After asks; an endpoint
// answering 410 Gone is disabled (its pending deliveries wait for
// EnableEndpoint; messages enqueued while it is disabled are not sent to
// it). Delivery is at least once and not in order: an attempt cut short by
// Close is made again after a restart, and retries overtake; receivers
// dedupe on webhook-id and order by the data's own fields. Verifier and
// Verify check signatures on the receiving side, in constant time with a
// timestamp tolerance.
//
// On several nodes, one Service per node shares one Store (PostgreSQL) and
// every node's deliverer runs. Each attempt is claimed in the store first
// (Tx.ClaimDeliveries moves the delivery's NextAt to the end of a lease of
// 3 × WebhookConfig.Timeout, in a write transaction), so exactly one node
// makes each attempt; fan-out re-reads its cursor inside its write
// transaction, so no delivery is created twice. A node that dies holding
// claims delays those deliveries until their leases lapse; one that
// closes gives its unstarted claims back. CPU per delivery is unchanged
// by claiming (one more commit per 2 × Concurrency deliveries).
//
// Message types: shop.created, shop.verified, shop.unverified,
// shelf.opened, shelf.item_added, shelf.item_removed, shelf.reordered,
// explain.started, explain.stopped, stock.set, coupon.issued,
// coupon.claimed, order.reserved, order.paid, order.cancelled,
// order.expired, order.shipped, tip.created, tip.paid, tip.cancelled,
// red_packet.created, red_packet.paid, red_packet.cancelled,
// red_packet.claimed, red_packet.expired (data carries the refund),
// share.visited. The body is {"type","timestamp","data"}; data always
// carries the tenant.
//
// # Storage and durability
//
// Store is the persistence interface (shoptest.RunStoreTests is its
// conformance suite); NewSQLiteStore is the embedded one on the shared
// database from sqlite.Open, postgres.NewShopStore the clustered one.
// Config.Store and Config.Catalog are both required, as Config.Store is in
// chat, live, whiteboard and replay: the vendor makes them and closes them
// after the Service,
//
//	store, err := shop.NewSQLiteStore(db)     // db from sqlite.Open
//	catalog, err := shop.NewSQLiteCatalog(db) // or the vendor's own Catalog
//	svc, err := shop.New(shop.Config{Hub: hub, Store: store, Catalog: catalog})
//
// There is no Config.DB shortcut that builds them inside New: a Service that
// owned its store would close it in an order the vendor does not see, and
// the vendor usually needs the catalogue itself (PutProduct) anyway.
// NewSQLiteStore(db) has the shape of every package's embedded store
// constructor (concrete type, no ctx, no options): its one tuning knob, the
// batch bound (512 Updates per transaction), is fixed.
//
// SQLite has one writer, so the store runs every
// Update through one goroutine that commits all waiting Updates in one
// transaction (each in a savepoint, so one failure rolls back only its own
// writes); every caller returns after that COMMIT, which is durable (WAL,
// synchronous=FULL). Reads run on the pool outside the writer.
//
// # Lifecycle and concurrency
//
// New registers the "shop.*" ops on the Hub and starts three goroutines:
// the sweeper, the stock publisher and the webhook deliverer (plus at most
// WebhookConfig.Concurrency attempt goroutines). Close stops and waits for
// all of them; the store and catalogue stay open (the caller's). All
// methods are safe for concurrent use; changes to one room's shelf are
// serialised so that its events are published in the order of the changes
// (by an in-memory lock, or across nodes by Config.Locker).
//
// # Performance
//
// Measured with
//
//	go test -run '^$' -bench . -benchtime 30x ./shop
//
// on the project's build machine: 2 cores shared with other jobs (load
// average 4 to 14 during the runs, so wall-clock rates vary by a factor of
// four between runs), modernc SQLite on local disk, WAL, synchronous=FULL.
//
//	BenchmarkBuyOneHotProduct  1,500–10,400 durable reservations/s (best runs 9,400 and 10,400;
//	                           ≈ 150 µs of CPU per reservation in all goroutines, about half
//	                           of it in the store's single writer)
//	BenchmarkWebhookDelivery   1,200–8,200 signed deliveries/s to a local endpoint (best 8,170;
//	                           ≈ 170 µs of CPU per delivery, the receiving server included)
//
// BenchmarkBuyOneHotProduct runs 256 buyers at a time on one product; each
// Buy reserves (one commit), calls Checkout and records its answer (a
// second commit), and returns only once both are durable. The 5,000/s goal
// is met whenever the benchmark has the two cores to itself; the writer's
// share of the CPU bounds a dedicated core at about 14,000 reservations/s.
package shop
