package hub

import (
	"github.com/VictoriaMetrics/metrics"

	"github.com/equus-monitoring/equus/internal/metricset"
	"github.com/equus-monitoring/equus/modes/helen/netlimit"
)

// hubMetrics are the hub's figures.
type hubMetrics struct {
	agentsConnected   *metrics.Gauge
	checksSent        *metrics.Counter
	resultsReceived   *metrics.Counter
	resultsDropped    *metrics.Counter
	handshakeFailures *metrics.Counter
	protocolErrors    *metricset.CounterVec // by code
	roundTrip         *metrics.PrometheusHistogram
	conns             *netlimit.Metrics
}

func newMetrics(set *metricset.Set, conns *netlimit.Metrics) *hubMetrics {
	return &hubMetrics{
		agentsConnected:   set.Gauge("helen_agents_connected", "Agents connected now.", nil),
		checksSent:        set.Counter("helen_checks_sent_total", "Checks sent to agents."),
		resultsReceived:   set.Counter("helen_results_received_total", "Results received from agents."),
		resultsDropped:    set.Counter("helen_results_dropped_total", "Results dropped: no check outstanding with their id and name."),
		handshakeFailures: set.Counter("helen_tls_handshake_failures_total", "TLS handshakes on the agents' port that failed."),
		protocolErrors:    set.CounterVec("helen_protocol_errors_total", "Protocol errors sent to agents, by code.", "code"),
		roundTrip: set.Histogram("helen_check_round_trip_seconds", "Time from sending a check to receiving its result.",
			metrics.ExponentialBuckets(0.0005, 4, 10)),
		conns: conns,
	}
}
