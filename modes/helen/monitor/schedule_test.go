package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/metricset"
	"github.com/equus-monitoring/equus/internal/wait"
	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/wire"
)

func TestNextTick(t *testing.T) {
	base := time.Unix(1200, 0) // a multiple of every interval below: ticks are counted from the epoch
	for _, tc := range []struct {
		name       string
		now        time.Time
		every, off time.Duration
		want       time.Time
	}{
		{"before-offset", base, 10 * time.Second, 3 * time.Second, base.Add(3 * time.Second)},
		{"after-offset", base.Add(4 * time.Second), 10 * time.Second, 3 * time.Second, base.Add(13 * time.Second)},
		{"on-tick-is-next", base.Add(3 * time.Second), 10 * time.Second, 3 * time.Second, base.Add(13 * time.Second)},
		{"zero-offset", base.Add(time.Nanosecond), 10 * time.Second, 0, base.Add(10 * time.Second)},
		{"sub-second", base.Add(50 * time.Millisecond), 150 * time.Millisecond, 20 * time.Millisecond, base.Add(170 * time.Millisecond)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := nextTick(tc.now, tc.every, tc.off)
			if !got.Equal(tc.want) {
				t.Errorf("nextTick = %v, want %v", got.Sub(base), tc.want.Sub(base))
			}
			if !got.After(tc.now) || got.Sub(tc.now) > tc.every {
				t.Errorf("nextTick %v not within (now, now+every]", got.Sub(base))
			}
		})
	}
}

// TestOffsetSpread checks that a thousand agents sharing a schedule fall
// over its interval roughly uniformly, and that an offset is stable.
func TestOffsetSpread(t *testing.T) {
	const agents, buckets = 1000, 10
	every := 10 * time.Second
	var counts [buckets]int
	for i := range agents {
		name := "web-" + itoa(i+1)
		off := offset(name, every)
		if off < 0 || off >= every {
			t.Fatalf("offset of %s = %v, outside [0, %v)", name, off, every)
		}
		if again := offset(name, every); again != off {
			t.Fatalf("offset of %s changed: %v then %v", name, off, again)
		}
		counts[off*buckets/every]++
	}
	// Uniform: 100 a bucket. A chi-square statistic over 9 degrees of
	// freedom above 27.9 has a probability under 0.1%.
	chi := 0.0
	for _, n := range counts {
		d := float64(n - agents/buckets)
		chi += d * d / (agents / buckets)
	}
	t.Logf("offsets per tenth of the interval: %v (chi-square %.1f)", counts, chi)
	if chi > 27.9 {
		t.Errorf("offsets are not spread: %v (chi-square %.1f)", counts, chi)
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestCheckSchedule(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    state.Schedule
		ok   bool
	}{
		{"ok", state.Schedule{Name: "load", Check: "load", Every: time.Minute}, true},
		{"bad-name", state.Schedule{Name: "a b", Check: "load", Every: time.Minute}, false},
		{"bad-check", state.Schedule{Name: "a", Check: "lo ad", Every: time.Minute}, false},
		{"too-often", state.Schedule{Name: "a", Check: "load", Every: time.Millisecond}, false},
		{"bad-glob", state.Schedule{Name: "a", Check: "load", Every: time.Minute, Agents: "web-["}, false},
		{"args-not-object", state.Schedule{Name: "a", Check: "load", Every: time.Minute, Args: json.RawMessage(`[1]`)}, false},
		{"negative-timeout", state.Schedule{Name: "a", Check: "load", Every: time.Minute, Timeout: -time.Second}, false},
		{"args-too-large", state.Schedule{Name: "a", Check: "load", Every: time.Minute,
			Args: json.RawMessage(`{"x":"` + strings.Repeat("x", wire.MaxBlob) + `"}`)}, false},
		{"attempts-20", state.Schedule{Name: "a", Check: "load", Every: time.Minute, Attempts: 20, RetryEvery: time.Second}, true},
		{"attempts-21", state.Schedule{Name: "a", Check: "load", Every: time.Minute, Attempts: 21}, false},
		{"attempts-negative", state.Schedule{Name: "a", Check: "load", Every: time.Minute, Attempts: -1}, false},
		{"retry-longer", state.Schedule{Name: "a", Check: "load", Every: time.Minute, RetryEvery: time.Minute + 1}, false},
		{"retry-too-often", state.Schedule{Name: "a", Check: "load", Every: time.Minute, RetryEvery: time.Millisecond}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckSchedule(&tc.s)
			if (err == nil) != tc.ok {
				t.Errorf("checkSchedule = %v, want ok %v", err, tc.ok)
			}
			if tc.ok && (tc.s.Agents != "*" || tc.s.Timeout != DefaultTimeout || tc.s.Attempts < 1 || tc.s.RetryEvery == 0) {
				t.Errorf("defaults not filled in: %+v", tc.s)
			}
		})
	}
}

// The waiters on the clock of a monitor with no agent gone and no check
// in progress: its two tickers, its sweep of the agents for silence, and
// a timer for each loop.
const tickers = 3

// TestScheduleRuns runs a schedule on the agents its glob matches, at the
// ticks of its interval, stores the results, and runs it again after a
// restart.
func TestScheduleRuns(t *testing.T) {
	h := newHarness(t, Config{})
	web1 := h.connect("web-1", behavior{})
	web2 := h.connect("web-2", behavior{})
	db1 := h.connect("db-1", behavior{})
	const every = 150 * time.Millisecond
	sch := h.put(state.Schedule{Name: "web-load", Check: "load", Every: every, Agents: "web-*"})
	if sch.Timeout != DefaultTimeout || !sch.Created.Equal(epoch) {
		t.Errorf("stored schedule %+v: want the default timeout and the creation time %v", sch, epoch)
	}
	h.settle(tickers + 2)
	if on := h.m.Runs("web-load"); !slices.Equal(on, []string{"web-1", "web-2"}) {
		t.Errorf("web-load runs on %v, want web-1 and web-2", on)
	}

	// Each agent's first run falls on its tick, within an interval of
	// the start, and not a nanosecond before.
	ticks := map[*fakeAgent]time.Time{web1: h.tick("web-1", every), web2: h.tick("web-2", every)}
	order := []*fakeAgent{web1, web2}
	if ticks[web2].Before(ticks[web1]) {
		order = []*fakeAgent{web2, web1}
	}
	for _, a := range order {
		if d := ticks[a].Sub(epoch); d <= 0 || d > every {
			t.Errorf("first tick of %s %v after the start, want within (0, %v]", a.name, d, every)
		}
		h.stepTo(ticks[a].Add(-time.Nanosecond), tickers+2)
		if n := a.count("load"); n != 0 {
			t.Fatalf("%s ran load %d times before its tick", a.name, n)
		}
		h.step(time.Nanosecond, tickers+2)
		if n := a.count("load"); n != 1 {
			t.Fatalf("%s ran load %d times at its tick, want 1", a.name, n)
		}
	}
	// Then once an interval each.
	h.steps(7, every, tickers+2)
	for _, a := range []*fakeAgent{web1, web2} {
		if n := a.count("load"); n != 8 {
			t.Errorf("%s ran load %d times in 7 intervals after its first, want 8", a.name, n)
		}
	}
	if n := db1.count("load"); n != 0 {
		t.Errorf("db-1 ran load %d times; the glob web-* does not match it", n)
	}
	last := order[1]
	rs, err := h.db.History(last.name, "load", 0, time.Time{}, time.Time{})
	if err != nil || len(rs) != 8 {
		t.Fatalf("history of %s load: %d results, %v", last.name, len(rs), err)
	}
	for i, r := range rs { // newest first
		k := time.Duration(len(rs) - 1 - i)
		if want := ticks[last].Add(k * every); !r.Time.Equal(want) || r.Schedule != "web-load" {
			t.Errorf("result %d of %s at %v, schedule %q: want its tick %v, schedule web-load", k, last.name, r.Time, r.Schedule, want)
		}
	}

	// A restart keeps the schedule and runs it again.
	h.restart(nil)
	if got := h.m.Schedules(); len(got) != 1 || got[0].Name != "web-load" || got[0].Every != every {
		t.Fatalf("schedules after restart = %+v", got)
	}
	again := h.connect("web-1", behavior{})
	// Web-2, not back, has its grace period.
	h.settle(tickers + 2)
	h.steps(3, every, tickers+2)
	if n := again.count("load"); n != 3 {
		t.Errorf("web-1 ran load %d times in 3 intervals after the restart, want 3", n)
	}
}

// TestScheduleChanges checks that a change to a schedule takes effect at
// its next tick and that a removed one stops at once.
func TestScheduleChanges(t *testing.T) {
	h := newHarness(t, Config{})
	a := h.connect("web-1", behavior{})
	const every = 100 * time.Millisecond
	h.put(state.Schedule{Name: "s", Check: "one", Every: every})
	h.settle(tickers + 1)
	h.steps(2, every, tickers+1)
	if n := a.count("one"); n != 2 {
		t.Fatalf("check one ran %d times in two intervals, want 2", n)
	}
	h.put(state.Schedule{Name: "s", Check: "two", Every: every})
	h.armed(1)
	h.settle(tickers + 1)
	h.steps(2, every, tickers+1)
	if one, two := a.count("one"), a.count("two"); one != 2 || two != 2 {
		t.Errorf("after the change, one ran %d times (want 2, as before), two %d (want 2)", one, two)
	}
	if err := h.m.DeleteSchedule("s"); err != nil {
		t.Fatal(err)
	}
	h.settle(tickers)
	h.steps(10, every, tickers)
	if one, two := a.count("one"), a.count("two"); one != 2 || two != 2 {
		t.Errorf("runs went on after the removal: one %d, two %d, want 2 and 2", one, two)
	}
	if on := h.m.Runs("s"); len(on) != 0 {
		t.Errorf("the removed schedule still runs on %v", on)
	}
	if err := h.m.DeleteSchedule("s"); !errors.Is(err, ErrNoSchedule) {
		t.Errorf("removing a removed schedule: %v, want ErrNoSchedule", err)
	}
	if sts := h.m.Statuses(false); len(sts) != 0 {
		t.Errorf("statuses of a removed schedule remain: %+v", sts)
	}
	if sts, err := h.db.Statuses(""); err != nil || len(sts) != 0 {
		t.Errorf("stored statuses of a removed schedule remain: %+v, %v", sts, err)
	}
}

// TestScheduleNoOverlap gives a check that takes 350 ms, every 100 ms:
// it never runs twice at once on the agent, and the ticks that pass while
// it runs are skipped. In steps of 50 ms over 1.5 s from its first tick
// it runs at 0, 400, 800 and 1200 ms, each of the three runs that end
// skipping three ticks.
func TestScheduleNoOverlap(t *testing.T) {
	h := newHarness(t, Config{})
	a := h.connect("web-1", behavior{Delay: map[string]time.Duration{"slow": 350 * time.Millisecond}})
	const every = 100 * time.Millisecond
	h.put(state.Schedule{Name: "slow", Check: "slow", Every: every})
	h.settle(tickers + 1)
	first := h.tick("web-1", every)
	// From here one waiter, the loop's timer or the check's, besides the
	// tickers.
	h.stepTo(first, tickers+1)
	for h.clk.Now().Before(first.Add(1500 * time.Millisecond)) {
		h.step(50*time.Millisecond, tickers+1)
	}
	if most := a.mostAtOnce(); most != 1 {
		t.Errorf("%d checks outstanding at once, want 1", most)
	}
	if n := a.count("slow"); n != 4 {
		t.Errorf("%d runs in 1.5 s, want 4", n)
	}
	if n := h.counter("helen_scheduled_runs_total"); n != 4 {
		t.Errorf("%v scheduled runs counted, want 4", n)
	}
	if skipped := h.counter("helen_schedule_ticks_skipped_total"); skipped != 9 {
		t.Errorf("%v ticks skipped, want 9", skipped)
	}
}

// TestSilentCheckTimesOut: a scheduled check that gets no answer within
// its schedule's timeout is a result of status unknown, kept like any
// other, and the agent was told the time it has. The timeout is a
// deadline of the run's context, on the real clock: the test waits
// 50 ms for it.
func TestSilentCheckTimesOut(t *testing.T) {
	h := newHarness(t, Config{})
	events, unsubscribe := h.m.Subscribe(64)
	defer unsubscribe()
	a := h.connect("web-1", behavior{Silent: map[string]bool{"hang": true}})
	const every = time.Minute
	h.put(state.Schedule{Name: "s", Check: "hang", Every: every, Timeout: 50 * time.Millisecond, Args: json.RawMessage(`{"x":1}`)})
	h.settle(tickers + 1)
	// The loop waits again once the run has timed out.
	h.step(every, tickers+1)
	a.mu.Lock()
	got := a.sent
	a.mu.Unlock()
	if len(got) != 1 || string(got[0].args) != `{"_timeout_ms":45,"x":1}` {
		t.Errorf("checks sent %+v, want one, its args with _timeout_ms 45", got)
	}
	ev := event(t, events, "new -> unknown")
	if ev.To != "unknown" || ev.Message != "no result from web-1" {
		t.Errorf("event %+v, want new -> unknown, no result", ev)
	}
	if sts := h.m.Statuses(false); len(sts) != 1 || sts[0].Status.Status != "unknown" {
		t.Errorf("statuses = %+v", sts)
	}
	if rs, err := h.db.History("web-1", "hang", 0, time.Time{}, time.Time{}); err != nil || len(rs) != 1 || rs[0].Status != "unknown" || !rs[0].Time.Equal(h.clk.Now()) {
		t.Errorf("history = %+v, %v; want one result, unknown, at %v", rs, err, h.clk.Now())
	}
}

// BenchmarkDeleteSchedule removes a schedule that has a status on each of
// 10,000 agents, as Monitor.DeleteSchedule does: the schedule and its
// statuses in the store in one transaction, then the status table's
// rows.
func BenchmarkDeleteSchedule(b *testing.B) {
	const agents = 10_000
	db, err := state.Open(b.TempDir()+"/helen.db", state.Options{PruneInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	sch := state.Schedule{Name: "load", Check: "load", Every: time.Minute}
	sts := make([]state.Status, agents)
	for i := range sts {
		sts[i] = state.Status{Agent: fmt.Sprintf("web-%05d", i), Schedule: sch.Name, Check: sch.Check,
			Status: "ok", StateType: state.Hard, HardStatus: "ok", Since: epoch, Time: epoch}
	}
	for b.Loop() {
		b.StopTimer()
		if _, err := PutSchedule(db, sch, epoch); err != nil {
			b.Fatal(err)
		}
		if err := db.PutStatuses(sts...); err != nil {
			b.Fatal(err)
		}
		t, err := newStatusTable(db, nil, time.Minute, DefaultFlapping, nil, newMetrics(metricset.New(false)))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		of := func(k pair) bool { return k.schedule == sch.Name }
		if err := t.dropAfter(of, func() error { return DeleteSchedule(db, sch.Name) }); err != nil {
			b.Fatal(err)
		}
		t.drop(of)
	}
}

// TestRunCtx: a loop's run context ends a run at its timeout with the
// cause context.DeadlineExceeded, the timer of a run that ended as it
// fired does not end the next run, a run after one that timed out starts
// afresh, and the end of the loop's context ends the run going on and
// every run after it.
func TestRunCtx(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	rc := newRunCtx(parent)
	defer rc.close()
	ctx := rc.begin(time.Nanosecond)
	wait.Until(t, "the run's timeout", waitFor, time.Millisecond, func() bool { return ctx.Err() != nil })
	if cause := context.Cause(ctx); !errors.Is(cause, context.DeadlineExceeded) {
		t.Errorf("cause of the run that timed out: %v, want the deadline", cause)
	}
	select {
	case <-ctx.Done():
	default:
		t.Error("the run that timed out is not done")
	}
	rc.end()
	ctx = rc.begin(time.Hour)
	rc.expire() // what a late firing for the run before does
	if ctx.Err() != nil {
		t.Fatalf("the next run ended: %v", context.Cause(ctx))
	}
	select {
	case <-ctx.Done():
		t.Fatal("the next run is done: it has the channel of the run that timed out")
	default:
	}
	rc.end()
	rc.expire() // between runs
	ctx = rc.begin(time.Hour)
	cancel()
	wait.Until(t, "the end of the loop's context", waitFor, time.Millisecond, func() bool { return ctx.Err() != nil })
	if cause := context.Cause(ctx); !errors.Is(cause, context.Canceled) {
		t.Errorf("cause of the run whose loop ended: %v, want canceled", cause)
	}
	rc.end()
	if ctx = rc.begin(time.Hour); !errors.Is(ctx.Err(), context.Canceled) {
		t.Errorf("a run begun after its loop ended: %v, want canceled", ctx.Err())
	}
	rc.end()
}

// TestRunCtxAllocs checks that a run's context costs no allocation once
// its loop has run once: a run is thousands a second under load.
func TestRunCtxAllocs(t *testing.T) {
	type key struct{}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	defer cancel()
	rc := newRunCtx(parent)
	defer rc.close()
	allocs := testing.AllocsPerRun(1000, func() {
		ctx := rc.begin(time.Hour)
		select {
		case <-ctx.Done():
			t.Fatal("run done at once")
		default:
		}
		if context.Cause(ctx) != nil {
			t.Fatal("the run has a cause")
		}
		rc.end()
	})
	if v := rc.begin(time.Hour).Value(key{}); v != "v" {
		t.Errorf("the run's context has %v for its parent's value v", v)
	}
	rc.end()
	if allocs != 0 {
		t.Errorf("a run's context allocates %.1f times, want none", allocs)
	}
}

// TestAgentSchedulesShareTicks checks that the schedules of one agent
// with one interval run at the same instants, so that its checks go out
// together, that a schedule whose interval is a multiple of theirs runs
// at one of those instants, and that two agents still fall apart.
func TestAgentSchedulesShareTicks(t *testing.T) {
	h := newHarness(t, Config{})
	web1 := h.connect("web-1", behavior{})
	web2 := h.connect("web-2", behavior{})
	const every = 150 * time.Millisecond
	h.put(state.Schedule{Name: "a", Check: "one", Every: every})
	h.put(state.Schedule{Name: "b", Check: "two", Every: every})
	h.put(state.Schedule{Name: "c", Check: "three", Every: 4 * every})
	const waiters = tickers + 2*3
	h.settle(waiters)
	// In steps of a millisecond, so that the clock says each tick.
	h.steps(int(8*every/time.Millisecond), time.Millisecond, waiters)
	for _, a := range []*fakeAgent{web1, web2} {
		one, two, three := a.times("one"), a.times("two"), a.times("three")
		if len(one) != 8 || !slices.EqualFunc(one, two, time.Time.Equal) {
			t.Errorf("%s: schedule a ran at %v, b at %v: want the same 8 instants", a.name, one, two)
		}
		if len(three) != 2 || !slices.ContainsFunc(one, three[0].Equal) || !slices.ContainsFunc(one, three[1].Equal) {
			t.Errorf("%s: schedule c ran at %v, not 2 of a's instants %v", a.name, three, one)
		}
	}
	if t1, t2 := web1.times("one"), web2.times("one"); len(t1) > 0 && len(t2) > 0 && t1[0].Equal(t2[0]) {
		t.Errorf("web-1 and web-2 share their ticks (%v): agents are not spread", t1[0])
	}
}

// TestWaitingRunsHoldNoGoroutine checks that schedules waiting for their
// ticks hold no goroutine: a goroutine a schedule on an agent was tens
// of thousands of stacks with a thousand agents.
func TestWaitingRunsHoldNoGoroutine(t *testing.T) {
	h := newHarness(t, Config{})
	h.connect("web-1", behavior{})
	h.settle(tickers)
	before := runtime.NumGoroutine()
	const schedules = 100
	for i := range schedules {
		h.put(state.Schedule{Name: fmt.Sprintf("s%d", i), Check: "one", Every: time.Minute})
	}
	h.settle(tickers + schedules)
	h.armed(schedules)
	// What settles: the goroutines that armed the timers end.
	wait.Until(t, fmt.Sprintf("under %d goroutines more than the %d before the schedules", schedules/10, before),
		waitFor, time.Millisecond, func() bool { return runtime.NumGoroutine()-before < schedules/10 })
}
