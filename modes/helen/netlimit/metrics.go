package netlimit

import "github.com/equus-monitoring/equus/internal/metricset"

// Metrics are the counters of the connections that bounds refused or
// closed, shared by the admissions and the agents' count.
type Metrics struct {
	Refused *metricset.CounterVec // by port and bound
	Evicted *metricset.CounterVec // by port
	set     *metricset.Set
}

// NewMetrics returns the metrics, in set.
func NewMetrics(set *metricset.Set) *Metrics {
	return &Metrics{
		Refused: set.CounterVec("helen_connections_refused_total",
			"Connections closed at accept, or after the handshake: a bound of connections without a valid agent certificate was reached (per_address, total), or that of one agent name's (per_agent), by port and bound.",
			"port", "bound"),
		Evicted: set.CounterVec("helen_connections_evicted_total",
			"Idle keep-alive connections without a valid agent certificate closed to make room for a new connection, by port.",
			"port"),
		set: set,
	}
}
