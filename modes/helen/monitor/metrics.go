package monitor

import (
	"math"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
)

// MaxMetrics bounds the metrics exported per agent and schedule: what
// checks return must not grow /metrics without limit.
const MaxMetrics = 32

// maxMetricName bounds the length of a metric's name and unit labels.
const maxMetricName = 64

// boundMetrics returns the metrics of a result to export: their names and
// units sanitized, the first of any two that sanitize to the same name,
// at most MaxMetrics of them.
func boundMetrics(ms []result.Metric) []state.Metric {
	if len(ms) == 0 {
		return nil
	}
	out := make([]state.Metric, 0, min(len(ms), MaxMetrics))
	seen := make(map[string]bool, len(ms))
	for _, m := range ms {
		if len(out) == MaxMetrics {
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

// metrics are helen's figures of schedules and events.
type metrics struct {
	scheduledRuns prometheus.Counter
	ticksSkipped  prometheus.Counter
	events        prometheus.Counter
	eventsDropped prometheus.Counter
}

func newMetrics() *metrics {
	return &metrics{
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

func (m *metrics) register(reg prometheus.Registerer) {
	reg.MustRegister(m.scheduledRuns, m.ticksSkipped, m.events, m.eventsDropped)
}

// metricLabels are the labels of a metric of a result and of its bounds.
var metricLabels = []string{"agent", "schedule", "check", "metric", "unit"}

var (
	statusDesc = prometheus.NewDesc("equus_check_status",
		"Status of a schedule on an agent: 0 ok, 1 warning, 2 critical, 3 unknown.",
		[]string{"agent", "schedule", "check"}, nil)
	metricDesc = prometheus.NewDesc("equus_check_metric",
		"A metric of the last result of a schedule on an agent; none for a value the check could not determine.",
		metricLabels, nil)
	statusSinceDesc = prometheus.NewDesc("equus_check_status_since_seconds",
		"Unix time at which the status of a schedule on an agent became what it is.",
		[]string{"agent", "schedule", "check"}, nil)
	metricMinDesc = prometheus.NewDesc("equus_check_metric_min",
		"The least value a metric of the last result can take, as the check gave it.", metricLabels, nil)
	metricMaxDesc = prometheus.NewDesc("equus_check_metric_max",
		"The greatest value a metric of the last result can take, as the check gave it.", metricLabels, nil)
	warnDescs = thresholdDescs("warn", "warning")
	critDescs = thresholdDescs("crit", "critical")
)

// thresholdDescs returns the descriptions of the two ends of a metric's
// threshold (warn or crit). Each end is a series of its own, as Prometheus
// has a bound beside the value it bounds (node_exporter's
// node_hwmon_temp_crit_celsius beside node_hwmon_temp_celsius), so a rule
// can compare the two; its range label is the threshold as written, which
// says how to read the ends (a leading @ alerts inside them) and changes
// only when they do.
func thresholdDescs(short, long string) [2]*prometheus.Desc {
	labels := append(append([]string(nil), metricLabels...), "range")
	return [2]*prometheus.Desc{
		prometheus.NewDesc("equus_check_metric_"+short+"_low",
			"The low end of the "+long+" threshold of a metric of the last result (none where open); range is the threshold as written.", labels, nil),
		prometheus.NewDesc("equus_check_metric_"+short+"_high",
			"The high end of the "+long+" threshold of a metric of the last result (none where open); range is the threshold as written.", labels, nil),
	}
}

// statusCollector exports the status table.
type statusCollector struct{ t *statusTable }

// Describe sends the descriptions of the status metrics.
func (c statusCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{statusDesc, metricDesc, statusSinceDesc, metricMinDesc, metricMaxDesc,
		warnDescs[0], warnDescs[1], critDescs[0], critDescs[1]} {
		ch <- d
	}
}

// Collect sends the status of every schedule on every agent and the
// metrics of its last result with their bounds, their names cleaned
// (boundMetrics). The
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
			labels := []string{st.Agent, st.Schedule, st.Check, m.Name, m.Unit}
			if !m.Unknown {
				send(ch, metricDesc, m.Value, labels...)
			}
			if m.Min != nil {
				send(ch, metricMinDesc, *m.Min, labels...)
			}
			if m.Max != nil {
				send(ch, metricMaxDesc, *m.Max, labels...)
			}
			sendThreshold(ch, warnDescs, m.WarnRange, m.Warn, labels)
			sendThreshold(ch, critDescs, m.CritRange, m.Crit, labels)
		}
	}
}

// sendThreshold sends the finite ends of a threshold: of its range as
// written, or, for a bare number (as a check may give it), that number as
// the high end.
func sendThreshold(ch chan<- prometheus.Metric, descs [2]*prometheus.Desc, written string, bound *float64, labels []string) {
	r := result.Range{Low: math.Inf(-1), High: math.Inf(1)}
	switch {
	case written != "":
		var err error
		if r, err = result.ParseRange(written); err != nil {
			return // Parse let no such range in
		}
	case bound != nil:
		r.High, written = *bound, strconv.FormatFloat(*bound, 'f', -1, 64)
	default:
		return
	}
	labels = append(labels[:len(labels):len(labels)], written)
	for i, end := range []float64{r.Low, r.High} {
		if !math.IsInf(end, 0) {
			send(ch, descs[i], end, labels...)
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
