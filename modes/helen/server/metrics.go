package server

import (
	"github.com/equus-monitoring/equus/internal/metricset"
	"github.com/equus-monitoring/equus/modes/helen/netlimit"
)

// metrics are helen's own figures, in a set of the server's own so that
// two servers in one process (tests) do not collide, with the go_* and
// process_* metrics of the process. Each room puts its own in it.
type metrics struct {
	reg   *metricset.Set
	conns *netlimit.Metrics
}

func newMetrics() *metrics {
	m := &metrics{reg: metricset.New(true)}
	m.conns = netlimit.NewMetrics(m.reg)
	return m
}
