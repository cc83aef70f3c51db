package monitor

import (
	"fmt"
	"strings"
	"testing"

	"github.com/equus-monitoring/equus/result"
)

func TestSanitize(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"load1", "load1"},
		{"used%", "usedpercent"},
		{"/var/log used", "_var_log_used"},
		{`a"b\c{d}`, "a_b_c_d_"},
		{"é", "_"},
		{strings.Repeat("x", 100), strings.Repeat("x", maxMetricName)},
		{"", ""},
	} {
		if got := sanitize(tc.in); got != tc.want {
			t.Errorf("sanitize(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestBoundMetrics(t *testing.T) {
	var in []result.Metric
	in = append(in, result.Metric{Name: "a-b", Value: 1}, result.Metric{Name: "a_b", Value: 2}, result.Metric{Name: "", Value: 3})
	for i := range 40 {
		in = append(in, result.Metric{Name: fmt.Sprintf("m%d", i), Value: float64(i), Unit: "s"})
	}
	got := boundMetrics(in)
	if len(got) != MaxMetrics {
		t.Fatalf("%d metrics kept, want %d", len(got), MaxMetrics)
	}
	if got[0].Name != "a_b" || got[0].Value != 1 || got[1].Name != "m0" {
		t.Errorf("kept %+v: want the first of two names that sanitize alike, no empty name", got[:2])
	}
}
