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
