package transfer

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/pgtest"
	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/state/pgstore"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// fill makes on db a state of every kind the core area keeps; it returns
// the secret of a token not used yet.
func fill(t *testing.T, db *state.DB) string {
	t.Helper()
	must(t, db.AgentSeen(state.Agent{Name: "web-1", Fingerprint: "fp1", Version: "1.2.3", Addr: "192.0.2.1:4000",
		LastSeen: at(0), Connected: true, CertExpires: at(90 * 24 * time.Hour)}))
	must(t, db.PinCert("web-2", "fp2", at(time.Minute)))
	must(t, db.RenewCert("web-2", "fp2", "fp2-next", at(time.Hour), time.Minute)) // pending
	must(t, db.AgentSeen(state.Agent{Name: "gone", LastSeen: at(0)}))
	must(t, db.Forget("gone", at(2*time.Hour)))
	must(t, db.Revoke("web-1", at(3*time.Hour)))
	must(t, db.Revoke("never-seen", at(4*time.Hour)))
	used, _, err := db.CreateToken(state.TokenSpec{Uses: 2, TTL: 24 * time.Hour}, at(0))
	must(t, err)
	must(t, db.Enroll(used, state.Agent{Name: "db-1", Fingerprint: "fp-db"}, at(time.Minute)))
	unused, _, err := db.CreateToken(state.TokenSpec{Uses: 1, TTL: 24 * time.Hour, Agent: "cache-1"}, at(time.Second))
	must(t, err)
	must(t, db.AddUser(state.User{Name: "alice", Role: state.RoleOperator, Hash: "$argon2id$a", Created: at(0)}))
	must(t, db.AddUser(state.User{Name: "bob", Role: state.RoleReadOnly, Hash: "$argon2id$b", Created: at(time.Hour)}))
	return unused
}

func same(a, b time.Time) bool {
	return a.Truncate(time.Microsecond).Equal(b.Truncate(time.Microsecond))
}

func agentsEqual(a, b state.Agent) bool {
	return a.Name == b.Name && a.Fingerprint == b.Fingerprint && a.Version == b.Version && a.Addr == b.Addr &&
		same(a.FirstSeen, b.FirstSeen) && same(a.LastSeen, b.LastSeen) && a.Connected == b.Connected &&
		same(a.Since, b.Since) && a.Pinned == b.Pinned && a.Pending == b.Pending && same(a.Renewed, b.Renewed) &&
		same(a.CertExpires, b.CertExpires) && same(a.Forgotten, b.Forgotten)
}

// TestCopy: what a helen on bbolt kept is read back from PostgreSQL
// through state.Store as it was: every agent's record (a forgotten one
// too), revocations, tokens (one made on bbolt enrolls on PostgreSQL),
// accounts; a store not empty is refused and left as it was.
func TestCopy(t *testing.T) {
	ctx := context.Background()
	db, err := state.Open(filepath.Join(t.TempDir(), "helen.db"), state.Options{PruneInterval: -1})
	must(t, err)
	defer db.Close()
	secret := fill(t, db)

	pg, err := pgstore.Open(ctx, pgtest.DB(t), pgstore.Options{})
	must(t, err)
	defer pg.Close()
	var lines []string
	must(t, Copy(ctx, db, pg, func(area, what string) { lines = append(lines, area+": "+what) }))
	if got, want := strings.Join(lines, "\n"), "agents: copied 4 agents (1 forgotten), 2 revocations, 2 enrollment tokens\naccounts: copied 2 accounts\nmonitor: copied 0 schedules, 0 statuses, 0 agents down, 0 events, 0 routes, 0 silences, 0 acknowledgements, 0 notifications (0 to deliver)\nresults: copied 0 results of 0 series\ngraphs: copied 0 series, 0 minute and 0 hour points"; got != want {
		t.Errorf("report:\n%s\nwant\n%s", got, want)
	}

	var from, to state.Store = db, pg
	for _, name := range []string{"web-1", "web-2", "gone", "db-1"} {
		a, err := from.Agent(name)
		must(t, err)
		b, err := to.Agent(name)
		if err != nil || !agentsEqual(a, b) {
			t.Errorf("agent %s:\nbbolt      %+v\npostgresql %+v (%v)", name, a, b, err)
		}
	}
	for _, name := range []string{"web-1", "never-seen", "web-2"} {
		want, _ := from.Revoked(name)
		if got, err := to.Revoked(name); err != nil || got != want {
			t.Errorf("revoked %s: %v, %v; want %v", name, got, err, want)
		}
	}
	fromAgents, _ := from.Agents()
	toAgents, _ := to.Agents()
	if len(fromAgents) != 3 || len(toAgents) != len(fromAgents) {
		t.Errorf("agents listed: bbolt %d, postgresql %d", len(fromAgents), len(toAgents))
	}
	fromToks, _ := from.Tokens()
	toToks, err := to.Tokens()
	if err != nil || len(toToks) != len(fromToks) {
		t.Fatalf("tokens: %+v, %v; want %+v", toToks, err, fromToks)
	}
	for i := range fromToks {
		f, g := fromToks[i], toToks[i]
		if f.ID != g.ID || f.Uses != g.Uses || f.Used != g.Used || f.Agent != g.Agent || !same(f.Created, g.Created) || !same(f.Expires, g.Expires) {
			t.Errorf("token %d: %+v, want %+v", i, g, f)
		}
	}
	fromUsers, _ := from.Users()
	toUsers, err := to.Users()
	if err != nil || len(toUsers) != 2 {
		t.Fatalf("users: %+v, %v", toUsers, err)
	}
	for i := range fromUsers {
		if f, g := fromUsers[i], toUsers[i]; f.Name != g.Name || f.Role != g.Role || f.Hash != g.Hash || !same(f.Created, g.Created) {
			t.Errorf("user %d: %+v, want %+v", i, g, f)
		}
	}

	// What the copy kept behaves as it did: the pinned certificate and
	// its pending successor, the revocation, the forgotten name taken, the
	// token made on bbolt.
	if err := to.CheckCert("web-2", "fp2-next"); err != nil {
		t.Errorf("the pending certificate of web-2: %v", err)
	}
	if err := to.CheckCert("web-2", "fp-other"); !errors.Is(err, state.ErrCertReplaced) {
		t.Errorf("another certificate of web-2: %v, want ErrCertReplaced", err)
	}
	if err := to.AgentSeen(state.Agent{Name: "web-1"}); !errors.Is(err, state.ErrRevoked) {
		t.Errorf("web-1 revoked on bbolt connects on PostgreSQL: %v", err)
	}
	if err := to.Enroll(secret, state.Agent{Name: "cache-1", Fingerprint: "fp-cache"}, at(time.Hour)); err != nil {
		t.Errorf("a token made on bbolt enrolls on PostgreSQL: %v", err)
	}

	// Again: refused, and nothing changed.
	before, _ := to.Tokens()
	err = Copy(ctx, db, pg, func(string, string) { t.Error("a refused copy reported") })
	if !errors.Is(err, ErrNotEmpty) || !strings.Contains(err.Error(), pg.Path()) {
		t.Errorf("copy into a store not empty: %v, want ErrNotEmpty naming it", err)
	}
	if after, _ := to.Tokens(); len(after) != len(before) || after[1].Used != 1 {
		t.Errorf("a refused copy changed the store: %+v", after)
	}
}

// TestCopyRefusesAnyRow: a store with a row in any table, here one of the
// cluster's, is not empty.
func TestCopyRefusesAnyRow(t *testing.T) {
	ctx := context.Background()
	db, err := state.Open(filepath.Join(t.TempDir(), "helen.db"), state.Options{PruneInterval: -1})
	must(t, err)
	defer db.Close()
	fill(t, db)
	pg, err := pgstore.Open(ctx, pgtest.DB(t), pgstore.Options{})
	must(t, err)
	defer pg.Close()
	must(t, pg.AddUser(state.User{Name: "carol", Role: state.RoleOperator, Hash: "h"}))
	if err := Copy(ctx, db, pg, func(string, string) {}); !errors.Is(err, ErrNotEmpty) || !strings.Contains(err.Error(), "users") {
		t.Errorf("copy into a store with an account: %v, want ErrNotEmpty naming users", err)
	}
	if agents, _ := pg.Agents(); len(agents) != 0 {
		t.Errorf("a refused copy wrote agents: %+v", agents)
	}
}
