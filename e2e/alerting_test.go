package e2e

import (
	"bytes"
	"io"
	"maps"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/alertmanagertest"
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
// `helen notify add` to an HTTPS webhook of the test's, a real
// Alertmanager and an SMTP server (go-smtp, STARTTLS), the test's CA
// trusted by helen as the system's roots (SSL_CERT_FILE). A file removed
// is a critical problem that reaches all three. A silence made with `helen
// silence add` for the other schedule keeps its problem from everyone;
// the first schedule's recovery, later, still arrives, so the silence is
// what kept the second's problem back.
func TestAlertingReachesReceivers(t *testing.T) {
	rc := newReceiverCA(t)
	wh := newWebhook(t, rc)
	mb := newMailbox(t, rc)
	am := alertmanagertest.Start(t)
	h := startHelenEnv(t, built[v100], rc.env())

	dir := t.TempDir()
	fileA, fileB := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, f := range []string{fileA, fileB} {
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h.cli(t, "notify", "add", "--webhook", wh.url(), "--alertmanager", am,
		"--email", "ops@example.com", "--smtp", mb.Addr, "--smtp-from", "helen@example.com", "--agents", agentName, "ops")
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

	// And Alertmanager, as an alert firing with its labels; and the
	// mailbox, as a message over STARTTLS.
	poll(t, "Alertmanager to show file-a's alert", 30*time.Second, func() bool {
		return len(firing(alertmanagertest.Alerts(t, am), "file-a")) == 1
	})
	labels := firing(alertmanagertest.Alerts(t, am), "file-a")[0].Labels
	if want := map[string]string{"alertname": "file-a", "agent": agentName, "schedule": "file-a", "check": "file", "severity": "critical"}; !maps.Equal(labels, want) {
		t.Errorf("the alert's labels %v, want %v", labels, want)
	}
	poll(t, "the mail of file-a's problem", 30*time.Second, func() bool { return len(mb.Messages()) > 0 })
	m := mb.Messages()[0]
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(msg.Body)
	if !m.TLS || m.From != "helen@example.com" || !slices.Equal(m.To, []string{"ops@example.com"}) ||
		!strings.Contains(msg.Header.Get("Subject"), "CRITICAL: file-a on "+agentName) || !strings.Contains(string(body), "does not exist") {
		t.Errorf("mail: tls %v, from %q, to %q, subject %q, body %q", m.TLS, m.From, m.To, msg.Header.Get("Subject"), body)
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
	// The recovery resolved the alert, and no alert of file-b came.
	poll(t, "Alertmanager to resolve file-a's alert", 30*time.Second, func() bool {
		return len(firing(alertmanagertest.Alerts(t, am), "file-a")) == 0
	})
	if got := firing(alertmanagertest.Alerts(t, am), "file-b"); len(got) != 0 {
		t.Errorf("alerts of silenced file-b: %+v", got)
	}
	poll(t, "the mail of file-a's recovery", 30*time.Second, func() bool { return len(mb.Messages()) >= 2 })
	if got := mb.Messages(); len(got) != 2 || !strings.Contains(string(got[1].Data), "file-a") {
		t.Errorf("%d mails, want file-a's problem and recovery alone", len(got))
	}
}

// firing returns the alerts of schedule among alerts that are active.
func firing(alerts []alertmanagertest.Alert, schedule string) []alertmanagertest.Alert {
	var out []alertmanagertest.Alert
	for _, a := range alerts {
		if a.Labels["schedule"] == schedule && a.Status.State == "active" {
			out = append(out, a)
		}
	}
	return out
}
