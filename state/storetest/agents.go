package storetest

import (
	"errors"
	"strings"
	"testing"
	"time"

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

func init() {
	register("AgentSeen", testAgentSeen)
	register("AgentNotFound", testAgentNotFound)
	register("AgentsConnection", testAgentsConnection)
	register("AgentsPage", testAgentsPage)
	register("Revoke", testRevoke)
	register("AgentSeenRace", testAgentSeenRace)
	register("AgentTimesMicroseconds", testAgentTimesMicroseconds)
}

// testAgentTimesMicroseconds: times come back the same to the
// microsecond, whatever their nanoseconds: a backend that keeps
// microseconds cuts the rest, as same does, rather than round it (pgx
// cuts them as it sends them).
func testAgentTimesMicroseconds(t *testing.T, open Opener) {
	db := open(t)
	seen := coreAt(1999 * time.Nanosecond)
	if err := db.AgentSeen(state.Agent{Name: "web-1", Connected: true, LastSeen: seen}); err != nil {
		t.Fatal(err)
	}
	if err := db.Revoke("web-1", coreAt(time.Hour+999*time.Nanosecond)); err != nil {
		t.Fatal(err)
	}
	_, tok, err := db.CreateToken(state.TokenSpec{Uses: 1, TTL: time.Hour}, coreAt(1500*time.Nanosecond))
	if err != nil {
		t.Fatal(err)
	}
	a := coreMustAgent(t, db, "web-1")
	if !same(a.LastSeen, seen) || !same(a.FirstSeen, seen) || !same(a.Since, coreAt(time.Hour+999*time.Nanosecond)) {
		t.Errorf("agent's times: %+v, want %v and the revocation's", a, seen)
	}
	toks, err := db.Tokens()
	if err != nil || len(toks) != 1 || !same(toks[0].Created, tok.Created) || !same(toks[0].Expires, tok.Expires) {
		t.Errorf("tokens: %+v, %v; want %+v", toks, err, tok)
	}
}

// testAgentSeenRace: many first sightings of one new agent at once, and
// certificates pinned for it meanwhile, all land: one record, seen by
// each.
func testAgentSeenRace(t *testing.T, open Opener) {
	db := open(t)
	const n = 16
	won := coreRace(t, n, nil, func(i int) error {
		if i%4 == 0 {
			return db.PinCert("new-1", "fp", coreAt(time.Duration(i)*time.Second))
		}
		return db.AgentSeen(state.Agent{Name: "new-1", Version: "1", Fingerprint: "fp", Connected: true, LastSeen: coreAt(time.Duration(i) * time.Second)})
	})
	if won != n {
		t.Errorf("%d of %d first sightings at once landed", won, n)
	}
	all, err := db.Agents()
	if err != nil || len(all) != 1 || all[0].Name != "new-1" || !all[0].Pinned || all[0].Fingerprint != "fp" || all[0].Version != "1" {
		t.Errorf("agents after the race: %+v, %v", all, err)
	}
}

// testAgentSeen: an agent seen again keeps its first sighting and what
// the new sighting lacks.
func testAgentSeen(t *testing.T, open Opener) {
	db := open(t)
	first := state.Agent{Name: "web1", Fingerprint: "fp1", Version: "1.0.0", Addr: "10.0.0.1:5000", LastSeen: coreAt(0), Connected: true}
	if err := db.AgentSeen(first); err != nil {
		t.Fatal(err)
	}
	// Seen again, later, with a new version and no fingerprint.
	if err := db.AgentSeen(state.Agent{Name: "web1", Version: "1.1.0", LastSeen: coreAt(time.Hour), Connected: true}); err != nil {
		t.Fatal(err)
	}
	got := coreMustAgent(t, db, "web1")
	want := state.Agent{
		Name: "web1", Fingerprint: "fp1", Version: "1.1.0", Addr: "10.0.0.1:5000",
		FirstSeen: coreAt(0), LastSeen: coreAt(time.Hour), Connected: true, Since: coreAt(0),
	}
	if !coreAgentEqual(got, want) {
		t.Errorf("agent = %+v\nwant    %+v", got, want)
	}
	if !got.FirstSeen.Equal(got.FirstSeen.UTC()) || got.FirstSeen.Location() != time.UTC {
		t.Errorf("FirstSeen %v not in UTC", got.FirstSeen)
	}
	// Its certificate's expiry is kept from the sighting that had it.
	exp := coreAt(90 * 24 * time.Hour)
	if err := db.AgentSeen(state.Agent{Name: "web1", LastSeen: coreAt(2 * time.Hour), CertExpires: exp}); err != nil {
		t.Fatal(err)
	}
	if err := db.AgentSeen(state.Agent{Name: "web1", LastSeen: coreAt(3 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if a := coreMustAgent(t, db, "web1"); !same(a.CertExpires, exp) || a.Connected || !same(a.Since, coreAt(2*time.Hour)) {
		t.Errorf("after two sightings disconnected: %+v", a)
	}
}

func testAgentNotFound(t *testing.T, open Opener) {
	db := open(t)
	if _, err := db.Agent("nobody"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("Agent = %v, want ErrNotFound", err)
	}
	if err := db.SetConnected("nobody", true, coreAt(0)); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("SetConnected = %v, want ErrNotFound", err)
	}
	for _, name := range []string{"", "bad\x00name", "a b"} {
		if err := db.AgentSeen(state.Agent{Name: name}); !errors.Is(err, state.ErrInvalid) {
			t.Errorf("AgentSeen of %q = %v, want ErrInvalid", name, err)
		}
	}
	if all, err := db.Agents(); err != nil || len(all) != 0 {
		t.Errorf("agents after refusals: %+v, %v", all, err)
	}
}

// testAgentsConnection: SetConnected and DisconnectAll change Connected,
// and Since only where it changes; Agents lists by name.
func testAgentsConnection(t *testing.T, open Opener) {
	db := open(t)
	for _, name := range []string{"db2", "app1", "web3"} {
		if err := db.AgentSeen(state.Agent{Name: name, LastSeen: coreAt(0), Connected: true}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.SetConnected("app1", false, coreAt(time.Minute)); err != nil {
		t.Fatal(err)
	}
	a := coreMustAgent(t, db, "app1")
	if a.Connected || !same(a.Since, coreAt(time.Minute)) || !same(a.LastSeen, coreAt(time.Minute)) {
		t.Errorf("after disconnect: %+v", a)
	}
	// An earlier time does not move LastSeen back.
	if err := db.SetConnected("app1", false, coreAt(time.Second)); err != nil {
		t.Fatal(err)
	}
	if a := coreMustAgent(t, db, "app1"); !same(a.LastSeen, coreAt(time.Minute)) || !same(a.Since, coreAt(time.Minute)) {
		t.Errorf("after a disconnect told late: %+v", a)
	}

	if err := db.DisconnectAll(coreAt(time.Hour)); err != nil {
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
		wantSince := coreAt(time.Hour)
		if a.Name == "app1" {
			wantSince = coreAt(time.Minute)
		}
		if !same(a.Since, wantSince) {
			t.Errorf("%s: Since = %v, want %v", a.Name, a.Since, wantSince)
		}
		if a.Name != "app1" && !same(a.LastSeen, coreAt(0)) {
			t.Errorf("%s: LastSeen = %v changed by DisconnectAll", a.Name, a.LastSeen)
		}
	}
	if got, want := strings.Join(names, ","), "app1,db2,web3"; got != want {
		t.Errorf("Agents = %v, want %v", got, want)
	}
}

// testAgentsPage: pages follow the names' byte order, and a name that is
// not an agent's is a place in it all the same.
func testAgentsPage(t *testing.T, open Opener) {
	db := open(t)
	for _, name := range []string{"db-1", "web-1", "app-1", "web-2", "cache", "Z-9"} {
		if err := db.AgentSeen(state.Agent{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	after := ""
	for {
		page, err := db.AgentsPage(after, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range page {
			got = append(got, a.Name)
		}
		if len(page) < 2 {
			break
		}
		after = page[len(page)-1].Name
	}
	if got, want := strings.Join(got, ","), "Z-9,app-1,cache,db-1,web-1,web-2"; got != want {
		t.Errorf("pages give %v, want %v", got, want)
	}
	page, err := db.AgentsPage("d", 0)
	if err != nil || len(page) != 3 || page[0].Name != "db-1" {
		t.Errorf("after d: %v, %v; want db-1, web-1, web-2", page, err)
	}
}

// testRevoke: a revoked agent, known or not, is refused from then on, and
// a known one is disconnected.
func testRevoke(t *testing.T, open Opener) {
	db := open(t)
	if err := db.AgentSeen(state.Agent{Name: "bad", LastSeen: coreAt(0), Connected: true}); err != nil {
		t.Fatal(err)
	}
	if err := db.Revoke("bad", coreAt(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// A name never seen can be revoked too (an issued certificate).
	if err := db.Revoke("issued", coreAt(time.Minute)); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"bad": true, "issued": true, "good": false} {
		got, err := db.Revoked(name)
		if err != nil || got != want {
			t.Errorf("Revoked(%s) = %v, %v; want %v", name, got, err, want)
		}
	}
	if a := coreMustAgent(t, db, "bad"); a.Connected || !same(a.Since, coreAt(time.Minute)) {
		t.Errorf("revoked agent: %+v, want disconnected since the revocation", a)
	}
	if _, err := db.Agent("issued"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("a revoked name never seen became an agent: %v", err)
	}
	if err := db.AgentSeen(state.Agent{Name: "bad", LastSeen: coreAt(time.Hour)}); !errors.Is(err, state.ErrRevoked) {
		t.Errorf("AgentSeen of revoked = %v, want ErrRevoked", err)
	}
	if err := db.AgentSeen(state.Agent{Name: "issued", LastSeen: coreAt(time.Hour)}); !errors.Is(err, state.ErrRevoked) {
		t.Errorf("AgentSeen of revoked = %v, want ErrRevoked", err)
	}
	if err := db.SetConnected("bad", true, coreAt(time.Hour)); !errors.Is(err, state.ErrRevoked) {
		t.Errorf("SetConnected of revoked = %v, want ErrRevoked", err)
	}
	if err := db.SetConnected("bad", false, coreAt(time.Hour)); err != nil {
		t.Errorf("disconnecting a revoked agent: %v", err)
	}
	if err := db.Revoke("bad\x00", coreAt(0)); !errors.Is(err, state.ErrInvalid) {
		t.Errorf("Revoke of a bad name = %v, want ErrInvalid", err)
	}
}
