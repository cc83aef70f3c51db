package state

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"
)

// TestEncodeResultAsMarshal checks that encodeResult writes the bytes
// json.Marshal writes of the result, through Metric.MarshalJSON: the
// stored form is the one History reads back, whichever way it is made.
func TestEncodeResultAsMarshal(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	at := time.Date(2030, 1, 2, 3, 4, 5, 600_700_800, time.FixedZone("x", 3600))
	for _, tc := range []struct {
		name string
		r    Result
	}{
		{"plain", Result{Agent: "web-1", Check: "load", Time: at, Status: "ok", Message: "ok", DurationMS: 0.5}},
		{"scheduled", Result{Agent: "web-1", Check: "load", Schedule: "load5", Time: at.UTC(), Status: "critical",
			Message: `<b>"quoted"</b> & ` + "\u2028 \xff tab\t", LongOutput: "line 1\nline 2", DurationMS: 12.25}},
		{"metrics", Result{Agent: "db-1", Check: "disk", Time: at, Status: "warning", Message: "90%", DurationMS: 1e-7,
			Metrics: []Metric{
				{Name: "used", Value: 90.5, Unit: "%", Warn: f(80), Crit: f(95), Min: f(0), Max: f(100)},
				{Name: "inodes", Unknown: true, WarnRange: "10:20", CritRange: "@3:4"},
				{Name: "tiny", Value: 1e-21},
				{Name: "big", Value: 1e21, Max: f(math.MaxFloat64)},
				{Name: "zero"},
			}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := encodeResult(tc.r)
			if err != nil {
				t.Fatal(err)
			}
			want, err := json.Marshal(tc.r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("encodeResult:\n%s\njson.Marshal:\n%s", got, want)
			}
		})
	}
}

func BenchmarkEncodeResult(b *testing.B) {
	r := Result{Agent: "load-0001", Check: "load", Schedule: "load1", Time: time.Unix(1e9, 5), Status: "ok",
		Message: "ok", Metrics: []Metric{{Name: "value", Value: 1}}, DurationMS: 0.01}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encodeResult(r); err != nil {
			b.Fatal(err)
		}
	}
}
