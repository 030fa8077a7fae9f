package qun_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/qclient"
	"github.com/qunkit/qun/internal/qtest"
)

// openRooms lets anyone in the tenant subscribe to rooms of kind "t".
func openRooms(e *qtest.Env) {
	e.Hub.RegisterRooms("t", qun.RoomAccessFunc(func(context.Context, *qun.Identity, qun.RoomID) (qun.Role, error) { return qun.RoleMember, nil }))
	e.Hub.Handle("test.say", func(ctx context.Context, c *qun.Call) (any, error) {
		var d struct {
			Room qun.RoomID `json:"room" validate:"required"`
			Text string     `json:"text" validate:"required,max=100"`
		}
		if err := c.Bind(&d); err != nil {
			return nil, err
		}
		ev, err := e.Hub.Publish(ctx, qun.RoomRef{Tenant: c.Identity().Tenant, Room: d.Room}, qun.Draft{Type: "test.said", Actor: c.Identity().User, Data: map[string]string{"text": d.Text}})
		if err != nil {
			return nil, err
		}
		return map[string]uint64{"seq": ev.Seq}, nil
	})
}

func u64(v uint64) *uint64 { return &v }

func TestHubPublishSubscribeResume(t *testing.T) {
	e := qtest.NewEnv(t, qun.Config{}, openRooms)
	a := e.Connect(t, "ten1", "alice")
	b := e.Connect(t, "ten1", "bob")
	qtest.Call(t, b, "sub", map[string]any{"room": "t:1"}, nil)
	for i := range 5 {
		qtest.Call(t, a, "test.say", map[string]any{"room": "t:1", "text": fmt.Sprint("m", i)}, nil)
	}
	for i := range 5 {
		f := qtest.NextEvent(t, b, "test.said")
		if f.Seq != uint64(i+1) {
			t.Fatalf("seq %d, want %d", f.Seq, i+1)
		}
	}
	// A reconnecting client resumes after seq 2 and gets exactly 3..5, then live 6.
	c := e.Connect(t, "ten1", "carol")
	var res struct{ Head uint64 }
	qtest.Call(t, c, "sub", map[string]any{"room": "t:1", "after": 2}, &res)
	if res.Head != 5 {
		t.Fatalf("head %d", res.Head)
	}
	qtest.Call(t, a, "test.say", map[string]any{"room": "t:1", "text": "live"}, nil)
	for want := uint64(3); want <= 6; want++ {
		f := qtest.NextEvent(t, c, "test.said")
		if f.Seq != want {
			t.Fatalf("resume: seq %d, want %d", f.Seq, want)
		}
	}
	qtest.NoFrame(t, c, 100*time.Millisecond, func(f qclient.Frame) bool { return f.T == "ev" })
	_ = json.Valid
}
