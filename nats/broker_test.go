package natsbroker_test

import (
	"testing"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/logtest"
	natsbroker "github.com/qunkit/qun/nats"
	"github.com/qunkit/qun/nats/natstest"
)

func open(t testing.TB, url string) *natsbroker.Broker {
	t.Helper()
	b, err := natsbroker.New(natsbroker.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestBrokerConformanceEmbedded(t *testing.T) {
	url := natstest.Start(t, 0).ClientURL()
	logtest.RunBroker(t, func(t *testing.T) qun.Broker { return open(t, url) }, logtest.Shared())
}

func TestBrokerConformanceExternal(t *testing.T) {
	url := natstest.External(t)
	logtest.RunBroker(t, func(t *testing.T) qun.Broker { return open(t, url) }, logtest.Shared())
}
