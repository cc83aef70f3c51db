package result

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestParsePerfdata(t *testing.T) {
	tests := []struct {
		name, text string
		want       []Metric
		problems   int // items or fields refused
	}{
		{name: "empty", text: ""},
		{name: "plain", text: "load1=0.42;5;10;0",
			want: []Metric{{Name: "load1", Value: 0.42, Warn: f(5), WarnRange: "5", Crit: f(10), CritRange: "10", Min: f(0)}}},
		{name: "quoted-label", text: "'free space'=1.5GB;2;1;0;10",
			want: []Metric{{Name: "free space", Value: 1.5, Unit: "GB", Warn: f(2), WarnRange: "2", Crit: f(1), CritRange: "1", Min: f(0), Max: f(10)}}},
		{name: "doubled-quote", text: "'it''s'=1 '''quoted'''=2 'a=b c'=3",
			want: []Metric{{Name: "it's", Value: 1}, {Name: "'quoted'", Value: 2}, {Name: "a=b c", Value: 3}}},
		{name: "several", text: "  time=0.012s;;;0 size=1024B;;;0  users=3 ",
			want: []Metric{
				{Name: "time", Value: 0.012, Unit: "s", Min: f(0)},
				{Name: "size", Value: 1024, Unit: "B", Min: f(0)},
				{Name: "users", Value: 3},
			}},
		// A percentage is between 0 and 100 unless it says otherwise.
		{name: "percent-and-counter", text: "'/'=41%;80;90 in=123c cpu=150%;;;0;400",
			want: []Metric{
				{Name: "/", Value: 41, Unit: "%", Warn: f(80), WarnRange: "80", Crit: f(90), CritRange: "90", Min: f(0), Max: f(100)},
				{Name: "in", Value: 123, Unit: "c"},
				{Name: "cpu", Value: 150, Unit: "%", Min: f(0), Max: f(400)},
			}},
		// Every form of range, as written; a number only where one says it.
		{name: "ranges", text: "a=5;10:;@5:8 b=5;~:10;10:20 c=5;@10;0:10 d=5;@~:3;:4",
			want: []Metric{
				{Name: "a", Value: 5, WarnRange: "10:", CritRange: "@5:8"},
				{Name: "b", Value: 5, WarnRange: "~:10", CritRange: "10:20"},
				{Name: "c", Value: 5, WarnRange: "@10", Crit: f(10), CritRange: "0:10"},
				{Name: "d", Value: 5, WarnRange: "@~:3", Crit: f(4), CritRange: ":4"},
			}},
		{name: "flattening", text: "x=1.5;1:2;@3:4",
			want: []Metric{{Name: "x", Value: 1.5, WarnRange: "1:2", CritRange: "@3:4"}}},
		{name: "bad-fields", text: "x=5;abc;20:10;~;0s y=1",
			want: []Metric{{Name: "x", Value: 5}, {Name: "y", Value: 1}}, problems: 1},
		{name: "exponent", text: "x=1e3ms",
			want: []Metric{{Name: "x", Value: 1000, Unit: "ms"}}},
		{name: "unknown", text: "a=U b=1 'c d'=U;5;10;0;100",
			want: []Metric{
				{Name: "a", Unknown: true},
				{Name: "b", Value: 1},
				{Name: "c d", Unknown: true, Warn: f(5), WarnRange: "5", Crit: f(10), CritRange: "10", Min: f(0), Max: f(100)},
			}},
		{name: "extra-fields", text: "a=1;2;3;4;5;6",
			want: []Metric{{Name: "a", Value: 1, Warn: f(2), WarnRange: "2", Crit: f(3), CritRange: "3", Min: f(4), Max: f(5)}}},
		{name: "garbage-between", text: "a=1 garbage b=2",
			want: []Metric{{Name: "a", Value: 1}, {Name: "b", Value: 2}}, problems: 1},
		{name: "no-value", text: "a= b=abc =3 c=u", problems: 4},
		{name: "unterminated", text: "'a b=1", problems: 1},
		{name: "quote-no-equals", text: "'a b' c=1",
			want: []Metric{{Name: "c", Value: 1}}, problems: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePerfdata(tt.text)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParsePerfdata(%q) =\n%s\nwant\n%s", tt.text, showMetrics(got), showMetrics(tt.want))
			}
			n := 0
			if err != nil {
				n = len(err.(interface{ Unwrap() []error }).Unwrap())
			}
			if n != tt.problems {
				t.Errorf("ParsePerfdata(%q) refused %d (%v), want %d", tt.text, n, err, tt.problems)
			}
		})
	}
}

// TestParsePluginOutput reads the shapes of output that real plugins print.
func TestParsePluginOutput(t *testing.T) {
	tests := []struct {
		name, out     string
		message, long string
		metrics       []string // perfData of each metric
		problems      bool
	}{
		{name: "check_load",
			out:     "LOAD OK - total load average: 0.42, 0.31, 0.20|load1=0.420;5.000;10.000;0; load5=0.310;4.000;8.000;0; load15=0.200;3.000;6.000;0; \n",
			message: "LOAD OK - total load average: 0.42, 0.31, 0.20",
			metrics: []string{"load1=0.42;5.000;10.000;0", "load5=0.31;4.000;8.000;0", "load15=0.2;3.000;6.000;0"}},
		{name: "check_dummy", out: "CRITICAL: down\n", message: "CRITICAL: down"},
		{name: "no-newline-no-perfdata", out: "OK", message: "OK"},
		{name: "empty", out: ""},
		// check_load -r -n 3: the top processes as long output, no more perfdata.
		{name: "long-output-only",
			out: "LOAD OK - scaled load average: 0.21, 0.15, 0.10|load1=0.420;;;0; scaled_load1=0.210;5.000;10.000;0;\n" +
				"STAT   UID   PID  PPID    VSZ   RSS %CPU     ELAPSED COMMAND\n" +
				"Sl       0 16457 16406 2783136 694884 41.7     00:29 helen.test\n" +
				"S        0  1201     1   12000   3300  0.3  1-02:03:04 sshd\n",
			message: "LOAD OK - scaled load average: 0.21, 0.15, 0.10",
			long: "STAT   UID   PID  PPID    VSZ   RSS %CPU     ELAPSED COMMAND\n" +
				"Sl       0 16457 16406 2783136 694884 41.7     00:29 helen.test\n" +
				"S        0  1201     1   12000   3300  0.3  1-02:03:04 sshd",
			metrics: []string{"load1=0.42;;;0", "scaled_load1=0.21;5.000;10.000;0"}},
		// The guidelines' example: long output, then more perfdata over
		// several lines after the second "|".
		{name: "long-output-and-perfdata",
			out: "DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968\n" +
				"/ 15272 MB (77%);\n" +
				"/boot 68 MB (69%);\n" +
				"/home 69357 MB (27%);\n" +
				"/var/log 819 MB (84%); | /boot=68MB;88;93;0;98\n" +
				"/home=69357MB;253404;253409;0;253414 \n" +
				"/var/log=818MB;970;975;0;980\n",
			message: "DISK OK - free space: / 3326 MB (56%);",
			long:    "/ 15272 MB (77%);\n/boot 68 MB (69%);\n/home 69357 MB (27%);\n/var/log 819 MB (84%);",
			metrics: []string{"/=2643MB;5948;5958;0;5968", "/boot=68MB;88;93;0;98", "/home=69357MB;253404;253409;0;253414", "/var/log=818MB;970;975;0;980"}},
		{name: "perfdata-only-after-long-output",
			out:     "SERVICES OK\n  nginx running\n  postgres running\n| services=2;;1:;0\n",
			message: "SERVICES OK", long: "  nginx running\n  postgres running",
			metrics: []string{"services=2;;1:;0"}},
		{name: "check_procs-range",
			out:     "PROCS CRITICAL: 0 processes with command name 'no-such-command' | procs=0;;1:1;0;\n",
			message: "PROCS CRITICAL: 0 processes with command name 'no-such-command'",
			metrics: []string{"procs=0;;1:1;0"}},
		{name: "inverted-and-unknown",
			out:     "TEMP WARNING - 'cpu 0' at 71 C | 'cpu 0'=71;@60:80;@80:;0;110 'cpu 1'=U;@60:80;@80:;0;110 'it''s'=1\n",
			message: "TEMP WARNING - 'cpu 0' at 71 C",
			metrics: []string{"'cpu 0'=71;@60:80;@80:;0;110", "'cpu 1'=U;@60:80;@80:;0;110", "'it''s'=1"}},
		{name: "windows-line-ends",
			out:     "OK: CPU Load ok.|'total 5m'=2%;80;90 'total 1m'=3%;80;90\r\ncore 0: 2%\r\ncore 1: 3%\r\n",
			message: "OK: CPU Load ok.", long: "core 0: 2%\ncore 1: 3%",
			metrics: []string{"'total 5m'=2%;80;90;0;100", "'total 1m'=3%;80;90;0;100"}},
		{name: "blank-lines-around",
			out:     "OK\n\n\n    indented\n\nafter a blank\n\n\n",
			message: "OK", long: "    indented\n\nafter a blank"},
		{name: "bad-perfdata",
			out:     "OK | a=1 nonsense\nmore\n| b=x c=2;1:x\n",
			message: "OK", long: "more", metrics: []string{"a=1", "c=2"}, problems: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePluginOutput(tt.out)
			if got.Message != tt.message {
				t.Errorf("message %q, want %q", got.Message, tt.message)
			}
			if got.LongOutput != tt.long {
				t.Errorf("long output %q, want %q", got.LongOutput, tt.long)
			}
			var perf []string
			for _, m := range got.Metrics {
				perf = append(perf, m.perfData())
			}
			if !reflect.DeepEqual(perf, tt.metrics) {
				t.Errorf("metrics %q, want %q", perf, tt.metrics)
			}
			if (err != nil) != tt.problems {
				t.Errorf("error %v, want one: %v", err, tt.problems)
			}
		})
	}
}

func showMetrics(ms []Metric) string {
	var b strings.Builder
	for _, m := range ms {
		b.WriteString("  " + m.perfData())
		if m.Warn != nil || m.Crit != nil {
			b.WriteString(" (numbers:")
			for _, p := range []*float64{m.Warn, m.Crit} {
				if p == nil {
					b.WriteString(" -")
				} else {
					b.WriteString(" " + formatFloat(*p))
				}
			}
			b.WriteString(")")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// formatPerfdata writes metrics as performance data, as Line does.
func formatPerfdata(ms []Metric) string {
	var items []string
	for _, m := range ms {
		items = append(items, m.perfData())
	}
	return strings.Join(items, " ")
}

// FuzzParsePerfdata checks that the metrics parsed from any text read the
// same once written back as Line writes them, without a refused item.
func FuzzParsePerfdata(f *testing.F) {
	for _, s := range []string{
		"load1=0.42;5;10;0", "'free space'=1.5GB;2;1;0;10 x=U", "'it''s'=1", "a=1 garbage b=2",
		"time=0.012s;;;0 size=1024B;;;0", "x=5;10:;@5:8;~;", "'a b=1", "=3", "p=5%;@1:2;~:3",
		"'a\tb'=1", "x=U;1:2;@3:4;0;10",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		ms, _ := ParsePerfdata(text)
		again, err := ParsePerfdata(formatPerfdata(ms))
		if err != nil || !reflect.DeepEqual(again, ms) {
			t.Fatalf("ParsePerfdata(%q) =\n%s\nwritten %q reads\n%s(%v)", text, showMetrics(ms), formatPerfdata(ms), showMetrics(again), err)
		}
	})
}

// FuzzParsePluginOutput checks that what a plugin printed, once a result
// document, prints as plugin output that reads the same.
func FuzzParsePluginOutput(f *testing.F) {
	for _, s := range []string{
		"OK", "OK - fine | a=1;2;3\nlong 1\nlong 2 | b=U;1:2\n c=3", "CRIT\r\n\r\n  x\r\n",
		"W | 'a b'=1%;@1:2\n| z=1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, out string) {
		p, _ := ParsePluginOutput(out)
		for _, m := range p.Metrics {
			if strings.Contains(m.Name, "|") || strings.Contains(m.Name, "\n") || math.IsNaN(m.Value) {
				return // Line writes such a label as it is; not plugin output
			}
		}
		d := Doc{Status: OK, Message: p.Message, LongOutput: p.LongOutput, Metrics: p.Metrics}
		again, err := ParsePluginOutput(d.Text())
		want := strings.TrimSpace(strings.TrimSuffix("OK: "+p.Message, ": "))
		if err != nil || again.Message != want || again.LongOutput != p.LongOutput || !reflect.DeepEqual(again.Metrics, p.Metrics) {
			t.Fatalf("ParsePluginOutput(%q) = %+v\nprinted %q reads %+v (%v)", out, p, d.Text(), again, err)
		}
	})
}
