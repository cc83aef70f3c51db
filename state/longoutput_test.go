package state

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/equus-monitoring/equus/result"
)

func TestCapLongOutput(t *testing.T) {
	for _, tt := range []struct {
		name, long, prefix, suffix string
	}{
		{"empty", "", "", ""},
		{"within", "/ 41%\n/home 3%", "/ 41%\n/home 3%", "/home 3%"},
		{"exactly", strings.Repeat("b", MaxLongOutput), strings.Repeat("b", MaxLongOutput), "b"},
		{"one-over", strings.Repeat("b", MaxLongOutput+1), "bbb", fmt.Sprintf("b… [cut from %d bytes]", MaxLongOutput+1)},
		{"utf8", strings.Repeat("é", MaxLongOutput), "éé", "é… [cut from 16384 bytes]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := CapLongOutput(tt.long)
			if len(got) > MaxLongOutput || !utf8.ValidString(got) || !strings.HasPrefix(got, tt.prefix) || !strings.HasSuffix(got, tt.suffix) {
				t.Errorf("CapLongOutput: %d bytes ending %q, want at most %d, beginning %.20q and ending %q",
					len(got), got[max(0, len(got)-40):], MaxLongOutput, tt.prefix, tt.suffix)
			}
			if again := CapLongOutput(got); again != got {
				t.Errorf("CapLongOutput again changed it: %d bytes, then %d", len(got), len(again))
			}
		})
	}
}

// TestStoreCapsLongOutput: a result and a status with a long output of
// 1 MiB are stored with 8 KiB of it, saying so; a threshold range longer
// than any Parse lets in is dropped, the rest of its metric kept.
func TestStoreCapsLongOutput(t *testing.T) {
	db := openTest(t, Options{})
	huge := strings.Repeat("line\n", 1<<20/5)
	ms := []Metric{{Name: "m", Value: 1, WarnRange: strings.Repeat("1", 1<<10), CritRange: "@3:4"}}
	if err := db.AddResult(t.Context(), Result{Agent: "a", Check: "c", Time: at(0), Status: "ok", Message: "m", LongOutput: huge, Metrics: ms}); err != nil {
		t.Fatal(err)
	}
	if err := db.PutStatuses(Status{Agent: "a", Schedule: "s", Check: "c", Status: "ok", Message: "m", LongOutput: huge, Metrics: ms, Time: at(0)}); err != nil {
		t.Fatal(err)
	}
	rs, err := db.History("a", "c", 0, at(0).Add(-1), at(1))
	if err != nil || len(rs) != 1 {
		t.Fatalf("history: %d results, %v", len(rs), err)
	}
	sts, err := db.Statuses("a")
	if err != nil || len(sts) != 1 {
		t.Fatalf("statuses: %d, %v", len(sts), err)
	}
	for what, got := range map[string]struct {
		long    string
		metrics []Metric
	}{"result": {rs[0].LongOutput, rs[0].Metrics}, "status": {sts[0].LongOutput, sts[0].Metrics}} {
		if len(got.long) > MaxLongOutput || !strings.HasPrefix(got.long, "line\nline\n") || !strings.HasSuffix(got.long, fmt.Sprintf("[cut from %d bytes]", len(huge))) {
			t.Errorf("%s: long output of %d bytes ending %q", what, len(got.long), got.long[max(0, len(got.long)-40):])
		}
		want := Metric{Name: "m", Value: 1, CritRange: "@3:4"}
		if len(got.metrics) != 1 || got.metrics[0] != want || len(got.metrics[0].WarnRange) > result.MaxRangeLen {
			t.Errorf("%s: metrics %+v, want %+v", what, got.metrics, want)
		}
	}
	if len(ms[0].WarnRange) != 1<<10 {
		t.Error("Cap changed the caller's metrics")
	}
}
