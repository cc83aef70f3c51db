package state_test

import (
	"path/filepath"
	"testing"

	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/state/storetest"
)

// TestStoreSuite runs the suite every store passes on the bbolt store.
func TestStoreSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) state.Store {
		db, err := state.Open(filepath.Join(t.TempDir(), "helen.db"), state.Options{PruneInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}
