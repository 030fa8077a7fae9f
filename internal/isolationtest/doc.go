// Package isolationtest checks tenant isolation (FEATURES A1) across every
// feature package and both backends. Its test wires chat, live,
// whiteboard, shop and replay on one Hub, the way a vendor's server does,
// on SQLite and on PostgreSQL; gives tenant B data in each; then, as an
// admin of tenant A, calls every op registered on the Hub and every HTTP
// route with tenant B's ids, and the same with ids that exist nowhere. Each
// pair of answers must be the same (an unknown id and another tenant's id
// are indistinguishable), no answer may carry B's data, and B's data must
// be unchanged afterwards.
//
// The ops come from Hub.Ops; an op without a case in the test's table fails
// the test, so a new op cannot skip the check.
package isolationtest
