package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
)

func init() {
	register("HistoryTimeOrder", testHistoryTimeOrder)
	register("HistoryRange", testHistoryRange)
	register("ResultRoundTrip", testResultRoundTrip)
	register("Latest", testLatest)
	register("CheckStates", testCheckStates)
	register("AddResultInvalid", testAddResultInvalid)
	register("AddResultConcurrent", testAddResultConcurrent)
	register("AddResultContext", testAddResultContext)
	register("ResultCaps", testResultCaps)
	register("ResultCapsLongOutput", testResultCapsLongOutput)
}

// checkResult is a result of check on agent at t0+d, its message msg.
func checkResult(agent, check, msg string, d time.Duration) state.Result {
	return state.Result{Agent: agent, Check: check, Time: t0.Add(d), Status: "ok", Message: msg, DurationMS: 0.5}
}

// addResults adds results concurrently, so that they share commits.
func addResults(t testing.TB, db state.Store, rs ...state.Result) {
	t.Helper()
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Go(func() {
			if err := db.AddResult(context.Background(), r); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

func messagesOf(rs []state.Result) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Message)
	}
	return out
}

// testHistoryTimeOrder: results added out of order, in several commits,
// come back newest first.
func testHistoryTimeOrder(t *testing.T, open Opener) {
	db := open(t)
	var rs []state.Result
	for i := range 50 {
		rs = append(rs, checkResult("a", "load", fmt.Sprint(i), time.Duration(i)*time.Second))
	}
	rand.Shuffle(len(rs), func(i, j int) { rs[i], rs[j] = rs[j], rs[i] })
	addResults(t, db, rs[:25]...)
	addResults(t, db, rs[25:]...)
	got, err := db.History("a", "load", 0, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 50 {
		t.Fatalf("%d results, want 50", len(got))
	}
	for i, r := range got {
		if want := fmt.Sprint(49 - i); r.Message != want || !same(r.Time, t0.Add(time.Duration(49-i)*time.Second)) {
			t.Errorf("result %d = %s at %v, want %s", i, r.Message, r.Time, want)
		}
	}
}

// testHistoryRange: limits, bounds (since inclusive, until exclusive),
// every check, and agents whose names are prefixes of others'.
func testHistoryRange(t *testing.T, open Opener) {
	db := open(t)
	var rs []state.Result
	for i := range 10 {
		rs = append(rs,
			checkResult("a", "cpu", fmt.Sprintf("cpu%d", 2*i), time.Duration(2*i)*time.Second),
			checkResult("a", "disk", fmt.Sprintf("disk%d", 2*i+1), time.Duration(2*i+1)*time.Second))
	}
	rs = append(rs, checkResult("ab", "cpu", "other agent", 0))
	addResults(t, db, rs...)
	s := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
	var zero time.Time
	for _, tt := range []struct {
		name         string
		agent, check string
		limit        int
		since, until time.Time
		want         []string
	}{
		{"limit", "a", "cpu", 3, zero, zero, []string{"cpu18", "cpu16", "cpu14"}},
		{"since-inclusive", "a", "cpu", 0, s(14), zero, []string{"cpu18", "cpu16", "cpu14"}},
		{"until-exclusive", "a", "cpu", 0, zero, s(4), []string{"cpu2", "cpu0"}},
		{"range-and-limit", "a", "cpu", 2, s(3), s(15), []string{"cpu14", "cpu12"}},
		{"until-past-end", "a", "disk", 1, zero, s(100), []string{"disk19"}},
		{"since-past-end", "a", "disk", 0, s(100), zero, nil},
		{"empty-range", "a", "cpu", 0, s(5), s(6), nil},
		{"every-check", "a", "", 5, zero, zero, []string{"disk19", "cpu18", "disk17", "cpu16", "disk15"}},
		{"every-check-range", "a", "", 0, s(2), s(5), []string{"cpu4", "disk3", "cpu2"}},
		{"unknown-check", "a", "mem", 0, zero, zero, nil},
		{"unknown-agent", "nobody", "", 0, zero, zero, nil},
		{"prefix-agent", "ab", "", 0, zero, zero, []string{"other agent"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.History(tt.agent, tt.check, tt.limit, tt.since, tt.until)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(messagesOf(got), tt.want) {
				t.Errorf("History = %v, want %v", messagesOf(got), tt.want)
			}
		})
	}
}

// testResultRoundTrip: a result is read back as it was stored, and two
// of the same time are both kept, the later written first.
func testResultRoundTrip(t *testing.T, open Opener) {
	db := open(t)
	warn, crit := 4.0, 8.0
	in := state.Result{
		Agent: "a", Check: "load", Schedule: "load-1m", Time: t0.Add(time.Microsecond), Status: "warning", Message: "load 5",
		LongOutput: "line 1\nline 2",
		Metrics:    []state.Metric{{Name: "load1", Value: 5, Warn: &warn, Crit: &crit}, {Name: "procs", Value: 120, Unit: "c"}},
		DurationMS: 1.8,
	}
	twin := in
	twin.Message = "twin"
	addResults(t, db, in)
	addResults(t, db, twin)
	got, err := db.History("a", "load", 0, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Message != "twin" {
		t.Fatalf("History = %v", messagesOf(got))
	}
	r := got[1]
	if r.Agent != in.Agent || r.Check != in.Check || r.Schedule != in.Schedule || !same(r.Time, in.Time) || r.Status != in.Status ||
		r.LongOutput != in.LongOutput || r.DurationMS != in.DurationMS || len(r.Metrics) != 2 || *r.Metrics[0].Warn != warn ||
		*r.Metrics[0].Crit != crit || r.Metrics[0].Min != nil || r.Metrics[1].Unit != "c" {
		t.Errorf("got %+v, want %+v", r, in)
	}
	if r.Time.Location() != time.UTC {
		t.Errorf("time %v is not in UTC", r.Time)
	}
	// The twin, of the same time and written later, is the latest.
	latest, err := db.Latest("a")
	if err != nil || len(latest) != 1 || latest[0].Message != "twin" {
		t.Errorf("Latest = %v, %v; want the twin", messagesOf(latest), err)
	}
}

// testLatest: the latest result of each series by its time (not its
// arrival), by agent then check.
func testLatest(t *testing.T, open Opener) {
	db := open(t)
	addResults(t, db,
		checkResult("b", "cpu", "b-cpu-old", 0),
		checkResult("a", "cpu", "a-cpu-new", 2*time.Second),
		checkResult("a", "disk", "a-disk", time.Second),
		checkResult("ab", "cpu", "ab-cpu", time.Second))
	// Arrives late but is older: it goes into history, not into latest.
	addResults(t, db, checkResult("a", "cpu", "a-cpu-old", time.Second))
	addResults(t, db, checkResult("b", "cpu", "b-cpu-new", time.Minute))
	for _, tt := range []struct {
		agent string
		want  []string
	}{
		{"a", []string{"a-cpu-new", "a-disk"}},
		{"b", []string{"b-cpu-new"}},
		{"", []string{"a-cpu-new", "a-disk", "ab-cpu", "b-cpu-new"}},
		{"c", nil},
	} {
		got, err := db.Latest(tt.agent)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(messagesOf(got), tt.want) {
			t.Errorf("Latest(%q) = %v, want %v", tt.agent, messagesOf(got), tt.want)
		}
	}
}

// testCheckStates: since follows the changes of status, and the count
// the results held, one commit at a time and several results of a
// series in one commit.
func testCheckStates(t *testing.T, open Opener) {
	db := open(t)
	steps := []struct {
		status string
		since  time.Duration
	}{
		{"ok", 0}, {"ok", 0}, {"critical", 2}, {"critical", 2}, {"critical", 2}, {"ok", 5},
	}
	for i, st := range steps {
		r := checkResult("a", "http", fmt.Sprint(i), time.Duration(i)*time.Minute)
		r.Status = st.status
		addResults(t, db, r)
		states, err := db.CheckStates("a")
		if err != nil {
			t.Fatal(err)
		}
		if len(states) != 1 {
			t.Fatalf("%d states, want 1", len(states))
		}
		got := states[0]
		if got.Result.Status != st.status || !same(got.Since, t0.Add(st.since*time.Minute)) || got.Count != i+1 {
			t.Errorf("step %d: status %s since %v count %d; want %s since %v count %d",
				i, got.Result.Status, got.Since, got.Count, st.status, t0.Add(st.since*time.Minute), i+1)
		}
	}
	// One after the other on one goroutine, results of one series that
	// the store may commit together: the same as one at a time.
	ctx := context.Background()
	for i, status := range []string{"warning", "warning", "ok", "critical"} {
		r := checkResult("b", "http", fmt.Sprint(i), time.Duration(i)*time.Minute)
		r.Status = status
		if err := db.AddResult(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	// Late and older: counted, but neither latest nor since.
	if err := db.AddResult(ctx, checkResult("b", "http", "late", -time.Hour)); err != nil {
		t.Fatal(err)
	}
	states, err := db.CheckStates("b")
	if err != nil || len(states) != 1 || states[0].Result.Message != "3" || !same(states[0].Since, t0.Add(3*time.Minute)) || states[0].Count != 5 {
		t.Errorf("states of b = %+v, %v; want 3, critical since 3m, 5 results", states, err)
	}
	if all, err := db.CheckStates(""); err != nil || len(all) != 2 || all[0].Result.Agent != "a" || all[1].Result.Agent != "b" {
		t.Errorf("every state = %+v, %v", all, err)
	}
}

// testAddResultInvalid: a bad result is refused with ErrInvalid, and
// nothing is stored.
func testAddResultInvalid(t *testing.T, open Opener) {
	db := open(t)
	ok := checkResult("a", "c", "m", 0)
	for _, tt := range []struct {
		name   string
		change func(*state.Result)
	}{
		{"no-agent", func(r *state.Result) { r.Agent = "" }},
		{"no-check", func(r *state.Result) { r.Check = "" }},
		{"nul-in-agent", func(r *state.Result) { r.Agent = "a\x00b" }},
		{"long-check", func(r *state.Result) { r.Check = string(make([]byte, 2000)) }},
		{"nul-in-schedule", func(r *state.Result) { r.Schedule = "bad\x00name" }},
		{"bad-status", func(r *state.Result) { r.Status = "fine" }},
		{"no-time", func(r *state.Result) { r.Time = time.Time{} }},
		{"before-1970", func(r *state.Result) { r.Time = time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"nan-metric", func(r *state.Result) { r.Metrics = []state.Metric{{Name: "x", Value: math.NaN()}} }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := ok
			tt.change(&r)
			if err := db.AddResult(context.Background(), r); !errors.Is(err, state.ErrInvalid) {
				t.Errorf("AddResult = %v, want ErrInvalid", err)
			}
		})
	}
	if got, _ := db.Latest(""); len(got) != 0 {
		t.Errorf("invalid results stored: %v", messagesOf(got))
	}
	if got, _ := db.History("a", "", 0, time.Time{}, time.Time{}); len(got) != 0 {
		t.Errorf("invalid results stored: %v", messagesOf(got))
	}
}

// testAddResultConcurrent: every result acknowledged to many concurrent
// callers is stored, once.
func testAddResultConcurrent(t *testing.T, open Opener) {
	db := open(t)
	const writers, each = 64, 20
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				r := checkResult("a", fmt.Sprintf("c%d", w%4), fmt.Sprintf("%d-%d", w, i), time.Duration(w*each+i)*time.Millisecond)
				if err := db.AddResult(context.Background(), r); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	rs, err := db.History("a", "", 0, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range rs {
		if seen[r.Message] {
			t.Errorf("%s stored twice", r.Message)
		}
		seen[r.Message] = true
	}
	if len(seen) != writers*each {
		t.Errorf("%d results stored, want %d", len(seen), writers*each)
	}
	states, err := db.CheckStates("a")
	if err != nil || len(states) != 4 {
		t.Fatalf("states %+v, %v", states, err)
	}
	for _, st := range states {
		if st.Count != writers*each/4 {
			t.Errorf("%s: count %d, want %d", st.Result.Check, st.Count, writers*each/4)
		}
	}
}

// testAddResultContext: a result whose context ended before it was
// queued is refused with the context's error and not stored.
func testAddResultContext(t *testing.T, open Opener) {
	db := open(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := db.AddResult(ctx, checkResult("a", "c", "cancelled", 0)); !errors.Is(err, context.Canceled) {
		t.Errorf("AddResult with a cancelled context = %v", err)
	}
	if got, _ := db.History("a", "", 0, time.Time{}, time.Time{}); len(got) != 0 {
		t.Errorf("stored %v", messagesOf(got))
	}
}

// testResultCaps: a result with a message of 1 MiB and a thousand
// metrics is stored capped, saying so, in the history and the latest.
func testResultCaps(t *testing.T, open Opener) {
	db := open(t)
	huge := strings.Repeat("x", 1<<20)
	ms := make([]state.Metric, 1000)
	for i := range ms {
		ms[i] = state.Metric{Name: fmt.Sprintf("%s%d", strings.Repeat("n", 300), i), Value: float64(i), Unit: strings.Repeat("u", 300)}
	}
	if err := db.AddResult(context.Background(), state.Result{Agent: "a", Check: "c", Time: t0, Status: "critical", Message: huge, Metrics: ms}); err != nil {
		t.Fatal(err)
	}
	check := func(what string, r state.Result) {
		t.Helper()
		if len(r.Message) > state.MaxMessage || !strings.Contains(r.Message, "[cut from 1048576 bytes]") ||
			!strings.HasSuffix(r.Message, "[metrics cut from 1000 to 32]") {
			t.Errorf("%s: message of %d bytes ending %q", what, len(r.Message), r.Message[max(0, len(r.Message)-60):])
		}
		if len(r.Metrics) != state.MaxMetrics {
			t.Errorf("%s: %d metrics, want %d", what, len(r.Metrics), state.MaxMetrics)
		}
		for _, m := range r.Metrics {
			if len(m.Name) > state.MaxMetricName || len(m.Unit) > state.MaxMetricUnit {
				t.Errorf("%s: metric name of %d bytes, unit of %d", what, len(m.Name), len(m.Unit))
				break
			}
		}
	}
	rs, err := db.History("a", "c", 0, time.Time{}, time.Time{})
	if err != nil || len(rs) != 1 {
		t.Fatalf("history: %d results, %v", len(rs), err)
	}
	check("history", rs[0])
	latest, err := db.Latest("a")
	if err != nil || len(latest) != 1 {
		t.Fatalf("latest: %d, %v", len(latest), err)
	}
	check("latest", latest[0])
}

// testResultCapsLongOutput: a long output of 1 MiB is stored with 8 KiB
// of it, saying so; a threshold range longer than any Parse lets in is
// dropped, the rest of its metric kept.
func testResultCapsLongOutput(t *testing.T, open Opener) {
	db := open(t)
	huge := strings.Repeat("line\n", 1<<20/5)
	ms := []state.Metric{{Name: "m", Value: 1, WarnRange: strings.Repeat("1", 1<<10), CritRange: "@3:4"}}
	if err := db.AddResult(context.Background(), state.Result{Agent: "a", Check: "c", Time: t0, Status: "ok", Message: "m", LongOutput: huge, Metrics: ms}); err != nil {
		t.Fatal(err)
	}
	rs, err := db.History("a", "c", 0, t0.Add(-time.Microsecond), t0.Add(time.Microsecond))
	if err != nil || len(rs) != 1 {
		t.Fatalf("history: %d results, %v", len(rs), err)
	}
	long := rs[0].LongOutput
	if len(long) > state.MaxLongOutput || !utf8.ValidString(long) || !strings.HasPrefix(long, "line\nline\n") ||
		!strings.HasSuffix(long, fmt.Sprintf("[cut from %d bytes]", len(huge))) {
		t.Errorf("long output of %d bytes ending %q", len(long), long[max(0, len(long)-40):])
	}
	want := state.Metric{Name: "m", Value: 1, CritRange: "@3:4"}
	if len(rs[0].Metrics) != 1 || rs[0].Metrics[0] != want || len(rs[0].Metrics[0].WarnRange) > result.MaxRangeLen {
		t.Errorf("metrics %+v, want %+v", rs[0].Metrics, want)
	}
}
