package state

import (
	"errors"
	"testing"
	"time"
)

func TestStatuses(t *testing.T) {
	db := openTest(t, Options{})
	in := []Status{
		{Agent: "web-1", Schedule: "load", Check: "load", Status: "critical", Since: at(0), Previous: "ok", Message: "load 9", Time: at(time.Second),
			Metrics: []Metric{{Name: "load1", Value: 9}}},
		{Agent: "web-1", Schedule: "disk", Check: "disk", Status: "ok", Since: at(0), Time: at(0)},
		{Agent: "web-10", Schedule: "load", Check: "load", Status: "ok", Since: at(0), Time: at(0)},
	}
	if err := db.PutStatuses(in...); err != nil {
		t.Fatal(err)
	}
	db = reopen(t, db, Options{})
	all, err := db.Statuses("")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || all[0].Schedule != "disk" || all[1].Schedule != "load" || all[2].Agent != "web-10" {
		t.Fatalf("statuses = %+v", all)
	}
	if got := all[1]; got.Status != "critical" || got.Previous != "ok" || got.Message != "load 9" || len(got.Metrics) != 1 || !got.Time.Equal(at(time.Second)) {
		t.Errorf("web-1 load = %+v", got)
	}
	// An agent's prefix does not take in another agent whose name starts
	// the same.
	one, err := db.Statuses("web-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(one) != 2 {
		t.Errorf("statuses of web-1 = %+v, want 2", one)
	}
	if err := db.DeleteStatus("web-1", "load"); err != nil {
		t.Fatal(err)
	}
	if one, _ = db.Statuses("web-1"); len(one) != 1 || one[0].Schedule != "disk" {
		t.Errorf("after delete = %+v", one)
	}
	if err := db.PutStatuses(Status{Agent: "a", Schedule: "s", Status: "bad"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad status: %v, want ErrInvalid", err)
	}
}

func TestAgentsDown(t *testing.T) {
	db := openTest(t, Options{})
	if err := db.SetAgentDown("web-1", at(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := db.SetAgentDown("web-2", at(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := db.SetAgentDown("web-2", time.Time{}); err != nil {
		t.Fatal(err)
	}
	db = reopen(t, db, Options{})
	down, err := db.AgentsDown()
	if err != nil {
		t.Fatal(err)
	}
	if len(down) != 1 || !down["web-1"].Equal(at(time.Minute)) {
		t.Errorf("down = %v, want web-1 only", down)
	}
}

// TestStatusConfirmationRoundTrip: a status's state type, attempts,
// confirmed status and flap window are stored as they are, and bad ones
// refused.
func TestStatusConfirmationRoundTrip(t *testing.T) {
	db := openTest(t, Options{})
	in := Status{Agent: "web-1", Schedule: "s", Check: "c", Status: "critical", Since: at(0), Time: at(0),
		StateType: Soft, Attempt: 2, MaxAttempts: 3, HardStatus: "ok", FlapWindow: 0b1011, FlapPercent: 12.5, Flapping: true}
	if err := db.PutStatuses(in); err != nil {
		t.Fatal(err)
	}
	db = reopen(t, db, Options{})
	got, err := db.Statuses("web-1")
	if err != nil || len(got) != 1 {
		t.Fatalf("statuses %+v, %v", got, err)
	}
	if g := got[0]; g.StateType != Soft || g.Attempt != 2 || g.MaxAttempts != 3 || g.HardStatus != "ok" || g.FlapWindow != 0b1011 || g.FlapPercent != 12.5 || !g.Flapping {
		t.Errorf("stored %+v, want %+v", g, in)
	}
	for _, bad := range []Status{
		{Agent: "web-1", Schedule: "s", Status: "ok", StateType: "maybe"},
		{Agent: "web-1", Schedule: "s", Status: "ok", HardStatus: "fine"},
		{Agent: "web-1", Schedule: "s", Status: "ok", FlapWindow: 1 << FlapWindow},
	} {
		if err := db.PutStatuses(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("put %+v: %v, want ErrInvalid", bad, err)
		}
	}
}
