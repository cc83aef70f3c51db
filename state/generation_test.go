package state

import (
	"testing"
	"time"
)

// Every write of a route, a silence or an acknowledgement moves
// NotifyGeneration; a refused one and a read do not.
func TestNotifyGeneration(t *testing.T) {
	db := openTest(t, Options{})
	last := db.NotifyGeneration()
	step := func(what string, err error, moves bool) {
		t.Helper()
		if err != nil && moves {
			t.Fatalf("%s: %v", what, err)
		}
		g := db.NotifyGeneration()
		if moved := g != last; moved != moves {
			t.Errorf("%s: generation %d -> %d, moved %v, want %v", what, last, g, moved, moves)
		}
		last = g
	}
	route := Route{Name: "ops", Receivers: []Receiver{{Kind: KindWebhook, Webhook: &WebhookReceiver{URL: "https://hooks.example/x"}}}}
	step("put route", db.PutRoute(route), true)
	step("bad route", db.PutRoute(Route{Name: "bad"}), false)
	_, err := db.Routes()
	step("read routes", err, false)
	s, err := db.AddSilence(Silence{Agents: "web-*", Created: at(0), End: at(time.Hour), Comment: "deploy"})
	step("add silence", err, true)
	step("end silence", db.EndSilence(s.ID, at(time.Minute)), true)
	step("delete silence", db.DeleteSilence(s.ID), true)
	step("delete no silence", db.DeleteSilence(s.ID), false)
	step("ack", db.Ack(Ack{Agent: "web-1", Schedule: "disk", Comment: "on it", Time: at(0)}), true)
	step("unack", db.Unack("web-1", "disk"), true)
	step("delete route", db.DeleteRoute("ops"), true)
}

// A notification given up on ends expired with its error, and the next
// of its group is due in its place.
func TestRecordAttemptGiveUp(t *testing.T) {
	db := openTest(t, Options{})
	mustAdd(t, db, notify(problem("a", "s", 0), "r", 0), notify(problem("a", "s", time.Second), "r", 0))
	due, err := db.NextDue(at(time.Minute), 0)
	if err != nil || len(due) != 1 {
		t.Fatalf("due: %v, %v", due, err)
	}
	if err := db.RecordAttempt(due[0].ID, Attempt{Time: at(time.Minute), Error: "400 Bad Request"}, GiveUp, time.Time{}); err != nil {
		t.Fatal(err)
	}
	n, _ := db.Notification(due[0].ID)
	if n.State != NotifyExpired || !n.Ended.Equal(at(time.Minute)) || n.LastError() != "400 Bad Request" {
		t.Errorf("given up: %+v", n)
	}
	wantStats(t, db, 1, 0, 0, 1)
	next, err := db.NextDue(at(time.Minute), 0)
	if err != nil || len(next) != 1 || next[0].ID == due[0].ID {
		t.Errorf("due after giving up: %v, %v; want the second", next, err)
	}
}
