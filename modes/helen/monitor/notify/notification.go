package notify

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/equus-monitoring/equus/result"
)

// Kind says what a notification tells.
type Kind string

// The kinds of notification.
const (
	// Problem: a schedule on an agent became warning, critical or
	// unknown, or went from one of these to another.
	Problem Kind = "problem"
	// Recovery: a schedule on an agent is ok again after a problem.
	Recovery Kind = "recovery"
	// Acknowledgement: someone took a problem (Author, Comment): a
	// schedule's, or an agent down (no Schedule).
	Acknowledgement Kind = "acknowledgement"
	// FlappingStart: a schedule on an agent started flapping; nothing
	// more is told of it until FlappingEnd.
	FlappingStart Kind = "flapping_start"
	FlappingEnd   Kind = "flapping_end"
	// AgentDown: an agent is down, one notification for all its
	// schedules; AgentUp: it is back.
	AgentDown Kind = "agent_down"
	AgentUp   Kind = "agent_up"
	// SessionStarted and SessionEnded: a shell session on an agent
	// started or ended (Session says whose, and how it ended).
	SessionStarted Kind = "session_started"
	SessionEnded   Kind = "session_ended"
	// Test: sent on request, to see that a receiver works.
	Test Kind = "test"
)

// Kinds lists every kind, in the order the documentation gives them.
var Kinds = []Kind{Problem, Recovery, Acknowledgement, FlappingStart, FlappingEnd, AgentDown, AgentUp, SessionStarted, SessionEnded, Test}

// Valid reports whether k is one of Kinds.
func (k Kind) Valid() bool {
	for _, v := range Kinds {
		if k == v {
			return true
		}
	}
	return false
}

// Firing reports whether k starts or continues something that lasts until
// a later notification ends it: a problem (or its acknowledgement),
// flapping, an agent down. Alertmanager is told these with an end ahead,
// and told them again while they last.
func (k Kind) Firing() bool {
	switch k {
	case Problem, Acknowledgement, FlappingStart, AgentDown:
		return true
	}
	return false
}

// The statuses of an agent in AgentDown and AgentUp notifications; a
// schedule's are result.Status's.
const (
	StatusDown = "down"
	StatusUp   = "up"
)

// Notification is what a receiver is told. Its JSON form is the webhook's
// body, the program's standard input and the template's data; each field
// is described in docs/NOTIFICATIONS.md.
type Notification struct {
	ID        string          `json:"id"`
	Kind      Kind            `json:"kind"`
	Agent     string          `json:"agent"`
	Schedule  string          `json:"schedule,omitempty"`
	Check     string          `json:"check,omitempty"`
	Status    string          `json:"status"`
	Previous  string          `json:"previous,omitempty"`
	Message   string          `json:"message"`
	Metrics   []result.Metric `json:"metrics,omitempty"`
	Since     time.Time       `json:"since"`
	Time      time.Time       `json:"time"`
	Attempt   int             `json:"attempt"`
	Author    string          `json:"author,omitempty"`
	Comment   string          `json:"comment,omitempty"`
	Dashboard string          `json:"dashboard,omitempty"`
	Session   *Session        `json:"session,omitempty"`
	Delivery  string          `json:"delivery"`
}

// Session is a shell session's notification's account of it: who opened
// it, as which local user ("" the agent's own), to run what (none: the
// user's login shell), and at its end how long it lasted (in seconds)
// and how it ended: the exit status when the command exited, the signal
// that killed it, or what ended it otherwise.
type Session struct {
	ID         string   `json:"id"`
	Who        string   `json:"who"`
	User       string   `json:"user,omitempty"`
	Command    []string `json:"command,omitempty"`
	Duration   *float64 `json:"duration,omitempty"`
	ExitStatus *int     `json:"exit_status,omitempty"`
	Signal     string   `json:"signal,omitempty"`
	Error      string   `json:"error,omitempty"`
}

// ErrInvalid is the error of a notification that no receiver can send: a
// bug of its maker, never worth a retry.
var ErrInvalid = errors.New("notify: invalid notification")

// Validate reports what keeps n from being sent: an unknown kind, no
// agent (but for a test), id or delivery id, no time, or a schedule's kind without its
// schedule (an acknowledgement may have none: it is of an agent down).
func (n Notification) Validate() error {
	bad := func(what string) error { return fmt.Errorf("%w: %s", ErrInvalid, what) }
	switch {
	case !n.Kind.Valid():
		return bad(fmt.Sprintf("kind %q", n.Kind))
	case n.ID == "":
		return bad("no id")
	case n.Delivery == "":
		return bad("no delivery id")
	case n.Agent == "" && n.Kind != Test:
		return bad("no agent")
	case n.Time.IsZero():
		return bad("no time")
	case n.Status == "":
		return bad("no status")
	}
	switch n.Kind {
	case Problem, Recovery, FlappingStart, FlappingEnd:
		if n.Schedule == "" {
			return bad(fmt.Sprintf("%s without a schedule", n.Kind))
		}
	case SessionStarted, SessionEnded:
		if n.Session == nil {
			return bad(fmt.Sprintf("%s without its session", n.Kind))
		}
	}
	return nil
}

// Headline is n in a line: what it tells, of which schedule on which
// agent ("CRITICAL: disk-root on web-1"). It is an email's subject, and
// templates may use it ({{.Headline}}).
func (n Notification) Headline() string {
	what := n.Agent
	if n.Schedule != "" {
		what = n.Schedule + " on " + n.Agent
	}
	switch n.Kind {
	case Recovery:
		return fmt.Sprintf("RECOVERED: %s is %s", what, n.Status)
	case Acknowledgement:
		by := ""
		if n.Author != "" {
			by = " by " + n.Author
		}
		return fmt.Sprintf("ACKNOWLEDGED: %s (%s)%s", what, n.Status, by)
	case FlappingStart:
		return fmt.Sprintf("FLAPPING: %s", what)
	case FlappingEnd:
		return fmt.Sprintf("FLAPPING ENDED: %s is %s", what, n.Status)
	case SessionStarted:
		return fmt.Sprintf("SHELL SESSION: %s opened one on %s", n.Session.Who, n.Agent)
	case SessionEnded:
		return fmt.Sprintf("SHELL SESSION ENDED: %s's on %s", n.Session.Who, n.Agent)
	case Test:
		return "TEST: " + n.Message
	}
	return fmt.Sprintf("%s: %s", strings.ToUpper(n.Status), what)
}
