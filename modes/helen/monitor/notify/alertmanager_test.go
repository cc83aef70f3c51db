package notify

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/alertmanagertest"
	"github.com/equus-monitoring/equus/internal/wait"
)

func TestAlertsFireAndEnd(t *testing.T) {
	now := time.Date(2025, 3, 14, 15, 10, 0, 0, time.UTC)
	a := &Alertmanager{Now: func() time.Time { return now }}
	problem := Sample(Problem)
	labels := map[string]string{"alertname": "disk-root", "agent": "web-1", "schedule": "disk-root", "check": "disk", "severity": "critical"}

	got := a.Alerts(problem)
	if len(got) != 1 {
		t.Fatalf("%d alerts", len(got))
	}
	want := Alert{
		Labels: labels,
		Annotations: map[string]string{"summary": "CRITICAL: disk-root on web-1", "message": problem.Message,
			"dashboard": problem.Dashboard},
		StartsAt: problem.Since, EndsAt: now.Add(DefaultHold), GeneratorURL: problem.Dashboard,
	}
	if !reflect.DeepEqual(got[0], want) {
		t.Errorf("problem:\n got %+v\nwant %+v", got[0], want)
	}

	// Pushed again a minute later, it ends a minute later.
	now = now.Add(ResendEvery)
	if got := a.Alerts(problem)[0].EndsAt; !got.Equal(now.Add(DefaultHold)) {
		t.Errorf("re-sent: ends %s", got)
	}

	rec := Sample(Recovery)
	rec.Time = now
	got = a.Alerts(rec)
	if len(got) != 1 || !reflect.DeepEqual(got[0].Labels, labels) || !got[0].EndsAt.Equal(now) {
		t.Errorf("recovery: %+v, want the problem's labels ending now", got)
	}

	// From warning to critical: the warning's alert ends.
	worse := Sample(Problem)
	worse.Previous = "warning"
	got = a.Alerts(worse)
	if len(got) != 2 || got[0].Labels["severity"] != "critical" || !got[0].EndsAt.After(now) ||
		got[1].Labels["severity"] != "warning" || !got[1].EndsAt.Equal(worse.Time) {
		t.Errorf("warning to critical: %+v", got)
	}

	ack := Sample(Acknowledgement)
	got = a.Alerts(ack)
	if len(got) != 1 || !reflect.DeepEqual(got[0].Labels, labels) || got[0].Annotations["acknowledged_by"] != "alice" ||
		got[0].Annotations["comment"] != ack.Comment || !got[0].EndsAt.After(now) {
		t.Errorf("acknowledgement: %+v, want the problem's alert, still firing", got)
	}

	down, up := Sample(AgentDown), Sample(AgentUp)
	dl, ul := a.Alerts(down)[0].Labels, a.Alerts(up)[0].Labels
	if !reflect.DeepEqual(dl, map[string]string{"alertname": AlertAgentDown, "agent": "web-1", "severity": "critical"}) ||
		!reflect.DeepEqual(dl, ul) {
		t.Errorf("agent down %v, up %v", dl, ul)
	}
	// An agent down's acknowledgement continues the agent's alert.
	downAck := Sample(Acknowledgement)
	downAck.Schedule, downAck.Check, downAck.Status = "", "", StatusDown
	if al := a.Alerts(downAck)[0]; !reflect.DeepEqual(al.Labels, dl) || al.Annotations["acknowledged_by"] != "alice" || !al.EndsAt.After(now) {
		t.Errorf("agent down's acknowledgement: %+v, want the agent down's alert, still firing", al)
	}
	fs, fe := a.Alerts(Sample(FlappingStart))[0], a.Alerts(Sample(FlappingEnd))[0]
	if fs.Labels["alertname"] != AlertFlapping || !reflect.DeepEqual(fs.Labels, fe.Labels) || !fs.EndsAt.After(now) || fe.EndsAt.After(now) {
		t.Errorf("flapping %+v, then %+v", fs, fe)
	}

	if _, err := a.Refresh(context.Background(), rec); !errors.Is(err, ErrInvalid) {
		t.Errorf("refreshed a recovery: %v", err)
	}
}

// TestAlertmanagerReal pushes a problem to a real Alertmanager, sees it
// active with its labels and annotations, makes it worse, and sees it
// resolved by its recovery.
func TestAlertmanagerReal(t *testing.T) {
	url := alertmanagertest.Start(t)
	a := &Alertmanager{URL: url}
	defer a.CloseIdleConnections()
	at := time.Now().UTC().Truncate(time.Second)
	n := Sample(Problem)
	n.Status, n.Previous, n.Since, n.Time = "warning", "ok", at, at
	ans, err := a.Send(context.Background(), n)
	if err != nil {
		t.Fatalf("%v (answer %q)", err, ans)
	}
	if ans != "HTTP/1.1 200 OK" {
		t.Errorf("answer %q", ans)
	}
	labels := map[string]string{"alertname": "disk-root", "agent": "web-1", "schedule": "disk-root", "check": "disk", "severity": "warning"}
	active := func(want map[string]string) func() bool {
		return func() bool {
			got := alertmanagertest.Alerts(t, url)
			return len(got) == 1 && got[0].Status.State == "active" && reflect.DeepEqual(got[0].Labels, want)
		}
	}
	wait.Until(t, "the warning to be active", 10*time.Second, 20*time.Millisecond, active(labels))
	got := alertmanagertest.Alerts(t, url)[0]
	if got.Annotations["message"] != n.Message || got.Annotations["dashboard"] != n.Dashboard {
		t.Errorf("annotations %v", got.Annotations)
	}
	if !got.StartsAt.Equal(at) || got.EndsAt.Before(at.Add(DefaultHold-time.Minute)) || got.EndsAt.After(time.Now().Add(DefaultHold)) {
		t.Errorf("starts %s, ends %s: want %s, and %s ahead", got.StartsAt, got.EndsAt, at, DefaultHold)
	}
	if _, err := a.Refresh(context.Background(), n); err != nil {
		t.Fatal(err)
	}

	// Worse: the critical alert replaces the warning's.
	worse := n
	worse.Status, worse.Previous = "critical", "warning"
	if _, err := a.Send(context.Background(), worse); err != nil {
		t.Fatal(err)
	}
	labels["severity"] = "critical"
	wait.Until(t, "the critical alert alone", 10*time.Second, 20*time.Millisecond, active(labels))

	rec := worse
	rec.Kind, rec.Status, rec.Previous, rec.Time, rec.Since = Recovery, "ok", "critical", time.Now(), time.Now()
	if _, err := a.Send(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, "the alert to be resolved", 10*time.Second, 20*time.Millisecond, func() bool {
		return len(alertmanagertest.Alerts(t, url)) == 0
	})
}
