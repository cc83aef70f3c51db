package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/equus-monitoring/equus/internal/pgtest"
	"github.com/equus-monitoring/equus/state"
)

var coreT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// TestOpenTwiceMigratesOnce: two stores opened at once on a fresh
// database both open, and the schema is made once (the advisory lock).
func TestOpenTwiceMigratesOnce(t *testing.T) {
	url := pgtest.DB(t)
	var wg sync.WaitGroup
	stores := make([]*Store, 2)
	errs := make([]error, 2)
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = Open(t.Context(), url, Options{}) })
	}
	wg.Wait()
	for i, s := range stores {
		if errs[i] != nil {
			t.Fatalf("open %d: %v", i, errs[i])
		}
		defer s.Close()
	}
	var n, max int
	if err := stores[0].pool.QueryRow(t.Context(), "SELECT count(*), max(version) FROM equus_schema").Scan(&n, &max); err != nil {
		t.Fatal(err)
	}
	if n != SchemaVersion() || max != SchemaVersion() {
		t.Errorf("equus_schema: %d rows up to version %d, want %d", n, max, SchemaVersion())
	}
	// And a third, later, finds the work done.
	s, err := Open(t.Context(), url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

// TestOpenNewerSchema: a database that a newer program migrated is
// refused, and left as it was.
func TestOpenNewerSchema(t *testing.T) {
	url := pgtest.DB(t)
	s, err := Open(t.Context(), url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.pool.Exec(t.Context(), "INSERT INTO equus_schema (version, name) VALUES ($1, 'future')", SchemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(t.Context(), url, Options{})
	if !errors.Is(err, state.ErrSchema) {
		if s2 != nil {
			s2.Close()
		}
		t.Fatalf("Open of a newer schema: %v, want ErrSchema", err)
	}
	var n int
	if err := s.pool.QueryRow(t.Context(), "SELECT count(*) FROM equus_schema").Scan(&n); err != nil || n != SchemaVersion()+1 {
		t.Errorf("equus_schema after the refusal: %d rows, %v", n, err)
	}
}

// TestOpenBadURL: a URL that does not parse, or names a server that does
// not answer, gives an error that names the URL without its password.
func TestOpenBadURL(t *testing.T) {
	const password = "s3cr3t-pw"
	tests := []struct{ name, url, shown string }{
		{"unparsable", "postgres://equus:" + password + "@127.0.0.1:notaport/equus", "postgres://equus:xxxxx@127.0.0.1:notaport/equus"},
		{"bad-option", "postgres://equus:" + password + "@127.0.0.1:5432/equus?pool_max_conns=many", "postgres://equus:xxxxx@127.0.0.1:5432/equus"},
		{"unreachable", "postgres://equus:" + password + "@127.0.0.1:1/equus?connect_timeout=5", "postgres://equus:xxxxx@127.0.0.1:1/equus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			s, err := Open(ctx, tt.url, Options{ConnectTimeout: 10 * time.Second})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			msg := err.Error()
			t.Log(msg)
			if strings.Contains(msg, password) {
				t.Errorf("error shows the password: %s", msg)
			}
			if !strings.Contains(msg, "store ") || (tt.shown != "" && !strings.Contains(msg, tt.shown)) {
				t.Errorf("error %q does not name the store %s", msg, tt.shown)
			}
		})
	}
}

// hold makes s the holder of agent's claim under epoch, as Claim does.
func hold(t *testing.T, s *Store, agent string, epoch int64) {
	t.Helper()
	if _, err := s.pool.Exec(t.Context(), `INSERT INTO claims (agent, helen, epoch, held, at) VALUES ($1, $2, $3, true, $4)
		ON CONFLICT (agent) DO UPDATE SET helen = $2, epoch = $3, held = true, at = $4`, agent, s.opt.Helen, epoch, coreT0); err != nil {
		t.Fatal(err)
	}
	s.held.mu.Lock()
	defer s.held.mu.Unlock()
	if s.held.m == nil {
		s.held.m = map[string]int64{}
	}
	s.held.m[agent] = epoch
}

// TestFencedWrites: AgentSeen and SetConnected for an agent this store
// claimed land while the claim is its own, and are refused with
// ErrFenced, changing nothing, once another helen took it over; an agent
// never claimed here is not fenced.
func TestFencedWrites(t *testing.T) {
	s := openTest(t, Options{Helen: "helen-a"})
	hold(t, s, "web-1", 3)
	if err := s.AgentSeen(state.Agent{Name: "web-1", Version: "1", Connected: true, LastSeen: coreT0}); err != nil {
		t.Fatalf("AgentSeen under this store's claim: %v", err)
	}
	if err := s.SetConnected("web-1", false, coreT0.Add(time.Second)); err != nil {
		t.Fatalf("SetConnected under this store's claim: %v", err)
	}
	if _, err := s.pool.Exec(t.Context(), `UPDATE claims SET helen = 'helen-b', epoch = 4 WHERE agent = 'web-1'`); err != nil {
		t.Fatal(err)
	}
	before, _ := s.Agent("web-1")
	if err := s.AgentSeen(state.Agent{Name: "web-1", Version: "2", Connected: true, LastSeen: coreT0.Add(time.Minute)}); !errors.Is(err, state.ErrFenced) {
		t.Errorf("AgentSeen after the claim was taken over: %v, want ErrFenced", err)
	}
	if err := s.SetConnected("web-1", true, coreT0.Add(time.Minute)); !errors.Is(err, state.ErrFenced) {
		t.Errorf("SetConnected after the claim was taken over: %v, want ErrFenced", err)
	}
	if after, _ := s.Agent("web-1"); after != before {
		t.Errorf("a fenced write changed the agent:\n%+v\n%+v", before, after)
	}
	// The same helen under a later epoch of its own is not the claim it
	// made either.
	if _, err := s.pool.Exec(t.Context(), `UPDATE claims SET helen = 'helen-a', epoch = 5 WHERE agent = 'web-1'`); err != nil {
		t.Fatal(err)
	}
	if err := s.SetConnected("web-1", true, coreT0.Add(time.Minute)); !errors.Is(err, state.ErrFenced) {
		t.Errorf("SetConnected under an epoch not its own: %v, want ErrFenced", err)
	}
	if err := s.AgentSeen(state.Agent{Name: "db-1", Connected: true, LastSeen: coreT0}); err != nil {
		t.Errorf("AgentSeen of an agent never claimed here: %v", err)
	}
}

// TestForgetEveryAgentTable: Forget deletes an agent's rows from a table
// with a column agent that it was never told of (one this test makes
// after the schema), and keeps the others' rows and those of a table it
// keeps.
func TestForgetEveryAgentTable(t *testing.T) {
	s := openTest(t, Options{})
	ctx := t.Context()
	for _, q := range []string{
		`CREATE TABLE probe_present (agent text NOT NULL, what text NOT NULL)`,
		`CREATE TABLE claims_probe_named_otherwise (owner text NOT NULL)`,
		`INSERT INTO probe_present VALUES ('web-1', 'a'), ('web-1', 'b'), ('web-10', 'c'), ('web-2', 'd')`,
		`INSERT INTO claims (agent, helen, epoch, held, at) VALUES ('web-1', 'helen-x', 7, false, now())`,
	} {
		if _, err := s.pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AgentSeen(state.Agent{Name: "web-1", LastSeen: coreT0}); err != nil {
		t.Fatal(err)
	}
	if err := s.Forget("web-1", coreT0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	var left string
	if err := s.pool.QueryRow(ctx, `SELECT string_agg(agent || ':' || what, ',' ORDER BY what) FROM probe_present`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != "web-10:c,web-2:d" {
		t.Errorf("probe_present after forget: %s, want the others' rows alone", left)
	}
	var epoch int64
	if err := s.pool.QueryRow(ctx, `SELECT epoch FROM claims WHERE agent = 'web-1'`).Scan(&epoch); err != nil || epoch != 7 {
		t.Errorf("the claim of web-1 after forget: epoch %d, %v; want it kept", epoch, err)
	}
	// Rows alone, the record forgotten already: still something to forget.
	if _, err := s.pool.Exec(ctx, `INSERT INTO probe_present VALUES ('web-1', 'e')`); err != nil {
		t.Fatal(err)
	}
	if err := s.Forget("web-1", coreT0.Add(2*time.Hour)); err != nil {
		t.Errorf("forget of an agent with rows left: %v", err)
	}
	if err := s.Forget("web-1", coreT0.Add(3*time.Hour)); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("forget of nothing left: %v, want ErrNotFound", err)
	}
	if a, _ := s.Agent("web-1"); !a.Forgotten.Equal(coreT0.Add(time.Hour)) {
		t.Errorf("record after forgets: %+v", a)
	}
}

// TestDisconnectAllLeavesOthers: DisconnectAll, at a helen's start, marks
// disconnected the agents no other helen holds (its own claims, from
// before its restart, and claims released), and leaves connected those
// whose session another helen holds.
func TestDisconnectAllLeavesOthers(t *testing.T) {
	s := openTest(t, Options{Helen: "helen-a"})
	claims := map[string]struct {
		helen string
		held  bool
	}{
		"mine":     {"helen-a", true},
		"others":   {"helen-b", true},
		"released": {"helen-b", false},
		"unheld":   {},
	}
	for name, c := range claims {
		if err := s.AgentSeen(state.Agent{Name: name, Connected: true, LastSeen: coreT0}); err != nil {
			t.Fatal(err)
		}
		if c.helen != "" {
			if _, err := s.pool.Exec(t.Context(), `INSERT INTO claims (agent, helen, epoch, held, at) VALUES ($1, $2, 1, $3, $4)`,
				name, c.helen, c.held, coreT0); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.DisconnectAll(coreT0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for name := range claims {
		a, err := s.Agent(name)
		if err != nil {
			t.Fatal(err)
		}
		if want := name == "others"; a.Connected != want {
			t.Errorf("%s: connected %v after DisconnectAll, want %v", name, a.Connected, want)
		}
	}
}

// TestRetryable: what ends a transaction of the core area that may
// succeed if run again, and what does not.
func TestRetryable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"raced-insert", &pgconn.PgError{Code: "23505", ConstraintName: "agents_pkey"}, true},
		{"wrapped", fmt.Errorf("agent seen: %w", &pgconn.PgError{Code: "23505", ConstraintName: "agents_pkey"}), true},
		{"other-unique", &pgconn.PgError{Code: "23505", ConstraintName: "users_pkey"}, false},
		{"deadlock", &pgconn.PgError{Code: "40P01"}, true},
		{"serialization", &pgconn.PgError{Code: "40001"}, true},
		{"syntax", &pgconn.PgError{Code: "42601"}, false},
		{"refused", state.ErrRevoked, false},
		{"none", nil, false},
	}
	for _, tt := range tests {
		if got := retryable(tt.err); got != tt.want {
			t.Errorf("%s: retryable = %v, want %v", tt.name, got, tt.want)
		}
	}
}
