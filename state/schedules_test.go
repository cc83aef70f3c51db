package state

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func TestSchedules(t *testing.T) {
	db := openTest(t, Options{})
	s := Schedule{Name: "load", Check: "load", Every: time.Minute, Timeout: 30 * time.Second, Agents: "web-*", Created: at(0), Updated: at(0)}
	if err := db.PutSchedule(s); err != nil {
		t.Fatal(err)
	}
	s2 := Schedule{Name: "disk", Check: "disk", Args: json.RawMessage(`{"path":"/"}`), Every: time.Second, Agents: "*", Created: at(0), Updated: at(0)}
	if err := db.PutSchedule(s2); err != nil {
		t.Fatal(err)
	}
	// Replacing keeps the creation time.
	s.Every, s.Created, s.Updated = 2*time.Minute, at(time.Hour), at(time.Hour)
	if err := db.PutSchedule(s); err != nil {
		t.Fatal(err)
	}
	got, err := db.Schedule("load")
	if err != nil {
		t.Fatal(err)
	}
	if got.Every != 2*time.Minute || !got.Created.Equal(at(0)) || !got.Updated.Equal(at(time.Hour)) {
		t.Errorf("replaced schedule = %+v", got)
	}
	db = reopen(t, db, Options{})
	all, err := db.Schedules()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].Name != "disk" || all[1].Name != "load" || string(all[0].Args) != `{"path":"/"}` {
		t.Fatalf("schedules = %+v", all)
	}
	if err := db.PutStatuses(Status{Agent: "a", Schedule: "disk", Status: "ok"}, Status{Agent: "a", Schedule: "load", Status: "ok"}); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteSchedule("disk"); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteSchedule("disk"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	if _, err := db.Schedule("disk"); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted schedule: %v, want ErrNotFound", err)
	}
	sts, err := db.Statuses("")
	if err != nil {
		t.Fatal(err)
	}
	if len(sts) != 1 || sts[0].Schedule != "load" {
		t.Errorf("statuses after deleting disk = %+v, want load's only", sts)
	}
}

func TestPutScheduleRefuses(t *testing.T) {
	db := openTest(t, Options{})
	for name, s := range map[string]Schedule{
		"no-name":  {Check: "load", Every: time.Second},
		"no-check": {Name: "x", Every: time.Second},
		"no-every": {Name: "x", Check: "load"},
		"bad-args": {Name: "x", Check: "load", Every: time.Second, Args: json.RawMessage(`{`)},
		"nul-name": {Name: "a\x00b", Check: "load", Every: time.Second},
	} {
		if err := db.PutSchedule(s); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

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

// TestScheduleConfirmationBounds: attempts beyond 1 to MaxAttempts, or a
// retry interval longer than the interval, are refused.
func TestScheduleConfirmationBounds(t *testing.T) {
	db := openTest(t, Options{})
	for _, s := range []Schedule{
		{Name: "a", Check: "c", Every: time.Minute, Attempts: MaxAttempts + 1},
		{Name: "b", Check: "c", Every: time.Minute, Attempts: -1},
		{Name: "c", Check: "c", Every: time.Minute, RetryEvery: time.Minute + 1},
		{Name: "d", Check: "c", Every: time.Minute, RetryEvery: -1},
	} {
		if err := db.PutSchedule(s); !errors.Is(err, ErrInvalid) {
			t.Errorf("put %+v: %v, want ErrInvalid", s, err)
		}
	}
	if ss, err := db.Schedules(); err != nil || len(ss) != 0 {
		t.Errorf("schedules stored: %+v, %v", ss, err)
	}
	s := Schedule{Name: "ok", Check: "c", Every: time.Minute, Attempts: MaxAttempts, RetryEvery: time.Second}
	if err := db.PutSchedule(s); err != nil {
		t.Fatal(err)
	}
	if got, err := db.Schedule("ok"); err != nil || got.Attempts != MaxAttempts || got.RetryEvery != time.Second {
		t.Errorf("stored %+v, %v", got, err)
	}
}
