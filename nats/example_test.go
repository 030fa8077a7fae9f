package natsbroker_test

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/qunkit/qun"
	natsbroker "github.com/qunkit/qun/nats"
)

// Two nodes' brokers on one NATS server: an event published by one reaches
// a room subscriber on the other.
func ExampleNew() {
	srv, _ := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true})
	go srv.Start()
	srv.ReadyForConnections(5 * time.Second)
	defer srv.WaitForShutdown()
	defer srv.Shutdown()

	nodeA, _ := natsbroker.New(natsbroker.Config{URL: srv.ClientURL()})
	defer nodeA.Close()
	nodeB, _ := natsbroker.New(natsbroker.Config{URL: srv.ClientURL()})
	defer nodeB.Close()

	ref := qun.RoomRef{Tenant: "shop1", Room: "g:fans"}
	got := make(chan *qun.Event, 1)
	unsub, _ := nodeB.Subscribe(context.Background(), ref, func(ev *qun.Event) { got <- ev })
	defer unsub()
	_ = nodeA.Publish(context.Background(), &qun.Event{Tenant: ref.Tenant, Room: ref.Room, Seq: 1, Type: "chat.message", Data: []byte(`{"text":"hi"}`)})
	fmt.Printf("%s\n", (<-got).Frame())
	// Output: {"t":"ev","room":"g:fans","seq":1,"type":"chat.message","ts":0,"d":{"text":"hi"}}
}
