package web

import (
	"time"

	"github.com/equus-monitoring/equus/state"
)

// RouteView is a route as the API and the helen commands read and write
// it, with durations as Go durations ("1h"). In a request, only Name and
// Receivers are needed.
type RouteView struct {
	Name       string         `json:"name"`
	Receivers  []ReceiverView `json:"receivers"`
	Agents     string         `json:"agents,omitempty"`
	Schedules  string         `json:"schedules,omitempty"`
	Statuses   []string       `json:"statuses,omitempty"`
	Renotify   Duration       `json:"renotify"`
	NoRecovery bool           `json:"no_recovery"`
	Created    time.Time      `json:"created"`
	Updated    time.Time      `json:"updated"`
}

// ReceiverView is a route's receiver: Kind, and the member of that name.
type ReceiverView struct {
	Kind         string                      `json:"kind"`
	Webhook      *WebhookView                `json:"webhook,omitempty"`
	Alertmanager *state.AlertmanagerReceiver `json:"alertmanager,omitempty"`
	Email        *state.EmailReceiver        `json:"email,omitempty"`
	Exec         *ExecView                   `json:"exec,omitempty"`
}

// WebhookView is state.WebhookReceiver with its timeout a Duration.
type WebhookView struct {
	URL        string   `json:"url"`
	Template   string   `json:"template,omitempty"`
	SecretFile string   `json:"secret_file,omitempty"`
	Timeout    Duration `json:"timeout,omitempty"`
}

// ExecView is state.ExecReceiver with its timeout a Duration.
type ExecView struct {
	Program string   `json:"program"`
	Timeout Duration `json:"timeout,omitempty"`
}

// RouteViewOf is the view of r.
func RouteViewOf(r state.Route) RouteView {
	v := RouteView{Name: r.Name, Agents: r.Agents, Schedules: r.Schedules, Statuses: r.Statuses,
		Renotify: Duration(r.Renotify), NoRecovery: r.NoRecovery, Created: r.Created, Updated: r.Updated,
		Receivers: make([]ReceiverView, len(r.Receivers))}
	for i, rc := range r.Receivers {
		rv := ReceiverView{Kind: rc.Kind, Alertmanager: rc.Alertmanager, Email: rc.Email}
		if w := rc.Webhook; w != nil {
			rv.Webhook = &WebhookView{URL: w.URL, Template: w.Template, SecretFile: w.SecretFile, Timeout: Duration(w.Timeout)}
		}
		if e := rc.Exec; e != nil {
			rv.Exec = &ExecView{Program: e.Program, Timeout: Duration(e.Timeout)}
		}
		v.Receivers[i] = rv
	}
	return v
}

// Route is the route v describes.
func (v RouteView) Route() state.Route {
	r := state.Route{Name: v.Name, Agents: v.Agents, Schedules: v.Schedules, Statuses: v.Statuses,
		Renotify: time.Duration(v.Renotify), NoRecovery: v.NoRecovery,
		Receivers: make([]state.Receiver, len(v.Receivers))}
	for i, rv := range v.Receivers {
		rc := state.Receiver{Kind: rv.Kind, Alertmanager: rv.Alertmanager, Email: rv.Email}
		if w := rv.Webhook; w != nil {
			rc.Webhook = &state.WebhookReceiver{URL: w.URL, Template: w.Template, SecretFile: w.SecretFile, Timeout: time.Duration(w.Timeout)}
		}
		if e := rv.Exec; e != nil {
			rc.Exec = &state.ExecReceiver{Program: e.Program, Timeout: time.Duration(e.Timeout)}
		}
		r.Receivers[i] = rc
	}
	return r
}

// RouteTest is the answer of POST /v1/routes/{name}/test: what each of the
// route's receivers answered to a test notification, in the route's order.
type RouteTest struct {
	Route   string       `json:"route"`
	Answers []TestAnswer `json:"answers"`
}

// TestAnswer is what one receiver answered: its answer (a status line and
// the start of what came with it), and the error when it failed.
type TestAnswer struct {
	Receiver string `json:"receiver"` // its kind and address, as a line
	Answer   string `json:"answer"`
	Error    string `json:"error,omitempty"`
}

// SilenceRequest is the body of POST /v1/silences: the silence to add,
// from Start (default now) until End.
type SilenceRequest struct {
	Agents          string    `json:"agents"`
	Schedules       string    `json:"schedules,omitempty"`
	Start           time.Time `json:"start,omitzero"`
	End             time.Time `json:"end"`
	Comment         string    `json:"comment"`
	Author          string    `json:"author,omitempty"`
	ExpireOnResolve bool      `json:"expire_on_resolve,omitempty"`
}

// AckRequest is the body of POST /v1/acks.
type AckRequest struct {
	Agent    string `json:"agent"`
	Schedule string `json:"schedule"`
	Comment  string `json:"comment"`
	Author   string `json:"author,omitempty"`
}
