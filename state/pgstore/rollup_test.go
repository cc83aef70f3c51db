package pgstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/pgtest"
	"github.com/equus-monitoring/equus/internal/wait"
	"github.com/equus-monitoring/equus/state"
)

// fakeNow is a clock a test moves.
type fakeNow struct{ ns atomic.Int64 }

func (c *fakeNow) now() time.Time     { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeNow) set(t time.Time)    { c.ns.Store(t.UnixNano()) }
func newFakeNow(t time.Time) *fakeNow { c := &fakeNow{}; c.set(t); return c }

// rollupOptions are those of a store whose graphs' points are flushed
// only when the test says so, on the clock c.
func rollupOptions(c *fakeNow) Options {
	return Options{PruneInterval: -1, now: c.now, rollupFlush: -1}
}

func graphResult(t time.Time, metrics ...state.Metric) state.Result {
	return state.Result{Agent: "web-1", Check: "load", Schedule: "cpu", Time: t, Status: "ok", Metrics: metrics}
}

func mv(name string, v float64) state.Metric { return state.Metric{Name: name, Value: v} }

func feed(t *testing.T, s *Store, rs ...state.Result) {
	t.Helper()
	for _, r := range rs {
		if err := s.Feed(r); err != nil {
			t.Fatal(err)
		}
	}
}

func flush(t *testing.T, s *Store, now time.Time) {
	t.Helper()
	if err := s.flushRollups(now); err != nil {
		t.Fatal(err)
	}
}

func series(t *testing.T, s *Store, metric string, from, to time.Time) []state.Bucket {
	t.Helper()
	bs, err := s.Series("web-1", "cpu", metric, from, to)
	if err != nil {
		t.Fatal(err)
	}
	return bs
}

type want struct {
	start          time.Time
	min, max, mean float64
	count          int
}

func checkBuckets(t *testing.T, what string, got []state.Bucket, ws ...want) {
	t.Helper()
	if len(got) != len(ws) {
		t.Fatalf("%s: %d buckets %+v, want %d", what, len(got), got, len(ws))
	}
	for i, w := range ws {
		g := got[i]
		if !g.Start.Equal(w.start) || g.Min != w.min || g.Max != w.max || math.Abs(g.Mean-w.mean) > 1e-9 || g.Count != w.count {
			t.Errorf("%s: bucket %d is %+v, want %+v", what, i, g, w)
		}
	}
}

func countRows(t *testing.T, s *Store, table string) int {
	t.Helper()
	var n int
	if err := s.pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRollupTiers: the figures of a minute's and an hour's bucket, across
// the boundaries of both, from memory through a flush; a late point is
// merged into both tiers.
func TestRollupTiers(t *testing.T) {
	h0 := at(0).Truncate(time.Hour)
	c := newFakeNow(h0)
	s := openTest(t, rollupOptions(c))
	m := func(min, sec int) time.Time {
		return h0.Add(time.Duration(min)*time.Minute + time.Duration(sec)*time.Second)
	}
	feed(t, s,
		graphResult(m(0, 0), mv("load1", 1), mv("temp", 40)),
		graphResult(m(0, 30), mv("load1", 3)),
		graphResult(m(0, 59), mv("load1", 2)),
		graphResult(m(1, 0), mv("load1", 10)),
		graphResult(m(59, 50), mv("load1", 5)),
		graphResult(m(60, 0), mv("load1", 7)),
		graphResult(m(61, 10), mv("load1", 9)),
	)
	if got := series(t, s, "load1", h0, h0.Add(2*time.Hour)); len(got) != 0 {
		t.Fatalf("before a flush: %+v", got)
	}
	c.set(m(62, 0))
	flush(t, s, c.now())
	checkBuckets(t, "minutes", series(t, s, "load1", h0, h0.Add(2*time.Hour)),
		want{m(0, 0), 1, 3, 2, 3}, want{m(1, 0), 10, 10, 10, 1}, want{m(59, 0), 5, 5, 5, 1},
		want{m(60, 0), 7, 7, 7, 1}, want{m(61, 0), 9, 9, 9, 1})
	checkBuckets(t, "temp", series(t, s, "temp", h0, h0.Add(time.Hour)), want{m(0, 0), 40, 40, 40, 1})
	checkBuckets(t, "from inside a minute", series(t, s, "load1", m(0, 30), m(2, 0)), want{m(1, 0), 10, 10, 10, 1})

	long := func() []state.Bucket { return series(t, s, "load1", h0.Add(-30*time.Hour), h0.Add(2*time.Hour)) }
	hours := []want{{h0, 1, 10, 21.0 / 5, 5}, {h0.Add(time.Hour), 7, 9, 8, 2}}
	checkBuckets(t, "hours", long(), hours...)
	if n := countRows(t, s, "rollup_hour"); n != 3 {
		t.Errorf("%d buckets in the hour tier, want 3 (load1's 2, temp's 1)", n)
	}
	// A second flush of the same minutes merges into them.
	feed(t, s, graphResult(m(30, 0), mv("load1", -4)))
	flush(t, s, c.now())
	checkBuckets(t, "late hours", long(), want{h0, -4, 10, 17.0 / 6, 6}, hours[1])
	checkBuckets(t, "late minute", series(t, s, "load1", m(30, 0), m(31, 0)), want{m(30, 0), -4, -4, -4, 1})
}

// TestRollupRestartMerges: points of a minute flushed by Close and
// points of the same minute after it make one bucket; so do those of
// two stores (two helens) on one database.
func TestRollupRestartMerges(t *testing.T) {
	h0 := at(0).Truncate(time.Hour)
	c := newFakeNow(h0.Add(time.Minute))
	url := pgtest.DB(t)
	s := openURL(t, url, rollupOptions(c))
	feed(t, s, graphResult(h0.Add(5*time.Second), mv("x", 4)), graphResult(h0.Add(15*time.Second), mv("x", 6)))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openURL(t, url, rollupOptions(c))
	other := openURL(t, url, rollupOptions(c))
	feed(t, s, graphResult(h0.Add(25*time.Second), mv("x", 1)))
	feed(t, other, graphResult(h0.Add(35*time.Second), mv("x", 9)))
	flush(t, s, c.now())
	flush(t, other, c.now())
	checkBuckets(t, "merged", series(t, s, "x", h0, h0.Add(time.Hour)), want{h0, 1, 9, 5, 4})
	checkBuckets(t, "merged hour", series(t, s, "x", h0.Add(-30*time.Hour), h0.Add(time.Hour)), want{h0, 1, 9, 5, 4})
	if n := countRows(t, s, "rollup_series"); n != 1 {
		t.Errorf("%d series, want 1", n)
	}
}

// TestRollupFailedFlushKeeps: the points of a flush that failed are kept
// for the next.
func TestRollupFailedFlushKeeps(t *testing.T) {
	h0 := at(0).Truncate(time.Hour)
	c := newFakeNow(h0.Add(time.Minute))
	s := openTest(t, rollupOptions(c))
	feed(t, s, graphResult(h0, mv("x", 2)))
	if _, err := s.pool.Exec(context.Background(), `ALTER TABLE rollup_minute RENAME TO rollup_minute_away`); err != nil {
		t.Fatal(err)
	}
	if err := s.flushRollups(c.now()); err == nil {
		t.Fatal("a flush with no minute tier succeeded")
	}
	if names, _ := s.SeriesNames("web-1", "cpu"); len(names) != 1 {
		t.Errorf("names after a failed flush: %q", names)
	}
	if _, err := s.pool.Exec(context.Background(), `ALTER TABLE rollup_minute_away RENAME TO rollup_minute`); err != nil {
		t.Fatal(err)
	}
	feed(t, s, graphResult(h0.Add(time.Second), mv("x", 4)))
	flush(t, s, c.now())
	checkBuckets(t, "kept", series(t, s, "x", h0.Add(-30*time.Hour), h0.Add(time.Hour)), want{h0, 2, 4, 3, 2})
}

// TestRollupFlusher: the flusher writes on its own, every interval.
func TestRollupFlusher(t *testing.T) {
	s := openTest(t, Options{PruneInterval: -1, rollupFlush: 5 * time.Millisecond})
	now := time.Now()
	feed(t, s, graphResult(now, mv("x", 3)))
	wait.Until(t, "the flusher", 10*time.Second, 5*time.Millisecond, func() bool { return countRows(t, s, "rollup_minute") == 1 })
}

// TestRollupPrune: the minute tier goes after RollupMinuteKeep, the hour
// tier after HistoryMaxAge, and a series with no points left goes too.
func TestRollupPrune(t *testing.T) {
	h0 := at(0).Truncate(time.Hour)
	c := newFakeNow(h0)
	opt := rollupOptions(c)
	opt.HistoryMaxAge = 7 * 24 * time.Hour
	s := openTest(t, opt)
	feed(t, s, graphResult(h0, mv("old", 1)), graphResult(h0.Add(time.Minute), mv("old", 2)))
	c.set(h0.Add(2 * time.Hour))
	flush(t, s, c.now())
	feed(t, s, graphResult(c.now(), mv("new", 1)))
	c.set(h0.Add(3 * time.Hour))
	flush(t, s, c.now())
	if n := countRows(t, s, "rollup_minute"); n != 3 {
		t.Fatalf("%d minutes, want 3", n)
	}
	// (The bbolt store keeps a minute past RollupMinuteKeep until its
	// hour is made; here every flush makes the hours.)
	c.set(h0.Add(state.RollupMinuteKeep + 90*time.Minute))
	if _, err := s.Prune(c.now()); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, s, "rollup_minute"); n != 1 {
		t.Errorf("%d minutes after %v, want 1 (new's)", n, state.RollupMinuteKeep)
	}
	checkBuckets(t, "old's hour", series(t, s, "old", h0.Add(-time.Hour), c.now()), want{h0, 1, 2, 1.5, 2})

	c.set(h0.Add(7*24*time.Hour + 90*time.Minute))
	if _, err := s.Prune(c.now()); err != nil {
		t.Fatal(err)
	}
	names, err := s.SeriesNames("web-1", "cpu")
	if err != nil || len(names) != 1 || names[0] != "new" {
		t.Errorf("series after the hour tier's age: %q, %v; want [new]", names, err)
	}
	if n := countRows(t, s, "rollup_hour"); n != 1 {
		t.Errorf("%d hours, want 1 (new's)", n)
	}
	// A series pruned and fed again is made anew.
	feed(t, s, graphResult(c.now(), mv("old", 5)))
	flush(t, s, c.now())
	checkBuckets(t, "old again", series(t, s, "old", c.now().Add(-time.Hour), c.now().Add(time.Hour)),
		want{c.now().Truncate(time.Minute), 5, 5, 5, 1})
}

// TestRollupDelete: deleting an agent's series (Forget) or a schedule's
// (DeleteSchedule) deletes them, those in memory not flushed yet
// included, and no other; a series deleted by another helen, whose id
// this store knows, is made anew when fed again.
func TestRollupDelete(t *testing.T) {
	h0 := at(0).Truncate(time.Hour)
	c := newFakeNow(h0.Add(time.Minute))
	url := pgtest.DB(t)
	s := openURL(t, url, rollupOptions(c))
	other := graphResult(h0, mv("x", 1))
	other.Agent = "web-2"
	disk := graphResult(h0, mv("x", 1))
	disk.Schedule = "disk"
	feed(t, s, graphResult(h0, mv("x", 1)), other, disk)
	flush(t, s, c.now())
	feed(t, s, graphResult(h0.Add(10*time.Second), mv("y", 1))) // not flushed
	ctx := context.Background()
	if err := s.deleteRollups(ctx, s.pool, "web-1", ""); err != nil {
		t.Fatal(err)
	}
	flush(t, s, c.now())
	for _, sc := range []string{"cpu", "disk"} {
		if names, _ := s.SeriesNames("web-1", sc); len(names) != 0 {
			t.Errorf("web-1 %s after its deletion: %q", sc, names)
		}
	}
	if bs, _ := s.Series("web-1", "cpu", "x", h0, c.now()); len(bs) != 0 {
		t.Errorf("web-1's points after its deletion: %+v", bs)
	}
	if bs, _ := s.Series("web-2", "cpu", "x", h0, c.now()); len(bs) != 1 {
		t.Errorf("web-2's points after web-1's deletion: %+v", bs)
	}
	if err := s.deleteRollups(ctx, s.pool, "", "cpu"); err != nil {
		t.Fatal(err)
	}
	if names, _ := s.SeriesNames("web-2", "cpu"); len(names) != 0 {
		t.Errorf("web-2 cpu after the schedule's deletion: %q", names)
	}

	// Another helen deletes web-2's disk series, which s knows the id of.
	feed(t, s, graphResult(h0, mv("z", 1)))
	flush(t, s, c.now())
	helen2 := openURL(t, url, rollupOptions(c))
	if err := helen2.deleteRollups(ctx, helen2.pool, "web-1", ""); err != nil {
		t.Fatal(err)
	}
	feed(t, s, graphResult(h0.Add(20*time.Second), mv("z", 2)))
	flush(t, s, c.now()) // dropped: its series is gone
	feed(t, s, graphResult(h0.Add(30*time.Second), mv("z", 3)))
	flush(t, s, c.now()) // made anew
	checkBuckets(t, "z anew", series(t, s, "z", h0, h0.Add(time.Hour)), want{h0, 3, 3, 3, 1})
}

// TestRollupBounds: a schedule has at most MaxSeriesPerSchedule series;
// memory at most MaxRollupOpen points between flushes.
func TestRollupBounds(t *testing.T) {
	h0 := at(0).Truncate(time.Hour)
	c := newFakeNow(h0.Add(time.Minute))
	s := openTest(t, rollupOptions(c))
	for i := range state.MaxSeriesPerSchedule - 4 {
		feed(t, s, graphResult(h0, mv(fmt.Sprintf("m%03d", i), 1)))
	}
	flush(t, s, c.now())
	for i := range 10 {
		feed(t, s, graphResult(h0, mv(fmt.Sprintf("n%03d", i), 1)))
	}
	flush(t, s, c.now())
	names, _ := s.SeriesNames("web-1", "cpu")
	if len(names) != state.MaxSeriesPerSchedule {
		t.Errorf("%d series, want %d", len(names), state.MaxSeriesPerSchedule)
	}
	if n := countRows(t, s, "rollup_series"); n != state.MaxSeriesPerSchedule {
		t.Errorf("%d series stored, want %d", n, state.MaxSeriesPerSchedule)
	}
	if s.rollups.dropped != 6 {
		t.Errorf("%d points dropped, want 6", s.rollups.dropped)
	}

	ms := make([]state.Metric, state.MaxMetrics)
	for j := range ms {
		ms[j] = mv(fmt.Sprintf("n%d", j), 1)
	}
	for i := 0; len(s.rollups.open) < state.MaxRollupOpen; i++ {
		r := graphResult(h0.Add(time.Duration(i)*time.Minute), ms...)
		r.Schedule = fmt.Sprintf("s%d", i%1000)
		feed(t, s, r)
	}
	if err := s.Feed(graphResult(h0.Add(-time.Hour), mv("one-more", 1))); !errors.Is(err, state.ErrFull) {
		t.Fatalf("Feed beyond MaxRollupOpen: %v", err)
	}
	// Not flushed: the points of the test are many.
	s.rollups.take()
}

// TestSeriesRawCut: a fine range whose history was cut (by the bound on
// its count) is answered by the minute tier, which has points before the
// oldest result kept.
func TestSeriesRawCut(t *testing.T) {
	h0 := at(0).Truncate(time.Hour)
	c := newFakeNow(h0.Add(5 * time.Minute))
	opt := rollupOptions(c)
	opt.HistoryMaxPerCheck = 20
	s := openTest(t, opt)
	for i := range 30 {
		r := graphResult(h0.Add(time.Duration(i)*10*time.Second), mv("x", float64(i)))
		if err := s.AddResult(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		feed(t, s, r)
	}
	flush(t, s, c.now())
	checkBuckets(t, "minutes", series(t, s, "x", h0.Add(-time.Hour), h0.Add(2*time.Minute)),
		want{h0, 0, 5, 2.5, 6}, want{h0.Add(time.Minute), 6, 11, 8.5, 6})
	if raw := series(t, s, "x", h0.Add(2*time.Minute), h0.Add(time.Hour)); len(raw) != 18 || raw[0].Count != 1 {
		t.Errorf("raw within what is kept: %d buckets", len(raw))
	}
}
