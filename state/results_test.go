package state

import (
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
