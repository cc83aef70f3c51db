package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/state"
)

func init() {
	register("SeriesGoneForget", testSeriesGoneForget)
	register("SeriesGoneDeleteSchedule", testSeriesGoneDeleteSchedule)
}

// Flusher is a store whose graphs' points held in memory the suite can
// write to their tiers at once, as its flush every few seconds does:
// each backend's test gives its store the method (a flush is no part of
// state.Store).
type Flusher interface {
	FlushGraphs(now time.Time) error
}

// flushGraphs flushes db's graphs' points, failing a store that gives the
// suite no way to.
func flushGraphs(t *testing.T, db state.Store, now time.Time) {
	t.Helper()
	f, ok := db.(Flusher)
	if !ok {
		t.Fatalf("%T gives the suite no FlushGraphs", db)
	}
	if err := f.FlushGraphs(now); err != nil {
		t.Fatal(err)
	}
}

// feedGraphs stores and feeds points of schedules cpu and mem on web-1
// and web-2 over the last minutes, a minute of them flushed and the last
// minutes' left in memory, and returns the start of the range.
func feedGraphs(t *testing.T, db state.Store) time.Time {
	t.Helper()
	h0 := time.Now().UTC().Truncate(time.Minute).Add(-3 * time.Minute)
	for i := range 12 {
		if i == 6 {
			flushGraphs(t, db, h0.Add(2*time.Minute))
		}
		for _, agent := range []string{"web-1", "web-2"} {
			for _, schedule := range []string{"cpu", "mem"} {
				r := graphPoint(h0.Add(time.Duration(i)*15*time.Second), metricOf("x", float64(i)))
				r.Agent, r.Schedule = agent, schedule
				if err := db.AddResult(context.Background(), r); err != nil {
					t.Fatal(err)
				}
				if err := db.Feed(r); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return h0
}

// graphsOf returns the series names of agent's schedule and the buckets
// of its series x over the range from h0.
func graphsOf(t *testing.T, db state.Store, agent, schedule string, h0 time.Time) ([]string, []state.Bucket) {
	t.Helper()
	names, err := db.SeriesNames(agent, schedule)
	if err != nil {
		t.Fatal(err)
	}
	bs, err := db.Series(agent, schedule, "x", h0.Add(-time.Minute), h0.Add(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	return names, bs
}

// checkGraphs checks that the graphs of agent's schedule are gone (or
// not), before and after a flush of what is in memory.
func checkGraphs(t *testing.T, db state.Store, h0 time.Time, gone func(agent, schedule string) bool) {
	t.Helper()
	for _, when := range []string{"at once", "after a flush"} {
		if when == "after a flush" {
			flushGraphs(t, db, h0.Add(10*time.Minute))
		}
		for _, agent := range []string{"web-1", "web-2"} {
			for _, schedule := range []string{"cpu", "mem"} {
				names, bs := graphsOf(t, db, agent, schedule, h0)
				switch {
				case gone(agent, schedule) && (len(names) != 0 || len(bs) != 0):
					t.Errorf("%s %s %s: series %q and %d buckets, want none", when, agent, schedule, names, len(bs))
				case !gone(agent, schedule) && (len(names) != 1 || len(bs) == 0):
					t.Errorf("%s %s %s: series %q and %d buckets, want x's", when, agent, schedule, names, len(bs))
				}
			}
		}
	}
}

// testSeriesGoneForget: an agent forgotten has no graphs left, those
// flushed nor those still in memory, which a flush does not bring back;
// the other agents keep theirs.
func testSeriesGoneForget(t *testing.T, open Opener) {
	db := open(t)
	if err := db.AgentSeen(state.Agent{Name: "web-1", Connected: true, LastSeen: time.Now()}); err != nil {
		t.Fatal(err)
	}
	h0 := feedGraphs(t, db)
	if err := db.Forget("web-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	checkGraphs(t, db, h0, func(agent, _ string) bool { return agent == "web-1" })
}

// testSeriesGoneDeleteSchedule: a schedule deleted has no graphs left on
// any agent, as testSeriesGoneForget; the other schedules keep theirs.
func testSeriesGoneDeleteSchedule(t *testing.T, open Opener) {
	db := open(t)
	for _, name := range []string{"cpu", "mem"} {
		if err := db.PutSchedule(state.Schedule{Name: name, Check: "load", Every: time.Minute, Timeout: 10 * time.Second, Agents: "*"}); err != nil {
			t.Fatal(err)
		}
	}
	h0 := feedGraphs(t, db)
	if err := db.DeleteSchedule("cpu"); err != nil {
		t.Fatal(err)
	}
	checkGraphs(t, db, h0, func(_, schedule string) bool { return schedule == "cpu" })
}
