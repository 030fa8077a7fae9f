package chat_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/chat"
	"github.com/qunkit/qun/internal/qclient"
	"github.com/qunkit/qun/internal/qtest"
)

func TestBadInputChangesNothing(t *testing.T) {
	e := newEnv(t, nil)
	ann := e.owner(t, "t1", "ann")
	g := createGroup(t, ann, "Strict", nil)
	send(t, ann, g, "hello")
	ref := qun.RoomRef{Tenant: "t1", Room: g}
	head, _ := e.log.Last(ctx(t), ref)

	mentions := make([]string, 51)
	for i := range mentions {
		mentions[i] = fmt.Sprint("u", i)
	}
	for _, c := range []struct {
		op   string
		d    any
		code qun.Code
	}{
		{"chat.nope", obj{}, qun.CodeUnknownOp},
		{"chat.send", obj{"group": g, "kind": "text", "text": "x", "extra": 1}, qun.CodeInvalid},
		{"chat.send", obj{"group": g, "kind": "text", "text": 5}, qun.CodeInvalid},
		{"chat.send", obj{"kind": "text", "text": "x"}, qun.CodeInvalid},
		{"chat.send", obj{"group": "x:1", "kind": "text", "text": "x"}, qun.CodeInvalid},
		{"chat.send", obj{"group": g, "kind": "voice", "text": "x"}, qun.CodeInvalid},
		{"chat.send", obj{"group": g, "kind": "text", "text": "   "}, qun.CodeInvalid},
		{"chat.send", obj{"group": g, "kind": "text", "text": "bell\a"}, qun.CodeInvalid},
		{"chat.send", obj{"group": g, "kind": "text", "text": "x", "mentions": mentions}, qun.CodeInvalid},
		{"chat.send", obj{"group": g, "kind": "text", "text": strings.Repeat("x", 4001)}, qun.CodeTooLarge},
		{"chat.send", obj{"group": g, "kind": "product", "product": obj{"id": "p", "title": "t", "price": -1}}, qun.CodeInvalid},
		{"chat.send", obj{"group": "g:" + qun.NewID(), "kind": "text", "text": "x"}, qun.CodeNotFound},
		{"chat.send", "not an object", qun.CodeInvalid},
		{"chat.edit", obj{"group": g, "seq": 0, "text": "x"}, qun.CodeInvalid},
		{"chat.history", obj{"group": g, "limit": 201}, qun.CodeInvalid},
		{"chat.create", obj{"name": strings.Repeat("名", 65)}, qun.CodeInvalid},
		{"chat.mute", obj{"group": g, "user": "bob", "seconds": -1}, qun.CodeInvalid},
	} {
		qtest.CallErr(t, ann, c.op, c.d, c.code)
	}
	if err := ann.SendRaw(ctx(t), []byte(`{"id":99,"op":"chat.send","d":{"group":`)); err != nil {
		t.Fatal(err)
	}
	f := qtest.Next(t, ann, func(f qclient.Frame) bool { return f.T == "res" })
	if f.Err == nil || f.Err.Code != qun.CodeInvalid {
		t.Fatalf("malformed frame: %+v", f)
	}
	if last, _ := e.log.Last(ctx(t), ref); last != head {
		t.Fatalf("bad input reached the log: head %d -> %d", head, last)
	}
	if mine := call[[]chat.GroupView](t, ann, "chat.mine", obj{}); len(mine) != 1 {
		t.Fatalf("bad input created a group: %d", len(mine))
	}
}

// TestRecallRedactsTheLog: after a recall, a client resuming from before
// the message receives its events without the text (the log is redacted),
// and history and chat.message serve nothing of it either.
func TestRecallRedactsTheLog(t *testing.T) {
	e := newEnv(t, nil)
	ann := e.owner(t, "t1", "ann")
	g := createGroup(t, ann, "Redact", nil)
	s := send(t, ann, g, "my secret plan")
	call[chat.Sent](t, ann, "chat.edit", obj{"group": g, "seq": s, "text": "my secret plan v2"})
	call[struct{}](t, ann, "chat.recall", obj{"group": g, "seq": s})

	c := e.Connect(t, "t1", "ann")
	var res struct{ Head uint64 }
	qtest.Call(t, c, "sub", obj{"room": g, "after": 0}, &res)
	types := map[string]bool{}
	for seq := uint64(1); seq <= res.Head; seq++ {
		f := qtest.Next(t, c, func(f qclient.Frame) bool { return f.T == "ev" && f.Room == g })
		types[f.Type] = true
		if strings.Contains(string(f.D), "secret") {
			t.Fatalf("resume served recalled text in %s: %s", f.Type, f.D)
		}
	}
	if !types[chat.EvMessage] || !types[chat.EvEdited] || !types[chat.EvRecalled] {
		t.Fatalf("resume missed events: %v", types)
	}
	page := history(t, ann, obj{"group": g})
	for _, ev := range page.Events {
		if strings.Contains(string(ev.D), "secret") {
			t.Fatalf("history served recalled text in %s: %s", ev.Type, ev.D)
		}
	}
	qtest.CallErr(t, ann, "chat.recall", obj{"group": g, "seq": s}, qun.CodeConflict)
	qtest.CallErr(t, ann, "chat.edit", obj{"group": g, "seq": s, "text": "back"}, qun.CodeConflict)
}

// TestConcurrentSends: many members send at once while an admin works;
// every accepted message gets its own seq, and a subscriber receives them
// all, in order, once.
func TestConcurrentSends(t *testing.T) {
	e := newEnv(t, nil)
	ann := e.owner(t, "t1", "ann")
	g := createGroup(t, ann, "Busy", nil)
	watcher := e.Connect(t, "t1", "watcher")
	join(t, ann, watcher, g)
	senders := make([]*qclient.Client, 6)
	for i := range senders {
		senders[i] = e.Connect(t, "t1", fmt.Sprint("s", i))
		join(t, ann, senders[i], g)
	}
	start := sub(t, watcher, g)

	const perSender = 15
	var wg sync.WaitGroup
	seqs := make(chan uint64, len(senders)*perSender)
	for i, c := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range perSender {
				var res chat.Sent
				if err := c.Call(context.Background(), "chat.send", obj{"group": g, "kind": "text", "text": fmt.Sprint(i, "-", j)}, &res); err != nil {
					t.Error(err)
					return
				}
				seqs <- res.Seq
			}
		}()
	}
	wg.Add(1)
	go func() { // admin actions interleave with the sends
		defer wg.Done()
		for range 5 {
			for _, secs := range []int{60, 0} { // mute and unmute the watcher, who only reads
				if err := ann.Call(context.Background(), "chat.mute", obj{"group": g, "user": "watcher", "seconds": secs}, nil); err != nil {
					t.Error(err)
				}
			}
		}
	}()
	wg.Wait()
	close(seqs)
	got := map[uint64]bool{}
	for s := range seqs {
		if got[s] {
			t.Fatalf("seq %d given twice", s)
		}
		got[s] = true
	}
	if len(got) != len(senders)*perSender {
		t.Fatalf("%d messages acknowledged", len(got))
	}
	last := start
	for n := 0; n < len(got); {
		f := qtest.Next(t, watcher, func(f qclient.Frame) bool { return f.T == "ev" && f.Room == g })
		if f.Seq != last+1 {
			t.Fatalf("watcher got seq %d after %d", f.Seq, last)
		}
		last = f.Seq
		if f.Type == chat.EvMessage {
			if !got[f.Seq] {
				t.Fatalf("unacknowledged message %d delivered", f.Seq)
			}
			n++
		}
	}
}
