package state

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func agentNames(t *testing.T, db *DB) []string {
	t.Helper()
	agents, err := db.Agents()
	if err != nil {
		t.Fatal(err)
	}
	page, err := db.AgentsPage("", 0)
	if err != nil {
		t.Fatal(err)
	}
	var names, paged []string
	for _, a := range agents {
		names = append(names, a.Name)
	}
	for _, a := range page {
		paged = append(paged, a.Name)
	}
	if !slices.Equal(names, paged) {
		t.Errorf("Agents %v, AgentsPage %v", names, paged)
	}
	return names
}

// TestForget: forgetting an agent removes its statuses, its down mark and
// its line among the agents, with its event, in one go; it keeps its
// history, its revocation and its certificate's pin; an unknown or
// forgotten name is ErrNotFound and changes nothing; the agent is back
// once it connects.
func TestForget(t *testing.T) {
	db := openTest(t, Options{})
	for _, name := range []string{"web-1", "web-2"} {
		if err := db.PinCert(name, "fp-"+name, at(0)); err != nil {
			t.Fatal(err)
		}
		if err := db.AgentSeen(Agent{Name: name, Fingerprint: "fp-" + name, Connected: true, LastSeen: at(time.Second)}); err != nil {
			t.Fatal(err)
		}
		addAll(t, db, scheduled(name, "disk", "disk-root", "fine", at(2*time.Second)))
		if err := db.PutStatuses(
			Status{Agent: name, Schedule: "disk-root", Check: "disk", Status: "ok", Since: at(2 * time.Second), Time: at(2 * time.Second)},
			Status{Agent: name, Schedule: "load", Check: "load", Status: "ok", Since: at(2 * time.Second), Time: at(2 * time.Second)},
		); err != nil {
			t.Fatal(err)
		}
		if err := db.SetAgentDown(name, at(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	// A name that only begins as web-1's.
	if err := db.PutStatuses(Status{Agent: "web-10", Schedule: "load", Status: "ok"}); err != nil {
		t.Fatal(err)
	}

	ev := Event{Time: at(time.Hour), Agent: "web-1", From: "down", To: "forgotten", Message: "forgotten"}
	if err := db.Forget("web-1", at(time.Hour), ev); err != nil {
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
	if names := agentNames(t, db); !slices.Equal(names, []string{"web-2"}) {
		t.Errorf("agents after forget: %v", names)
	}
	if rs, _ := db.History("web-1", "", 0, time.Time{}, time.Time{}); len(rs) != 1 {
		t.Errorf("history of web-1 after forget: %+v, want it kept", rs)
	}
	if evs, _ := db.Events(time.Time{}, time.Time{}, 0); len(evs) != 1 || evs[0] != ev {
		t.Errorf("events after forget: %+v", evs)
	}
	if a, err := db.Agent("web-1"); err != nil || !a.Forgotten.Equal(at(time.Hour)) || a.Connected {
		t.Errorf("record of web-1 after forget: %+v, %v", a, err)
	}

	// Its name stays taken, its certificate pinned.
	if err := db.CheckCert("web-1", "fp-stolen"); !errors.Is(err, ErrCertReplaced) {
		t.Errorf("another certificate of a forgotten agent: %v, want ErrCertReplaced", err)
	}
	secret, _, err := db.CreateToken(TokenSpec{Uses: 1, TTL: time.Hour}, at(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Enroll(secret, Agent{Name: "web-1", Fingerprint: "fp-new"}, at(time.Hour)); !errors.Is(err, ErrEnrolled) {
		t.Errorf("a token for no agent enrolls a forgotten name: %v, want ErrEnrolled", err)
	}

	for _, name := range []string{"web-1", "nobody"} {
		if err := db.Forget(name, at(2*time.Hour), Event{Time: at(2 * time.Hour), Agent: name, To: "forgotten"}); !errors.Is(err, ErrNotFound) {
			t.Errorf("forget %s: %v, want ErrNotFound", name, err)
		}
	}
	if evs, _ := db.Events(time.Time{}, time.Time{}, 0); len(evs) != 1 {
		t.Errorf("a forget refused stored its event: %+v", evs)
	}
	if err := db.Forget("bad\x00name", at(0)); !errors.Is(err, ErrInvalid) {
		t.Errorf("forget of a bad name: %v", err)
	}

	// Back when it connects, as new.
	if err := db.AgentSeen(Agent{Name: "web-1", Fingerprint: "fp-web-1", LastSeen: at(3 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if a, err := db.Agent("web-1"); err != nil || !a.Forgotten.IsZero() || !a.FirstSeen.Equal(at(3*time.Hour)) {
		t.Errorf("web-1 back: %+v, %v", a, err)
	}
	if names := agentNames(t, db); !slices.Equal(names, []string{"web-1", "web-2"}) {
		t.Errorf("agents with web-1 back: %v", names)
	}

	// Revoked and forgotten: still refused.
	if err := db.Revoke("web-2", at(4*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := db.Forget("web-2", at(4*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := db.AgentSeen(Agent{Name: "web-2", Fingerprint: "fp-web-2"}); !errors.Is(err, ErrRevoked) {
		t.Errorf("a revoked agent forgotten connects: %v, want ErrRevoked", err)
	}
	if err := db.SetConnected("web-2", true, at(5*time.Hour)); !errors.Is(err, ErrRevoked) {
		t.Errorf("a revoked agent forgotten connects: %v, want ErrRevoked", err)
	}
	if names := agentNames(t, db); !slices.Equal(names, []string{"web-1"}) {
		t.Errorf("agents after web-2 is forgotten: %v", names)
	}
}
