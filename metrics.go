package qun

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the Hub's Prometheus collectors. They are always updated and
// registered only when Config.Registerer is set.
type metrics struct {
	connections   prometheus.Gauge
	ops           *prometheus.CounterVec   // op, code ("ok" on success)
	queueDepth    prometheus.Histogram     // frames waiting in a session's send queue at enqueue
	fanoutLatency prometheus.Histogram     // from an event entering the node to its frame being written
	storeLatency  *prometheus.HistogramVec // op: append, read
	slowConsumers prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "qun", Name: "connections", Help: "Open WebSocket connections.",
		}),
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "qun", Name: "ops_total", Help: "Ops handled, by op and result code (ok on success).",
		}, []string{"op", "code"}),
		queueDepth: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "qun", Name: "send_queue_depth", Help: "Frames already queued for a connection when another is added.",
			Buckets: []float64{0, 1, 4, 16, 64, 256, 1024},
		}),
		fanoutLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "qun", Name: "fanout_latency_seconds", Help: "Time from an event reaching this node to its frame being written to a connection.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12),
		}),
		storeLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "qun", Name: "log_store_latency_seconds", Help: "Room log store latency by operation.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12),
		}, []string{"op"}),
		slowConsumers: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "qun", Name: "slow_consumers_total", Help: "Connections closed because their send queue overflowed.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.connections, m.ops, m.queueDepth, m.fanoutLatency, m.storeLatency, m.slowConsumers} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
