package state

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/equus-monitoring/equus/internal/wait"
)

// fakeNow is a clock a test moves.
type fakeNow struct{ ns atomic.Int64 }

func (c *fakeNow) now() time.Time     { return time.Unix(0, c.ns.Load()) }
func (c *fakeNow) set(t time.Time)    { c.ns.Store(t.UnixNano()) }
func newFakeNow(t time.Time) *fakeNow { c := &fakeNow{}; c.set(t); return c }

// rollupDB opens a database whose graphs' points are flushed only when
// the test says so, on the clock c.
func rollupDB(t *testing.T, c *fakeNow) *DB {
	t.Helper()
	return openTest(t, Options{PruneInterval: -1, now: c.now, rollupFlush: -1})
}

// point is a result of schedule "cpu" on web-1 at t with metrics.
func point(t time.Time, metrics ...Metric) Result {
	return Result{Agent: "web-1", Check: "load", Schedule: "cpu", Time: t, Status: "ok", Metrics: metrics}
}

func mv(name string, v float64) Metric { return Metric{Name: name, Value: v} }

func feed(t *testing.T, db *DB, rs ...Result) {
	t.Helper()
	for _, r := range rs {
		if err := db.Feed(r); err != nil {
			t.Fatal(err)
		}
	}
}

func flush(t *testing.T, db *DB, now time.Time) {
	t.Helper()
	if err := db.flushRollups(now); err != nil {
		t.Fatal(err)
	}
}

func series(t *testing.T, db *DB, metric string, from, to time.Time) []Bucket {
	t.Helper()
	bs, err := db.Series("web-1", "cpu", metric, from, to)
	if err != nil {
		t.Fatal(err)
	}
	return bs
}

// want is a bucket as a test writes it.
type want struct {
	start          time.Time
	min, max, mean float64
	count          int
}

func checkBuckets(t *testing.T, what string, got []Bucket, ws ...want) {
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

// TestRollupTiers: the figures of a minute's and an hour's bucket, across
// the boundaries of both, from memory through a flush, and an hour made
// from its minutes once it is over.
func TestRollupTiers(t *testing.T) {
	h0 := at(0).Truncate(time.Hour)
	c := newFakeNow(h0)
	db := rollupDB(t, c)
	m := func(min, sec int) time.Time {
		return h0.Add(time.Duration(min)*time.Minute + time.Duration(sec)*time.Second)
	}
	feed(t, db,
		point(m(0, 0), mv("load1", 1), mv("temp", 40)),
		point(m(0, 30), mv("load1", 3)),
		point(m(0, 59), mv("load1", 2)),
		point(m(1, 0), mv("load1", 10)),
		point(m(59, 50), mv("load1", 5)),
		point(m(60, 0), mv("load1", 7)), // the next hour
		point(m(61, 10), mv("load1", 9)),
	)
	if got := series(t, db, "load1", h0, h0.Add(2*time.Hour)); len(got) != 0 {
		t.Fatalf("before a flush: %+v", got)
	}
	c.set(m(62, 0))
	flush(t, db, c.now())
	checkBuckets(t, "minutes", series(t, db, "load1", h0, h0.Add(2*time.Hour)),
		want{m(0, 0), 1, 3, 2, 3}, want{m(1, 0), 10, 10, 10, 1}, want{m(59, 0), 5, 5, 5, 1},
		want{m(60, 0), 7, 7, 7, 1}, want{m(61, 0), 9, 9, 9, 1})
	checkBuckets(t, "temp", series(t, db, "temp", h0, h0.Add(time.Hour)), want{m(0, 0), 40, 40, 40, 1})
	// A range within the series' minutes begins at its first whole
	// minute.
	checkBuckets(t, "from inside a minute", series(t, db, "load1", m(0, 30), m(2, 0)), want{m(1, 0), 10, 10, 10, 1})

	// Longer than RollupFineRange: by hours, the first made from the
	// minute tier at read (not over yet for the flusher), then by the
	// flusher once over.
	long := func() []Bucket { return series(t, db, "load1", h0.Add(-30*time.Hour), h0.Add(2*time.Hour)) }
	hours := []want{{h0, 1, 10, 21.0 / 5, 5}, {h0.Add(time.Hour), 7, 9, 8, 2}}
	checkBuckets(t, "hours at read", long(), hours...)
	var rolled int64
	c.set(m(120, 0).Add(rollGrace))
	flush(t, db, c.now())
	_ = db.view(func(tx *bolt.Tx) error { rolled = rolledTx(tx); return nil })
	if want := h0.Add(2 * time.Hour).UnixNano(); rolled != want {
		t.Fatalf("rolled up to %v, want %v", time.Unix(0, rolled), time.Unix(0, want))
	}
	if n := countKeys(t, db, bucketRollHour); n != 3 {
		t.Errorf("%d buckets in the hour tier, want 3 (load1's 2, temp's 1)", n)
	}
	checkBuckets(t, "hours made", long(), hours...)

	// A late point, of an hour made already, is in both tiers.
	feed(t, db, point(m(30, 0), mv("load1", -4)))
	flush(t, db, c.now())
	checkBuckets(t, "late hours", long(), want{h0, -4, 10, 17.0 / 6, 6}, hours[1])
	checkBuckets(t, "late minute", series(t, db, "load1", m(30, 0), m(31, 0)), want{m(30, 0), -4, -4, -4, 1})
}

func countKeys(t *testing.T, db *DB, bucket []byte) int {
	t.Helper()
	n := 0
	err := db.view(func(tx *bolt.Tx) error { n = tx.Bucket(bucket).Stats().KeyN; return nil })
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRollupRestartMerges: points of a minute flushed before a restart
// and points of the same minute after it make one bucket.
func TestRollupRestartMerges(t *testing.T) {
	h0 := at(0).Truncate(time.Hour)
	c := newFakeNow(h0.Add(time.Minute))
	opt := Options{PruneInterval: -1, now: c.now, rollupFlush: -1}
	db := openTest(t, opt)
	feed(t, db, point(h0.Add(5*time.Second), mv("x", 4)), point(h0.Add(15*time.Second), mv("x", 6)))
	db = reopen(t, db, opt) // Close flushes
	feed(t, db, point(h0.Add(25*time.Second), mv("x", 1)), point(h0.Add(35*time.Second), mv("x", 9)))
	flush(t, db, c.now())
	checkBuckets(t, "merged", series(t, db, "x", h0, h0.Add(time.Hour)), want{h0, 1, 9, 5, 4})
}

// TestRollupCrash: a crash loses the points fed since the last flush, and
// no more. The file a crash leaves is the last transaction committed,
// which bolt's CopyFile writes.
func TestRollupCrash(t *testing.T) {
	h0 := at(0).Truncate(time.Hour)
	c := newFakeNow(h0.Add(time.Minute))
	db := rollupDB(t, c)
	feed(t, db, point(h0, mv("x", 1)), point(h0.Add(10*time.Second), mv("x", 2)))
	flush(t, db, c.now())
	feed(t, db, point(h0.Add(20*time.Second), mv("x", 100))) // within the next flush interval
	crashed := filepath.Join(t.TempDir(), "crashed.db")
	if err := db.bolt.View(func(tx *bolt.Tx) error { return tx.CopyFile(crashed, 0o600) }); err != nil {
		t.Fatal(err)
	}
	after, err := Open(crashed, Options{PruneInterval: -1, now: c.now, rollupFlush: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer after.Close()
	checkBuckets(t, "after the crash", series(t, after, "x", h0, h0.Add(time.Hour)), want{h0, 1, 2, 1.5, 2})
}

// TestRollupFlusher: the flusher writes on its own, every interval.
func TestRollupFlusher(t *testing.T) {
	db := openTest(t, Options{PruneInterval: -1, rollupFlush: 5 * time.Millisecond})
	now := time.Now()
	feed(t, db, point(now, mv("x", 3)))
	// The stats are counted once the flush's transaction is in.
	wait.Until(t, "the flusher", 10*time.Second, 5*time.Millisecond, func() bool {
		return len(series(t, db, "x", now.Add(-time.Hour), now.Add(time.Hour))) == 1 && db.RollupStats().Flushes > 0
	})
	if st := db.RollupStats(); st.Open != 0 || st.Failures != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestRollupPrune: the minute tier goes after RollupMinuteKeep, the hour
// tier after HistoryMaxAge, and a series with no points left goes too.
func TestRollupPrune(t *testing.T) {
	h0 := at(0).Truncate(time.Hour)
	c := newFakeNow(h0)
	db := openTest(t, Options{PruneInterval: -1, now: c.now, rollupFlush: -1, HistoryMaxAge: 7 * 24 * time.Hour})
	feed(t, db, point(h0, mv("old", 1)), point(h0.Add(time.Minute), mv("old", 2)))
	c.set(h0.Add(2 * time.Hour))
	flush(t, db, c.now())
	feed(t, db, point(c.now(), mv("new", 1)))
	c.set(h0.Add(3 * time.Hour))
	flush(t, db, c.now())
	if n := countKeys(t, db, bucketRollMinute); n != 3 {
		t.Fatalf("%d minutes, want 3", n)
	}

	c.set(h0.Add(RollupMinuteKeep + 2*time.Hour + time.Minute))
	if _, err := db.Prune(c.now()); err != nil {
		t.Fatal(err)
	}
	if n := countKeys(t, db, bucketRollMinute); n != 1 {
		t.Errorf("%d minutes after %v, want 1 (new's)", n, RollupMinuteKeep)
	}
	checkBuckets(t, "old's hour", series(t, db, "old", h0.Add(-time.Hour), c.now()), want{h0, 1, 2, 1.5, 2})

	c.set(h0.Add(7*24*time.Hour + 90*time.Minute))
	flush(t, db, c.now())
	if _, err := db.Prune(c.now()); err != nil {
		t.Fatal(err)
	}
	names, err := db.SeriesNames("web-1", "cpu")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 || names[0] != "new" {
		t.Errorf("series after the hour tier's age: %q, want [new]", names)
	}
	if n := countKeys(t, db, bucketRollHour); n != 1 {
		t.Errorf("%d hours, want 1 (new's)", n)
	}
}

// TestRollupForget: forgetting an agent, or deleting a schedule, deletes
// their series, those in memory not flushed yet included, and no other.
func TestRollupForget(t *testing.T) {
	h0 := at(0).Truncate(time.Hour)
	c := newFakeNow(h0.Add(time.Minute))
	db := rollupDB(t, c)
	if err := db.AgentSeen(Agent{Name: "web-1", Version: "1.0.0", Connected: true}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"cpu", "disk"} {
		if err := db.PutSchedule(Schedule{Name: s, Check: "load", Every: time.Minute}); err != nil {
			t.Fatal(err)
		}
	}
	other := point(h0, mv("x", 1))
	other.Agent = "web-2"
	disk := point(h0, mv("x", 1))
	disk.Schedule = "disk"
	feed(t, db, point(h0, mv("x", 1)), other, disk)
	flush(t, db, c.now())
	feed(t, db, point(h0.Add(10*time.Second), mv("y", 1))) // not flushed
	if err := db.Forget("web-1", c.now()); err != nil {
		t.Fatal(err)
	}
	flush(t, db, c.now())
	for _, s := range []string{"cpu", "disk"} {
		if names, _ := db.SeriesNames("web-1", s); len(names) != 0 {
			t.Errorf("web-1 %s after forget: %q", s, names)
		}
	}
	if bs, _ := db.Series("web-1", "cpu", "x", h0, c.now()); len(bs) != 0 {
		t.Errorf("web-1's points after forget: %+v", bs)
	}
	if bs, _ := db.Series("web-2", "cpu", "x", h0, c.now()); len(bs) != 1 {
		t.Errorf("web-2's points after web-1 was forgotten: %+v", bs)
	}

	other.Schedule, other.Time = "disk", h0.Add(20*time.Second)
	feed(t, db, other) // not flushed
	if err := db.DeleteSchedule("cpu"); err != nil {
		t.Fatal(err)
	}
	flush(t, db, c.now())
	if names, _ := db.SeriesNames("web-2", "cpu"); len(names) != 0 {
		t.Errorf("web-2 cpu after the schedule's deletion: %q", names)
	}
	if bs, _ := db.Series("web-2", "disk", "x", h0, c.now()); len(bs) != 1 || bs[0].Count != 1 {
		t.Errorf("web-2 disk after cpu's deletion: %+v", bs)
	}
}

// TestFeedRefuses: a metric no series can have is skipped with why, and
// the result's other metrics are graphed all the same.
func TestFeedRefuses(t *testing.T) {
	h0 := at(0).Truncate(time.Hour)
	c := newFakeNow(h0.Add(time.Minute))
	db := rollupDB(t, c)
	bad := []Metric{mv("nan", math.NaN()), mv("inf", math.Inf(1)), mv("-inf", math.Inf(-1)),
		mv("a\x00b", 1), mv("\x1b[31mred", 1), mv("bad\xffutf8", 1), mv("", 1)}
	r := point(h0, append(bad, mv("good", 2), Metric{Name: "unknown", Unknown: true})...)
	err := db.Feed(r)
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("Feed: %v", err)
	}
	for _, why := range []string{"not finite", "control character", "not UTF-8", "empty name"} {
		if !strings.Contains(err.Error(), why) {
			t.Errorf("error %q does not say %q", err, why)
		}
	}
	if st := db.RollupStats(); st.Refused != uint64(len(bad)) || st.Open != 1 || st.Refusal == "" {
		t.Errorf("stats %+v, want %d refused and 1 open", st, len(bad))
	}
	flush(t, db, c.now())
	if names, err := db.SeriesNames("web-1", "cpu"); err != nil || len(names) != 1 || names[0] != "good" {
		t.Errorf("series %q %v, want [good]", names, err)
	}
	for _, name := range []string{"a\x00b", "", "\x07"} {
		if _, err := db.Series("web-1", "cpu", name, h0, c.now()); !errors.Is(err, ErrInvalid) {
			t.Errorf("Series of %q: %v", name, err)
		}
	}
	if _, err := db.Series("web-1", "cpu", "good", c.now(), h0); !errors.Is(err, ErrInvalid) {
		t.Errorf("Series of a range backwards: %v", err)
	}
	if err := db.Feed(Result{Agent: "bad agent!", Schedule: "cpu", Metrics: []Metric{mv("x", 1)}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Feed of a bad agent name: %v", err)
	}
}

// TestRollupBounds: a schedule has at most MaxSeriesPerSchedule series,
// and memory at most MaxRollupOpen points between flushes.
func TestRollupBounds(t *testing.T) {
	h0 := at(0).Truncate(time.Hour)
	c := newFakeNow(h0.Add(time.Minute))
	db := rollupDB(t, c)
	for i := range MaxSeriesPerSchedule + 6 {
		feed(t, db, point(h0, mv(fmt.Sprintf("m%03d", i), 1)))
	}
	flush(t, db, c.now())
	names, _ := db.SeriesNames("web-1", "cpu")
	if len(names) != MaxSeriesPerSchedule {
		t.Errorf("%d series, want %d", len(names), MaxSeriesPerSchedule)
	}
	if st := db.RollupStats(); st.Dropped != 6 {
		t.Errorf("stats %+v, want 6 dropped", st)
	}

	ms := make([]Metric, MaxMetrics)
	for j := range ms {
		ms[j] = mv(fmt.Sprintf("n%d", j), 1)
	}
	for i := 0; db.RollupStats().Open < MaxRollupOpen; i++ {
		r := point(h0.Add(time.Duration(i)*time.Minute), ms...)
		r.Schedule = fmt.Sprintf("s%d", i%1000)
		feed(t, db, r)
	}
	err := db.Feed(point(h0.Add(-time.Hour), mv("one-more", 1)))
	if !errors.Is(err, ErrFull) {
		t.Fatalf("Feed beyond MaxRollupOpen: %v", err)
	}
	if n := db.RollupStats().Open; n != MaxRollupOpen {
		t.Errorf("%d open, want %d", n, MaxRollupOpen)
	}
}

// TestSeriesRaw: a fine range the history holds whole is answered from
// the results, a bucket each.
func TestSeriesRaw(t *testing.T) {
	h0 := at(0).Truncate(time.Hour)
	c := newFakeNow(h0.Add(5 * time.Minute))
	db := rollupDB(t, c)
	for i := range 30 {
		r := point(h0.Add(time.Duration(i)*10*time.Second), mv("x", float64(i)))
		if err := db.AddResult(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		feed(t, db, r)
	}
	if raw := series(t, db, "x", h0.Add(-time.Hour), h0.Add(time.Hour)); len(raw) != 30 {
		t.Errorf("raw before the first flush: %d buckets", len(raw))
	}
	flush(t, db, c.now())
	raw := series(t, db, "x", h0.Add(15*time.Second), h0.Add(time.Hour))
	if len(raw) != 28 || raw[0].Count != 1 || raw[0].Mean != 2 || !raw[0].Start.Equal(h0.Add(20*time.Second)) {
		t.Errorf("raw: %d buckets, first %+v", len(raw), raw[0])
	}
	// From before the series' start, the history holds it whole: raw
	// too, flushed or not.
	if raw := series(t, db, "x", h0.Add(-time.Hour), h0.Add(time.Hour)); len(raw) != 30 {
		t.Errorf("raw from before the start: %d buckets", len(raw))
	}
	// A history cut (pruned by count): the minutes the tier has before
	// the oldest result kept say so, and the tier answers.
	if _, err := db.compactAll(nil); err != nil {
		t.Fatal(err)
	}
	if err := db.update(func(tx *bolt.Tx) error {
		_, err := deleteOldestTx(tx.Bucket(bucketResults).Bucket([]byte("web-1")).Bucket([]byte(seriesName("load", "cpu"))), 10, maxNanos)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	checkBuckets(t, "minutes", series(t, db, "x", h0.Add(-time.Hour), h0.Add(2*time.Minute)),
		want{h0, 0, 5, 2.5, 6}, want{h0.Add(time.Minute), 6, 11, 8.5, 6})
}

// TestSeriesNamesBeforeFlush: a series fed but not flushed yet is named,
// before, during and after the flush that writes it, and not once its
// agent is forgotten; a series refused is never named.
func TestSeriesNamesBeforeFlush(t *testing.T) {
	h0 := at(0).Truncate(time.Hour)
	c := newFakeNow(h0.Add(time.Minute))
	db := rollupDB(t, c)
	if err := db.AgentSeen(Agent{Name: "web-1", Version: "1.0.0", Connected: true}); err != nil {
		t.Fatal(err)
	}
	names := func(want ...string) {
		t.Helper()
		got, err := db.SeriesNames("web-1", "cpu")
		if err != nil || strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("SeriesNames = %q, %v; want %q", got, err, want)
		}
	}
	names()
	feed(t, db, point(h0, mv("load1", 1), mv("load5", 2)))
	if err := db.Feed(point(h0, mv("nan", math.NaN()))); err == nil {
		t.Fatal("a NaN was fed")
	}
	names("load1", "load5")
	// Taken by a flush, not committed yet: still named.
	keys, accs := db.rollups.take()
	names("load1", "load5")
	db.rollups.putBack(keys, accs) // as a failed flush does
	names("load1", "load5")
	flush(t, db, c.now())
	names("load1", "load5")
	feed(t, db, point(h0.Add(time.Minute), mv("a", 3))) // a new one, after
	names("a", "load1", "load5")
	if err := db.Forget("web-1", c.now()); err != nil {
		t.Fatal(err)
	}
	names()
}
