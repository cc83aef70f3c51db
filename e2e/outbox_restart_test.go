package e2e

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
)

// TestOutboxSurvivesKill: 50 agents (in the test, over real mutual TLS)
// each go critical and recover while the webhook answers 503, which makes
// 100 notifications that helen tries and keeps. Helen is SIGKILLed, the
// webhook comes back, helen starts again on its data directory: every
// notification arrives, each idempotency key once (the test logs the
// repeats it saw, which the at-least-once contract would allow only for
// an attempt cut short by the kill), each agent's problem before its
// recovery.
func TestOutboxSurvivesKill(t *testing.T) {
	const agents = 50
	begin := time.Now()
	rc := newReceiverCA(t)
	wh := newWebhook(t, rc)
	wh.setDown(true)
	data := filepath.Join(t.TempDir(), "helen")
	// Agents down after an hour: none is, in the test, after the kill.
	h := startHelenIn(t, built[v100], data, rc.env(), "--down-after=1h")
	h.cli(t, "notify", "add", "--webhook", wh.url(), "all")
	h.cli(t, "schedule", "add", "--check", "file", "--args", `{"path":"/"}`, "--every", "1s", "--agents", "fleet-*", "root")
	fleet := connectFleet(t, h, enrollFleet(t, h, "fleet", agents, 8), 0)
	fleetReady(t, fleet)

	open := func(kind string) int {
		n := 0
		for _, no := range h.notifications(t) {
			if no.State.Open() && no.Schedule == "root" && kindOf(t, no) == kind {
				n++
			}
		}
		return n
	}
	eachAgent(fleet, func(a *fleetAgent) { a.setStatus(result.Critical) })
	poll(t, "a problem of each agent in the outbox", 30*time.Second, func() bool { return open("problem") == agents })
	eachAgent(fleet, func(a *fleetAgent) { a.setStatus(result.OK) })
	poll(t, "a recovery of each agent in the outbox", 30*time.Second, func() bool { return open("recovery") == agents })
	if wh.refusals() == 0 {
		t.Error("helen tried none of the notifications before the kill")
	}
	if got := wh.got(); len(got) != 0 {
		t.Fatalf("the webhook, down, accepted %d notifications", len(got))
	}

	if err := h.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-h.done
	eachAgent(fleet, (*fleetAgent).drop)
	wh.setDown(false)
	killed := time.Now()
	h = startHelenIn(t, built[v100], data, rc.env(), "--down-after=1h")
	poll(t, "every notification at the webhook", time.Minute, func() bool {
		keys := map[string]bool{}
		for _, n := range wh.got() {
			keys[n.Key] = true
		}
		return len(keys) >= 2*agents
	})
	t.Logf("%d notifications at the webhook %s after the restart", 2*agents, time.Since(killed).Round(time.Millisecond))
	poll(t, "the outbox to have nothing open", 30*time.Second, func() bool {
		for _, n := range h.notifications(t) {
			if n.State.Open() {
				return false
			}
		}
		return true
	})

	got := wh.got()
	keys := map[string]int{}
	for _, n := range got {
		keys[n.Key]++
	}
	repeats := len(got) - len(keys)
	t.Logf("%d notifications accepted, %d distinct keys, %d repeats; %d refused while down", len(got), len(keys), repeats, wh.refusals())
	if len(keys) != 2*agents || repeats != 0 {
		t.Errorf("%d distinct idempotency keys and %d repeats, want %d and none (no attempt was cut short after the restart)", len(keys), repeats, 2*agents)
	}
	for _, a := range fleet {
		var kinds []string
		for _, n := range got {
			if n.Agent == a.name && n.Schedule == "root" {
				kinds = append(kinds, n.Kind)
			}
		}
		if len(kinds) != 2 || kinds[0] != "problem" || kinds[1] != "recovery" {
			t.Errorf("agent %s: the webhook got %v, want its problem then its recovery", a.name, kinds)
		}
	}
	wh.checkWellFormed(t)
	t.Logf("whole test %s", time.Since(begin).Round(time.Millisecond))
}

// kindOf returns the kind of notification n's document says.
func kindOf(t *testing.T, n state.Notification) string {
	t.Helper()
	var doc struct{ Kind string }
	if err := json.Unmarshal(n.Doc, &doc); err != nil {
		t.Fatalf("notification %s: document %q: %v", n.ID, n.Doc, err)
	}
	return doc.Kind
}
