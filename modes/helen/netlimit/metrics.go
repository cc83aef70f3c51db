package netlimit

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the counters of the connections that bounds refused or
// closed, shared by the admissions and the agents' count.
type Metrics struct {
	Refused *prometheus.CounterVec // by port and bound
	Evicted *prometheus.CounterVec // by port
	reg     prometheus.Registerer
}

// NewMetrics returns the metrics, registered with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "helen_connections_refused_total",
			Help: "Connections closed at accept, or after the handshake: a bound of connections without a valid agent certificate was reached (per_address, total), or that of one agent name's (per_agent), by port and bound.",
		}, []string{"port", "bound"}),
		Evicted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "helen_connections_evicted_total",
			Help: "Idle keep-alive connections without a valid agent certificate closed to make room for a new connection, by port.",
		}, []string{"port"}),
		reg: reg,
	}
	reg.MustRegister(m.Refused, m.Evicted)
	return m
}
