package qload

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Hist is a lock-free latency histogram in microseconds with log-linear
// buckets (64 per power of two, so about 1.5% resolution), cheap enough to
// record every delivery of a load run.
type Hist struct {
	counts [histBuckets]atomic.Uint64
	max    atomic.Int64
}

const (
	histSub     = 64                     // linear sub-buckets per power of two
	histBuckets = histSub * (64 - 6 + 1) // covers every uint64 value
)

func histIndex(us uint64) int {
	if us < histSub {
		return int(us)
	}
	e := bits.Len64(us) - 7 // us>>e is in [64,128)
	return (e+1)*histSub + int(us>>e) - histSub
}

// histLow is the smallest value of bucket i.
func histLow(i int) uint64 {
	if i < histSub {
		return uint64(i)
	}
	e := i/histSub - 1
	return uint64(i%histSub+histSub) << e
}

// Record adds one observation.
func (h *Hist) Record(d time.Duration) {
	us := d.Microseconds()
	if us < 0 {
		us = 0
	}
	h.counts[histIndex(uint64(us))].Add(1)
	for {
		m := h.max.Load()
		if us <= m || h.max.CompareAndSwap(m, us) {
			break
		}
	}
}

// Reset clears the histogram. Observations racing with it may land on
// either side.
func (h *Hist) Reset() {
	for i := range h.counts {
		h.counts[i].Store(0)
	}
	h.max.Store(0)
}

// Summary is a histogram's snapshot.
type Summary struct {
	Count              uint64
	P50, P90, P99, Max time.Duration
}

// Summary reads the percentiles.
func (h *Hist) Summary() Summary {
	var counts [histBuckets]uint64
	var n uint64
	for i := range h.counts {
		counts[i] = h.counts[i].Load()
		n += counts[i]
	}
	s := Summary{Count: n, Max: time.Duration(h.max.Load()) * time.Microsecond}
	if n == 0 {
		return s
	}
	pct := func(p float64) time.Duration {
		rank := uint64(p*float64(n) + 0.5)
		if rank < 1 {
			rank = 1
		}
		var seen uint64
		for i, c := range counts {
			seen += c
			if seen >= rank {
				// Report the bucket's middle: its true value is within it.
				lo, hi := histLow(i), histLow(i+1)
				return time.Duration(lo+(hi-lo)/2) * time.Microsecond
			}
		}
		return s.Max
	}
	s.P50, s.P90, s.P99 = pct(0.50), pct(0.90), pct(0.99)
	return s
}
