package notify

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/equus-monitoring/equus/result"
)

// ResendEvery is how often the caller pushes a firing alert again while
// what it tells lasts (Alertmanager.Refresh).
const ResendEvery = time.Minute

// DefaultHold is how far ahead of now a firing alert's endsAt is set, as
// Prometheus does (four times its resend delay): an alert whose pushes
// stop resolves by itself then, and one or two missed pushes do not
// resolve it.
const DefaultHold = 4 * ResendEvery

// alertsPath is Alertmanager's API for pushing alerts, under its URL.
const alertsPath = "/api/v2/alerts"

// Alertmanager pushes notifications to an Alertmanager as alerts. A
// problem, an agent down and flapping fire with endsAt DefaultHold ahead
// and are to be pushed again every ResendEvery while they last (Refresh);
// their end (a recovery, an agent up, flapping ended) is pushed with
// endsAt its time, which resolves the alert.
type Alertmanager struct {
	// URL is Alertmanager's address ("http://am:9093", with a path
	// prefix if it has one).
	URL string
	// Hold is how far ahead a firing alert ends unless pushed again; 0
	// is DefaultHold.
	Hold time.Duration
	// Timeout bounds an attempt; 0 is DefaultTimeout.
	Timeout time.Duration
	// RootCAs verifies Alertmanager's certificate; nil is the system's
	// roots.
	RootCAs *x509.CertPool
	// Now is the clock of endsAt; nil is time.Now.
	Now func() time.Time

	once   sync.Once
	client *http.Client
}

// Alert is an alert as Alertmanager's API takes it.
type Alert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// The alertnames of the alerts that are not a schedule's problem, which
// is named after its schedule.
const (
	AlertAgentDown = "AgentDown"
	AlertFlapping  = "Flapping"
	AlertTest      = "EquusTest"
	// AlertShellSession is a shell session's start or end: an alert
	// that starts and ends at its time, a record rather than a page.
	AlertShellSession = "ShellSession"
)

// Send pushes the alerts of n (Alerts).
func (a *Alertmanager) Send(ctx context.Context, n Notification) (string, error) {
	if err := n.Validate(); err != nil {
		return "", err
	}
	u, err := checkURL(a.URL)
	if err != nil {
		return "", permanent(fmt.Errorf("alertmanager: %w", err))
	}
	body, err := json.Marshal(a.Alerts(n))
	if err != nil {
		return "", permanent(fmt.Errorf("alertmanager %s: %w", redact(u), err))
	}
	a.once.Do(func() { a.client = newHTTPClient(a.RootCAs) })
	ctx, cancel := context.WithTimeout(ctx, timeout(a.Timeout))
	defer cancel()
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "equus-helen")
	to := strings.TrimSuffix(u.String(), "/") + alertsPath
	ans, err := post(ctx, a.client, to, body, h)
	if err != nil {
		return ans, fmt.Errorf("alertmanager %s: %w", redact(u), err)
	}
	return ans, nil
}

// Refresh pushes again the alert of n, the last notification of
// something that still fires (n.Kind.Firing(): a problem or its
// acknowledgement, an agent down, flapping), with its end moved Hold
// ahead of now. The caller calls it every ResendEvery until what n told
// ends, and then sends that end's notification.
func (a *Alertmanager) Refresh(ctx context.Context, n Notification) (string, error) {
	if !n.Kind.Firing() {
		return "", fmt.Errorf("%w: a %s notification does not fire", ErrInvalid, n.Kind)
	}
	return a.Send(ctx, n)
}

// Alerts returns the alerts that Send pushes for n. A firing kind makes
// its alert with endsAt Hold ahead of now; an ending kind the same
// alert (the same labels) with endsAt its time. A problem that goes from
// one problem status to another ends the alert of the status before, as
// severity is a label.
func (a *Alertmanager) Alerts(n Notification) []Alert {
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	hold := a.Hold
	if hold <= 0 {
		hold = DefaultHold
	}
	al := Alert{
		Labels:       alertLabels(n),
		Annotations:  map[string]string{"summary": n.Headline(), "message": n.Message},
		StartsAt:     n.Since,
		GeneratorURL: n.Dashboard,
	}
	if n.Dashboard != "" {
		al.Annotations["dashboard"] = n.Dashboard
	}
	if n.Kind == Acknowledgement {
		al.Annotations["acknowledged_by"] = n.Author
		al.Annotations["comment"] = n.Comment
	}
	if n.Kind.Firing() {
		al.EndsAt = now().Add(hold)
	} else {
		al.StartsAt, al.EndsAt = n.Time, n.Time
	}
	out := []Alert{al}
	if n.Kind == Problem && isProblem(n.Previous) && n.Previous != n.Status {
		old := al
		old.Labels = alertLabels(Notification{Kind: Recovery, Agent: n.Agent, Schedule: n.Schedule, Check: n.Check, Previous: n.Previous})
		old.StartsAt, old.EndsAt = n.Time, n.Time
		out = append(out, old)
	}
	return out
}

// isProblem reports whether status is a schedule's problem.
func isProblem(status string) bool {
	switch result.Status(status) {
	case result.Warning, result.Critical, result.Unknown:
		return true
	}
	return false
}

// alertLabels returns the labels of n's alert: alertname, agent,
// schedule and check (for a schedule's kinds), severity. A recovery's
// severity is that of the problem it ends (its previous status), so that
// it ends the same alert.
func alertLabels(n Notification) map[string]string {
	l := map[string]string{"agent": n.Agent}
	if n.Schedule != "" {
		l["schedule"], l["check"] = n.Schedule, n.Check
	}
	switch {
	case n.Kind == AgentDown || n.Kind == AgentUp || (n.Kind == Acknowledgement && n.Schedule == ""):
		// An agent down's acknowledgement is its alert's.
		l["alertname"], l["severity"] = AlertAgentDown, "critical"
	case n.Kind == FlappingStart || n.Kind == FlappingEnd:
		l["alertname"], l["severity"] = AlertFlapping, "warning"
	case n.Kind == Test:
		l["alertname"], l["severity"] = AlertTest, "none"
	case n.Kind == SessionStarted || n.Kind == SessionEnded:
		l["alertname"], l["severity"] = AlertShellSession, "none"
	case n.Kind == Recovery:
		l["alertname"], l["severity"] = n.Schedule, n.Previous
	default:
		l["alertname"], l["severity"] = n.Schedule, n.Status
	}
	for k, v := range l {
		if v == "" {
			delete(l, k) // Alertmanager takes an empty label for none
		}
	}
	return l
}

// CloseIdleConnections closes the connections kept for the next pushes,
// for an Alertmanager no longer used.
func (a *Alertmanager) CloseIdleConnections() {
	a.once.Do(func() { a.client = newHTTPClient(a.RootCAs) })
	a.client.CloseIdleConnections()
}
