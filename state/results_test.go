package state

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
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

func TestHistoryTimeOrder(t *testing.T) {
	db := openTest(t, Options{})
	var rs []Result
	for i := range 50 {
		rs = append(rs, newResult("a", "load", fmt.Sprint(i), at(time.Duration(i)*time.Second)))
	}
	// Out of order, in several batches: keys, not arrival, give the order.
	rand.Shuffle(len(rs), func(i, j int) { rs[i], rs[j] = rs[j], rs[i] })
	addAll(t, db, rs[:25]...)
	addAll(t, db, rs[25:]...)
	got, err := db.History("a", "load", 0, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 50 {
		t.Fatalf("%d results, want 50", len(got))
	}
	for i, r := range got {
		if want := fmt.Sprint(49 - i); r.Message != want || !r.Time.Equal(at(time.Duration(49-i)*time.Second)) {
			t.Errorf("result %d = %s at %v, want %s", i, r.Message, r.Time, want)
		}
	}
}

func TestHistoryRange(t *testing.T) {
	db := openTest(t, Options{})
	var rs []Result
	for i := range 10 {
		// cpu at 0,2,4..18s; disk at 1,3,5..19s.
		rs = append(rs,
			newResult("a", "cpu", fmt.Sprintf("cpu%d", 2*i), at(time.Duration(2*i)*time.Second)),
			newResult("a", "disk", fmt.Sprintf("disk%d", 2*i+1), at(time.Duration(2*i+1)*time.Second)))
	}
	rs = append(rs, newResult("ab", "cpu", "other agent", at(0)))
	addAll(t, db, rs...)

	s := func(n int) time.Time { return at(time.Duration(n) * time.Second) }
	var zero time.Time
	tests := []struct {
		name         string
		agent, check string
		limit        int
		since, until time.Time
		want         []string
	}{
		{"limit", "a", "cpu", 3, zero, zero, []string{"cpu18", "cpu16", "cpu14"}},
		{"since-inclusive", "a", "cpu", 0, s(14), zero, []string{"cpu18", "cpu16", "cpu14"}},
		{"until-exclusive", "a", "cpu", 0, zero, s(4), []string{"cpu2", "cpu0"}},
		{"range-and-limit", "a", "cpu", 2, s(3), s(15), []string{"cpu14", "cpu12"}},
		{"until-past-end", "a", "disk", 1, zero, s(100), []string{"disk19"}},
		{"since-past-end", "a", "disk", 0, s(100), zero, nil},
		{"empty-range", "a", "cpu", 0, s(5), s(6), nil},
		{"every-check", "a", "", 5, zero, zero, []string{"disk19", "cpu18", "disk17", "cpu16", "disk15"}},
		{"every-check-range", "a", "", 0, s(2), s(5), []string{"cpu4", "disk3", "cpu2"}},
		{"unknown-check", "a", "mem", 0, zero, zero, nil},
		{"unknown-agent", "nobody", "", 0, zero, zero, nil},
		{"prefix-agent", "ab", "", 0, zero, zero, []string{"other agent"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.History(tt.agent, tt.check, tt.limit, tt.since, tt.until)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(msgs(got), tt.want) {
				t.Errorf("History = %v, want %v", msgs(got), tt.want)
			}
		})
	}
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

func TestLatest(t *testing.T) {
	db := openTest(t, Options{})
	addAll(t, db,
		newResult("b", "cpu", "b-cpu-old", at(0)),
		newResult("a", "cpu", "a-cpu-new", at(2*time.Second)),
		newResult("a", "disk", "a-disk", at(time.Second)),
		newResult("ab", "cpu", "ab-cpu", at(time.Second)))
	// Arrives late but is older: it goes into history, not into latest.
	addAll(t, db, newResult("a", "cpu", "a-cpu-old", at(time.Second)))
	addAll(t, db, newResult("b", "cpu", "b-cpu-new", at(time.Minute)))

	tests := []struct {
		agent string
		want  []string
	}{
		{"a", []string{"a-cpu-new", "a-disk"}},
		{"b", []string{"b-cpu-new"}},
		{"", []string{"a-cpu-new", "a-disk", "ab-cpu", "b-cpu-new"}},
		{"c", nil},
	}
	for _, tt := range tests {
		got, err := db.Latest(tt.agent)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(msgs(got), tt.want) {
			t.Errorf("Latest(%q) = %v, want %v", tt.agent, msgs(got), tt.want)
		}
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

func TestAddResultInvalid(t *testing.T) {
	db := openTest(t, Options{})
	ok := newResult("a", "c", "m", at(0))
	tests := []struct {
		name   string
		change func(*Result)
	}{
		{"no-agent", func(r *Result) { r.Agent = "" }},
		{"no-check", func(r *Result) { r.Check = "" }},
		{"nul-in-agent", func(r *Result) { r.Agent = "a\x00b" }},
		{"long-check", func(r *Result) { r.Check = string(make([]byte, 2000)) }},
		{"bad-status", func(r *Result) { r.Status = "fine" }},
		{"no-time", func(r *Result) { r.Time = time.Time{} }},
		{"before-1970", func(r *Result) { r.Time = time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"nan-metric", func(r *Result) { r.Metrics = []Metric{{Name: "x", Value: nan()}} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ok
			tt.change(&r)
			if err := db.AddResult(t.Context(), r); !errors.Is(err, ErrInvalid) {
				t.Errorf("AddResult = %v, want ErrInvalid", err)
			}
		})
	}
	if got, _ := db.Latest(""); len(got) != 0 {
		t.Errorf("invalid results stored: %v", got)
	}
}

func nan() float64 {
	var zero float64
	return zero / zero
}
