package monitor

import (
	"slices"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/state"
)

func TestStatusViewsOrder(t *testing.T) {
	rows := []state.Status{
		{Agent: "b", Schedule: "x", Status: "ok"},
		{Agent: "a", Schedule: "y", Status: "unknown"},
		{Agent: "c", Schedule: "x", Status: "critical"},
		{Agent: "a", Schedule: "x", Status: "warning"},
		{Agent: "a", Schedule: "z", Status: "ok"},
		{Agent: "d", Schedule: "x", Status: "critical"},
	}
	for _, unfold := range []bool{false, true} {
		got := statusViews(rows, map[string]time.Time{"d": time.Unix(0, 0)}, unfold)
		want := []string{"c/x critical", "a/x warning", "a/y unknown", "d/ unknown", "a/z ok", "b/x ok"}
		if unfold {
			want = slices.Insert(want, 4, "d/x unknown")
		}
		var rows []string
		for _, v := range got {
			rows = append(rows, v.Agent+"/"+v.Schedule+" "+v.Status.Status)
		}
		if !slices.Equal(rows, want) {
			t.Errorf("unfold %v: rows %v, want %v", unfold, rows, want)
		}
	}
}
