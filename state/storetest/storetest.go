// Package storetest is the suite of tests every state.Store passes: the
// bbolt store (state.DB) and the PostgreSQL one (state/pgstore) run it
// alike, so that the two cannot drift. It tests what the interface
// promises, through the interface only; what is a backend's own (bbolt's
// results log, its file checks; PostgreSQL's migrations) is tested in its
// package.
package storetest

import (
	"sort"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/state"
)

// Opener returns a new, empty store for t, closed when t ends.
type Opener func(t *testing.T) state.Store

// Reopener closes s and opens the same store again (the same file, the
// same database), for the tests that what a store keeps outlives its
// close.
type Reopener func(t *testing.T, s state.Store) state.Store

// test is one test of the suite: run, or reopening where it reopens.
type test struct {
	name      string
	run       func(t *testing.T, open Opener)
	reopening func(t *testing.T, open Opener, reopen Reopener)
}

var tests []test

// register adds a test of the suite; each file of the package registers
// its own, in an init function.
func register(name string, run func(t *testing.T, open Opener)) {
	tests = append(tests, test{name: name, run: run})
}

// registerReopening adds a test of the suite that reopens its store.
func registerReopening(name string, run func(t *testing.T, open Opener, reopen Reopener)) {
	tests = append(tests, test{name: name, reopening: run})
}

// Run runs the whole suite against the stores open makes, reopening
// them with reopen.
func Run(t *testing.T, open Opener, reopen Reopener) {
	sorted := append([]test(nil), tests...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].name < sorted[j].name })
	for _, tc := range sorted {
		t.Run(tc.name, func(t *testing.T) {
			if tc.reopening != nil {
				tc.reopening(t, open, reopen)
				return
			}
			tc.run(t, open)
		})
	}
}

// t0 is the time the suite's stories start at, in UTC with no monotonic
// reading, as stored times come back; a backend rounds times to the
// microsecond at most (PostgreSQL's resolution).
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// same reports whether two stored times are one, to the microsecond.
func same(a, b time.Time) bool {
	return a.Truncate(time.Microsecond).Equal(b.Truncate(time.Microsecond))
}
