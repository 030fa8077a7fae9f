package natsbroker

import (
	"bytes"
	"strings"
	"testing"

	"github.com/qunkit/qun"
)

func TestCodecRoundTrip(t *testing.T) {
	for _, ev := range []*qun.Event{
		{Tenant: "t1", Room: "g:1", Seq: 42, Type: "chat.message", Actor: "u1", TS: 1_763_766_000_000, Data: []byte(`{"text":"你好"}`)},
		{Tenant: "t", Room: "r", Type: "wb.laser", TS: -5},                                         // ephemeral, no data
		{Tenant: "", Room: "", Seq: 1<<64 - 1, Type: "", Data: []byte(strings.Repeat("x", 70000))}, // extremes
	} {
		got, err := decode(encode(ev))
		if err != nil {
			t.Fatal(err)
		}
		if got.Tenant != ev.Tenant || got.Room != ev.Room || got.Seq != ev.Seq || got.Type != ev.Type ||
			got.Actor != ev.Actor || got.TS != ev.TS || !bytes.Equal(got.Data, ev.Data) {
			t.Fatalf("round trip: %+v, want %+v", got, ev)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(encode(&qun.Event{Tenant: "t", Room: "g:1", Seq: 3, Type: "x", Actor: "a", TS: 9, Data: []byte(`{}`)}))
	f.Add([]byte{1, 0, 0, 200})
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := decode(b) // must not panic
		if err != nil {
			return
		}
		again, err := decode(encode(ev))
		if err != nil || again.Ref() != ev.Ref() || again.Seq != ev.Seq || again.TS != ev.TS ||
			again.Type != ev.Type || again.Actor != ev.Actor || !bytes.Equal(again.Data, ev.Data) {
			t.Fatalf("re-encoding changed the event: %+v, %v", again, err)
		}
	})
}

func TestDecodeRejectsGarbage(t *testing.T) {
	for _, b := range [][]byte{nil, {}, {2}, {1}, {1, 0}, {1, 0, 0, 5, 'a'}, {1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}} {
		if _, err := decode(b); err == nil {
			t.Fatalf("decode(%v) accepted garbage", b)
		}
	}
}

func TestSubjectTokens(t *testing.T) {
	refs := []qun.RoomRef{
		{Tenant: "t", Room: "g:1"}, {Tenant: "t.g", Room: "1"}, {Tenant: "t", Room: "g.1"},
		{Tenant: "t", Room: "*"}, {Tenant: "t", Room: ">"}, {Tenant: "t", Room: "~"}, {Tenant: "t", Room: "~7E"},
		{Tenant: "t", Room: ""}, {Tenant: "", Room: "t"}, {Tenant: "t", Room: "~2E"}, {Tenant: "t", Room: "."},
		{Tenant: "t", Room: "a b"}, {Tenant: "t", Room: "空"}, {Tenant: "$SYS", Room: "x"}, {Tenant: "t", Room: "x\x00"},
	}
	seen := map[string]qun.RoomRef{}
	for _, ref := range refs {
		s := subject("qun", ref)
		if prev, dup := seen[s]; dup {
			t.Fatalf("%q and %q share subject %s", prev, ref, s)
		}
		seen[s] = ref
		tokens := strings.Split(s, ".")
		if len(tokens) != 4 || tokens[0] != "qun" || tokens[1] != "r" {
			t.Fatalf("%+v: subject %q does not have 4 tokens", ref, s)
		}
		for _, tok := range tokens {
			if tok == "" || tok == "*" || tok == ">" || strings.ContainsAny(tok, " \t\r\n*>$\x00") {
				t.Fatalf("%+v: unsafe token %q in %q", ref, tok, s)
			}
			for _, c := range []byte(tok) {
				if c >= 0x7f {
					t.Fatalf("%+v: non-ASCII token %q", ref, tok)
				}
			}
		}
	}
}
