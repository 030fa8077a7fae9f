// Package chat is qun's group rooms (群): groups and their settings, roles
// and every owner/admin action, joining by search, invitation, invite code
// and approval, announcements, all message kinds with edit, recall, reply,
// @mentions, pinned and designated trade messages, history with read
// positions, moderation, group portraits, and check-in, sign-up chains and
// polls (FEATURES C1–C9).
//
// # Wiring
//
// A vendor creates one Service per Hub:
//
//	store, _ := chat.NewSQLiteStore(db)              // db from sqlite.Open
//	groups, _ := chat.New(chat.Config{Hub: hub, Store: store})
//
// New registers the client ops (chat.*, listed in docs/ops/chat.md and by
// Service.Ops) and the room kind "g" on the Hub. A group's id is its room
// id, "g:<id>": clients subscribe to it with the Hub's sub op and resume it
// with sub's after. The Service's methods are the Go API for the vendor's
// backend; each op is a thin wrapper (bind, validate, call the method with
// the connection's identity), so both paths run the same checks.
//
// The vendor shapes chat through hooks, each with a default: CreatePolicy
// (who may create groups; default: the qun.GrantCreateGroup grant),
// Reviewer (message moderation; default: KeywordReviewer and its rule
// against off-platform contact details), Profiles (gender and age for
// portraits) and Notifier (@mentions and announcements for push or SMS).
//
// # Roles and visibility
//
// Owner > admin > member. Admin actions (kick, ban, mute, mute all, slow
// mode, pins, approvals, announcements, profile) need an admin or the
// owner, and act only on members ranking strictly below the actor: an admin
// cannot touch the owner or another admin. Setting admins, transferring,
// dissolving and designating trade messages are the owner's. An identity
// with qun.GrantAdmin acts as owner in groups of its own tenant, never
// elsewhere. For the Hub the roles are qun.RoleOwner, RoleModerator and
// RoleMember, so other packages (live, whiteboard) can ask about groups.
//
// Another tenant's group, a dissolved group and a non-public group the
// caller is not in all answer the same not_found, with the same message,
// through every op: the Store is tenant-scoped (a Tx cannot reach another
// tenant's rows) and every lookup goes through one access check.
//
// # Events and durability
//
// Every change members can see is an event in the group's room log
// (events.go lists them); things addressed to one user (invitations, join
// decisions, join requests for the admins) go to qun.UserRoom(user). Kicked,
// banned and leaving users have their subscription ended at once
// (Hub.EndSubscriptions), and everyone's when a group is dissolved
// (Hub.EndRoom); their ops fail from then on.
//
// History is read from the room log, not from a copy in a message table.
// The log already is the durable, seq-ordered record that live delivery and
// resume use; a second copy would cost a second write per message and could
// disagree with the first after a crash between the two. So a message is
// stored exactly once, as its chat.message event, durable (SQLite, WAL,
// synchronous=FULL) before chat.send answers. Edits and recalls are kept as
// an overlay (Patch) that History and GetMessage apply; a recall is
// committed to the overlay before it is announced and the log's copies of
// the message and its edits are then blanked with LogStore.Redact, so
// neither history nor a resuming client gets the text again. Unread counts
// read the log after the member's read position (up to MaxUnread).
//
// State (groups, members, bans, codes, tools) lives in the Store. A change
// commits to the Store first and is then published; if publishing fails the
// change stands and is logged, and clients see it when they next load the
// group.
//
// # Concurrency
//
// The Service is safe for concurrent use and owns no goroutine. Each group
// has a lock (Config.Locker): sends share it, state changes take it alone,
// so a room's events follow the order in which their changes committed and
// a kick or mute never interleaves with a send already past its checks.
// The default lock is in memory (striped), for one node; nodes serving one
// deployment share a Locker on their shared engine (postgres.NewRoomLocker:
// PostgreSQL advisory locks, shared and exclusive, keyed by tenant and
// group). Rate limits, slow mode and activity records stay per node, in
// memory, bounded in size: on N nodes a user may send up to N times
// SendRate if their connections spread over several nodes.
//
// # Bounds
//
// Text ≤ 4000 runes (too_large beyond), names ≤ 64, intro ≤ 1000, ≤ 10 tags of
// ≤ 20, member limit 500 by default and ≤ 100,000, ≤ 20 admins, ≤ 50
// mentions, ≤ 20 edits per message, ≤ 10 pins, ≤ 5 designated messages,
// announcements ≤ 2000, ≤ 200 live invite codes per group, ≤ 1000 pending
// join requests, polls of 2–20 options, chains of ≤ 1000 entries, ≤ 20 open
// polls and chains per group, deadlines ≤ 90 days, mutes ≤ 30 days, slow
// mode ≤ 1 hour, pages ≤ 200. Every op validates all of its input before it
// changes anything, inside one transaction.
//
// # Performance
//
// One message end to end over real WebSockets (op → checks → reviewer →
// durable in the SQLite room log → acknowledged → received by every
// subscriber), one op at a time, on the 2-core development machine:
//
//	BenchmarkSend/subscribers=1     1.0–1.1 ms/op   20 KB/op    329 allocs/op
//	BenchmarkSend/subscribers=100   2.5–3.7 ms/op  137 KB/op   1520 allocs/op
//
// measured with: go test -run XXX -bench BenchmarkSend -benchtime 3s -count 2 ./chat/
// (allocations include the test clients decoding every frame).
// The time is mostly the log's fsync, which concurrent senders share
// (the SQLite log commits appends in batches).
package chat
