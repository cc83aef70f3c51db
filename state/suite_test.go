package state_test

import (
	"path/filepath"
	"testing"

	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/state/storetest"
)

// TestStoreSuite runs the suite every store passes on the bbolt store.
func TestStoreSuite(t *testing.T) {
	opt := state.Options{PruneInterval: -1}
	openFile := func(t *testing.T, path string) state.Store {
		db, err := state.Open(path, opt)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	storetest.Run(t, func(t *testing.T) state.Store {
		return openFile(t, filepath.Join(t.TempDir(), "helen.db"))
	}, func(t *testing.T, s state.Store) state.Store {
		db := s.(*state.DB)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		return openFile(t, db.Path())
	})
}
