// Package metricset is the registry of one helen's metrics, on
// github.com/VictoriaMetrics/metrics, and the writing of its /metrics page
// in the Prometheus text format. Each server has a Set of its own, so that
// servers in one process (tests) do not share figures.
//
// The library writes every family's TYPE line and a HELP line without
// text; a Set fills that text in from what the family was declared with,
// so that the page still says what each figure means.
package metricset

import (
	"bytes"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/VictoriaMetrics/metrics"
)

// Set is the metrics of one server.
type Set struct {
	vm      *metrics.Set
	process bool // whether the page has the go_* and process_* metrics

	mu   sync.Mutex
	help map[string]string // by family
}

// New returns an empty set; with process, its page has the go_* and
// process_* metrics of this process too.
func New(process bool) *Set {
	// TYPE lines are what tell a scraper a counter from a gauge. The
	// library's switch is process-wide; every Set wants it on.
	metrics.ExposeMetadata(true)
	return &Set{vm: metrics.NewSet(), process: process, help: map[string]string{}}
}

// Describe gives family its help text, which the page writes on its HELP
// line. Families that series or writers make as they come, with labels,
// are described once here.
func (s *Set) Describe(family, help string) {
	s.mu.Lock()
	s.help[family] = help
	s.mu.Unlock()
}

// Counter returns a new counter name (a family with no labels).
func (s *Set) Counter(name, help string) *metrics.Counter {
	s.Describe(name, help)
	return s.vm.NewCounter(name)
}

// Gauge returns a new gauge name that its callers set, or, when f is not
// nil, that f computes at each scrape. name may carry constant labels:
// `helen_x{port="agents"}`.
func (s *Set) Gauge(name, help string, f func() float64) *metrics.Gauge {
	s.Describe(family(name), help)
	return s.vm.NewGauge(name, f)
}

// Histogram returns a new histogram name with the upper bounds buckets,
// written as Prometheus histograms are (_bucket with le, _sum, _count).
func (s *Set) Histogram(name, help string, buckets []float64) *metrics.PrometheusHistogram {
	s.Describe(name, help)
	return s.vm.NewPrometheusHistogramExt(name, buckets)
}

// CounterVec returns the family of counters name, one series per values
// of labels, each made when it is first counted.
func (s *Set) CounterVec(name, help string, labels ...string) *CounterVec {
	s.Describe(name, help)
	return &CounterVec{vm: s.vm, name: name, labels: labels, order: byName(labels)}
}

// Writer adds write to what the page has: it writes families computed at
// scrape time (with WriteFamily), each of which must be Described.
func (s *Set) Writer(write func(w io.Writer)) {
	s.vm.RegisterMetricsWriter(write)
}

// WritePrometheus writes the page: every series of s, then those of its
// writers, then the process's if s has them.
func (s *Set) WritePrometheus(w io.Writer) {
	var page bytes.Buffer
	s.vm.WritePrometheus(&page)
	if s.process {
		metrics.WriteProcessMetrics(&page)
		metrics.WriteFDMetrics(&page)
	}
	var out bytes.Buffer
	out.Grow(page.Len() + page.Len()/4)
	s.mu.Lock()
	for line := range bytes.Lines(page.Bytes()) {
		if fam, ok := bytes.CutPrefix(line, helpPrefix); ok {
			fam = bytes.TrimSuffix(fam, newline)
			if help, ok := s.help[string(fam)]; ok && !bytes.ContainsRune(fam, ' ') {
				out.Write(helpPrefix)
				out.Write(fam)
				out.WriteByte(' ')
				out.WriteString(helpEscaper.Replace(help))
				out.Write(newline)
				continue
			}
		}
		out.Write(line)
	}
	s.mu.Unlock()
	w.Write(out.Bytes())
}

var (
	helpPrefix = []byte("# HELP ")
	newline    = []byte("\n")
)

// family returns the family of a series' name: before its labels.
func family(name string) string {
	fam, _, _ := strings.Cut(name, "{")
	return fam
}

// CounterVec is a family of counters with labels.
type CounterVec struct {
	vm     *metrics.Set
	name   string
	labels []string
	order  []int // of labels, by name
}

// With returns the counter of values, the labels' in their order, made at
// its first use. It panics when values do not match the labels: a bug.
func (v *CounterVec) With(values ...string) *metrics.Counter {
	if len(values) != len(v.labels) {
		panic("metricset: " + v.name + " has labels " + strings.Join(v.labels, ",") + ", given " + strconv.Itoa(len(values)) + " values")
	}
	b := []byte(v.name)
	b = appendLabels(b, v.labels, values, v.order)
	return v.vm.GetOrCreateCounter(string(b))
}

// Get returns the value of the counter of values, 0 when it was never
// counted.
func (v *CounterVec) Get(values ...string) uint64 {
	return v.With(values...).Get()
}

// Family is the series of one gauge family that a writer computes at
// scrape time. The text format wants a family's lines together, so a
// writer that computes several families at once fills one Family each and
// writes them after.
type Family struct {
	name   string
	labels []string
	order  []int // of labels, by name
	b      []byte
}

// NewFamily returns the empty family name with labels.
func NewFamily(name string, labels ...string) *Family {
	return &Family{name: name, labels: labels, order: byName(labels)}
}

// Add adds the series of values (the labels' in their order) with v. A
// series whose values are not valid UTF-8 is left out, as the text format
// cannot carry it, rather than failing the whole page.
func (f *Family) Add(v float64, values ...string) {
	if len(values) != len(f.labels) {
		panic("metricset: " + f.name + " has labels " + strings.Join(f.labels, ",") + ", given " + strconv.Itoa(len(values)) + " values")
	}
	if !slices.ContainsFunc(values, func(s string) bool { return !utf8.ValidString(s) }) {
		f.b = append(f.b, f.name...)
		f.b = appendLabels(f.b, f.labels, values, f.order)
		f.b = append(f.b, ' ')
		f.b = appendFloat(f.b, v)
		f.b = append(f.b, '\n')
	}
}

// WriteFamilies writes the families that have series, each with its TYPE
// (and HELP) lines, as gauges.
func WriteFamilies(w io.Writer, fams ...*Family) {
	for _, f := range fams {
		if len(f.b) == 0 {
			continue
		}
		metrics.WriteMetadataIfNeeded(w, f.name, "gauge")
		w.Write(f.b)
	}
}

// byName returns the indexes of labels in the order of their names, the
// order the labels of a series are written in (as Prometheus's own client
// writes them).
func byName(labels []string) []int {
	order := make([]int, len(labels))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(i, j int) int { return strings.Compare(labels[i], labels[j]) })
	return order
}

// appendLabels appends {name="value",...} in order, or nothing for no
// labels.
func appendLabels(b []byte, names, values []string, order []int) []byte {
	if len(names) == 0 {
		return b
	}
	b = append(b, '{')
	for k, i := range order {
		if k > 0 {
			b = append(b, ',')
		}
		b = append(b, names[i]...)
		b = append(b, '=', '"')
		b = append(b, labelEscaper.Replace(values[i])...)
		b = append(b, '"')
	}
	return append(b, '}')
}

// appendFloat appends v as the text format writes a value.
func appendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	case math.IsNaN(v):
		return append(b, "NaN"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// The escapes of the text format: a label value's backslash, quote and
// newline; a help text's backslash and newline.
var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)
