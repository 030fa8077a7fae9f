// Package natstest gives tests a NATS server: an in-process one
// (nats-server/v2) on a random loopback port, or the machine's at
// QUN_NATS_URL (default nats://127.0.0.1:4222), skipping the test with the
// reason when that one is unreachable — unless CI=true, where it fails.
package natstest

import (
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/qunkit/qun/postgres/pgtest"
)

// DefaultURL is used when QUN_NATS_URL is not set.
const DefaultURL = "nats://127.0.0.1:4222"

// Start runs an in-process server on port (0: a random free one), shut down
// when t ends (or earlier by the test).
func Start(t testing.TB, port int) *server.Server {
	t.Helper()
	if port == 0 {
		port = server.RANDOM_PORT
	}
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		t.Fatal("nats server not ready within 10s")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// Port returns s's TCP port.
func Port(s *server.Server) int { return s.Addr().(*net.TCPAddr).Port }

// External returns the URL of the machine's NATS server after checking that
// it accepts connections.
func External(t testing.TB) string {
	t.Helper()
	u := os.Getenv("QUN_NATS_URL")
	if u == "" {
		u = DefaultURL
	}
	host := u
	if len(host) > 7 && host[:7] == "nats://" {
		host = host[7:]
	}
	c, err := net.DialTimeout("tcp", host, 2*time.Second)
	if err != nil {
		pgtest.Unreachable(t, fmt.Sprintf("NATS at %s (QUN_NATS_URL)", u), err)
	}
	c.Close()
	return u
}
