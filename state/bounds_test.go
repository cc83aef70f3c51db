package state

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func metricsNamed(n int, name, unit string) []Metric {
	ms := make([]Metric, n)
	for i := range ms {
		ms[i] = Metric{Name: fmt.Sprintf("%s%d", name, i), Value: float64(i), Unit: unit}
	}
	return ms
}

func TestCap(t *testing.T) {
	long := strings.Repeat("a", 1<<20)
	tests := []struct {
		name        string
		msg         string
		metrics     []Metric
		wantPrefix  string
		wantSuffix  string
		wantMetrics int
	}{
		{"within", "load 0.42", metricsNamed(3, "m", "s"), "load 0.42", "load 0.42", 3},
		{"exactly", strings.Repeat("b", MaxMessage), nil, strings.Repeat("b", MaxMessage), "b", 0},
		{"one-over", strings.Repeat("b", MaxMessage+1), nil, "bbb", fmt.Sprintf("b… [cut from %d bytes]", MaxMessage+1), 0},
		{"megabyte", long, nil, "aaa", "a… [cut from 1048576 bytes]", 0},
		// A cut inside a 2-byte character goes back to its start.
		{"utf8", strings.Repeat("é", MaxMessage), nil, "éé", "é… [cut from 16384 bytes]", 0},
		{"metrics", "ok", metricsNamed(1000, "m", ""), "ok", "ok [metrics cut from 1000 to 32]", MaxMetrics},
		{"both", long, metricsNamed(40, "m", ""), "aaa", "a… [cut from 1048576 bytes] [metrics cut from 40 to 32]", MaxMetrics},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, ms := Cap(tt.msg, tt.metrics)
			if len(msg) > MaxMessage || !utf8.ValidString(msg) {
				t.Fatalf("message of %d bytes (valid UTF-8: %v), want at most %d", len(msg), utf8.ValidString(msg), MaxMessage)
			}
			if !strings.HasPrefix(msg, tt.wantPrefix) || !strings.HasSuffix(msg, tt.wantSuffix) {
				t.Errorf("message %.40q...%q, want it to begin %.40q and end %q", msg, msg[max(0, len(msg)-60):], tt.wantPrefix, tt.wantSuffix)
			}
			if len(ms) != tt.wantMetrics {
				t.Errorf("%d metrics, want %d", len(ms), tt.wantMetrics)
			}
			// Cap's result is within the bounds: capping it again changes nothing.
			msg2, ms2 := Cap(msg, ms)
			if msg2 != msg || len(ms2) != len(ms) {
				t.Errorf("Cap again: %d bytes and %d metrics, want %d and %d", len(msg2), len(ms2), len(msg), len(ms))
			}
		})
	}
}

func TestCapMetricNames(t *testing.T) {
	in := []Metric{
		{Name: "short", Unit: "s"},
		{Name: strings.Repeat("n", 1000), Unit: strings.Repeat("u", 1000)},
		{Name: strings.Repeat("€", 100), Unit: "%"}, // 300 bytes, 3 a character
	}
	_, out := Cap("", in)
	if out[0] != in[0] {
		t.Errorf("metric 0 = %+v, want it as it was", out[0])
	}
	if out[1].Name != strings.Repeat("n", MaxMetricName) || out[1].Unit != strings.Repeat("u", MaxMetricUnit) {
		t.Errorf("metric 1: name of %d bytes, unit of %d; want %d and %d", len(out[1].Name), len(out[1].Unit), MaxMetricName, MaxMetricUnit)
	}
	if want := strings.Repeat("€", MaxMetricName/3); out[2].Name != want {
		t.Errorf("metric 2: name %q, want %q", out[2].Name, want)
	}
	if len(in[1].Name) != 1000 {
		t.Error("Cap changed the caller's metrics")
	}
}

// TestStoreCaps: a result, a status and an event with a message of 1 MiB
// and a thousand metrics are stored capped, saying so, by every write.
func TestStoreCaps(t *testing.T) {
	db := openTest(t, Options{})
	huge := strings.Repeat("x", 1<<20)
	ms := metricsNamed(1000, strings.Repeat("n", 300), strings.Repeat("u", 300))
	r := Result{Agent: "a", Check: "c", Time: at(0), Status: "critical", Message: huge, Metrics: ms}
	if err := db.AddResult(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	st := Status{Agent: "a", Schedule: "s", Check: "c", Status: "critical", Message: huge, Metrics: ms, Time: at(0)}
	if err := db.PutStatuses(st); err != nil {
		t.Fatal(err)
	}
	if err := db.AddEvents(Event{Time: at(0), Agent: "a", Schedule: "s", From: "ok", To: "critical", Message: huge}); err != nil {
		t.Fatal(err)
	}

	checkCapped := func(what, msg string, metrics []Metric, wantMetrics int) {
		t.Helper()
		if len(msg) > MaxMessage || !strings.Contains(msg, "[cut from 1048576 bytes]") {
			t.Errorf("%s: message of %d bytes ending %q, want at most %d saying it was cut", what, len(msg), msg[max(0, len(msg)-60):], MaxMessage)
		}
		if len(metrics) != wantMetrics {
			t.Errorf("%s: %d metrics, want %d", what, len(metrics), wantMetrics)
		}
		for _, m := range metrics {
			if len(m.Name) > MaxMetricName || len(m.Unit) > MaxMetricUnit {
				t.Errorf("%s: metric name of %d bytes, unit of %d", what, len(m.Name), len(m.Unit))
				break
			}
		}
	}
	rs, err := db.History("a", "c", 0, time.Time{}, time.Time{})
	if err != nil || len(rs) != 1 {
		t.Fatalf("history: %d results, %v", len(rs), err)
	}
	checkCapped("result", rs[0].Message, rs[0].Metrics, MaxMetrics)
	if !strings.HasSuffix(rs[0].Message, "[metrics cut from 1000 to 32]") {
		t.Errorf("result: message ends %q, want it to say the metrics were cut", rs[0].Message[len(rs[0].Message)-60:])
	}
	latest, err := db.Latest("a")
	if err != nil || len(latest) != 1 {
		t.Fatalf("latest: %d, %v", len(latest), err)
	}
	checkCapped("latest", latest[0].Message, latest[0].Metrics, MaxMetrics)
	sts, err := db.Statuses("a")
	if err != nil || len(sts) != 1 {
		t.Fatalf("statuses: %d, %v", len(sts), err)
	}
	checkCapped("status", sts[0].Message, sts[0].Metrics, MaxMetrics)
	evs, err := db.Events(time.Time{}, time.Time{}, 0)
	if err != nil || len(evs) != 1 {
		t.Fatalf("events: %d, %v", len(evs), err)
	}
	checkCapped("event", evs[0].Message, nil, 0)
}
