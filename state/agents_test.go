package state

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestAgentSeen(t *testing.T) {
	db := openTest(t, Options{})
	first := Agent{Name: "web1", Fingerprint: "fp1", Version: "1.0.0", Addr: "10.0.0.1:5000", LastSeen: at(0), Connected: true}
	if err := db.AgentSeen(first); err != nil {
		t.Fatal(err)
	}
	// Seen again, later, with a new version and no fingerprint.
	if err := db.AgentSeen(Agent{Name: "web1", Version: "1.1.0", LastSeen: at(time.Hour), Connected: true}); err != nil {
		t.Fatal(err)
	}
	got, err := db.Agent("web1")
	if err != nil {
		t.Fatal(err)
	}
	want := Agent{
		Name: "web1", Fingerprint: "fp1", Version: "1.1.0", Addr: "10.0.0.1:5000",
		FirstSeen: at(0), LastSeen: at(time.Hour), Connected: true, Since: at(0),
	}
	if !agentEqual(got, want) {
		t.Errorf("agent = %+v\nwant    %+v", got, want)
	}
}

func TestAgentsConnection(t *testing.T) {
	db := openTest(t, Options{})
	for _, name := range []string{"db2", "app1", "web3"} {
		if err := db.AgentSeen(Agent{Name: name, LastSeen: at(0), Connected: true}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.SetConnected("app1", false, at(time.Minute)); err != nil {
		t.Fatal(err)
	}
	a, err := db.Agent("app1")
	if err != nil {
		t.Fatal(err)
	}
	if a.Connected || !a.Since.Equal(at(time.Minute)) || !a.LastSeen.Equal(at(time.Minute)) {
		t.Errorf("after disconnect: %+v", a)
	}

	if err := db.DisconnectAll(at(time.Hour)); err != nil {
		t.Fatal(err)
	}
	agents, err := db.Agents()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range agents {
		names = append(names, a.Name)
		if a.Connected {
			t.Errorf("%s still connected after DisconnectAll", a.Name)
		}
		// app1 was already disconnected: its Since stays.
		wantSince := at(time.Hour)
		if a.Name == "app1" {
			wantSince = at(time.Minute)
		}
		if !a.Since.Equal(wantSince) {
			t.Errorf("%s: Since = %v, want %v", a.Name, a.Since, wantSince)
		}
		if a.Name != "app1" && !a.LastSeen.Equal(at(0)) {
			t.Errorf("%s: LastSeen = %v changed by DisconnectAll", a.Name, a.LastSeen)
		}
	}
	if want := []string{"app1", "db2", "web3"}; !slices.Equal(names, want) {
		t.Errorf("Agents = %v, want %v", names, want)
	}
}

func TestRevoke(t *testing.T) {
	db := openTest(t, Options{})
	if err := db.AgentSeen(Agent{Name: "bad", LastSeen: at(0), Connected: true}); err != nil {
		t.Fatal(err)
	}
	if err := db.Revoke("bad", at(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// A name never seen can be revoked too (an issued certificate).
	if err := db.Revoke("issued", at(time.Minute)); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"bad": true, "issued": true, "good": false} {
		got, err := db.Revoked(name)
		if err != nil || got != want {
			t.Errorf("Revoked(%s) = %v, %v; want %v", name, got, err, want)
		}
	}
	a, err := db.Agent("bad")
	if err != nil {
		t.Fatal(err)
	}
	if a.Connected {
		t.Error("revoked agent still connected")
	}
	if err := db.AgentSeen(Agent{Name: "bad", LastSeen: at(time.Hour)}); !errors.Is(err, ErrRevoked) {
		t.Errorf("AgentSeen of revoked = %v, want ErrRevoked", err)
	}
	if err := db.AgentSeen(Agent{Name: "issued", LastSeen: at(time.Hour)}); !errors.Is(err, ErrRevoked) {
		t.Errorf("AgentSeen of revoked = %v, want ErrRevoked", err)
	}
	if err := db.SetConnected("bad", true, at(time.Hour)); !errors.Is(err, ErrRevoked) {
		t.Errorf("SetConnected of revoked = %v, want ErrRevoked", err)
	}
	if err := db.SetConnected("bad", false, at(time.Hour)); err != nil {
		t.Errorf("disconnecting a revoked agent: %v", err)
	}
}

func agentEqual(a, b Agent) bool {
	return a.Name == b.Name && a.Fingerprint == b.Fingerprint && a.Version == b.Version &&
		a.Addr == b.Addr && a.FirstSeen.Equal(b.FirstSeen) && a.LastSeen.Equal(b.LastSeen) &&
		a.Connected == b.Connected && a.Since.Equal(b.Since)
}
