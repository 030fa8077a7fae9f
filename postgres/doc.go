// Package postgres holds qun's PostgreSQL stores (pgx/v5, pgxpool), for
// deployments of several nodes sharing one database:
//
//	NewLogStore         qun.LogStore: the room event log
//	NewChatStore        chat.Store
//	NewLiveStore        live.Store
//	NewWhiteboardStore  whiteboard.Store
//	NewShopStore        shop.Store
//	NewReplayStore      replay.Store (metadata; media files stay in a replay.Storage)
//	NewRegistry         which node runs which room (a live's media), with leases
//	NewRoomLocker       chat, whiteboard and shop Locker: a lock per room for all nodes
//
// A vendor who does not use PostgreSQL never compiles this package in.
//
// # Lifecycle
//
// The vendor opens a *pgxpool.Pool (its search_path chooses the schema) and
// passes it to the constructors, which apply their embedded, versioned
// migrations (migrations/<component>/NNNN_name.sql, recorded in
// qun_migrations; an advisory lock lets nodes that start together take
// turns). Close each store before the pool; Close is idempotent and stops
// every goroutine the store started. The pool stays the vendor's.
//
// # The room log (LogStore)
//
// Appends from all rooms go to a queue; Writers goroutines (default 2) take
// whatever is waiting (up to MaxBatch events) and append it in one SQL
// statement, hence one round trip and one commit for the whole batch. An
// Append returns when its batch has committed, under the server's
// synchronous_commit (on by default: the events are on disk).
//
// Sequence numbers come from a counter row per room (qun_log_rooms), bumped
// by INSERT ... ON CONFLICT DO UPDATE in the same statement that stores the
// events. Its row lock is held until commit, so any number of nodes may append
// to the same room: seqs stay consecutive, and a reader never sees seq n+1
// before seq n. Batches lock rooms in one order, so nodes do not deadlock
// (should the server still report one, the batch is retried).
//
// Durability edge: if the connection breaks while a batch commits, its
// appends answer an error though the server may have committed them; the
// events are then in the log, and clients see them. A batch the server
// refused is retried append by append, so one bad append fails alone.
//
// Retention is the vendor's: deleting a room's oldest rows from
// qun_log_events is safe; reading from before them answers too_old.
//
// # Feature stores
//
// Each passes its package's conformance suite (chattest, livetest,
// whiteboardtest, shoptest, replaytest) and keeps the SQLite store's behaviour: ids that page
// lists are COLLATE "C" (byte order, whatever the database locale), JSON is
// kept byte for byte. Where the SQLite store relied on SQLite's single
// writer, the PostgreSQL one takes a transaction-scoped advisory lock
// instead, so that nodes take turns: chat.Store.Update per tenant (its
// read-check-write sequences: member limits, code uses), whiteboard board
// creation per room (the boards-per-room limit), and every shop.Store batch
// (one lock for all shop writes, as SQLite's one writer: stock, coupons and
// order states need no row locks, and outbox seqs commit in seq order, so
// the webhook dispatcher's cursor never skips a message that commits late).
// Other writes lock the rows they change (live.Store.Update reads FOR
// UPDATE). The shop store batches Updates into one transaction like the
// SQLite one, each fn in a savepoint; a fn that ignores a failed statement
// is rolled back and told so, since PostgreSQL aborts the transaction.
//
// What the stores cannot give alone: chat and shop order a room's changes
// with their events, and whiteboard validates against its in-memory copy
// of a board, under a lock per room. On several nodes that lock must be
// shared: pass a RoomLocker as chat.Config.Locker, whiteboard.Config.Locker
// and shop.Config.Locker.
//
// # RoomLocker
//
// Session-level advisory locks, shared (chat sends) or exclusive (chat
// state changes, whiteboard writes, shelf changes), keyed by schema and by tenant and
// room in the two-key space, so they never meet the stores' one-key
// transaction locks. Each held lock keeps a connection of the locker's own
// pool (RoomLockerConfig.Conns, default 16) until released: a holder
// never waits for a connection another holder keeps. A node that dies
// loses its sessions and so its locks; a lock whose release fails has its
// connection closed rather than returned to the pool. Cost: two round trips
// per locked operation, and a connection held while it publishes.
//
// # Registry
//
// What must run on one node — a live's SFU — is placed with a Registry:
// the node starting the live Claims its room, other nodes Lookup the owner
// and send the client (or relay its signalling) there. Each node holds a
// lease renewed every TTL/3 (default TTL 15 s); a crashed node's rooms are
// free once its lease runs out, a closed node's at once.
// Registry.LivePlacement is the live.Placement that live.Config takes: a
// live's media runs on the node that claimed it, and live.join on other
// nodes answers that node's Addr.
//
// # Concurrency
//
// All methods are safe for concurrent use.
//
// # Tests
//
// The package runs logtest's conformance suite (with Reopen and
// MultiWriter) and the feature packages' suites against a real server: QUN_POSTGRES_URL, default
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable, one schema per
// test (pgtest). Unreachable, the tests skip with the reason; with CI=true
// they fail instead.
//
// # Benchmarks
//
// Durable appends of one event each into 64 rooms, two cores shared with
// other work, PostgreSQL 15 on the same machine, synchronous_commit on:
//
//	go test -run '^$' -bench LogAppend -benchtime 3s ./postgres/
//
//	publishers=2      3,100–3,900 appends/s  (each publisher waits for its commit)
//	publishers=32    17,300–29,300 appends/s
//	publishers=128   37,400–56,100 appends/s
//
// (ranges over runs on a machine shared with other work; at a load average
// of 9 on the 2 cores, 128 publishers made 14,000/s: CPU-bound.)
//
// One publisher's appends are bounded by commit latency (about 0.25 ms
// here); throughput grows with concurrency because batches grow.
package postgres
