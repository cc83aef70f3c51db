package server

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/equus-monitoring/equus/modes/helen/netlimit"
)

// metrics are helen's own figures, in a registry of the server's own so
// that two servers in one process (tests) do not collide. Each room
// registers its own in it.
type metrics struct {
	reg   *prometheus.Registry
	conns *netlimit.Metrics
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.conns = netlimit.NewMetrics(m.reg)
	return m
}
