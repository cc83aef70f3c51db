package notify

import (
	"time"

	"github.com/equus-monitoring/equus/result"
)

// Sample returns a notification of kind k as helen would make it, with
// every field a kind has filled: the data on which ParseTemplate tries a
// template, and what a test notification looks like.
func Sample(k Kind) Notification {
	at := time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)
	v, crit := 97.5, 95.0
	n := Notification{
		ID: "n-0000000000000001", Kind: k, Agent: "web-1", Schedule: "disk-root", Check: "disk",
		Status: "critical", Previous: "ok", Message: "/ is 97.5% full",
		Metrics: []result.Metric{{Name: "used", Value: v, Unit: "%", Crit: &crit}},
		Since:   at, Time: at, Attempt: 1,
		Dashboard: "https://helen.example:7481/agents/web-1#disk-root",
		Delivery:  "d-0000000000000001-slack",
	}
	switch k {
	case Recovery:
		n.Status, n.Previous, n.Message = "ok", "critical", "/ is 61.0% full"
		n.Metrics[0].Value = 61
	case Acknowledgement:
		n.Author, n.Comment = "alice", "cleaning up the logs"
		n.Since = at.Add(-10 * time.Minute)
	case FlappingStart, FlappingEnd:
		n.Previous, n.Message = "critical", "/ is 94.9% full"
		n.Status = "ok"
	case AgentDown, AgentUp:
		n.Schedule, n.Check, n.Metrics = "", "", nil
		n.Status, n.Previous, n.Message = StatusDown, StatusUp, "no message from web-1 for 60s"
		if k == AgentUp {
			n.Status, n.Previous, n.Message = StatusUp, StatusDown, "web-1 is back"
		}
		n.Dashboard = "https://helen.example:7481/agents/web-1"
	case SessionStarted, SessionEnded:
		n.Schedule, n.Check, n.Metrics, n.Previous = "", "", nil, ""
		n.Status, n.Message = "session-started", "alice opened shell session 20250314T150926-1a2b3c as root: the login shell"
		n.Session = &Session{ID: "20250314T150926-1a2b3c", Who: "alice", User: "root"}
		if k == SessionEnded {
			d, status := 42.5, 0
			n.Status, n.Message = "session-ended", "shell session 20250314T150926-1a2b3c of alice as root (the login shell) ended after 42.5s: exit status 0"
			n.Session.Duration, n.Session.ExitStatus = &d, &status
		}
		n.Dashboard = "https://helen.example:7481/agents/web-1"
	case Test:
		n.Schedule, n.Check, n.Metrics, n.Previous = "", "", nil, ""
		n.Status, n.Message = "ok", "a test notification"
	}
	return n
}
