package qload

import (
	"testing"
	"time"
)

func TestHistBuckets(t *testing.T) {
	prev := -1
	for us := uint64(0); us < 1<<22; us += 1 + us/200 {
		i := histIndex(us)
		if i < prev {
			t.Fatalf("index not monotonic at %d", us)
		}
		prev = i
		if lo, hi := histLow(i), histLow(i+1); us < lo || us >= hi {
			t.Fatalf("%d µs in bucket %d [%d,%d)", us, i, lo, hi)
		}
	}
}

func TestHistPercentiles(t *testing.T) {
	var h Hist
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	s := h.Summary()
	near := func(name string, got, want time.Duration) {
		if d := got - want; d < -want/50 || d > want/50 {
			t.Errorf("%s = %v, want about %v", name, got, want)
		}
	}
	near("p50", s.P50, 500*time.Millisecond)
	near("p99", s.P99, 990*time.Millisecond)
	if s.Count != 1000 || s.Max != time.Second {
		t.Errorf("count %d max %v", s.Count, s.Max)
	}
	h.Reset()
	if s := h.Summary(); s.Count != 0 || s.Max != 0 {
		t.Errorf("after reset: %+v", s)
	}
}
