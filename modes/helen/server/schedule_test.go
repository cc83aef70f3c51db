package server

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/equus-monitoring/equus/modes/helen/monitor"
	"github.com/equus-monitoring/equus/state"
)

// TestScheduleRuns runs a schedule on the agents its glob matches, at its
// interval, stores the results, and runs it again after a restart.
func TestScheduleRuns(t *testing.T) {
	dir := t.TempDir()
	h := startHelen(t, Config{DataDir: dir})
	web1 := startAgent(t, h, "web-1", behavior{})
	web2 := startAgent(t, h, "web-2", behavior{})
	db1 := startAgent(t, h, "db-1", behavior{})
	for _, a := range []*fakeAgent{web1, web2, db1} {
		a.Ready()
	}
	const every = 150 * time.Millisecond
	sch, err := h.srv.PutSchedule(state.Schedule{Name: "web-load", Check: "load", Every: every, Agents: "web-*"})
	if err != nil {
		t.Fatal(err)
	}
	if sch.Timeout != monitor.DefaultTimeout || sch.Created.IsZero() {
		t.Errorf("stored schedule %+v: want the default timeout and a creation time", sch)
	}
	start := time.Now()
	poll(t, "8 runs on web-1", func() bool { return web1.CountChecks("load") >= 8 })
	elapsed := time.Since(start)
	// 8 runs take 7 intervals after the first tick, which comes within one.
	if elapsed < 7*every || elapsed > 9*every+time.Second {
		t.Errorf("8 runs took %v at an interval of %v", elapsed, every)
	}
	if n := web2.CountChecks("load"); n < 6 {
		t.Errorf("web-2 ran load %d times, want about 8", n)
	}
	if n := db1.CountChecks("load"); n != 0 {
		t.Errorf("db-1 ran load %d times; the glob web-* does not match it", n)
	}
	rs, err := h.srv.DB().History("web-1", "load", 0, time.Time{}, time.Time{})
	if err != nil || len(rs) < 7 {
		t.Fatalf("history of web-1 load: %d results, %v", len(rs), err)
	}

	// A restart keeps the schedule and runs it again.
	for _, a := range []*fakeAgent{web1, web2, db1} {
		a.Close()
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if err := h.srv.Close(); err != nil {
		t.Fatal(err)
	}
	h2 := startHelen(t, Config{DataDir: dir})
	if got := h2.srv.Schedules(); len(got) != 1 || got[0].Name != "web-load" || got[0].Every != every {
		t.Fatalf("schedules after restart = %+v", got)
	}
	again := startAgent(t, h2, "web-1", behavior{})
	again.Ready()
	poll(t, "runs after the restart", func() bool { return again.CountChecks("load") >= 3 })
}

// TestScheduleChanges checks that a change to a schedule takes effect at
// once and that a removed one stops.
func TestScheduleChanges(t *testing.T) {
	h := startHelen(t, Config{})
	a := startAgent(t, h, "web-1", behavior{})
	a.Ready()
	if _, err := h.srv.PutSchedule(state.Schedule{Name: "s", Check: "one", Every: 100 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	poll(t, "check one", func() bool { return a.CountChecks("one") >= 2 })
	if _, err := h.srv.PutSchedule(state.Schedule{Name: "s", Check: "two", Every: 100 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	poll(t, "check two", func() bool { return a.CountChecks("two") >= 2 })
	ones := a.CountChecks("one")
	if err := h.srv.DeleteSchedule("s"); err != nil {
		t.Fatal(err)
	}
	twos := a.CountChecks("two")
	time.Sleep(400 * time.Millisecond)
	if a.CountChecks("one") != ones || a.CountChecks("two") > twos+1 {
		t.Errorf("runs went on after the change or removal: one %d->%d, two %d->%d",
			ones, a.CountChecks("one"), twos, a.CountChecks("two"))
	}
	if err := h.srv.DeleteSchedule("s"); err == nil {
		t.Error("removing a removed schedule: no error")
	}
	if len(h.srv.Statuses(false)) != 0 {
		t.Errorf("statuses of a removed schedule remain: %+v", h.srv.Statuses(false))
	}
}

// TestScheduleNoOverlap gives a check that takes longer than its interval:
// it never runs twice at once on the agent, and the missed ticks are
// skipped.
func TestScheduleNoOverlap(t *testing.T) {
	h := startHelen(t, Config{})
	a := startAgent(t, h, "web-1", behavior{Delay: map[string]time.Duration{"slow": 350 * time.Millisecond}})
	a.Ready()
	if _, err := h.srv.PutSchedule(state.Schedule{Name: "slow", Check: "slow", Every: 100 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	most := a.MaxOutstanding()
	n := a.CountChecks("slow")
	if most != 1 {
		t.Errorf("%d checks outstanding at once, want 1", most)
	}
	// Each run takes 350 ms and the next starts at the first tick after it:
	// about one run every 400 ms.
	if n < 2 || n > 5 {
		t.Errorf("%d runs in 1.5 s, want about 4", n)
	}
	if skipped := gathered(t, h.srv.metrics.reg, "helen_schedule_ticks_skipped_total"); skipped < 2 {
		t.Errorf("%v ticks skipped, want several", skipped)
	}
}

// gathered returns the value of the counter name that reg gathers.
func gathered(t testing.TB, reg prometheus.Gatherer, name string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no counter %s gathered", name)
	return 0
}
