// Package natsbroker is a qun.Broker on NATS (nats.go), carrying room
// events between the nodes of a deployment. Its directory is nats/; the
// package is named natsbroker so that it does not shadow nats.go.
//
// # Subjects and messages
//
// A room's events go to <Prefix>.r.<tenant>.<room>. Tenant and room ids are
// escaped into one subject token each: letters, digits, '-', '_' and ':'
// stay, every other byte becomes ~XX, so no id can forge a separator or a
// wildcard, and two rooms never share a subject. A receiving node also checks
// the tenant and room inside each message against its subscription.
//
// A message is a small binary encoding of the event (version byte, seq, ts,
// tenant, room, type, actor, then the data bytes as they are), decoded once
// per node; the node's Hub then encodes the client frame once for all its
// subscribers.
//
// # One subscription per node per room
//
// The Hub subscribes once per room per node; the broker also shares one NATS
// subscription among every local Subscribe of a room, so the server holds
// (nodes × active rooms) subscriptions, never one per client. Subscribe
// returns after a round trip to the server, so the subscription is in
// effect when the Hub reads the log's head right after it.
//
// # Why core NATS and not JetStream
//
// The room log (PostgreSQL in a deployment of several nodes) already is the
// durable, ordered record, with one sequence number per event. The broker
// only has to make fan-out fast; it need not be reliable, because every
// node orders events by seq and reads any gap from the log (room.go). Core
// NATS is at-most-once and adds tens of microseconds. JetStream would store
// every event a second time (a second fsync on the path of each message),
// and replaying from it would need a consumer per room and node, which is
// the pattern known to break down at tens of thousands of consumers. What
// JetStream would buy — events missed while a node was cut off — this
// package gets from the log instead: after a reconnect, with Config.Log set,
// it reads what each subscribed room missed and delivers it (the Hub drops
// what it already has). So JetStream does not earn its place here; the
// nats-server in a deployment may still run with -js for other uses.
//
// What stays at-most-once: an event whose publication NATS lost, on a
// connection that did not drop (for instance a slow consumer overflow),
// reaches other nodes' clients when the room's next event reveals the gap
// (after Config.GapWait) or when they resume.
//
// # Lifecycle and concurrency
//
// New connects (reconnecting forever); Close unsubscribes, flushes and closes
// the connection, waits for any resync it started, and is idempotent. All
// methods are safe for concurrent use. Deliveries for one room come from one
// goroutine at a time; deliver may unsubscribe itself; once an unsubscribe
// function returns, no new delivery to it starts.
//
// # Tests
//
// The logtest broker suite runs against an in-process nats-server and
// against QUN_NATS_URL (default nats://127.0.0.1:4222), skipped with the
// reason when unreachable, failed instead when CI=true.
//
// # Benchmarks
//
// Two brokers on an in-process server, one publishing and one subscribed,
// 64-byte events, two cores shared with other work:
//
//	go test -run '^$' -bench PublishDeliver -benchtime 2s ./nats/
//
//	throughput   323,000–629,000 deliveries/s (machine load 9 and 4.5)
//	latency      p50 0.010 ms, p99 0.047–0.048 ms (publish to deliver, one in flight)
//
// Through whole Hubs (client op on node A to a client frame on node B) see
// docs/benchmarks-cluster.md.
package natsbroker
