package pgstore

import (
	"context"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/pgtest"
	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/state/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// openTest opens a store on a new database of its own.
func openTest(t *testing.T, opt Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), pgtest.DB(t), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestStoreSuite runs the suite every store passes on PostgreSQL.
func TestStoreSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) state.Store { return openTest(t, Options{}) })
}

// FlushGraphs writes the graphs' points held in memory, as the flush
// every few seconds does: the store suite's storetest.Flusher.
func (s *Store) FlushGraphs(now time.Time) error { return s.flushRollups(now) }
