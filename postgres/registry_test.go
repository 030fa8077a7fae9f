package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/logtest"
	"github.com/qunkit/qun/postgres"
	"github.com/qunkit/qun/postgres/pgtest"
)

func registry(t *testing.T, url, node string) *postgres.Registry {
	t.Helper()
	r, err := postgres.NewRegistry(context.Background(), pgtest.Pool(t, url), postgres.RegistryConfig{Node: node, Addr: "wss://" + node + "/qun/ws", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestRegistryPlacesEachRoomOnOneNode(t *testing.T) {
	url := pgtest.Schema(t)
	a, b := registry(t, url, "a"), registry(t, url, "b")
	ctx := context.Background()
	ref := logtest.Ref("live:1")

	// Nodes claiming at once agree on one owner.
	var wg sync.WaitGroup
	owners := make([]string, 20)
	for i := range owners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := []*postgres.Registry{a, b}[i%2]
			p, _, err := r.Claim(ctx, ref)
			if err != nil {
				t.Error(err)
			}
			owners[i] = p.Node
		}()
	}
	wg.Wait()
	for _, o := range owners {
		if o != owners[0] {
			t.Fatalf("owners %v: the room is on two nodes", owners)
		}
	}
	owner, other := a, b
	if owners[0] == "b" {
		owner, other = b, a
	}
	p, ok, err := other.Lookup(ctx, ref)
	if err != nil || !ok || p.Node != owners[0] || p.Addr != "wss://"+owners[0]+"/qun/ws" {
		t.Fatalf("lookup %+v %v %v", p, ok, err)
	}
	if _, ok, _ := other.Lookup(ctx, qun.RoomRef{Tenant: ref.Tenant + "x", Room: ref.Room}); ok {
		t.Fatal("another tenant's room is placed")
	}
	// Another node's release changes nothing; the owner's frees the room.
	if err := other.Release(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if _, owned, _ := owner.Claim(ctx, ref); !owned {
		t.Fatal("owner lost the room to another node's release")
	}
	if err := owner.Release(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if _, owned, _ := other.Claim(ctx, ref); !owned {
		t.Fatal("a released room could not be claimed")
	}
}

// A node that stops renewing its lease (crashed) loses its rooms to the
// next claim; one that closes gives them up at once.
func TestRegistryLeases(t *testing.T) {
	url := pgtest.Schema(t)
	a, b := registry(t, url, "a"), registry(t, url, "b")
	ctx := context.Background()
	r1, r2 := logtest.Ref("live:1"), logtest.Ref("live:2")
	for _, ref := range []qun.RoomRef{r1, r2} {
		if _, owned, err := a.Claim(ctx, ref); !owned || err != nil {
			t.Fatalf("claim: %v %v", owned, err)
		}
	}
	if _, err := pgtest.Pool(t, url).Exec(ctx, `UPDATE qun_nodes SET expires = now() - interval '1 second' WHERE node = 'a'`); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := b.Lookup(ctx, r1); ok {
		t.Fatal("a room of an expired node is still placed")
	}
	if p, owned, err := b.Claim(ctx, r1); !owned || err != nil || p.Node != "b" {
		t.Fatalf("claim after expiry: %+v %v %v", p, owned, err)
	}
	c := registry(t, url, "c")
	if _, owned, _ := c.Claim(ctx, r1); owned {
		t.Fatal("c took a room b holds")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, owned, _ := c.Claim(ctx, r1); !owned {
		t.Fatal("a closed node's room could not be claimed")
	}
}
