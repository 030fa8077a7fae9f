package sqljson

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRoundTrip(t *testing.T) {
	var got []string
	for _, src := range []any{Text([]string{"a", "b"}), []byte(`["a","b"]`)} {
		got = nil
		if err := Into(&got).Scan(src); err != nil || len(got) != 2 || got[1] != "b" {
			t.Fatalf("scan %T: %v %v", src, got, err)
		}
	}
	keep := []string{"x"}
	if err := Into(&keep).Scan(nil); err != nil || len(keep) != 1 {
		t.Fatalf("NULL changed the value: %v %v", keep, err)
	}
	if err := Into(&keep).Scan(42); err == nil {
		t.Fatal("a number column was accepted")
	}
	if err := Into(&keep).Scan("{not json"); err == nil {
		t.Fatal("bad JSON was accepted")
	}
}
