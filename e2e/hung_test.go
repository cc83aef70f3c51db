package e2e

import (
	"encoding/json"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/state"
)

// events returns the events helen stored in the last hour, oldest first.
func (h *helen) events(t *testing.T) []state.Event {
	t.Helper()
	out, err := run(t, h.bin, "helen", "events", "--data", h.data, "--since", "1h", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var evs []state.Event
	if err := json.Unmarshal([]byte(out), &evs); err != nil {
		t.Fatalf("helen events --json: %q: %v", out, err)
	}
	return evs
}

// agentEvents returns the agent's own events (down, up) of evs.
func agentEvents(evs []state.Event, agent string) []state.Event {
	var out []state.Event
	for _, ev := range evs {
		if ev.Agent == agent && ev.Schedule == "" && (ev.To == "down" || ev.To == "up") {
			out = append(out, ev)
		}
	}
	return out
}

// TestHungAgentIsDown: an agent whose process is stopped (SIGSTOP: its
// connection stays open and nothing comes from it) is down within
// --down-after and a few seconds of the stop, one event, and up again,
// one event, once it is continued. The test logs the delay from the stop
// to the down event; it bounds it only loosely, the machine running it
// being shared.
func TestHungAgentIsDown(t *testing.T) {
	const downAfter = 3 * time.Second
	h := startHelen(t, built[v100], "--down-after="+downAfter.String())
	s := startStage0(t, installAgent(t, v100), filepath.Join(t.TempDir(), "agent"), h)
	h.agentReady(t, agentName, v100, time.Minute)
	if evs := agentEvents(h.events(t), agentName); len(evs) != 0 {
		t.Fatalf("events of the agent before its stop: %+v", evs)
	}
	pid := s.agentPID(t)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	// Before stage0 is told to stop, whatever happens here: a stopped
	// agent would not end.
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGCONT) })

	var evs []state.Event
	poll(t, "helen to record the stopped agent down", time.Minute, func() bool {
		evs = agentEvents(h.events(t), agentName)
		return len(evs) > 0
	})
	down := evs[0]
	delay := down.Time.Sub(stopped)
	t.Logf("down %s after SIGSTOP (--down-after %s): %s", delay.Round(time.Millisecond), downAfter, down.Message)
	if down.To != "down" || delay < 0 || delay > downAfter+15*time.Second {
		t.Fatalf("first event of the stopped agent %+v, %s after its stop; want down within about %s", down, delay, downAfter)
	}

	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	poll(t, "helen to record the agent continued up", time.Minute, func() bool {
		evs = agentEvents(h.events(t), agentName)
		return len(evs) > 1
	})
	if len(evs) != 2 || evs[1].To != "up" {
		t.Errorf("events of the agent stopped and continued: %+v, want one down, one up", evs)
	}
	h.agentReady(t, agentName, v100, time.Minute)
}
