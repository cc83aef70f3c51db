package monitor

import (
	"testing"
	"time"
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
