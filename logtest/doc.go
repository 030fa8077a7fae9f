// Package logtest is the conformance suite for qun.LogStore and qun.Broker.
// Every implementation runs it from its own tests, so that the memory,
// SQLite, PostgreSQL and NATS backends keep one behaviour:
//
//	func TestConformance(t *testing.T) {
//		logtest.Run(t, func(t *testing.T) qun.LogStore { return open(t) },
//			logtest.Reopen(...))   // the store is durable
//		logtest.RunBroker(t, func(t *testing.T) qun.Broker { return dial(t) },
//			logtest.Shared())      // two brokers opened in one test reach each other
//	}
//
// The open function returns a fresh, empty store (or a broker) for each
// subtest; the suite closes it at the end of the subtest, so open should
// register the cleanup of whatever lies under it (a database, a connection)
// with t.Cleanup, which runs after the suite's Close.
//
// The suite uses random tenant ids, so brokers sharing a server with other
// test runs do not see each other's events.
package logtest
