package lua

import (
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"

	glua "github.com/yuin/gopher-lua"
)

func TestParseRange(t *testing.T) {
	inf := math.Inf(1)
	tests := []struct {
		name, spec string
		want       threshold
		err        bool
	}{
		{name: "end-only", spec: "10", want: threshold{low: 0, high: 10}},
		{name: "start-only", spec: "10:", want: threshold{low: 10, high: inf}},
		{name: "minus-infinity", spec: "~:10", want: threshold{low: math.Inf(-1), high: 10}},
		{name: "both", spec: "10:20", want: threshold{low: 10, high: 20}},
		{name: "inverted", spec: "@10:20", want: threshold{low: 10, high: 20, inside: true}},
		{name: "empty-start", spec: ":5", want: threshold{low: 0, high: 5}},
		{name: "negative", spec: "-5:-1", want: threshold{low: -5, high: -1}},
		{name: "decimals", spec: "0.5:1.5", want: threshold{low: 0.5, high: 1.5}},
		{name: "spaces", spec: " 7 ", want: threshold{low: 0, high: 7}},
		{name: "empty", spec: "", err: true},
		{name: "at-only", spec: "@", err: true},
		{name: "word", spec: "abc", err: true},
		{name: "reversed", spec: "20:10", err: true},
		{name: "bad-end", spec: "1:x", err: true},
		{name: "infinity-word", spec: "inf", err: true},
		{name: "nan", spec: "NaN", err: true},
		{name: "tilde-end", spec: "1:~", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseRange(tt.spec)
			if tt.err {
				if err == nil {
					t.Fatalf("parseRange(%q) = %+v, want an error", tt.spec, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseRange(%q): %v", tt.spec, err)
			}
			tt.want.spec = tt.spec
			if got != tt.want {
				t.Errorf("parseRange(%q) = %+v, want %+v", tt.spec, got, tt.want)
			}
		})
	}
}

func TestRangeAlert(t *testing.T) {
	tests := []struct {
		spec  string
		value float64
		alert bool
	}{
		{"10", -1, true}, {"10", 0, false}, {"10", 10, false}, {"10", 10.01, true},
		{"10:", 9.9, true}, {"10:", 10, false}, {"10:", 1e12, false},
		{"~:10", -1e12, false}, {"~:10", 10, false}, {"~:10", 11, true},
		{"10:20", 9, true}, {"10:20", 15, false}, {"10:20", 21, true},
		{"@10:20", 9, false}, {"@10:20", 10, true}, {"@10:20", 20, true}, {"@10:20", 21, false},
		{"1:", 0, true}, {"1:", 3, false},
	}
	for _, tt := range tests {
		r, err := parseRange(tt.spec)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.alert(tt.value); got != tt.alert {
			t.Errorf("range %q alert(%v) = %v, want %v", tt.spec, tt.value, got, tt.alert)
		}
	}
}

func ptr(v float64) *float64 { return &v }

func TestParsePerfdata(t *testing.T) {
	tests := []struct {
		name, text string
		want       []perfMetric
		errs       int // items refused
	}{
		{name: "empty", text: ""},
		{name: "plain", text: "load1=0.42;5;10;0",
			want: []perfMetric{{name: "load1", value: 0.42, warn: ptr(5), crit: ptr(10), min: ptr(0)}}},
		{name: "quoted-label", text: "'free space'=1.5GB;2;1;0;10",
			want: []perfMetric{{name: "free space", value: 1.5, unit: "GB", warn: ptr(2), crit: ptr(1), min: ptr(0), max: ptr(10)}}},
		{name: "doubled-quote", text: "'it''s'=1",
			want: []perfMetric{{name: "it's", value: 1}}},
		{name: "several", text: "  time=0.012s;;;0 size=1024B;;;0  users=3 ",
			want: []perfMetric{
				{name: "time", value: 0.012, unit: "s", min: ptr(0)},
				{name: "size", value: 1024, unit: "B", min: ptr(0)},
				{name: "users", value: 3},
			}},
		{name: "percent-and-counter", text: "'/'=41%;80;90 in=123c",
			want: []perfMetric{
				{name: "/", value: 41, unit: "%", warn: ptr(80), crit: ptr(90)},
				{name: "in", value: 123, unit: "c"},
			}},
		{name: "ranges", text: "x=5;10:;@5:8;~;",
			want: []perfMetric{{name: "x", value: 5, crit: ptr(8)}}},
		{name: "minus-infinity-warn", text: "x=-2;~:10;-1:",
			want: []perfMetric{{name: "x", value: -2, warn: ptr(10)}}},
		{name: "exponent", text: "x=1e3ms",
			want: []perfMetric{{name: "x", value: 1000, unit: "ms"}}},
		{name: "undetermined", text: "a=U b=1",
			want: []perfMetric{{name: "b", value: 1}}},
		{name: "extra-fields", text: "a=1;2;3;4;5;6",
			want: []perfMetric{{name: "a", value: 1, warn: ptr(2), crit: ptr(3), min: ptr(4), max: ptr(5)}}},
		{name: "garbage-between", text: "a=1 garbage b=2",
			want: []perfMetric{{name: "a", value: 1}, {name: "b", value: 2}}, errs: 1},
		{name: "no-value", text: "a= b=abc =3", errs: 3},
		{name: "unterminated", text: "'a b=1", errs: 1},
		{name: "quote-no-equals", text: "'a b' c=1",
			want: []perfMetric{{name: "c", value: 1}}, errs: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePerfdata(tt.text)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parsePerfdata(%q) =\n%s\nwant\n%s", tt.text, showMetrics(got), showMetrics(tt.want))
			}
			n := 0
			if err != nil {
				n = len(strings.Split(err.Error(), "\n"))
			}
			if n != tt.errs {
				t.Errorf("parsePerfdata(%q) refused %d items (%v), want %d", tt.text, n, err, tt.errs)
			}
		})
	}
}

func showMetrics(ms []perfMetric) string {
	var b strings.Builder
	for _, m := range ms {
		b.WriteString("  {" + m.name + " " + formatFloat(m.value) + " " + m.unit)
		for _, p := range []*float64{m.warn, m.crit, m.min, m.max} {
			if p == nil {
				b.WriteString(" -")
			} else {
				b.WriteString(" " + formatFloat(*p))
			}
		}
		b.WriteString("}\n")
	}
	return b.String()
}

func formatFloat(f float64) string { return glua.LNumber(f).String() }

func TestFormatBytes(t *testing.T) {
	for n, want := range map[float64]string{
		0: "0 B", 512: "512 B", 1536: "1.5 KiB", 5 << 30: "5.0 GiB", 3 << 60: "3.0 EiB",
	} {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%v) = %q, want %q", n, got, want)
		}
	}
}

func TestCheckModule(t *testing.T) {
	L := newModState(t, nil)
	tests := []struct{ chunk, want string }{
		{"return check.OK, check.WARNING, check.CRITICAL, check.UNKNOWN", "ok warning critical unknown"},
		{"return check.code('ok'), check.code('warning'), check.code('critical'), check.code('unknown')", "0 1 2 3"},
		{"return check.status(0), check.status(1), check.status(2), check.status(3), check.status(4), check.status(-1), check.status(1.5)",
			"ok warning critical unknown unknown unknown unknown"},
		{"return check.worst(), check.worst('ok'), check.worst('ok', 'unknown'), check.worst('unknown', 'warning', 'ok'), check.worst('warning', nil, 'critical')",
			"ok ok unknown warning critical"},
		{"return check.evaluate(5, 10, 20), check.evaluate(15, 10, 20), check.evaluate(25, '10', '20'), check.evaluate(0, nil, '1:'), check.evaluate(3, '1:')",
			"ok warning critical critical ok"},
		{"local r = check.range('@10:20') return r:alert(15), r:alert(25), tostring(r), r:limit()", "true false @10:20 20"},
		{"return check.evaluate(15, check.range('@10:20')), check.range(5):alert(6)", "warning true"},
		{"return check.limit('10:'), check.limit('~:7'), check.limit(3)", "nil 7 3"},
		{"return check.bytes(2048)", "2.0 KiB"},
		{"local ms, err = check.perfdata(\"'a b'=1ms;2;3 c=x\") return #ms, ms[1].name, ms[1].value, ms[1].unit, ms[1].warn, ms[1].crit, ms[1].min, err ~= nil",
			"1 a b 1 ms 2 3 nil true"},
		{"local ms, err = check.perfdata('') return #ms, err", "0 nil"},
	}
	for _, tt := range tests {
		vals := evalLua(t, L, "local check = require('check') "+tt.chunk)
		got := make([]string, len(vals))
		for i, v := range vals {
			got[i] = v.String()
		}
		if strings.Join(got, " ") != tt.want {
			t.Errorf("%s\n got %q\nwant %q", tt.chunk, strings.Join(got, " "), tt.want)
		}
	}
}

func TestCheckModuleMisuse(t *testing.T) {
	L := newModState(t, nil)
	for _, chunk := range []string{
		"check.range('20:10')",
		"check.range('abc')",
		"check.range({})",
		"check.evaluate(1, 'x')",
		"check.evaluate('high', 1, 2)",
		"check.worst('fine')",
		"check.code('bad')",
		"check.range('5').alert({}, 1)",
	} {
		if _, err := tryLua(L, "local check = require('check') "+chunk); err == nil {
			t.Errorf("%s was not refused", chunk)
		}
	}
}

// formatRange writes t as a threshold spec.
func formatRange(t threshold) string {
	var b strings.Builder
	if t.inside {
		b.WriteByte('@')
	}
	if math.IsInf(t.low, -1) {
		b.WriteByte('~')
	} else {
		b.WriteString(strconv.FormatFloat(t.low, 'g', -1, 64))
	}
	b.WriteByte(':')
	if !math.IsInf(t.high, 1) {
		b.WriteString(strconv.FormatFloat(t.high, 'g', -1, 64))
	}
	return b.String()
}

// FuzzParseRange checks that a range that parses is well formed and reads
// the same once written back.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"10", "10:", "~:10", "10:20", "@10:20", ":5", "-1.5e3:2", "@~:", "1:~", "", "@"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		r, err := parseRange(spec)
		if err != nil {
			return
		}
		if math.IsNaN(r.low) || math.IsNaN(r.high) || r.low > r.high {
			t.Fatalf("parseRange(%q) = %+v", spec, r)
		}
		again, err := parseRange(formatRange(r))
		if err != nil {
			t.Fatalf("parseRange(%q) = %+v, written %q: %v", spec, r, formatRange(r), err)
		}
		again.spec = r.spec
		if again != r {
			t.Fatalf("parseRange(%q) = %+v, but %q gives %+v", spec, r, formatRange(r), again)
		}
	})
}

// formatPerfdata writes metrics as performance data, labels always quoted.
func formatPerfdata(ms []perfMetric) string {
	var items []string
	for _, m := range ms {
		s := "'" + strings.ReplaceAll(m.name, "'", "''") + "'=" + strconv.FormatFloat(m.value, 'g', -1, 64) + m.unit
		for _, p := range []*float64{m.warn, m.crit, m.min, m.max} {
			s += ";"
			if p != nil {
				s += strconv.FormatFloat(*p, 'g', -1, 64)
			}
		}
		items = append(items, s)
	}
	return strings.Join(items, " ")
}

// FuzzParsePerfdata checks that the metrics parsed from any text read the
// same once written back, without a refused item.
func FuzzParsePerfdata(f *testing.F) {
	for _, s := range []string{
		"load1=0.42;5;10;0", "'free space'=1.5GB;2;1;0;10 x=U", "'it''s'=1", "a=1 garbage b=2",
		"time=0.012s;;;0 size=1024B;;;0", "x=5;10:;@5:8;~;", "'a b=1", "=3",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		ms, _ := parsePerfdata(text)
		again, err := parsePerfdata(formatPerfdata(ms))
		if err != nil || !reflect.DeepEqual(again, ms) {
			t.Fatalf("parsePerfdata(%q) =\n%s\nwritten %q reads\n%s(%v)", text, showMetrics(ms), formatPerfdata(ms), showMetrics(again), err)
		}
	})
}
