package qun_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/qtest"
)

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := qtest.NewEnv(t, qun.Config{Registerer: reg}, openRooms)
	c := e.Connect(t, "t", "u")
	qtest.Call(t, c, "sub", map[string]any{"room": "t:1"}, nil)
	qtest.Call(t, c, "test.say", map[string]any{"room": "t:1", "text": "x"}, nil)
	qtest.NextEvent(t, c, "test.said")
	qtest.CallErr(t, c, "test.say", map[string]any{}, qun.CodeInvalid)
	qtest.CallErr(t, c, "no.such", nil, qun.CodeUnknownOp)

	if got := gaugeValue(t, reg, "qun_connections"); got != 1 {
		t.Fatalf("connections %v", got)
	}
	want := map[[2]string]float64{
		{"hello", "ok"}: 1, {"sub", "ok"}: 1, {"test.say", "ok"}: 1,
		{"test.say", "invalid"}: 1, {"unknown", "unknown_op"}: 1,
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, mf := range mfs {
		seen[mf.GetName()] = true
		if mf.GetName() != "qun_ops_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var key [2]string
			for _, l := range m.GetLabel() {
				if l.GetName() == "op" {
					key[0] = l.GetValue()
				} else {
					key[1] = l.GetValue()
				}
			}
			if w, ok := want[key]; ok && m.GetCounter().GetValue() != w {
				t.Errorf("ops_total%v = %v, want %v", key, m.GetCounter().GetValue(), w)
			}
			delete(want, key)
		}
	}
	if len(want) > 0 {
		t.Errorf("missing op counters: %v", want)
	}
	for _, name := range []string{"qun_send_queue_depth", "qun_fanout_latency_seconds", "qun_log_store_latency_seconds"} {
		if !seen[name] {
			t.Errorf("metric %s not exported", name)
		}
	}
	// A second Hub on the same registry is refused rather than double-counting.
	if _, err := qun.NewHub(qun.Config{Authenticator: e.Tokens, Registerer: reg}); err == nil {
		t.Fatal("duplicate registration accepted")
	}
}

func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
