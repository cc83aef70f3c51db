package e2e

import (
	"testing"
	"time"

	"github.com/equus-monitoring/equus/state"
)

// TestFleetDownIsOneNotificationEach: a thousand agents, enrolled with one
// token and connected over mutual TLS to a real helen, each with a
// schedule that runs every 2 seconds, go down at once: their links
// closed, or left open with nothing more coming (a network that drops
// everything: the checks sent then time out, in about 3 s, before the
// agents are down at 5 s). The agents answer at once until then: an
// answer held back would time out too on a loaded machine, a problem of
// a live agent that helen rightly tells. The webhook gets one agent_down notification for each of them,
// and nothing else: no problem of any schedule, and nothing twice.
func TestFleetDownIsOneNotificationEach(t *testing.T) {
	t.Run("closed", func(t *testing.T) { testFleetDown(t, (*fleetAgent).drop) })
	t.Run("silent", func(t *testing.T) { testFleetDown(t, (*fleetAgent).mute) })
}

func testFleetDown(t *testing.T, goDown func(*fleetAgent)) {
	const (
		agents    = 1000
		downAfter = 5 * time.Second
	)
	begin := time.Now()
	rc := newReceiverCA(t)
	wh := newWebhook(t, rc)
	h := startHelenEnv(t, built[v100], rc.env(), "--down-after="+downAfter.String())
	h.cli(t, "notify", "add", "--webhook", wh.url(), "all")
	h.cli(t, "schedule", "add", "--check", "file", "--args", `{"path":"/"}`, "--every", "2s", "--agents", "fleet-*", "root")

	start := time.Now()
	certs := enrollFleet(t, h, "fleet", agents, 8)
	t.Logf("%d agents enrolled in %s", agents, time.Since(start).Round(time.Millisecond))

	start = time.Now()
	fleet := connectFleet(t, h, certs, 0)
	fleetReady(t, fleet)
	t.Logf("%d agents connected and ran their schedule in %s", agents, time.Since(start).Round(time.Millisecond))
	if got := wh.got(); len(got) != 0 {
		t.Fatalf("notifications before the links dropped: %d, the first %+v", len(got), got[0])
	}

	start = time.Now()
	eachAgent(fleet, goDown)
	poll(t, "an agent_down notification of each agent", time.Minute, func() bool {
		return len(of(wh.got(), "agent_down", "", "")) >= agents
	})
	t.Logf("%d notifications at the webhook %s after the agents went down", len(wh.got()), time.Since(start).Round(time.Millisecond))
	// Every notification helen made is delivered once the outbox has
	// nothing open; the agents being down, none is made later.
	poll(t, "the outbox to have nothing open", time.Minute, func() bool {
		for _, n := range h.notifications(t) {
			if n.State == state.NotifyPending || n.State == state.NotifyRetrying {
				return false
			}
		}
		return true
	})

	got := wh.got()
	down := map[string]int{}
	other := map[string]int{}
	for _, n := range got {
		if n.Kind == "agent_down" && n.Schedule == "" {
			down[n.Agent]++
		} else {
			other[n.Kind+" "+n.Schedule]++
		}
	}
	if len(down) != agents || len(got) != agents || len(other) != 0 {
		t.Errorf("the webhook got %d notifications: agent_down of %d agents, and others %v; want one agent_down of each of %d agents", len(got), len(down), other, agents)
	}
	for name := range certs {
		if down[name] != 1 {
			t.Errorf("agent %s: %d agent_down notifications", name, down[name])
		}
	}
	wh.checkWellFormed(t)
	t.Logf("whole test %s", time.Since(begin).Round(time.Millisecond))
}
