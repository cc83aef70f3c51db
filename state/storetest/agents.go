package storetest

import (
	"errors"
	"testing"

	"github.com/equus-monitoring/equus/state"
)

func init() {
	register("AgentSeenRoundTrip", testAgentSeenRoundTrip)
}

// testAgentSeenRoundTrip: an agent seen is read back as it was seen, and
// one never seen is not found.
func testAgentSeenRoundTrip(t *testing.T, open Opener) {
	db := open(t)
	if _, err := db.Agent("web-1"); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("Agent of one never seen: %v, want ErrNotFound", err)
	}
	if err := db.AgentSeen(state.Agent{Name: "web-1", Version: "1.2.3", Addr: "192.0.2.1:4000", LastSeen: t0}); err != nil {
		t.Fatal(err)
	}
	a, err := db.Agent("web-1")
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != "web-1" || a.Version != "1.2.3" || a.Addr != "192.0.2.1:4000" || !same(a.LastSeen, t0) {
		t.Fatalf("Agent = %+v", a)
	}
	all, err := db.Agents()
	if err != nil || len(all) != 1 || all[0].Name != "web-1" {
		t.Fatalf("Agents = %+v, %v", all, err)
	}
}
