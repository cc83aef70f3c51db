package storetest

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/state"
)

func init() {
	register("SeriesRaw", testSeriesRaw)
	register("SeriesNamesFed", testSeriesNamesFed)
	register("FeedRefuses", testFeedRefuses)
}

// The graphs' tests run on the clock: a store cuts what Series reads to
// its history's age before now. What a flush writes (minute and hour
// tiers) each backend tests in its own package, where it can flush.

// graphPoint is a result of schedule "cpu" on web-1 at t with metrics.
func graphPoint(t time.Time, metrics ...state.Metric) state.Result {
	return state.Result{Agent: "web-1", Check: "load", Schedule: "cpu", Time: t, Status: "ok", Metrics: metrics}
}

func metricOf(name string, v float64) state.Metric { return state.Metric{Name: name, Value: v} }

// testSeriesRaw: a fine range the history holds whole is answered from
// the results, a bucket each, before any flush.
func testSeriesRaw(t *testing.T, open Opener) {
	db := open(t)
	// Points of the last minutes and the next: those a store holds in
	// memory until its next flush.
	h0 := time.Now().UTC().Truncate(time.Minute).Add(-2 * time.Minute)
	for i := range 30 {
		r := graphPoint(h0.Add(time.Duration(i)*10*time.Second), metricOf("x", float64(i)))
		if err := db.AddResult(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		if err := db.Feed(r); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := db.Series("web-1", "cpu", "x", h0.Add(15*time.Second), h0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != 28 || raw[0].Count != 1 || raw[0].Mean != 2 || !same(raw[0].Start, h0.Add(20*time.Second)) {
		t.Errorf("raw: %d buckets, first %+v", len(raw), raw)
	}
	if raw, err := db.Series("web-1", "cpu", "x", h0.Add(-time.Hour), h0.Add(time.Hour)); err != nil || len(raw) != 30 {
		t.Errorf("raw from before the start: %d buckets, %v", len(raw), err)
	}
	// A series never fed, of a metric or a schedule.
	for _, q := range [][2]string{{"cpu", "y"}, {"mem", "x"}} {
		if bs, err := db.Series("web-1", q[0], q[1], h0, h0.Add(time.Hour)); err != nil || len(bs) != 0 {
			t.Errorf("Series of %v never fed: %+v, %v", q, bs, err)
		}
	}
	// A range older than the history's age is cut to it: nothing there.
	old := time.Now().Add(-60 * 24 * time.Hour)
	if bs, err := db.Series("web-1", "cpu", "x", old, old.Add(time.Hour)); err != nil || len(bs) != 0 {
		t.Errorf("Series of 60 days ago: %+v, %v", bs, err)
	}
}

// testSeriesNamesFed: a series fed is named before it is flushed; a
// metric refused is never.
func testSeriesNamesFed(t *testing.T, open Opener) {
	db := open(t)
	now := time.Now().UTC()
	names := func(want ...string) {
		t.Helper()
		got, err := db.SeriesNames("web-1", "cpu")
		if err != nil || strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("SeriesNames = %q, %v; want %q", got, err, want)
		}
	}
	names()
	if err := db.Feed(graphPoint(now, metricOf("load5", 2), metricOf("load1", 1))); err != nil {
		t.Fatal(err)
	}
	if err := db.Feed(graphPoint(now, metricOf("nan", math.NaN()))); err == nil {
		t.Fatal("a NaN was fed")
	}
	names("load1", "load5")
	if err := db.Feed(graphPoint(now.Add(time.Minute), metricOf("a", 3))); err != nil {
		t.Fatal(err)
	}
	names("a", "load1", "load5")
	// A run asked for is not graphed.
	asked := graphPoint(now, metricOf("asked", 1))
	asked.Schedule = ""
	if err := db.Feed(asked); err != nil {
		t.Fatal(err)
	}
	names("a", "load1", "load5")
	if _, err := db.SeriesNames("web-1", "bad\x00schedule"); !errors.Is(err, state.ErrInvalid) {
		t.Errorf("SeriesNames of a bad schedule: %v", err)
	}
}

// testFeedRefuses: a metric no series can have is skipped with why, and
// the result's other metrics are graphed all the same; Series refuses
// names and ranges that are none.
func testFeedRefuses(t *testing.T, open Opener) {
	db := open(t)
	now := time.Now().UTC()
	bad := []state.Metric{metricOf("nan", math.NaN()), metricOf("inf", math.Inf(1)), metricOf("-inf", math.Inf(-1)),
		metricOf("a\x00b", 1), metricOf("\x1b[31mred", 1), metricOf("bad\xffutf8", 1), metricOf("", 1)}
	err := db.Feed(graphPoint(now, append(bad, metricOf("good", 2), state.Metric{Name: "unknown", Unknown: true})...))
	if !errors.Is(err, state.ErrInvalid) {
		t.Fatalf("Feed: %v", err)
	}
	for _, why := range []string{"not finite", "control character", "not UTF-8", "empty name"} {
		if !strings.Contains(err.Error(), why) {
			t.Errorf("error %q does not say %q", err, why)
		}
	}
	if names, err := db.SeriesNames("web-1", "cpu"); err != nil || !slices.Equal(names, []string{"good"}) {
		t.Errorf("series %q %v, want [good]", names, err)
	}
	for _, name := range []string{"a\x00b", "", "\x07"} {
		if _, err := db.Series("web-1", "cpu", name, now.Add(-time.Hour), now); !errors.Is(err, state.ErrInvalid) {
			t.Errorf("Series of %q: %v", name, err)
		}
	}
	if _, err := db.Series("web-1", "cpu", "good", now, now.Add(-time.Hour)); !errors.Is(err, state.ErrInvalid) {
		t.Errorf("Series of a range backwards: %v", err)
	}
	if err := db.Feed(state.Result{Agent: "bad agent!", Schedule: "cpu", Metrics: []state.Metric{metricOf("x", 1)}}); !errors.Is(err, state.ErrInvalid) {
		t.Errorf("Feed of a bad agent name: %v", err)
	}
}
