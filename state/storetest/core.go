package storetest

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/state"
)

// Helpers of the core area's tests (agents, certificates, tokens,
// accounts).

// at is t0 plus d.
func coreAt(d time.Duration) time.Time { return t0.Add(d) }

// coreNeeds fails t on err, but skips it when err says that the store
// has not built yet a method (of another area) that the test needs: the
// PostgreSQL store's stubs answer "not implemented" while it is built.
func coreNeeds(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), "not implemented") {
		t.Skipf("the store lacks a method this test needs: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func coreMustAgent(t *testing.T, db state.Store, name string) state.Agent {
	t.Helper()
	a, err := db.Agent(name)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func coreAgentEqual(a, b state.Agent) bool {
	return a.Name == b.Name && a.Fingerprint == b.Fingerprint && a.Version == b.Version &&
		a.Addr == b.Addr && same(a.FirstSeen, b.FirstSeen) && same(a.LastSeen, b.LastSeen) &&
		a.Connected == b.Connected && same(a.Since, b.Since)
}

// coreNames returns the names of the agents listed, and checks that
// Agents and AgentsPage list the same.
func coreNames(t *testing.T, db state.Store) []string {
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
	if strings.Join(names, ",") != strings.Join(paged, ",") {
		t.Errorf("Agents %v, AgentsPage %v", names, paged)
	}
	return names
}

// coreRace runs n calls of f at once and returns how many succeeded; the
// others must fail with loses.
func coreRace(t *testing.T, n int, loses error, f func(i int) error) int {
	t.Helper()
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = f(i)
		})
	}
	close(start)
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, loses):
			t.Errorf("a loser of the race: %v, want %v", err, loses)
		}
	}
	return won
}
