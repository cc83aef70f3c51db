package state

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/equus-monitoring/equus/internal/leakcheck"
)

// TestMain fails the run when a test leaves a goroutine of the store
// behind, such as the result writer of a DB not closed: every DB a test
// opens must be closed.
func TestMain(m *testing.M) {
	if path := os.Getenv(crashEnv); path != "" {
		os.Exit(crashChild(path))
	}
	leakcheck.Main(m, "equus/state.")
}

// openTest opens a database under t.TempDir. When the test ends it closes
// the database and checks the consistency of the file.
func openTest(t testing.TB, opt Options) *DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "helen.db")
	db, err := Open(path, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
		checkFile(t, path)
	})
	return db
}

// checkFile runs bbolt's consistency check on a closed database file.
func checkFile(t testing.TB, path string) {
	t.Helper()
	b, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Errorf("check %s: %v", path, err)
		return
	}
	defer b.Close()
	err = b.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("check %s: %v", path, err)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

// reopen closes db and opens its file again, closing it when the test ends.
func reopen(t testing.TB, db *DB, opt Options) *DB {
	t.Helper()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db2, err := Open(db.Path(), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db2.Close(); err != nil {
			t.Error(err)
		}
	})
	return db2
}

// at returns a fixed time plus d, so tests do not depend on the clock.
func at(d time.Duration) time.Time {
	return time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC).Add(d)
}
