package metricset

import (
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
)

// page writes s and parses what it wrote.
func page(t *testing.T, s *Set) (string, map[string]*ParsedFamily) {
	t.Helper()
	var b strings.Builder
	s.WritePrometheus(&b)
	fams, err := Parse(b.String())
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	return b.String(), fams
}

// TestPage: what a Set holds comes out with its type, help, labels and
// values, the families a writer computes included, and parses back.
func TestPage(t *testing.T) {
	s := New(false)
	c := s.Counter("x_runs_total", `Runs, with a \ and a
newline.`)
	c.Add(3)
	g := s.Gauge("x_open", "Open now.", nil)
	g.Inc()
	g.Inc()
	g.Dec()
	s.Gauge(`x_conns{port="agents"}`, "Conns by port.", func() float64 { return 7 })
	s.Gauge(`x_conns{port="operators"}`, "Conns by port.", func() float64 { return 0.5 })
	v := s.CounterVec("x_refused_total", "Refused, by port and bound.", "port", "bound")
	v.With("agents", "total").Inc()
	v.With("agents", "total").Inc()
	v.With("operators", "per_address").Inc()
	h := s.Histogram("x_seconds", "Durations.", []float64{0.5, 2})
	h.Update(0.1)
	h.Update(1)
	h.Update(3)
	s.Describe("x_status", "Status, by agent.")
	s.Writer(func(w io.Writer) {
		st, empty := NewFamily("x_status", "agent", "check"), NewFamily("x_none", "agent")
		st.Add(2, "web-1", `say "hi"\`)
		st.Add(1, "web-2", "line\nbreak")
		st.Add(9, "web-3", "\xff")
		WriteFamilies(w, st, empty)
	})

	text, fams := page(t, s)
	for _, tc := range []struct {
		family, typ, help string
		labels            map[string]string
		value             float64
	}{
		{"x_runs_total", "counter", "Runs, with a \\ and a\nnewline.", nil, 3},
		{"x_open", "gauge", "Open now.", nil, 1},
		{"x_conns", "gauge", "Conns by port.", map[string]string{"port": "agents"}, 7},
		{"x_conns", "gauge", "Conns by port.", map[string]string{"port": "operators"}, 0.5},
		{"x_refused_total", "counter", "Refused, by port and bound.", map[string]string{"port": "agents", "bound": "total"}, 2},
		{"x_refused_total", "counter", "Refused, by port and bound.", map[string]string{"port": "operators", "bound": "per_address"}, 1},
		{"x_status", "gauge", "Status, by agent.", map[string]string{"agent": "web-1", "check": `say "hi"\`}, 2},
		{"x_status", "gauge", "Status, by agent.", map[string]string{"agent": "web-2", "check": "line\nbreak"}, 1},
	} {
		f := fams[tc.family]
		if f == nil {
			t.Errorf("no family %s in\n%s", tc.family, text)
			continue
		}
		if f.Type != tc.typ || f.Help != tc.help {
			t.Errorf("%s: type %q help %q, want %q %q", tc.family, f.Type, f.Help, tc.typ, tc.help)
		}
		if got, ok := f.Value(tc.labels); !ok || got != tc.value {
			t.Errorf("%s%v = %v, %v; want %v", tc.family, tc.labels, got, ok, tc.value)
		}
	}
	if n := len(fams["x_status"].Series); n != 2 {
		t.Errorf("x_status has %d series, want 2: the one not UTF-8 left out", n)
	}
	if _, ok := fams["x_none"]; ok {
		t.Error("a family with no series is on the page")
	}

	hist := fams["x_seconds"]
	if hist == nil || hist.Type != "histogram" || hist.Help != "Durations." {
		t.Fatalf("histogram: %+v", hist)
	}
	buckets := map[string]float64{}
	for _, s := range hist.Series {
		if s.Name == "x_seconds_bucket" {
			buckets[s.Labels["le"]] = s.Value
		}
	}
	if want := map[string]float64{"0.5": 1, "2": 2, "+Inf": 3}; !maps.Equal(buckets, want) {
		t.Errorf("buckets %v, want %v", buckets, want)
	}
	if sum, _ := hist.Value(nil); sum == 0 {
		t.Errorf("histogram series: %+v", hist.Series)
	}
	names := []string{}
	for _, s := range hist.Series {
		if !slices.Contains(names, s.Name) {
			names = append(names, s.Name)
		}
	}
	if want := []string{"x_seconds_bucket", "x_seconds_sum", "x_seconds_count"}; !slices.Equal(names, want) {
		t.Errorf("histogram series %v, want %v", names, want)
	}
	if !strings.Contains(text, `x_refused_total{bound="total",port="agents"} 2`+"\n") {
		t.Errorf("labels not by name:\n%s", text)
	}
	if v.Get("agents", "total") != 2 || v.Get("agents", "per_address") != 0 {
		t.Errorf("Get: %d %d", v.Get("agents", "total"), v.Get("agents", "per_address"))
	}
}

// TestSetsApart: two sets share no series, as two servers in one process.
func TestSetsApart(t *testing.T) {
	a, b := New(false), New(false)
	a.Counter("x_total", "X.").Inc()
	b.Counter("x_total", "X.")
	_, fa := page(t, a)
	_, fb := page(t, b)
	if va, _ := fa["x_total"].Value(nil); va != 1 {
		t.Errorf("a: %v", va)
	}
	if vb, _ := fb["x_total"].Value(nil); vb != 0 {
		t.Errorf("b: %v", vb)
	}
}

// TestProcess: a set with process has the go_* and process_* metrics.
func TestProcess(t *testing.T) {
	_, fams := page(t, New(true))
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds"} {
		if fams[name] == nil {
			t.Errorf("no %s", name)
		}
	}
	_, fams = page(t, New(false))
	if fams["go_goroutines"] != nil {
		t.Error("go_goroutines without process")
	}
}

func TestParseRefuses(t *testing.T) {
	for name, text := range map[string]string{
		"split-family":   "a 1\nb 1\na 2\n",
		"second-type":    "# TYPE a gauge\n# TYPE a gauge\na 1\n",
		"type-after":     "a 1\n# TYPE a gauge\n",
		"unknown-type":   "# TYPE a meter\n",
		"no-value":       "a\n",
		"bad-value":      "a one\n",
		"bad-name":       "1a 1\n",
		"open-labels":    "a{b=\"c\" 1\n",
		"open-value":     "a{b=\"c} 1\n",
		"bad-escape":     "a{b=\"\\x\"} 1\n",
		"label-twice":    "a{b=\"c\",b=\"d\"} 1\n",
		"no-space":       "a{b=\"c\"}1\n",
		"too-many":       "a 1 2 3\n",
		"stray-bucket":   "# TYPE a gauge\na_bucket{le=\"1\"} 1\na 1\na_bucket{le=\"2\"} 1\n",
		"bad-label-name": "a{1b=\"c\"} 1\n",
	} {
		if _, err := Parse(text); err == nil {
			t.Errorf("%s: parsed %q", name, text)
		}
	}
}

// FuzzParse: what Parse accepts from a page a Set wrote, it accepts again
// written by a Set's writer: the label values round trip.
func FuzzParse(f *testing.F) {
	f.Add("web-1", `say "hi"\`, 1.5)
	f.Add("", "line\nbreak", -2.0)
	f.Fuzz(func(t *testing.T, a, b string, v float64) {
		s := New(false)
		s.Describe("x", "X.")
		s.Writer(func(w io.Writer) { fam := NewFamily("x", "a", "b"); fam.Add(v, a, b); WriteFamilies(w, fam) })
		var out strings.Builder
		s.WritePrometheus(&out)
		fams, err := Parse(out.String())
		if err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		f := fams["x"]
		if f == nil {
			return // not UTF-8: left out
		}
		got := f.Series[0]
		if got.Labels["a"] != a || got.Labels["b"] != b || (got.Value != v && v == v) {
			t.Errorf("round trip: %+v, want %q %q %v", got, a, b, v)
		}
	})
}
