package hub

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/equus-monitoring/equus/modes/helen/netlimit"
)

// metrics are the hub's figures.
type metrics struct {
	agentsConnected   prometheus.Gauge
	checksSent        prometheus.Counter
	resultsReceived   prometheus.Counter
	resultsDropped    prometheus.Counter
	handshakeFailures prometheus.Counter
	protocolErrors    *prometheus.CounterVec
	roundTrip         prometheus.Histogram
	conns             *netlimit.Metrics
}

func newMetrics(reg prometheus.Registerer, conns *netlimit.Metrics) *metrics {
	m := &metrics{
		agentsConnected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "helen_agents_connected", Help: "Agents connected now.",
		}),
		checksSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "helen_checks_sent_total", Help: "Checks sent to agents.",
		}),
		resultsReceived: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "helen_results_received_total", Help: "Results received from agents.",
		}),
		resultsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "helen_results_dropped_total", Help: "Results dropped: no check outstanding with their id and name.",
		}),
		handshakeFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "helen_tls_handshake_failures_total", Help: "TLS handshakes on the agents' port that failed.",
		}),
		protocolErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "helen_protocol_errors_total", Help: "Protocol errors sent to agents, by code.",
		}, []string{"code"}),
		roundTrip: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "helen_check_round_trip_seconds",
			Help:    "Time from sending a check to receiving its result.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}),
		conns: conns,
	}
	reg.MustRegister(m.agentsConnected, m.checksSent, m.resultsReceived, m.resultsDropped,
		m.handshakeFailures, m.protocolErrors, m.roundTrip)
	return m
}
