package helen

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

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
		off := offset(name, "load", every)
		if off < 0 || off >= every {
			t.Fatalf("offset of %s = %v, outside [0, %v)", name, off, every)
		}
		if again := offset(name, "load", every); again != off {
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
	if offset("web-1", "load", every) == offset("web-1", "disk", every) {
		t.Error("two schedules of one agent share an offset")
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// TestScheduleRuns runs a schedule on the agents its glob matches, at its
// interval, stores the results, and runs it again after a restart.
func TestScheduleRuns(t *testing.T) {
	dir := t.TempDir()
	h := startHelen(t, Config{DataDir: dir})
	web1 := startAgent(t, h, "web-1", behavior{})
	web2 := startAgent(t, h, "web-2", behavior{})
	db1 := startAgent(t, h, "db-1", behavior{})
	for _, a := range []*fakeAgent{web1, web2, db1} {
		a.ready()
	}
	const every = 150 * time.Millisecond
	sch, err := h.srv.PutSchedule(state.Schedule{Name: "web-load", Check: "load", Every: every, Agents: "web-*"})
	if err != nil {
		t.Fatal(err)
	}
	if sch.Timeout != defaultTimeout || sch.Created.IsZero() {
		t.Errorf("stored schedule %+v: want the default timeout and a creation time", sch)
	}
	start := time.Now()
	poll(t, "8 runs on web-1", func() bool { return web1.countChecks("load") >= 8 })
	elapsed := time.Since(start)
	// 8 runs take 7 intervals after the first tick, which comes within one.
	if elapsed < 7*every || elapsed > 9*every+time.Second {
		t.Errorf("8 runs took %v at an interval of %v", elapsed, every)
	}
	if n := web2.countChecks("load"); n < 6 {
		t.Errorf("web-2 ran load %d times, want about 8", n)
	}
	if n := db1.countChecks("load"); n != 0 {
		t.Errorf("db-1 ran load %d times; the glob web-* does not match it", n)
	}
	rs, err := h.srv.DB().History("web-1", "load", 0, time.Time{}, time.Time{})
	if err != nil || len(rs) < 7 {
		t.Fatalf("history of web-1 load: %d results, %v", len(rs), err)
	}

	// A restart keeps the schedule and runs it again.
	for _, a := range []*fakeAgent{web1, web2, db1} {
		a.close()
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
	again.ready()
	poll(t, "runs after the restart", func() bool { return again.countChecks("load") >= 3 })
}

// TestScheduleChanges checks that a change to a schedule takes effect at
// once and that a removed one stops.
func TestScheduleChanges(t *testing.T) {
	h := startHelen(t, Config{})
	a := startAgent(t, h, "web-1", behavior{})
	a.ready()
	if _, err := h.srv.PutSchedule(state.Schedule{Name: "s", Check: "one", Every: 100 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	poll(t, "check one", func() bool { return a.countChecks("one") >= 2 })
	if _, err := h.srv.PutSchedule(state.Schedule{Name: "s", Check: "two", Every: 100 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	poll(t, "check two", func() bool { return a.countChecks("two") >= 2 })
	ones := a.countChecks("one")
	if err := h.srv.DeleteSchedule("s"); err != nil {
		t.Fatal(err)
	}
	twos := a.countChecks("two")
	time.Sleep(400 * time.Millisecond)
	if a.countChecks("one") != ones || a.countChecks("two") > twos+1 {
		t.Errorf("runs went on after the change or removal: one %d->%d, two %d->%d",
			ones, a.countChecks("one"), twos, a.countChecks("two"))
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
	a.ready()
	if _, err := h.srv.PutSchedule(state.Schedule{Name: "slow", Check: "slow", Every: 100 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	a.mu.Lock()
	most := a.maxOutstanding
	a.mu.Unlock()
	n := a.countChecks("slow")
	if most != 1 {
		t.Errorf("%d checks outstanding at once, want 1", most)
	}
	// Each run takes 350 ms and the next starts at the first tick after it:
	// about one run every 400 ms.
	if n < 2 || n > 5 {
		t.Errorf("%d runs in 1.5 s, want about 4", n)
	}
	if skipped := counterValue(t, h.srv.monitor.metrics.ticksSkipped); skipped < 2 {
		t.Errorf("%v ticks skipped, want several", skipped)
	}
}

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
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkSchedule(&tc.s)
			if (err == nil) != tc.ok {
				t.Errorf("checkSchedule = %v, want ok %v", err, tc.ok)
			}
			if tc.ok && (tc.s.Agents != "*" || tc.s.Timeout != defaultTimeout) {
				t.Errorf("defaults not filled in: %+v", tc.s)
			}
		})
	}
}

// counterValue reads a counter.
func counterValue(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
