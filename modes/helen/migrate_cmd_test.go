package helen

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/logtest"
	"github.com/equus-monitoring/equus/internal/pgtest"
	"github.com/equus-monitoring/equus/modes/helen/internal/helentest"
	"github.com/equus-monitoring/equus/modes/helen/server"
	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/state/pgstore"
)

// TestMigrate: helen migrate copies a stopped helen's state into an
// empty PostgreSQL database, saying what it copied, where a helen on
// that database finds it; run again, it refuses the database it filled.
func TestMigrate(t *testing.T) {
	url := pgtest.DB(t)
	t.Setenv(StoreKeyEnv, testStoreKey)
	dir, _, _ := stoppedHelen(t)
	db, err := state.Open(filepath.Join(dir, server.DBFile), state.Options{PruneInterval: -1, Existing: true})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	secret, _, err := db.CreateToken(state.TokenSpec{Uses: 1, TTL: time.Hour}, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		db.PinCert("web-1", "fp1", now),
		db.Revoke("web-2", now),
		db.AddUser(state.User{Name: "alice", Role: state.RoleOperator, Hash: "$argon2id$a", Created: now}),
		db.Close(),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}

	out, code := helenCLI(t, "migrate", "--data", dir, "--to", url)
	for _, want := range []string{
		"copying " + filepath.Join(dir, server.DBFile) + " into " + pgstore.Redact(url),
		"agents: copied 1 agents (0 forgotten), 1 revocations, 1 enrollment tokens",
		"accounts: copied 1 accounts",
		"done: start helens with --store " + pgstore.Redact(url),
	} {
		if code != 0 || !strings.Contains(out, want+"\n") {
			t.Errorf("migrate: exit %d, %q; want a line %q", code, out, want)
		}
	}

	pg, err := pgstore.Open(context.Background(), url, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	if a, err := pg.Agent("web-1"); err != nil || a.Fingerprint != "fp1" || !a.Pinned {
		t.Errorf("web-1 on PostgreSQL: %+v, %v", a, err)
	}
	if revoked, err := pg.Revoked("web-2"); err != nil || !revoked {
		t.Errorf("web-2 revoked on PostgreSQL: %v, %v", revoked, err)
	}
	if u, err := pg.User("alice"); err != nil || u.Hash != "$argon2id$a" {
		t.Errorf("alice on PostgreSQL: %+v, %v", u, err)
	}
	if err := pg.Enroll(secret, state.Agent{Name: "db-1"}, now.Add(time.Minute)); err != nil {
		t.Errorf("the token made on bbolt enrolls on PostgreSQL: %v", err)
	}

	out, code = helenCLI(t, "migrate", "--data", dir, "--to", url)
	if code != 1 || !strings.Contains(out, "not empty") || !strings.Contains(out, "agents") {
		t.Errorf("migrate into the database it filled: exit %d, %q; want a refusal naming a table", code, out)
	}
}

// TestMigrateRefused: helen migrate refuses, before it writes anything, a
// helen that runs, a --to that is no PostgreSQL URL or none, a directory
// that is no helen's; a server that does not answer is named without its
// password. (The copy itself is state/transfer's TestCopy, on a real
// PostgreSQL server.)
func TestMigrateRefused(t *testing.T) {
	t.Setenv(StoreKeyEnv, testStoreKey)
	h := startHelen(t, server.Config{})
	stopped := t.TempDir()
	db, err := state.Open(filepath.Join(stopped, server.DBFile), state.Options{PruneInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	const pw = "s3cr3t-pw"
	unreachable := "postgres://equus:" + pw + "@127.0.0.1:1/equus?connect_timeout=5"
	tests := []struct {
		name string
		args []string
		code int
		says string
	}{
		{"running", []string{"--data", h.dir, "--to", unreachable}, 1, "helen is running"},
		{"no-to", []string{"--data", stopped}, 2, "to"},
		{"not-postgres", []string{"--data", stopped, "--to", "mysql://equus:" + pw + "@db/equus"}, 2, "not a postgres:// URL"},
		{"not-helen", []string{"--data", t.TempDir(), "--to", unreachable}, 2, "not a helen data directory"},
		{"unreachable", []string{"--data", stopped, "--to", unreachable}, 1, "postgres://equus:xxxxx@127.0.0.1:1/equus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code := helenCLI(t, append([]string{"migrate"}, tt.args...)...)
			if code != tt.code || !strings.Contains(out, tt.says) {
				t.Errorf("exit %d, %q; want %d saying %q", code, out, tt.code, tt.says)
			}
			if strings.Contains(out, pw) {
				t.Errorf("the password is shown: %q", out)
			}
		})
	}
}

// TestMigrateServe: a helen's data directory migrated through the command
// line, with its CA, admin token and some of its state; a helen started
// on the store, from a data directory of its own, has the same CA pin
// and admin token, the schedule and results moved, and a token made on
// the old helen enrolls on it, under the CA its agents trust.
func TestMigrateServe(t *testing.T) {
	url := pgtest.DB(t)
	dir, oldCA, adminToken := stoppedHelen(t)
	db, err := state.Open(filepath.Join(dir, server.DBFile), state.Options{PruneInterval: -1, Existing: true})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	secret, _, err := db.CreateToken(state.TokenSpec{Uses: 1, TTL: time.Hour, Agent: "web-9"}, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		db.PutSchedule(state.Schedule{Name: "load", Check: "load", Every: time.Minute, Timeout: 10 * time.Second, Agents: "*",
			Created: now, Updated: now}),
		db.AddResult(context.Background(), state.Result{Agent: "web-1", Check: "load", Schedule: "load", Time: now,
			Status: "ok", Message: "load 0.1"}),
		db.Close(),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}

	keyFile := filepath.Join(t.TempDir(), "store.key")
	if err := os.WriteFile(keyFile, []byte(testStoreKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := helenCLI(t, "migrate", "--data", dir, "--to", url, "--store-key-file", keyFile)
	for _, want := range []string{"results: 1 of 1\n", "results: copied 1 results of 1 series\n",
		"monitor: copied 1 schedules,", "secrets: copied the CA and the admin token", "done: start helens with --store"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("migrate: exit %d, %q; want %q in it", code, out, want)
		}
	}
	key, err := server.ParseStoreKey(testStoreKey)
	if err != nil {
		t.Fatal(err)
	}
	h := startHelen(t, server.Config{Store: url, StoreKey: key, HelenID: "helen-1"})
	if got, want := h.CA().Pin(), oldCA.Pin(); got != want {
		t.Errorf("CA pin on the store %s, want the old helen's %s", got, want)
	}
	if got := h.AdminToken(); got != adminToken {
		t.Errorf("admin token on the store %q, want the old helen's", got)
	}
	csr, _, err := pki.NewCSR("web-9")
	if err != nil {
		t.Fatal(err)
	}
	if code, resp := helentest.EnrollAt(t, helentest.HTTPSClient(t, oldCA, nil), h, secret, csr); code != http.StatusOK || resp.Error != "" {
		t.Errorf("a token of the old helen enrolls on the store's: %d %+v", code, resp)
	}
	out, code = helenCLI(t, "migrate", "--data", dir, "--to", url)
	if code != 2 || !strings.Contains(out, "a store key is needed") {
		t.Errorf("migrate with no store key: exit %d, %q", code, out)
	}
}

// testStoreKey is a store key, as helen serve and migrate read it.
var testStoreKey = strings.Repeat("5a", server.StoreKeySize)

// stoppedHelen makes the data directory of a helen on bbolt that ran and
// stopped, and returns it with its CA and admin token.
func stoppedHelen(t *testing.T) (string, *pki.CA, string) {
	t.Helper()
	dir := t.TempDir()
	srv, err := server.New(server.Config{DataDir: dir, Version: "1.0.0", Executable: helentest.Executable(t),
		Log: slog.New(slog.NewTextHandler(logtest.Writer{T: t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ca := srv.CA()
	token, _ := srv.AdminToken()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, ca, token
}
