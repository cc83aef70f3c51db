package state

import (
	"testing"
)

// TestOldRecordsConfirmation: schedules and statuses written before they
// had attempts, state types and flap windows (the version 1 file, made by
// that code) read as one attempt retried at the interval, and as hard
// statuses confirmed by one result, with no flapping.
func TestOldRecordsConfirmation(t *testing.T) {
	db, err := Open(openV1(t), Options{PruneInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ss, err := db.Schedules()
	if err != nil || len(ss) == 0 {
		t.Fatalf("old schedules %+v, %v", ss, err)
	}
	for _, s := range ss {
		if s.Attempts != 1 || s.RetryEvery != s.Every {
			t.Errorf("old schedule %s: %d attempts, retried every %v; want 1, every %v", s.Name, s.Attempts, s.RetryEvery, s.Every)
		}
		one, err := db.Schedule(s.Name)
		if err != nil || one.Attempts != 1 || one.RetryEvery != s.Every {
			t.Errorf("old schedule %s alone: %+v, %v", s.Name, one, err)
		}
	}
	sts, err := db.Statuses("")
	if err != nil || len(sts) == 0 {
		t.Fatalf("old statuses %+v, %v", sts, err)
	}
	for _, st := range sts {
		if st.StateType != Hard || st.HardStatus != st.Status || st.Attempt != 1 || st.MaxAttempts != 1 || st.FlapWindow != 0 || st.Flapping {
			t.Errorf("old status %s %s: %+v, want hard %s at 1/1, no flapping", st.Agent, st.Schedule, st, st.Status)
		}
	}
}
