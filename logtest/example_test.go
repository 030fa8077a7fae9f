package logtest_test

import (
	"fmt"

	"github.com/qunkit/qun/logtest"
)

// Every subtest works in a tenant of its own, so suites that share a
// PostgreSQL database or a NATS server with other runs never meet.
func ExampleRef() {
	a, b := logtest.Ref("g:1"), logtest.Ref("g:1")
	fmt.Println(a.Room, a.Tenant != b.Tenant)
	// Output: g:1 true
}
