package pgstore

import (
	"context"
	"sync"
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
	var urls sync.Map // *Store: the URL of its database, to reopen it
	openURL := func(t *testing.T, u string) state.Store {
		s, err := Open(context.Background(), u, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		urls.Store(s, u)
		return s
	}
	storetest.Run(t, func(t *testing.T) state.Store {
		return openURL(t, pgtest.DB(t))
	}, func(t *testing.T, s state.Store) state.Store {
		u, _ := urls.Load(s)
		if err := s.(*Store).Close(); err != nil {
			t.Fatal(err)
		}
		return openURL(t, u.(string))
	})
}

// FlushGraphs writes the graphs' points held in memory, as the flush
// every few seconds does: the store suite's storetest.Flusher.
func (s *Store) FlushGraphs(now time.Time) error { return s.flushRollups(now) }
