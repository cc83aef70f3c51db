package result

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func f(v float64) *float64 { return &v }

func TestStatusCode(t *testing.T) {
	tests := []struct {
		s        Status
		code     int
		valid    bool
		severity int
	}{
		{OK, 0, true, 0},
		{Warning, 1, true, 2},
		{Critical, 2, true, 3},
		{Unknown, 3, true, 1},
		{"OK", 3, false, 1},
		{"", 3, false, 1},
		{"bogus", 3, false, 1},
	}
	for _, tt := range tests {
		if got := tt.s.Code(); got != tt.code {
			t.Errorf("%q.Code() = %d, want %d", tt.s, got, tt.code)
		}
		if got := tt.s.Severity(); got != tt.severity {
			t.Errorf("%q.Severity() = %d, want %d", tt.s, got, tt.severity)
		}
		if got := tt.s.Valid(); got != tt.valid {
			t.Errorf("%q.Valid() = %v, want %v", tt.s, got, tt.valid)
		}
	}
	for code, want := range map[int]Status{0: OK, 1: Warning, 2: Critical, 3: Unknown, 4: Unknown, -1: Unknown, 255: Unknown} {
		if got := FromCode(code); got != want {
			t.Errorf("FromCode(%d) = %q, want %q", code, got, want)
		}
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		blob    string
		status  Status
		message string // substring the message must contain
		metrics int
	}{
		{"ok", `{"status":"ok","message":"load 0.42","metrics":[{"name":"load1","value":0.42,"warn":4,"crit":8}],"duration_ms":1.8}`, OK, "load 0.42", 1},
		{"warning-no-metrics", `{"status":"warning","message":"w"}`, Warning, "w", 0},
		{"null-metrics", `{"status":"critical","message":"c","metrics":null}`, Critical, "c", 0},
		{"empty", ``, Unknown, "invalid result document", 0},
		{"not-json", `status=ok`, Unknown, "invalid result document", 0},
		{"array", `[1,2]`, Unknown, "invalid result document", 0},
		{"null", `null`, Unknown, "not a JSON object", 0},
		{"no-status", `{"message":"hi"}`, Unknown, "no status: hi", 0},
		{"unknown-status", `{"status":"fine","message":"hi"}`, Unknown, `unknown status "fine": hi`, 0},
		{"upper-status", `{"status":"OK","message":"hi"}`, Unknown, `unknown status "OK"`, 0},
		{"numeric-status", `{"status":0,"message":"hi"}`, Unknown, "status is not a string", 0},
		{"message-not-string", `{"status":"ok","message":5}`, Unknown, "message is not a string", 0},
		{"bad-duration", `{"status":"ok","message":"m","duration_ms":"1"}`, Unknown, "duration_ms is not a number", 0},
		{"metrics-not-list", `{"status":"ok","message":"m","metrics":{}}`, Unknown, "metrics is not a list", 0},
		{"metric-no-name", `{"status":"ok","message":"m","metrics":[{"value":1},{"name":"a","value":2}]}`, Unknown, "metric 1: no name: m", 1},
		{"metric-string-value", `{"status":"ok","message":"m","metrics":[{"name":"a","value":"2"}]}`, Unknown, "metric 1: malformed", 0},
		{"metric-no-value", `{"status":"ok","message":"m","metrics":[{"name":"a"}]}`, Unknown, "a has no numeric value", 0},
		{"two-problems", `{"metrics":[{"name":"a"}]}`, Unknown, "no status; metric 1", 0},
		{"long-output", `{"status":"ok","message":"m","long_output":"line 1\nline 2"}`, OK, "m", 0},
		{"long-output-not-string", `{"status":"ok","message":"m","long_output":["x"]}`, Unknown, "long_output is not a string: m", 0},
		{"unknown-value", `{"status":"ok","message":"m","metrics":[{"name":"a","value":null,"warn_range":"1:2"}]}`, OK, "m", 1},
		{"ranges", `{"status":"ok","message":"m","metrics":[{"name":"a","value":1,"warn_range":"1:2","crit_range":"@3:4"}]}`, OK, "m", 1},
		{"bad-range", `{"status":"ok","message":"m","metrics":[{"name":"a","value":1,"warn_range":"2:1"}]}`, Unknown, `metric 1: a: threshold "2:1": start is above end`, 0},
		{"range-not-string", `{"status":"ok","message":"m","metrics":[{"name":"a","value":1,"crit_range":4}]}`, Unknown, "metric 1: malformed", 0},
		{"long-range", `{"status":"ok","message":"m","metrics":[{"name":"a","value":1,"crit_range":"` + strings.Repeat("1", 100) + `"}]}`, Unknown, "longer than 64 bytes", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Parse([]byte(tt.blob))
			if d.Status != tt.status {
				t.Errorf("status = %q, want %q (message %q)", d.Status, tt.status, d.Message)
			}
			if !strings.Contains(d.Message, tt.message) {
				t.Errorf("message = %q, want it to contain %q", d.Message, tt.message)
			}
			if len(d.Metrics) != tt.metrics {
				t.Errorf("got %d metrics, want %d", len(d.Metrics), tt.metrics)
			}
		})
	}
}

func TestParseEncodeRoundTrip(t *testing.T) {
	d := Doc{Status: Warning, Message: "disk / 91% <used> & \"quoted\"\n", LongOutput: "/ 91%\n/home 12%", DurationMS: 0.25,
		Metrics: []Metric{
			{Name: "used", Value: 91, Unit: "%", Warn: f(90), WarnRange: "90", Crit: f(95), Min: f(0), Max: f(100)},
			{Name: "x", Value: -1.5, WarnRange: "1:2", CritRange: "@3:4"},
			{Name: "gone", Unknown: true, Unit: "s", Crit: f(3)},
		}}
	b := d.Encode(1 << 20)
	got := Parse(b)
	if string(got.Encode(1<<20)) != string(b) {
		t.Fatalf("round trip changed the document:\n%s\n%s", b, got.Encode(1<<20))
	}
	if !reflect.DeepEqual(got, d) {
		t.Fatalf("round trip: got %+v, want %+v", got, d)
	}
	// What helen stores reads back the same, without Parse's checks.
	var stored Doc
	if err := json.Unmarshal(b, &stored); err != nil || !reflect.DeepEqual(stored, d) {
		t.Fatalf("json.Unmarshal: %+v, %v; want %+v", stored, err, d)
	}
}

// The JSON of a metric: the value null when unknown, the thresholds as
// written beside their numbers, keys in snake case.
func TestMetricJSON(t *testing.T) {
	for _, tt := range []struct {
		m    Metric
		want string
	}{
		{Metric{Name: "load1", Value: 0.42, Warn: f(4), Crit: f(8)}, `{"name":"load1","value":0.42,"warn":4,"crit":8}`},
		{Metric{Name: "x", Value: 1.5, WarnRange: "1:2", CritRange: "@3:4"}, `{"name":"x","value":1.5,"warn_range":"1:2","crit_range":"@3:4"}`},
		{Metric{Name: "u", Unknown: true, Unit: "B", Warn: f(5), WarnRange: "5.000", Min: f(0)}, `{"name":"u","value":null,"unit":"B","warn":5,"warn_range":"5.000","min":0}`},
		{Metric{Name: "zero", Value: 0}, `{"name":"zero","value":0}`},
	} {
		b, err := json.Marshal(tt.m)
		if err != nil || string(b) != tt.want {
			t.Errorf("json.Marshal(%+v) = %s, %v; want %s", tt.m, b, err, tt.want)
		}
	}
}

func TestEncodeTruncates(t *testing.T) {
	tests := []struct {
		name    string
		msg     string
		metrics int
		max     int
	}{
		{"ascii", strings.Repeat("a", 5000), 0, 1000},
		{"multibyte", strings.Repeat("é€😀", 2000), 0, 777},
		{"escaped", strings.Repeat("\"\\\n\x01<", 3000), 0, 501},
		{"invalid-utf8", strings.Repeat("a\xff\xfe", 1000), 0, 300},
		{"with-metrics", strings.Repeat("m", 10000), 20, 2000},
		{"metrics-too-big", "short", 1000, 200},
		{"wire-limit", strings.Repeat("z", 2<<20), 3, 1 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Doc{Status: Critical, Message: tt.msg, DurationMS: 3}
			for i := range tt.metrics {
				d.Metrics = append(d.Metrics, Metric{Name: strings.Repeat("n", 20), Value: float64(i), Warn: f(1)})
			}
			b := d.Encode(tt.max)
			if len(b) > tt.max {
				t.Fatalf("encoded %d bytes, max %d", len(b), tt.max)
			}
			if !json.Valid(b) {
				t.Fatalf("invalid JSON: %s", b)
			}
			got := Parse(b)
			if got.Status != Critical {
				t.Fatalf("status = %q (%s)", got.Status, got.Message)
			}
			if !strings.HasSuffix(got.Message, ")") || !strings.Contains(got.Message, "(truncated") {
				t.Fatalf("message does not say it was truncated: %q", got.Message)
			}
			if !utf8.ValidString(got.Message) {
				t.Fatalf("message is not valid UTF-8")
			}
			// Nearly full: the cut keeps as much as fits.
			if tt.metrics < 1000 && len(b) < tt.max-12 {
				t.Fatalf("encoded %d bytes, wasted more than a few of %d", len(b), tt.max)
			}
		})
	}
}

// The long output is cut before the message, and dropped before the
// message is cut.
func TestEncodeTruncatesLongOutput(t *testing.T) {
	d := Doc{Status: Warning, Message: strings.Repeat("m", 100), LongOutput: strings.Repeat("l\n", 5000),
		Metrics: []Metric{{Name: "a", Value: 1, WarnRange: "1:2"}}}
	for _, max := range []int{5000, 1000, 300, 200, 150} {
		b := d.Encode(max)
		if len(b) > max || !json.Valid(b) {
			t.Fatalf("Encode(%d): %d bytes: %s", max, len(b), b)
		}
		got := Parse(b)
		if got.Status != Warning {
			t.Fatalf("Encode(%d): status %q (%s)", max, got.Status, got.Message)
		}
		switch {
		case got.LongOutput != "":
			if got.Message != d.Message || !strings.HasSuffix(got.LongOutput, truncatedNote) || len(got.Metrics) != 1 {
				t.Errorf("Encode(%d): long output cut, but message %q, long output ...%q, %d metrics", max, got.Message, got.LongOutput[max/2:], len(got.Metrics))
			}
		case max >= 300:
			t.Errorf("Encode(%d) dropped the long output, though %d bytes hold the message and some of it", max, max)
		default:
			if !strings.HasPrefix(got.Message, "mmm") || !strings.HasSuffix(got.Message, truncatedNote) {
				t.Errorf("Encode(%d): long output dropped, but message %q", max, got.Message)
			}
		}
		if len(b) < max-12 {
			t.Errorf("Encode(%d) = %d bytes, wasted more than a few", max, len(b))
		}
	}
}

func TestEncodeFitsUntouched(t *testing.T) {
	d := Doc{Status: OK, Message: "fine"}
	if got, want := string(d.Encode(0)), `{"status":"ok","message":"fine","duration_ms":0}`; got != want {
		t.Fatalf("Encode(0) = %s, want %s", got, want)
	}
	if got := d.Encode(len(d.Encode(0))); string(got) != string(d.Encode(0)) {
		t.Fatalf("an exact fit was changed: %s", got)
	}
}

func TestEncodeNonFinite(t *testing.T) {
	d := Doc{Status: OK, Message: "m", DurationMS: math.NaN(), Metrics: []Metric{
		{Name: "nan", Value: math.NaN()},
		{Name: "inf", Value: 1, Warn: f(math.Inf(1)), Crit: f(2)},
	}}
	b := d.Encode(0)
	if !json.Valid(b) {
		t.Fatalf("invalid JSON: %s", b)
	}
	got := Parse(b)
	if got.Status != OK || len(got.Metrics) != 1 || got.Metrics[0].Name != "inf" || got.Metrics[0].Warn != nil || *got.Metrics[0].Crit != 2 {
		t.Fatalf("got %s", b)
	}
}

func TestLine(t *testing.T) {
	tests := []struct {
		d    Doc
		want string
	}{
		{Doc{Status: OK, Message: "load 0.42", Metrics: []Metric{{Name: "load1", Value: 0.42, Warn: f(4), Crit: f(8)}}}, "OK: load 0.42 | load1=0.42;4;8"},
		{Doc{Status: Critical, Message: "down"}, "CRITICAL: down"},
		{Doc{Status: "nonsense"}, "UNKNOWN"},
		{Doc{Status: Warning, Message: "disk", Metrics: []Metric{
			{Name: "/ used", Value: 91, Unit: "%", Max: f(100)},
			{Name: "it's", Value: 1e21},
			{Name: "b", Value: 3, Crit: f(5)},
		}}, "WARNING: disk | '/ used'=91%;;;;100 'it''s'=1000000000000000000000 b=3;;5"},
		{Doc{Status: Critical, Message: "temp", Metrics: []Metric{
			{Name: "x", Value: 1.5, WarnRange: "1:2", CritRange: "@3:4"},
			{Name: "cpu\t1", Unknown: true, Unit: "C", Warn: f(5), WarnRange: "5.000", Max: f(110)},
		}}, "CRITICAL: temp | x=1.5;1:2;@3:4 'cpu\t1'=U;5.000;;;110"},
	}
	for _, tt := range tests {
		if got := tt.d.Line(); got != tt.want {
			t.Errorf("Line() = %q, want %q", got, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"status":"ok","message":"m","metrics":[{"name":"a","value":1}]}`))
	f.Add([]byte(`{"status":"bad"}`))
	f.Add([]byte(`nope`))
	f.Add([]byte(`{"status":"warning","message":"m","long_output":"a\nb","metrics":[{"name":"a","value":null,"warn_range":"@1:2","crit":3}]}`))
	f.Fuzz(func(t *testing.T, blob []byte) {
		d := Parse(blob)
		if !d.Status.Valid() {
			t.Fatalf("Parse gave invalid status %q", d.Status)
		}
		b := d.Encode(256)
		if !json.Valid(b) {
			t.Fatalf("Encode gave invalid JSON: %s", b)
		}
		// Encoding what Parse returned and parsing it again is stable.
		full := d.Encode(0)
		if again := Parse(full).Encode(0); string(again) != string(full) {
			t.Fatalf("not stable:\n%s\n%s", full, again)
		}
	})
}
