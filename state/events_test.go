package state

import (
	"sync"
	"testing"
	"time"
)

func TestEvents(t *testing.T) {
	db := openTest(t, Options{})
	// Out of order, and two at the same instant: both kept, in time order.
	evs := []Event{
		{Time: at(2 * time.Second), Agent: "a", Schedule: "load", From: "ok", To: "critical", Message: "load 9"},
		{Time: at(0), Agent: "a", Schedule: "load", From: "", To: "ok"},
		{Time: at(time.Second), Agent: "b", From: "up", To: "down"},
		{Time: at(time.Second), Agent: "c", From: "up", To: "down"},
	}
	for _, ev := range evs {
		if err := db.AddEvents(ev); err != nil {
			t.Fatal(err)
		}
	}
	db = reopen(t, db, Options{})
	all, err := db.Events(time.Time{}, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a", "b", "c", "a"}
	if len(all) != len(want) {
		t.Fatalf("events = %+v", all)
	}
	for i, ev := range all {
		if ev.Agent != want[i] {
			t.Errorf("event %d agent %s, want %s (%+v)", i, ev.Agent, want[i], all)
		}
	}
	for _, tc := range []struct {
		name         string
		since, until time.Time
		limit        int
		want         int
		first        string
	}{
		{"since", at(time.Second), time.Time{}, 0, 3, "b"},
		{"until", time.Time{}, at(2 * time.Second), 0, 3, "a"},
		{"limit-keeps-newest", time.Time{}, time.Time{}, 2, 2, "c"},
		{"window", at(time.Second), at(2 * time.Second), 0, 2, "b"},
		{"empty", at(time.Hour), time.Time{}, 0, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := db.Events(tc.since, tc.until, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.want || (tc.want > 0 && got[0].Agent != tc.first) {
				t.Errorf("got %+v, want %d from %s", got, tc.want, tc.first)
			}
		})
	}
	n, err := db.PruneEvents(at(2 * time.Second))
	if err != nil || n != 3 {
		t.Fatalf("prune: %d, %v; want 3", n, err)
	}
	if left, _ := db.Events(time.Time{}, time.Time{}, 0); len(left) != 1 || left[0].To != "critical" {
		t.Errorf("after prune: %+v", left)
	}
}

func TestEventsConcurrent(t *testing.T) {
	db := openTest(t, Options{})
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := db.AddEvents(Event{Time: at(0), Agent: "a", From: "up", To: "down", Message: string(rune('A' + i%26))}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	all, err := db.Events(time.Time{}, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 50 {
		t.Errorf("%d events kept of 50 at the same instant", len(all))
	}
}
