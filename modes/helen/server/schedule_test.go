package server

import (
	"fmt"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/equus-monitoring/equus/internal/metricset"
	"github.com/equus-monitoring/equus/internal/wait"
	"github.com/equus-monitoring/equus/modes/helen/monitor"
	"github.com/equus-monitoring/equus/state"
)

// The timing of schedules is the monitor's, and tested there on a fake
// clock (package monitor). Here a schedule runs end to end: over TLS, on
// the monitor's fake clock (Config.monitorClock).

// monitorTickers are the waiters on the monitor's clock of a helen with no
// schedule and no agent gone: its status writes, its event pruning, its
// sweep of the agents for silence and its delivery workers' look at the
// outbox.
const monitorTickers = 4

// settleMonitor waits until n waiters wait on the monitor's clock clk:
// its tickers, a timer for each loop of a schedule on an agent waiting
// for its tick, a grace period for each agent gone. A test steps clk only
// then, so that no step comes before a loop has armed its timer.
func settleMonitor(t testing.TB, clk *clocktesting.FakeClock, n int) {
	t.Helper()
	wait.Until(t, fmt.Sprintf("%d waiters on the monitor's clock", n), waitFor, time.Millisecond,
		func() bool { return clk.Waiters() == n })
}

// stepMonitor makes k steps of d on the monitor's clock, waiting for n
// waiters after each: each step of a schedule's interval runs it once on
// each agent, and its loop waits again once the result is in.
func stepMonitor(t testing.TB, clk *clocktesting.FakeClock, k int, d time.Duration, n int) {
	t.Helper()
	for range k {
		clk.Step(d)
		settleMonitor(t, clk, n)
	}
}

// TestScheduleRuns runs a schedule over TLS on the agents its glob
// matches, once an interval, stores the results, shows their statuses
// in /v1/status, and runs it again after a restart.
func TestScheduleRuns(t *testing.T) {
	dir := t.TempDir()
	clk := newFakeClock()
	h := startHelen(t, Config{DataDir: dir, monitorClock: clk})
	web1 := startAgent(t, h, "web-1", behavior{})
	web2 := startAgent(t, h, "web-2", behavior{})
	db1 := startAgent(t, h, "db-1", behavior{})
	for _, a := range []*fakeAgent{web1, web2, db1} {
		a.Ready()
	}
	const every = 10 * time.Second // three of them inside the grace period of web-2 after the restart
	sch, err := h.srv.PutSchedule(state.Schedule{Name: "web-load", Check: "load", Every: every, Agents: "web-*"})
	if err != nil {
		t.Fatal(err)
	}
	if sch.Timeout != monitor.DefaultTimeout || !sch.Created.Equal(clk.Now()) {
		t.Errorf("stored schedule %+v: want the default timeout and the creation time %v", sch, clk.Now())
	}
	settleMonitor(t, clk, monitorTickers+2)
	stepMonitor(t, clk, 3, every, monitorTickers+2)
	for a, want := range map[*fakeAgent]int{web1: 3, web2: 3, db1: 0} {
		if n := a.CountChecks("load"); n != want {
			t.Errorf("%s ran load %d times in 3 intervals, want %d", a.Name(), n, want)
		}
	}
	rs, err := h.srv.DB().History("web-1", "load", 0, time.Time{}, time.Time{})
	if err != nil || len(rs) != 3 || rs[0].Schedule != "web-load" || !rs[0].Time.Equal(clk.Now()) {
		t.Fatalf("history of web-1 load: %+v, %v; want 3 results of web-load, the last at %v", rs, err, clk.Now())
	}
	var sts []monitor.StatusView
	newOpsClient(t, h).Get("/v1/status", &sts)
	if len(sts) != 2 || sts[0].Agent != "web-1" || sts[1].Agent != "web-2" || sts[0].Schedule != "web-load" || sts[0].Status.Status != "ok" || !sts[0].Time.Equal(clk.Now()) {
		t.Errorf("GET /v1/status = %+v, want web-load ok on web-1 and web-2", sts)
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
	clk = clocktesting.NewFakeClock(clk.Now())
	h2 := startHelen(t, Config{DataDir: dir, monitorClock: clk})
	if got := h2.srv.Schedules(); len(got) != 1 || got[0].Name != "web-load" || got[0].Every != every {
		t.Fatalf("schedules after restart = %+v", got)
	}
	again := startAgent(t, h2, "web-1", behavior{})
	again.Ready()
	// Web-1's grace period ends when the monitor hears of it (which may
	// come after equus.info); web-2, not back, keeps its own.
	poll(t, "web-1 back to the monitor", func() bool { return !h2.srv.monitor.Waiting("web-1") })
	settleMonitor(t, clk, monitorTickers+2)
	stepMonitor(t, clk, 3, every, monitorTickers+2)
	if n := again.CountChecks("load"); n != 3 {
		t.Errorf("web-1 ran load %d times in 3 intervals after the restart, want 3", n)
	}
}

// gathered returns the value of the counter name on set's page.
func gathered(t testing.TB, set *metricset.Set, name string) float64 {
	t.Helper()
	var b strings.Builder
	set.WritePrometheus(&b)
	fams, err := metricset.Parse(b.String())
	if err != nil {
		t.Fatal(err)
	}
	if f := fams[name]; f != nil && f.Type == "counter" && len(f.Series) == 1 {
		return f.Series[0].Value
	}
	t.Fatalf("no counter %s on the page", name)
	return 0
}
