package monitor

import (
	"io"
	"math"
	"strconv"
	"strings"

	vm "github.com/VictoriaMetrics/metrics"

	"github.com/equus-monitoring/equus/internal/metricset"

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
// else into an underscore, and cuts it to maxMetricName bytes. The page
// would escape label values anyway; this keeps them short, plain
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
	scheduledRuns *vm.Counter
	ticksSkipped  *vm.Counter
	events        *vm.Counter
	eventsDropped *vm.Counter
}

func newMetrics(set *metricset.Set) *metrics {
	return &metrics{
		scheduledRuns: set.Counter("helen_scheduled_runs_total", "Runs of schedules started."),
		ticksSkipped:  set.Counter("helen_schedule_ticks_skipped_total", "Ticks of schedules skipped because the run before was still going."),
		events:        set.Counter("helen_events_total", "Events: changes of status, agents down and up."),
		eventsDropped: set.Counter("helen_events_dropped_total", "Events not handed to a subscriber that was behind."),
	}
}

// metricLabels are the labels of a metric of a result and of its bounds.
var metricLabels = []string{"agent", "schedule", "check", "metric", "unit"}

// statusHelp is the help of the families of the status table.
var statusHelp = map[string]string{
	"equus_check_status":               "Status of a schedule on an agent: 0 ok, 1 warning, 2 critical, 3 unknown.",
	"equus_check_metric":               "A metric of the last result of a schedule on an agent; none for a value the check could not determine.",
	"equus_check_status_since_seconds": "Unix time at which the status of a schedule on an agent became what it is.",
	"equus_check_metric_min":           "The least value a metric of the last result can take, as the check gave it.",
	"equus_check_metric_max":           "The greatest value a metric of the last result can take, as the check gave it.",
	"equus_check_metric_warn_low":      thresholdHelp("low", "warning"),
	"equus_check_metric_warn_high":     thresholdHelp("high", "warning"),
	"equus_check_metric_crit_low":      thresholdHelp("low", "critical"),
	"equus_check_metric_crit_high":     thresholdHelp("high", "critical"),
}

// thresholdHelp is the help of one end of a metric's threshold (warn or
// crit). Each end is a series of its own, as Prometheus has a bound
// beside the value it bounds (node_exporter's node_hwmon_temp_crit_celsius
// beside node_hwmon_temp_celsius), so a rule can compare the two; its
// range label is the threshold as written, which says how to read the
// ends (a leading @ alerts inside them) and changes only when they do.
func thresholdHelp(end, long string) string {
	return "The " + end + " end of the " + long + " threshold of a metric of the last result (none where open); range is the threshold as written."
}

// statusFamilies are the families of the status table of one scrape.
type statusFamilies struct {
	status, since, metric, min, max *metricset.Family
	warn, crit                      [2]*metricset.Family // low, high
}

func newStatusFamilies() *statusFamilies {
	threshold := func(short string) [2]*metricset.Family {
		labels := append(append([]string(nil), metricLabels...), "range")
		return [2]*metricset.Family{
			metricset.NewFamily("equus_check_metric_"+short+"_low", labels...),
			metricset.NewFamily("equus_check_metric_"+short+"_high", labels...),
		}
	}
	return &statusFamilies{
		status: metricset.NewFamily("equus_check_status", "agent", "schedule", "check"),
		since:  metricset.NewFamily("equus_check_status_since_seconds", "agent", "schedule", "check"),
		metric: metricset.NewFamily("equus_check_metric", metricLabels...),
		min:    metricset.NewFamily("equus_check_metric_min", metricLabels...),
		max:    metricset.NewFamily("equus_check_metric_max", metricLabels...),
		warn:   threshold("warn"),
		crit:   threshold("crit"),
	}
}

// registerStatus puts the status table on set's page.
func registerStatus(set *metricset.Set, t *statusTable) {
	for fam, help := range statusHelp {
		set.Describe(fam, help)
	}
	set.Writer(func(w io.Writer) { writeStatus(w, t) })
}

// writeStatus writes the status of every schedule on every agent and the
// metrics of its last result with their bounds, their names cleaned
// (boundMetrics). The schedules of an agent down are not folded here:
// each says unknown, so that a rule on a schedule's series sees it and
// the series goes on.
func writeStatus(w io.Writer, t *statusTable) {
	f := newStatusFamilies()
	for _, v := range t.views(true) {
		if v.Kind == KindAgentDown {
			continue
		}
		st := v.Status
		f.status.Add(float64(result.Status(st.Status).Code()), st.Agent, st.Schedule, st.Check)
		f.since.Add(float64(st.Since.UnixNano())/1e9, st.Agent, st.Schedule, st.Check)
		for _, m := range boundMetrics(st.Metrics) {
			labels := []string{st.Agent, st.Schedule, st.Check, m.Name, m.Unit}
			if !m.Unknown {
				f.metric.Add(m.Value, labels...)
			}
			if m.Min != nil {
				f.min.Add(*m.Min, labels...)
			}
			if m.Max != nil {
				f.max.Add(*m.Max, labels...)
			}
			addThreshold(f.warn, m.WarnRange, m.Warn, labels)
			addThreshold(f.crit, m.CritRange, m.Crit, labels)
		}
	}
	metricset.WriteFamilies(w, f.status, f.metric, f.since, f.min, f.max, f.warn[0], f.warn[1], f.crit[0], f.crit[1])
}

// addThreshold adds the finite ends of a threshold: of its range as
// written, or, for a bare number (as a check may give it), that number as
// the high end.
func addThreshold(fams [2]*metricset.Family, written string, bound *float64, labels []string) {
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
			fams[i].Add(end, labels...)
		}
	}
}
