package qun_test

import (
	"context"
	"testing"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/qtest"
)

func TestRedact(t *testing.T) {
	stores := map[string]func(t *testing.T) qun.LogStore{
		"memory": func(t *testing.T) qun.LogStore { return qun.NewMemoryLogStore(qun.MemoryLogStoreConfig{}) },
		"sqlite": func(t *testing.T) qun.LogStore {
			s, err := qun.NewSQLiteLogStore(qtest.SQLite(t), qun.SQLiteLogStoreConfig{})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t)
			defer s.Close()
			ref := qun.RoomRef{Tenant: "t", Room: "g:1"}
			other := qun.RoomRef{Tenant: "t2", Room: "g:1"}
			ev := &qun.Event{Type: "chat.message", Actor: "u", TS: 5, Data: []byte(`{"text":"secret"}`)}
			if err := s.Append(ctx, ref, ev, &qun.Event{Type: "x", TS: 6}); err != nil {
				t.Fatal(err)
			}
			frame := string(ev.Frame())
			if err := s.Redact(ctx, ref, 1, []byte(`{"recalled":true}`)); err != nil {
				t.Fatal(err)
			}
			got, err := s.Read(ctx, ref, 0, 10)
			if err != nil || len(got) != 2 {
				t.Fatalf("read %v %v", got, err)
			}
			if string(got[0].Data) != `{"recalled":true}` || got[0].Type != "chat.message" || got[0].Actor != "u" || got[0].Seq != 1 {
				t.Fatalf("redacted event %+v", got[0])
			}
			if string(ev.Frame()) != frame {
				t.Fatal("redaction mutated an event already handed out")
			}
			if err := s.Redact(ctx, ref, 3, nil); qun.ErrorCode(err) != qun.CodeNotFound {
				t.Fatalf("unknown seq: %v", err)
			}
			if err := s.Redact(ctx, other, 1, nil); qun.ErrorCode(err) != qun.CodeNotFound {
				t.Fatalf("other tenant: %v", err)
			}
		})
	}
}
