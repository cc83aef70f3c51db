package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/state"
)

// hardChange reports whether evs hold a hard change of schedule on agent
// to status.
func hardChange(evs []state.Event, agent, schedule, status string) bool {
	for _, ev := range evs {
		if ev.Agent == agent && ev.Schedule == schedule && ev.HardChange && ev.To == status {
			return true
		}
	}
	return false
}

// TestAlertingReachesReceivers runs a real helen and a real agent (under
// stage0) with two schedules of the file check, and a route made with
// `helen notify add` to an HTTPS webhook of the test's. A file removed is
// a critical problem that reaches the webhook. A silence made with `helen
// silence add` for the other schedule keeps its problem from everyone;
// the first schedule's recovery, later, still arrives, so the silence is
// what kept the second's problem back.
func TestAlertingReachesReceivers(t *testing.T) {
	rc := newReceiverCA(t)
	wh := newWebhook(t, rc)
	h := startHelenEnv(t, built[v100], rc.env())

	dir := t.TempDir()
	fileA, fileB := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, f := range []string{fileA, fileB} {
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h.cli(t, "notify", "add", "--webhook", wh.url(), "--agents", agentName, "ops")
	for name, f := range map[string]string{"file-a": fileA, "file-b": fileB} {
		h.cli(t, "schedule", "add", "--check", "file", "--args", `{"path":"`+f+`"}`, "--every", "1s", name)
	}
	startStage0(t, installAgent(t, v100), filepath.Join(t.TempDir(), "agent"), h)
	h.agentReady(t, agentName, v100, time.Minute)
	poll(t, "both schedules to be ok", time.Minute, func() bool {
		st := h.statuses(t)
		return st["file-a"] == "ok" && st["file-b"] == "ok"
	})

	// A problem reaches the webhook.
	if err := os.Remove(fileA); err != nil {
		t.Fatal(err)
	}
	poll(t, "the webhook to get file-a's problem", 30*time.Second, func() bool {
		return len(of(wh.got(), "problem", agentName, "file-a")) > 0
	})
	p := of(wh.got(), "problem", agentName, "file-a")[0]
	if p.Status != "critical" || p.Check != "file" || p.Previous != "ok" || !strings.Contains(p.Message, fileA) {
		t.Errorf("file-a's problem at the webhook: %+v", p)
	}

	// A silence keeps file-b's problem from the webhook.
	out := h.cli(t, "silence", "add", "--agents", agentName, "--schedules", "file-b", "--for", "1h", "--comment", "replacing b")
	if strings.TrimSpace(out) == "" {
		t.Fatal("silence add printed no id")
	}
	if err := os.Remove(fileB); err != nil {
		t.Fatal(err)
	}
	poll(t, "helen to record file-b critical", 30*time.Second, func() bool {
		return hardChange(h.events(t), agentName, "file-b", "critical")
	})
	// Then a change not silenced: file-a recovers, and that reaches the
	// webhook.
	if err := os.WriteFile(fileA, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	poll(t, "the webhook to get file-a's recovery", 30*time.Second, func() bool {
		return len(of(wh.got(), "recovery", agentName, "file-a")) > 0
	})
	for _, n := range h.notifications(t) {
		if n.Schedule == "file-b" {
			t.Errorf("a notification of silenced file-b: %s, %s", n.ID, n.State)
		}
	}
	var kinds []string
	for _, n := range wh.got() {
		kinds = append(kinds, n.Kind+" "+n.Schedule)
	}
	if got := strings.Join(kinds, ", "); got != "problem file-a, recovery file-a" {
		t.Errorf("the webhook got: %s; want file-a's problem and recovery alone", got)
	}
	wh.checkWellFormed(t)
}
