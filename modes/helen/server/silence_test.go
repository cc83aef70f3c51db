package server

import (
	"testing"
	"time"

	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/wire"
)

// TestHungAgentIsDown: an agent over TLS that stops answering, its
// connection open, is down once helen has heard nothing from it for
// --down-after, to a sweep, while an idle agent that answers its pings
// stays up; it is up again when it speaks, and the pinger still closes
// the connection of one that answers nothing, after it is down and with
// no event of its own. The hub and the monitor share one fake clock,
// stepped a sweep at a time once every timer on it waits again: its
// status writes, its event pruning, its sweep, and a pinger (or the wait
// of its ping) for each session.
func TestHungAgentIsDown(t *testing.T) {
	const downAfter, sweep = 30 * time.Second, time.Second
	const ping = downAfter / 3 // the default
	clk := newFakeClock()
	h := startHelen(t, Config{DownAfter: downAfter, hubClock: clk, monitorClock: clk})
	events, unsubscribe := h.srv.Subscribe(64)
	defer unsubscribe()
	live := startAgent(t, h, "live", behavior{})
	live.Ready()
	mute := startAgent(t, h, "mute", behavior{Mute: true})
	mute.Ready()
	heard := clk.Now() // its hello, the last word from it
	const waiters = monitorTickers + 2
	waitTimers(t, clk, waiters)

	// step moves the clock a sweep, waits for every timer to wait again,
	// and returns the event the step brought, if any.
	step := func(n int) *state.Event {
		t.Helper()
		clk.Step(sweep)
		waitTimers(t, clk, n)
		select {
		case ev := <-events:
			return &ev
		default:
			return nil
		}
	}
	var down *state.Event
	for down == nil && clk.Since(heard) < downAfter+2*sweep {
		down = step(waiters)
	}
	if down == nil {
		t.Fatalf("no event %s after the mute agent's last word", clk.Since(heard))
	}
	late := down.Time.Sub(heard.Add(downAfter))
	t.Logf("mute down at %s of silence (down-after %s, sweep %s)", down.Time.Sub(heard), downAfter, sweep)
	if down.Agent != "mute" || down.From != "up" || down.To != "down" || late < 0 || late > sweep {
		t.Fatalf("event %+v, want mute up -> down %s after its last word, to a sweep", down, downAfter)
	}
	if stored, err := h.srv.DB().AgentsDown(); err != nil || !stored["mute"].Equal(down.Time) {
		t.Errorf("stored agents down = %v, %v; want mute since %v", stored, err, down.Time)
	}
	if _, ok := h.srv.Hub().Session("mute"); !ok || mute.Closed() {
		t.Error("the mute agent's connection closed by the time it is down")
	}
	if n := live.CountChecks(wire.PingCheck); n < int(downAfter/ping) {
		t.Errorf("the live agent answered %d pings in %s, want at least %d", n, downAfter, downAfter/ping)
	}

	// It answers the ping outstanding: up at the next sweep.
	for range 5 {
		if ev := step(waiters); ev != nil {
			t.Fatalf("event %+v before the mute agent spoke", ev)
		}
	}
	var last wire.Message
	for _, m := range mute.Checks() {
		if m.Name == wire.PingCheck {
			last = m
		}
	}
	mute.Send(wire.Result(last.ID, last.Name, result.Doc{Status: result.OK, Message: "pong"}.Encode(wire.MaxBlob)))
	ss, _ := h.srv.Hub().Session("mute")
	poll(t, "helen to hear the mute agent's answer", func() bool { return ss.Silence() == 0 })
	heard = clk.Now()
	waitTimers(t, clk, waiters)
	up := step(waiters)
	if up == nil || up.Agent != "mute" || up.From != "down" || up.To != "up" || !up.Time.Equal(heard.Add(sweep)) {
		t.Fatalf("event %+v, want mute down -> up at the sweep after it spoke", up)
	}

	// Mute again: down again at the deadline, and the pinger, two pings
	// unanswered, closes its connection after that, with no event.
	down = nil
	for down == nil && clk.Since(heard) < downAfter+2*sweep {
		down = step(waiters)
	}
	if down == nil || down.Agent != "mute" || down.To != "down" || down.Time.Sub(heard) < downAfter || down.Time.Sub(heard) > downAfter+sweep {
		t.Fatalf("event %+v, want mute down %s after it spoke, to a sweep", down, downAfter)
	}
	for clk.Since(heard) < 4*ping-sweep {
		if ev := step(waiters); ev != nil {
			t.Fatalf("event %+v while the mute agent is down", ev)
		}
	}
	if ev := step(waiters - 1); ev != nil {
		t.Fatalf("event %+v as the pinger closed the mute agent's connection", ev)
	}
	if _, err := mute.WaitClosed(); !endedCleanly(err) {
		t.Errorf("the mute agent's connection ended with %v", err)
	}
	poll(t, "mute marked disconnected", func() bool {
		a, err := h.srv.DB().Agent("mute")
		return err == nil && !a.Connected
	})
	for range 3 * int(downAfter/sweep) {
		if ev := step(waiters - 1); ev != nil {
			t.Fatalf("event %+v once the agent down is disconnected", ev)
		}
	}
	if live.Closed() {
		t.Error("helen closed the live agent")
	}
	evs, err := h.srv.DB().Events(time.Time{}, time.Time{}, 0)
	if err != nil || len(evs) != 3 {
		t.Errorf("stored events %v, %v; want mute down, up, down", evs, err)
	}
	for _, ev := range evs {
		if ev.Agent != "mute" {
			t.Errorf("event %+v, want only the mute agent's", ev)
		}
	}
}
