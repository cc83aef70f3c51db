package helen

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/logtest"
	"github.com/equus-monitoring/equus/modes/helen/server"

	bolt "go.etcd.io/bbolt"

	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/wire"
)

// newDataDir makes a helen data directory (CA, server certificate,
// database) whose database knows web-1 and has revoked the agents named
// revoked, and closes it.
func newDataDir(t *testing.T, revoked ...string) string {
	t.Helper()
	dir := t.TempDir()
	srv, err := server.New(server.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, name := range append([]string{"web-1"}, revoked...) {
		if err := srv.DB().PinCert(name, "fp-"+name, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range revoked {
		if err := srv.DB().Revoke(name, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// wantStoreRefusal fails unless msg names the database, says how to
// restore it and how to start anew, and reads like no Go panic.
func wantStoreRefusal(t *testing.T, what, msg, dir string) {
	t.Helper()
	wantStoreError(t, what, msg, dir, "ca.pem", "ca-key.pem", "enroll again")
}

// wantStoreError fails unless msg names the database, says how to restore
// it from a backup and says what else is wanted, and reads like no Go
// panic.
func wantStoreError(t *testing.T, what, msg, dir string, wanted ...string) {
	t.Helper()
	for _, want := range append([]string{filepath.Join(dir, server.DBFile), "backup"}, wanted...) {
		if !strings.Contains(msg, want) {
			t.Errorf("%s: %q does not say %q", what, msg, want)
		}
	}
	if strings.Contains(msg, "goroutine") || strings.Contains(msg, "panic:") {
		t.Errorf("%s: %q reads like a Go panic", what, msg)
	}
}

// A database missing or emptied beside helen's CA would start a new helen
// trusting every certificate of the CA, revoked ones too: helen serve and
// the offline commands refuse it, and leave the directory as it is.
func TestNoDatabaseBesideCA(t *testing.T) {
	tests := []struct {
		name string
		lose func(path string) error
	}{
		{"empty", func(path string) error { return os.Truncate(path, 0) }},
		{"missing", os.Remove},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := newDataDir(t, "web-2")
			path := filepath.Join(dir, server.DBFile)
			if err := tt.lose(path); err != nil {
				t.Fatal(err)
			}
			before := dirState(t, dir)

			srv, err := server.New(server.Config{DataDir: dir})
			if err == nil {
				revoked, _ := srv.DB().Revoked("web-2")
				srv.Close()
				t.Fatalf("New with the database %s beside the CA: no error (web-2 revoked: %v)", tt.name, revoked)
			}
			if !errors.Is(err, state.ErrNoDatabase) {
				t.Errorf("New = %v, want ErrNoDatabase", err)
			}
			wantStoreRefusal(t, "New", err.Error(), dir)

			for _, args := range [][]string{
				{"agents", "--data", dir},
				{"token", "--data", dir},
				{"revoke", "--data", dir, "web-3"},
			} {
				out, code := helenCLI(t, args...)
				if code == 0 {
					t.Errorf("helen %s: exit 0, printed %q", args[0], out)
				}
				wantStoreRefusal(t, "helen "+args[0], out, dir)
			}
			if after := dirState(t, dir); after != before {
				t.Errorf("refusals changed the data directory:\n%s\nbecame\n%s", before, after)
			}
		})
	}
}

// dirState lists the files of dir with their sizes.
func dirState(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %d\n", e.Name(), fi.Size())
	}
	return b.String()
}

// A brand-new data directory needs nothing set up, and a directory with a
// database but no CA yet (a first start cut short) gets its CA.
func TestNewDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	srv, err := server.New(server.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	for _, f := range []string{"ca.pem", "ca-key.pem"} {
		os.Remove(filepath.Join(dir, f))
	}
	srv, err = server.New(server.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
}

// damagePage flips bits of the type of the root page of a top-level bucket
// of helen's closed database: the page is found from the bucket's root
// page id and the file's page size, and must be a leaf.
func damagePage(t *testing.T, dir, bucket string) {
	t.Helper()
	path := filepath.Join(dir, server.DBFile)
	b, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var id int
	err = b.View(func(tx *bolt.Tx) error {
		id = int(tx.Bucket([]byte(bucket)).RootPage())
		info, err := tx.Page(id)
		if err == nil && (info == nil || info.Type != "leaf") {
			err = fmt.Errorf("bucket %s: root page %d is %+v, want a leaf", bucket, id, info)
		}
		return err
	})
	size := b.Info().PageSize
	b.Close()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The page's flags are bytes 8 and 9 of its header: a leaf (0x02)
	// becomes no valid type, in either byte order.
	data[id*size+8] ^= 0x12
	data[id*size+9] ^= 0x12
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// revokedNames are enough revocations for the revoked bucket to have a
// page of its own.
func revokedNames() []string {
	var names []string
	for i := range 60 {
		names = append(names, fmt.Sprintf("old-%02d", i))
	}
	return names
}

// A damaged page is found by the check at start: helen serve and the
// offline commands refuse the database, saying how to restore it.
func TestDamagedDatabaseRefused(t *testing.T) {
	dir := newDataDir(t, revokedNames()...)
	damagePage(t, dir, "revoked")

	srv, err := server.New(server.Config{DataDir: dir})
	if err == nil {
		srv.Close()
		t.Fatal("New with a damaged database: no error")
	}
	if !errors.Is(err, state.ErrCorrupt) || !strings.Contains(err.Error(), "consistency check") {
		t.Errorf("New = %v, want the consistency check's ErrCorrupt", err)
	}
	wantStoreRefusal(t, "New", err.Error(), dir)

	out, code := helenCLI(t, "agents", "--data", dir)
	if code == 0 {
		t.Errorf("helen agents: exit 0, printed %q", out)
	}
	wantStoreRefusal(t, "helen agents", out, dir)
}

// Past the check (skipped here, as when it runs out of time), a read that
// meets the damaged page fails with the store's error: the agents' port
// refuses the agent (a revoked one is still never accepted), helen logs
// the error at error level, and the offline commands print it and exit
// non-zero instead of a Go panic.
func TestDamagedDatabaseAtRuntime(t *testing.T) {
	dir := newDataDir(t, revokedNames()...)
	damagePage(t, dir, "revoked")

	out, code := helenCLI(t, "agents", "--data", dir, "--db-check-timeout=-1s")
	if code == 0 {
		t.Errorf("helen agents: exit 0, printed %q", out)
	}
	wantStoreError(t, "helen agents", out, dir, "damaged")

	logs := &logtest.Buffer{}
	h := startHelen(t, server.Config{DataDir: dir, DBCheckTimeout: -1,
		Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	for _, name := range []string{"web-1", "old-07"} {
		rc := dialRaw(t, h, agentCert(t, h.srv, name), []string{wire.ALPN})
		rc.ExpectClosedWith(wire.CodeNotAuthorized)
	}
	poll(t, "the damage logged at error level", func() bool {
		return strings.Contains(logs.String(), `level=ERROR msg="database damaged`)
	})
	if s := logs.String(); !strings.Contains(s, filepath.Join(dir, server.DBFile)) || strings.Contains(s, "goroutine") {
		t.Errorf("log %q: want the file named, no stack", s)
	}
}
