package storetest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/state"
)

func init() {
	register("Forget", testForget)
	register("ForgetPresent", testForgetPresent)
	register("RevokeEvent", testRevokeEvent)
}

// testForget: forgetting an agent takes it off the agents' list; it keeps
// its record, its revocation and its certificate's pin; an unknown or
// forgotten name is ErrNotFound; the agent is back once it connects.
func testForget(t *testing.T, open Opener) {
	db := open(t)
	for _, name := range []string{"web-1", "web-2"} {
		if err := db.PinCert(name, "fp-"+name, coreAt(0)); err != nil {
			t.Fatal(err)
		}
		if err := db.AgentSeen(state.Agent{Name: name, Fingerprint: "fp-" + name, Connected: true, LastSeen: coreAt(time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Forget("web-1", coreAt(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if names := coreNames(t, db); strings.Join(names, ",") != "web-2" {
		t.Errorf("agents after forget: %v", names)
	}
	if page, err := db.AgentsPage("", 1); err != nil || len(page) != 1 || page[0].Name != "web-2" {
		t.Errorf("a page of one after forget: %+v, %v", page, err)
	}
	if a, err := db.Agent("web-1"); err != nil || !same(a.Forgotten, coreAt(time.Hour)) || a.Connected || !same(a.Since, coreAt(time.Hour)) {
		t.Errorf("record of web-1 after forget: %+v, %v", a, err)
	}

	// Its name stays taken, its certificate pinned.
	if err := db.CheckCert("web-1", "fp-stolen"); !errors.Is(err, state.ErrCertReplaced) {
		t.Errorf("another certificate of a forgotten agent: %v, want ErrCertReplaced", err)
	}
	secret, _, err := db.CreateToken(state.TokenSpec{Uses: 1, TTL: time.Hour}, coreAt(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Enroll(secret, state.Agent{Name: "web-1", Fingerprint: "fp-new"}, coreAt(time.Hour)); !errors.Is(err, state.ErrEnrolled) {
		t.Errorf("a token for no agent enrolls a forgotten name: %v, want ErrEnrolled", err)
	}

	for _, name := range []string{"web-1", "nobody"} {
		if err := db.Forget(name, coreAt(2*time.Hour)); !errors.Is(err, state.ErrNotFound) {
			t.Errorf("forget %s: %v, want ErrNotFound", name, err)
		}
	}
	if a := coreMustAgent(t, db, "web-1"); !same(a.Forgotten, coreAt(time.Hour)) {
		t.Errorf("a second forget changed the record: %+v", a)
	}
	if err := db.Forget("bad\x00name", coreAt(0)); !errors.Is(err, state.ErrInvalid) {
		t.Errorf("forget of a bad name: %v", err)
	}

	// Back when it connects, as new.
	if err := db.AgentSeen(state.Agent{Name: "web-1", Fingerprint: "fp-web-1", LastSeen: coreAt(3 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if a, err := db.Agent("web-1"); err != nil || !a.Forgotten.IsZero() || !same(a.FirstSeen, coreAt(3*time.Hour)) {
		t.Errorf("web-1 back: %+v, %v", a, err)
	}
	if names := coreNames(t, db); strings.Join(names, ",") != "web-1,web-2" {
		t.Errorf("agents with web-1 back: %v", names)
	}

	// Given a certificate again: back too.
	if err := db.Forget("web-1", coreAt(4*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := db.PinCert("web-1", "fp-issued", coreAt(5*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if a := coreMustAgent(t, db, "web-1"); !a.Forgotten.IsZero() || !same(a.FirstSeen, coreAt(5*time.Hour)) || a.Fingerprint != "fp-issued" {
		t.Errorf("web-1 issued a certificate after forget: %+v", a)
	}

	// Revoked and forgotten: still refused.
	if err := db.Revoke("web-2", coreAt(4*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := db.Forget("web-2", coreAt(4*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := db.AgentSeen(state.Agent{Name: "web-2", Fingerprint: "fp-web-2"}); !errors.Is(err, state.ErrRevoked) {
		t.Errorf("a revoked agent forgotten connects: %v, want ErrRevoked", err)
	}
	if err := db.SetConnected("web-2", true, coreAt(5*time.Hour)); !errors.Is(err, state.ErrRevoked) {
		t.Errorf("a revoked agent forgotten connects: %v, want ErrRevoked", err)
	}
	if names := coreNames(t, db); strings.Join(names, ",") != "web-1" {
		t.Errorf("agents after web-2 is forgotten: %v", names)
	}
}

// testForgetPresent: forgetting an agent removes its statuses and its
// down mark, with its event, in one go; it keeps its history and latest
// results, its events, acknowledgements and notifications; a forget
// refused stores no event. It needs the results and monitor areas.
func testForgetPresent(t *testing.T, open Opener) {
	db := open(t)
	for _, name := range []string{"web-1", "web-2"} {
		if err := db.AgentSeen(state.Agent{Name: name, Connected: true, LastSeen: coreAt(time.Second)}); err != nil {
			t.Fatal(err)
		}
		r := state.Result{Agent: name, Check: "disk", Schedule: "disk-root", Time: coreAt(2 * time.Second), Status: "ok", Message: "fine", DurationMS: 0.5}
		coreNeeds(t, db.AddResult(t.Context(), r))
		coreNeeds(t, db.PutStatuses(
			state.Status{Agent: name, Schedule: "disk-root", Check: "disk", Status: "ok", Since: coreAt(2 * time.Second), Time: coreAt(2 * time.Second)},
			state.Status{Agent: name, Schedule: "load", Check: "load", Status: "ok", Since: coreAt(2 * time.Second), Time: coreAt(2 * time.Second)},
		))
		coreNeeds(t, db.SetAgentDown(name, coreAt(time.Minute)))
	}
	// A name that only begins as web-1's.
	coreNeeds(t, db.PutStatuses(state.Status{Agent: "web-10", Schedule: "load", Status: "ok"}))
	coreNeeds(t, db.Ack(state.Ack{Agent: "web-1", Schedule: "disk-root", Author: "alice", Comment: "known", Time: coreAt(time.Minute)}))
	down := state.Event{Time: coreAt(time.Minute), Agent: "web-1", From: "up", To: "down", Message: "down"}
	coreNeeds(t, db.AddEventsWithNotifications(state.EventNotifications{Event: down,
		Notify: []state.Outgoing{{Route: "ops", Doc: []byte(`{"down":true}`)}}}))

	ev := state.Event{Time: coreAt(time.Hour), Agent: "web-1", From: "down", To: "forgotten", Message: "forgotten"}
	if err := db.Forget("web-1", coreAt(time.Hour), ev); err != nil {
		t.Fatal(err)
	}
	if sts, err := db.Statuses("web-1"); err != nil || len(sts) != 0 {
		t.Errorf("statuses of web-1 after forget: %+v, %v", sts, err)
	}
	if sts, _ := db.Statuses(""); len(sts) != 3 {
		t.Errorf("statuses of the others after forget: %+v, want web-2's two and web-10's", sts)
	}
	if down, _ := db.AgentsDown(); len(down) != 1 || down["web-2"].IsZero() {
		t.Errorf("agents down after forget: %v, want web-2", down)
	}
	if rs, _ := db.History("web-1", "", 0, time.Time{}, time.Time{}); len(rs) != 1 {
		t.Errorf("history of web-1 after forget: %+v, want it kept", rs)
	}
	if latest, _ := db.Latest("web-1"); len(latest) != 1 {
		t.Errorf("latest results of web-1 after forget: %+v, want them kept", latest)
	}
	if evs, _ := db.Events(time.Time{}, time.Time{}, 0); len(evs) != 2 || evs[0].To != "down" || !same(evs[1].Time, ev.Time) || evs[1].To != "forgotten" {
		t.Errorf("events after forget: %+v, want the down and the forgetting", evs)
	}
	// What was said and done about it stays: acknowledgements and
	// notifications.
	if acks, _ := db.Acks(); len(acks) != 1 || acks[0].Agent != "web-1" {
		t.Errorf("acks after forget: %+v, want web-1's kept", acks)
	}
	if ns, _, _ := db.Notifications(state.NotificationQuery{Agent: "web-1"}); len(ns) != 1 || ns[0].State != state.NotifyPending {
		t.Errorf("notifications of web-1 after forget: %+v, want the pending one kept", ns)
	}
	for _, name := range []string{"web-1", "nobody"} {
		if err := db.Forget(name, coreAt(2*time.Hour), state.Event{Time: coreAt(2 * time.Hour), Agent: name, To: "forgotten"}); !errors.Is(err, state.ErrNotFound) {
			t.Errorf("forget %s: %v, want ErrNotFound", name, err)
		}
	}
	if evs, _ := db.Events(time.Time{}, time.Time{}, 0); len(evs) != 2 {
		t.Errorf("a forget refused stored its event: %+v", evs)
	}
	// An agent known by its statuses alone (the record gone, as after a
	// migration) is forgotten all the same.
	if err := db.Forget("web-10", coreAt(3*time.Hour)); err != nil {
		t.Errorf("forget of an agent with statuses alone: %v", err)
	}
	if sts, _ := db.Statuses("web-10"); len(sts) != 0 {
		t.Errorf("statuses of web-10 after forget: %+v", sts)
	}
}

// testRevokeEvent: a revocation stores its event with it, once; a bad
// event refuses the revocation whole.
func testRevokeEvent(t *testing.T, open Opener) {
	db := open(t)
	if err := db.Revoke("web-2", coreAt(0), state.Event{Agent: ""}); !errors.Is(err, state.ErrInvalid) {
		t.Errorf("revoke with a bad event: %v, want ErrInvalid", err)
	}
	if revoked, _ := db.Revoked("web-2"); revoked {
		t.Error("a revocation whose event was refused was stored")
	}
	_, err := db.Events(time.Time{}, time.Time{}, 0)
	coreNeeds(t, err)
	ev := state.Event{Time: coreAt(0), Agent: "web-1", From: "up", To: "revoked", Message: "revoked"}
	for range 2 {
		if err := db.Revoke("web-1", ev.Time, ev); err != nil {
			t.Fatal(err)
		}
		ev.Time = coreAt(time.Hour)
	}
	if evs, err := db.Events(time.Time{}, time.Time{}, 0); err != nil || len(evs) != 1 || !same(evs[0].Time, coreAt(0)) {
		t.Errorf("events of two revocations: %+v, %v; want the first's", evs, err)
	}
}
