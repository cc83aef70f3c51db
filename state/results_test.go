package state

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// addAll adds results concurrently, so that they share transactions.
func addAll(t testing.TB, db *DB, rs ...Result) {
	t.Helper()
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Go(func() {
			if err := db.AddResult(t.Context(), r); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

func msgs(rs []Result) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Message)
	}
	return out
}

func TestResultRoundTrip(t *testing.T) {
	db := openTest(t, Options{})
	warn, crit := 4.0, 8.0
	in := Result{
		Agent: "a", Check: "load", Time: at(time.Nanosecond), Status: "warning", Message: "load 5",
		Metrics:    []Metric{{Name: "load1", Value: 5, Warn: &warn, Crit: &crit}, {Name: "procs", Value: 120, Unit: "c"}},
		DurationMS: 1.8,
	}
	// Two results in the same nanosecond are both kept.
	twin := in
	twin.Message = "twin"
	addAll(t, db, in)
	addAll(t, db, twin)
	got, err := db.History("a", "load", 0, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Message != "twin" {
		t.Fatalf("History = %v", msgs(got))
	}
	r := got[1]
	if r.Agent != in.Agent || r.Check != in.Check || !r.Time.Equal(in.Time) || r.Status != in.Status ||
		r.DurationMS != in.DurationMS || len(r.Metrics) != 2 || *r.Metrics[0].Warn != warn ||
		*r.Metrics[0].Crit != crit || r.Metrics[0].Min != nil || r.Metrics[1].Unit != "c" {
		t.Errorf("got %+v, want %+v", r, in)
	}
}

func TestCheckStates(t *testing.T) {
	db := openTest(t, Options{})
	steps := []struct {
		status string
		since  time.Duration
	}{
		{"ok", 0}, {"ok", 0}, {"critical", 2}, {"critical", 2}, {"critical", 2}, {"ok", 5},
	}
	for i, st := range steps {
		r := newResult("a", "http", fmt.Sprint(i), at(time.Duration(i)*time.Minute))
		r.Status = st.status
		addAll(t, db, r)
		states, err := db.CheckStates("a")
		if err != nil {
			t.Fatal(err)
		}
		if len(states) != 1 {
			t.Fatalf("%d states, want 1", len(states))
		}
		got := states[0]
		if got.Result.Status != st.status || !got.Since.Equal(at(st.since*time.Minute)) || got.Count != i+1 {
			t.Errorf("step %d: status %s since %v count %d; want %s since %v count %d",
				i, got.Result.Status, got.Since, got.Count, st.status, at(st.since*time.Minute), i+1)
		}
	}
}
