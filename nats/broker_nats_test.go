package natsbroker_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/logtest"
	natsbroker "github.com/qunkit/qun/nats"
	"github.com/qunkit/qun/nats/natstest"
)

// A node holds one NATS subscription per room, however many local
// subscribers the room has.
func TestOneSubscriptionPerRoom(t *testing.T) {
	b := open(t, natstest.Start(t, 0).ClientURL())
	ctx := context.Background()
	ref := logtest.Ref("g:1")
	var unsubs []func()
	for range 3 {
		u, err := b.Subscribe(ctx, ref, func(*qun.Event) {})
		if err != nil {
			t.Fatal(err)
		}
		unsubs = append(unsubs, u)
	}
	if _, err := b.Subscribe(ctx, logtest.Ref("g:2"), func(*qun.Event) {}); err != nil {
		t.Fatal(err)
	}
	if n := b.Conn().NumSubscriptions(); n != 2 {
		t.Fatalf("%d NATS subscriptions for 2 rooms", n)
	}
	for _, u := range unsubs {
		u()
	}
	if n := b.Conn().NumSubscriptions(); n != 1 {
		t.Fatalf("%d NATS subscriptions after leaving a room, want 1", n)
	}
}

// Events appended while a node was cut off from NATS reach its subscribers
// after it reconnects, without waiting for the room's next event.
func TestResyncAfterReconnect(t *testing.T) {
	srv := natstest.Start(t, 0)
	port := natstest.Port(srv)
	log := qun.NewMemoryLogStore(qun.MemoryLogStoreConfig{})
	defer log.Close()
	pub := open(t, srv.ClientURL())
	sub, err := natsbroker.New(natsbroker.Config{URL: srv.ClientURL(), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ctx := context.Background()
	ref := logtest.Ref("g:1")
	var mu sync.Mutex
	var got []uint64
	if _, err := sub.Subscribe(ctx, ref, func(ev *qun.Event) {
		mu.Lock()
		got = append(got, ev.Seq)
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	appendPublish := func(publish bool) {
		ev := &qun.Event{Type: "t", TS: 1}
		if err := log.Append(ctx, ref, ev); err != nil {
			t.Fatal(err)
		}
		if publish {
			if err := pub.Publish(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitFor := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			k := len(got)
			mu.Unlock()
			if k >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("got %d events, want %d", k, n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	appendPublish(true)
	waitFor(1)

	srv.Shutdown()
	srv.WaitForShutdown()
	appendPublish(false) // published by a node whose message the outage lost
	appendPublish(false)
	natstest.Start(t, port)
	waitFor(3)
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 3 || got[1] != 2 || got[2] != 3 {
		t.Fatalf("delivered seqs %v, want [1 2 3]", got)
	}
}
