package helen

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
)

// maxMetrics bounds the metrics exported per agent and schedule: what
// checks return must not grow /metrics without limit.
const maxMetrics = 32

// maxMetricName bounds the length of a metric's name and unit labels.
const maxMetricName = 64

// boundMetrics returns the metrics of a result to export: their names and
// units sanitized, the first of any two that sanitize to the same name,
// at most maxMetrics of them.
func boundMetrics(ms []result.Metric) []state.Metric {
	if len(ms) == 0 {
		return nil
	}
	out := make([]state.Metric, 0, min(len(ms), maxMetrics))
	seen := make(map[string]bool, len(ms))
	for _, m := range ms {
		if len(out) == maxMetrics {
			break
		}
		m.Name = sanitize(m.Name)
		if m.Name == "" || seen[m.Name] {
			continue
		}
		seen[m.Name] = true
		m.Unit = sanitize(m.Unit)
		out = append(out, m)
	}
	return out
}

// sanitize keeps the letters, digits and underscores of s, turns anything
// else into an underscore, and cuts it to maxMetricName bytes. The client
// library would escape label values anyway; this keeps them short, plain
// and free of anything a check's author did not mean as a name.
func sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() == maxMetricName {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
		case r == '%':
			b.WriteString("percent")
		default:
			b.WriteByte('_')
		}
	}
	out := b.String()
	if len(out) > maxMetricName {
		out = out[:maxMetricName]
	}
	return out
}

// monitorMetrics are helen's figures of schedules and events.
type monitorMetrics struct {
	scheduledRuns prometheus.Counter
	ticksSkipped  prometheus.Counter
	events        prometheus.Counter
	eventsDropped prometheus.Counter
}

func newMonitorMetrics() *monitorMetrics {
	return &monitorMetrics{
		scheduledRuns: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "helen_scheduled_runs_total", Help: "Runs of schedules started.",
		}),
		ticksSkipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "helen_schedule_ticks_skipped_total", Help: "Ticks of schedules skipped because the run before was still going.",
		}),
		events: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "helen_events_total", Help: "Events: changes of status, agents down and up.",
		}),
		eventsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "helen_events_dropped_total", Help: "Events not handed to a subscriber that was behind.",
		}),
	}
}

func (m *monitorMetrics) register(reg prometheus.Registerer) {
	reg.MustRegister(m.scheduledRuns, m.ticksSkipped, m.events, m.eventsDropped)
}

var (
	statusDesc = prometheus.NewDesc("equus_check_status",
		"Status of a schedule on an agent: 0 ok, 1 warning, 2 critical, 3 unknown.",
		[]string{"agent", "schedule", "check"}, nil)
	metricDesc = prometheus.NewDesc("equus_check_metric",
		"A metric of the last result of a schedule on an agent.",
		[]string{"agent", "schedule", "check", "metric", "unit"}, nil)
	statusSinceDesc = prometheus.NewDesc("equus_check_status_since_seconds",
		"Unix time at which the status of a schedule on an agent became what it is.",
		[]string{"agent", "schedule", "check"}, nil)
)

// statusCollector exports the status table.
type statusCollector struct{ t *statusTable }

// Describe sends the descriptions of the status metrics.
func (c statusCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- statusDesc
	ch <- metricDesc
	ch <- statusSinceDesc
}

// Collect sends the status of every schedule on every agent and the
// metrics of its last result, their names cleaned (boundMetrics). The
// schedules of an agent down are not folded here: each says unknown, so
// that a rule on a schedule's series sees it and the series goes on.
func (c statusCollector) Collect(ch chan<- prometheus.Metric) {
	for _, v := range c.t.views(true) {
		if v.Kind == KindAgentDown {
			continue
		}
		st := v.Status
		send(ch, statusDesc, float64(result.Status(st.Status).Code()), st.Agent, st.Schedule, st.Check)
		send(ch, statusSinceDesc, float64(st.Since.UnixNano())/1e9, st.Agent, st.Schedule, st.Check)
		for _, m := range boundMetrics(st.Metrics) {
			send(ch, metricDesc, m.Value, st.Agent, st.Schedule, st.Check, m.Name, m.Unit)
		}
	}
}

// send sends a gauge. One whose label values the library refuses (not
// valid UTF-8; names are checked before they get here) is left out rather
// than failing the whole scrape.
func send(ch chan<- prometheus.Metric, desc *prometheus.Desc, v float64, labels ...string) {
	if m, err := prometheus.NewConstMetric(desc, prometheus.GaugeValue, v, labels...); err == nil {
		ch <- m
	}
}
