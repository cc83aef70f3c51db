package state

import (
	"fmt"
	"testing"
	"time"
)

func TestPruneByAge(t *testing.T) {
	db := openTest(t, Options{HistoryMaxAge: 24 * time.Hour})
	day := 24 * time.Hour
	addAll(t, db,
		newResult("a", "cpu", "cpu-3d", at(-3*day)),
		newResult("a", "cpu", "cpu-2d", at(-2*day)),
		newResult("a", "cpu", "cpu-1h", at(-time.Hour)),
		newResult("a", "gone", "gone-2d", at(-2*day)),
		newResult("old", "cpu", "old-5d", at(-5*day)),
	)
	n, err := db.Prune(at(0))
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("Prune deleted %d, want 4", n)
	}
	got, err := db.History("a", "", 0, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if m := msgs(got); len(m) != 1 || m[0] != "cpu-1h" {
		t.Errorf("history after prune = %v", m)
	}
	// Checks and agents left with nothing are gone, latest record too.
	latest, err := db.Latest("")
	if err != nil {
		t.Fatal(err)
	}
	if m := msgs(latest); len(m) != 1 || m[0] != "cpu-1h" {
		t.Errorf("latest after prune = %v", m)
	}
	states, err := db.CheckStates("a")
	if err != nil || len(states) != 1 || states[0].Count != 1 {
		t.Errorf("states after prune = %+v, %v", states, err)
	}
	if n, err := db.Prune(at(0)); n != 0 || err != nil {
		t.Errorf("second Prune = %d, %v; want nothing to do", n, err)
	}
}

func TestPruneByCountOnWrite(t *testing.T) {
	db := openTest(t, Options{HistoryMaxPerCheck: 5})
	for batch := range 3 {
		var rs []Result
		for i := range 4 {
			n := batch*4 + i
			rs = append(rs, newResult("a", "cpu", fmt.Sprint(n), at(time.Duration(n)*time.Second)))
		}
		addAll(t, db, rs...)
	}
	got, err := db.History("a", "cpu", 0, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if m := msgs(got); fmt.Sprint(m) != "[11 10 9 8 7]" {
		t.Errorf("history = %v, want the newest 5", m)
	}
	states, err := db.CheckStates("a")
	if err != nil || len(states) != 1 || states[0].Count != 5 {
		t.Errorf("states = %+v, %v", states, err)
	}
}

func TestPruneByCount(t *testing.T) {
	db := openTest(t, Options{})
	var rs []Result
	for i := range 10 {
		rs = append(rs, newResult("a", "cpu", fmt.Sprint(i), at(time.Duration(i)*time.Second)))
	}
	addAll(t, db, rs...)
	// Reopened with a lower bound, Prune brings the check down to it.
	db = reopen(t, db, Options{HistoryMaxPerCheck: 3})
	n, err := db.Prune(at(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if n != 7 {
		t.Errorf("Prune deleted %d, want 7", n)
	}
	got, err := db.History("a", "cpu", 0, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if m := msgs(got); fmt.Sprint(m) != "[9 8 7]" {
		t.Errorf("history = %v, want the newest 3", m)
	}
	states, err := db.CheckStates("a")
	if err != nil || len(states) != 1 || states[0].Count != 3 || states[0].Result.Message != "9" {
		t.Errorf("states = %+v, %v", states, err)
	}
}

func TestWriterPrunes(t *testing.T) {
	db := openTest(t, Options{HistoryMaxAge: time.Hour, PruneInterval: 10 * time.Millisecond})
	now := time.Now()
	addAll(t, db, newResult("a", "cpu", "old", now.Add(-2*time.Hour)))
	addAll(t, db, newResult("a", "cpu", "new", now))
	waitFor(t, func() bool {
		got, err := db.History("a", "cpu", 0, time.Time{}, time.Time{})
		return err == nil && len(got) == 1 && got[0].Message == "new"
	})
}

// TestPruneInSteps: a check with more old results than one step deletes
// is pruned whole, over several transactions, and its agent's other
// checks are left as they were.
func TestPruneInSteps(t *testing.T) {
	db := openTest(t, Options{HistoryMaxAge: time.Hour, HistoryMaxPerCheck: 1 << 20})
	const old = 2*pruneStep + 5
	batch := make([]Result, 0, 1000)
	for i := range old {
		batch = append(batch, newResult("a", "cpu", fmt.Sprint(i), at(-2*time.Hour+time.Duration(i)*time.Millisecond)))
		if len(batch) == cap(batch) || i == old-1 {
			addAll(t, db, batch...)
			batch = batch[:0]
		}
	}
	addAll(t, db, newResult("a", "mem", "mem-old", at(-2*time.Hour)), newResult("a", "mem", "mem-new", at(0)))

	n, err := db.Prune(at(0))
	if err != nil || n != old+1 {
		t.Fatalf("Prune = %d, %v; want %d", n, err, old+1)
	}
	got, err := db.History("a", "", 0, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if m := msgs(got); len(m) != 1 || m[0] != "mem-new" {
		t.Errorf("history after prune = %d results, want mem-new alone", len(m))
	}
	states, err := db.CheckStates("a")
	if err != nil || len(states) != 1 || states[0].Result.Check != "mem" || states[0].Count != 1 {
		t.Errorf("states after prune = %+v, %v", states, err)
	}
}
