package sfu

import (
	"sync/atomic"
	"time"
)

// engineStats counts the forwarding work of all receivers of an Engine.
type engineStats struct {
	ingress   atomic.Uint64 // packets read from publishers
	fanouts   atomic.Uint64 // packet copies handed to viewers
	fanoutNs  atomic.Uint64 // time from reading a packet to the last viewer's write, summed
	fanoutMax atomic.Int64
}

// StatsSnapshot is a copy of the counters.
type StatsSnapshot struct {
	Ingress uint64 // packets received from publishers
	Fanouts uint64 // viewer writes attempted (a packet times its viewers)
	// FanoutTime is the total time between reading a packet and handing
	// it to its last viewer: the SFU's own forwarding delay, summed over
	// ingress packets. FanoutMax is the longest one.
	FanoutTime time.Duration
	FanoutMax  time.Duration
}

func (s *engineStats) observe(start int64, viewers int) {
	d := time.Now().UnixNano() - start
	s.ingress.Add(1)
	s.fanouts.Add(uint64(viewers))
	s.fanoutNs.Add(uint64(d))
	for {
		m := s.fanoutMax.Load()
		if d <= m || s.fanoutMax.CompareAndSwap(m, d) {
			return
		}
	}
}

func (s *engineStats) snapshot() StatsSnapshot {
	return StatsSnapshot{
		Ingress: s.ingress.Load(), Fanouts: s.fanouts.Load(),
		FanoutTime: time.Duration(s.fanoutNs.Load()), FanoutMax: time.Duration(s.fanoutMax.Load()),
	}
}
