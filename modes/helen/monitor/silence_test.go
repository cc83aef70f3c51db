package monitor

import (
	"testing"
	"time"

	"github.com/equus-monitoring/equus/state"
)

// TestAgentSilentIsDown: an agent connected that falls silent (a process
// stopped, its connection still open) is down once nothing was heard from
// it for DownAfter, at that deadline to a sweep; it is up again once it
// speaks, one event each way. Gone while down, it stays down with no
// second event, and is up when it connects again.
func TestAgentSilentIsDown(t *testing.T) {
	const downAfter = time.Minute
	sweep := sweepEvery(downAfter)
	if sweep != time.Second {
		t.Fatalf("sweepEvery(%s) = %s, want 1s", downAfter, sweep)
	}
	h := newHarness(t, Config{DownAfter: downAfter})
	events, unsubscribe := h.m.Subscribe(64)
	defer unsubscribe()
	a := h.connect("web-1", behavior{})
	h.settle(tickers)
	// A live agent, heard all along, for longer than DownAfter.
	h.steps(90, sweep, tickers)
	noEvent(t, events, "90 s of a live agent")

	a.mute()
	quiet := h.clk.Now()
	h.steps(int(downAfter/sweep)-1, sweep, tickers)
	noEvent(t, events, "59 s of silence")
	h.step(sweep, tickers)
	down := event(t, events, "agent down")
	if down.Agent != "web-1" || down.Schedule != "" || down.From != "up" || down.To != "down" ||
		!down.Time.Equal(quiet.Add(downAfter)) || down.Message != "agent down: connected, nothing heard for 1m0s" {
		t.Errorf("down event = %+v, want web-1 up -> down at %v, connected, nothing heard for 1m0s", down, quiet.Add(downAfter))
	}
	if stored, err := h.db.AgentsDown(); err != nil || !stored["web-1"].Equal(down.Time) {
		t.Errorf("stored agents down = %v, %v; want web-1 since %v", stored, err, down.Time)
	}
	h.steps(30, sweep, tickers)
	noEvent(t, events, "30 s more of silence")

	// It speaks: up at the next sweep.
	a.speak()
	h.step(sweep, tickers)
	up := event(t, events, "agent up")
	if up.Agent != "web-1" || up.From != "down" || up.To != "up" || up.Message != "agent up after 31s down" {
		t.Errorf("up event = %+v, want web-1 down -> up after 31s", up)
	}
	if stored, err := h.db.AgentsDown(); err != nil || len(stored) != 0 {
		t.Errorf("stored agents down after it spoke: %v, %v", stored, err)
	}

	// Silent again, down again; its connection ends meanwhile: no grace
	// period, no event, until it connects again.
	a.mute()
	h.step(downAfter, tickers)
	if ev := event(t, events, "agent down again"); ev.To != "down" {
		t.Fatalf("event %+v, want web-1 down", ev)
	}
	h.disconnect(a)
	h.settle(tickers)
	if h.m.Waiting("web-1") {
		t.Error("web-1 down, gone, and in a grace period")
	}
	h.step(2*downAfter, tickers)
	noEvent(t, events, "the connection of an agent down ended")
	h.connect("web-1", behavior{})
	if ev := event(t, events, "agent up on its new connection"); ev.From != "down" || ev.To != "up" {
		t.Errorf("event %+v, want web-1 down -> up", ev)
	}
	h.steps(3, downAfter, tickers)
	noEvent(t, events, "the new connection, live")
}

// TestSilenceBeforeDisconnectCounts: an agent that was silent for a while
// before its connection ended is down DownAfter after the last word heard
// from it, not after the end of the connection.
func TestSilenceBeforeDisconnectCounts(t *testing.T) {
	const downAfter = time.Minute
	h := newHarness(t, Config{DownAfter: downAfter})
	events, unsubscribe := h.m.Subscribe(64)
	defer unsubscribe()
	a := h.connect("web-1", behavior{})
	h.settle(tickers)
	a.mute()
	quiet := h.clk.Now()
	h.step(40*time.Second, tickers)
	h.disconnect(a)
	h.settle(tickers + 1)
	h.step(20*time.Second-time.Nanosecond, tickers+1)
	noEvent(t, events, "59 s of silence, 19 of them disconnected")
	h.step(time.Nanosecond, tickers)
	down := nextEvent(t, events, "agent down")
	if down.To != "down" || !down.Time.Equal(quiet.Add(downAfter)) || down.Message != "agent down: no connection, nothing heard for 1m0s" {
		t.Errorf("down event = %+v, want web-1 down at %v, nothing heard for 1m0s", down, quiet.Add(downAfter))
	}
}

// TestSilentAgentChecksAreNotProblems: the checks in flight on an agent
// that falls silent time out before the agent is down; that is the
// agent's silence, not a problem of each schedule (a thousand agents
// behind a dead switch would be a thousand problems, then a thousand
// agents down). The runs wait for the agent: silent for DownAfter, it is
// down, one event, and its schedules have none.
func TestSilentAgentChecksAreNotProblems(t *testing.T) {
	const downAfter, every = time.Minute, 10 * time.Second
	h := newHarness(t, Config{DownAfter: downAfter})
	events, unsubscribe := h.m.Subscribe(64)
	defer unsubscribe()
	a := h.connect("web-1", behavior{})
	h.put(state.Schedule{Name: "s", Check: "c", Every: every, Timeout: 50 * time.Millisecond})
	h.settle(tickers + 1)
	h.stepTo(h.tick("web-1", every), tickers+1)
	if ev := event(t, events, "the first result"); ev.Schedule != "s" || ev.To != "ok" {
		t.Fatalf("event %+v, want s ok", ev)
	}

	a.mute()
	quiet := h.clk.Now()
	// The schedule's loop, or its run waiting for the agent, and the
	// monitor's own: the same number of waiters all along.
	for h.clk.Now().Before(quiet.Add(downAfter)) {
		h.step(sweepEvery(downAfter), tickers+1)
	}
	down := event(t, events, "agent down")
	if down.Schedule != "" || down.To != "down" {
		t.Fatalf("event %+v, want web-1 down", down)
	}
	h.steps(3, every, tickers+1)
	noEvent(t, events, "the agent down, its checks timed out")
	if n := a.count("c"); n < 2 {
		t.Errorf("the check ran %d times while the agent was silent, want it run and timed out", n)
	}
	if sts := h.m.Statuses(true); len(sts) != 2 || sts[1].Kind != KindFolded || sts[1].Previous != "ok" {
		t.Errorf("statuses = %+v, want the agent down and s folded under it, ok before", sts)
	}
}
