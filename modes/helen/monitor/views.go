package monitor

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
)

// StatusView is a line of the status list, as the API, the helen
// commands and the dashboard show it: the status of a schedule on an
// agent, or for an agent down one line for the agent, its schedules
// folded under it (they say nothing new until it is back). Kind says
// which.
type StatusView struct {
	Kind string `json:"kind"`
	state.Status
	// Folded is how many schedules an agent down has folded under its
	// line (KindAgentDown).
	Folded int `json:"folded,omitempty"`
}

// The kinds of StatusView.
const (
	// KindSchedule is the status of a schedule on an agent not down.
	KindSchedule = "schedule"
	// KindAgentDown is an agent down: status unknown since it went down,
	// Schedule and Check "", Time its last result's.
	KindAgentDown = "agent_down"
	// KindFolded is, in the list unfolded (?all=true), a schedule on an
	// agent down: status unknown since it went down, Previous what its
	// last result said.
	KindFolded = "folded"
)

// statusViews turns stored statuses into the status list, worst first:
// one line for each agent down, with the number of its schedules, and
// with unfold a line for each of those too, saying unknown.
func statusViews(rows []state.Status, down map[string]time.Time, unfold bool) []StatusView {
	out := make([]StatusView, 0, len(rows))
	agents := map[string]*StatusView{}
	for _, st := range rows {
		since, ok := down[st.Agent]
		if !ok {
			out = append(out, StatusView{Kind: KindSchedule, Status: st})
			continue
		}
		a := agents[st.Agent]
		if a == nil {
			a = &StatusView{Kind: KindAgentDown, Status: state.Status{Agent: st.Agent, Status: string(result.Unknown), Since: since}}
			agents[st.Agent] = a
		}
		a.Folded++
		if st.Time.After(a.Time) {
			a.Time = st.Time
		}
		if unfold {
			out = append(out, StatusView{Kind: KindFolded, Status: state.Status{
				Agent: st.Agent, Schedule: st.Schedule, Check: st.Check, Status: string(result.Unknown), Since: since,
				Previous: st.Status, Message: downMessage(since), Time: st.Time,
			}})
		}
	}
	for _, a := range agents {
		schedules := "schedules"
		if a.Folded == 1 {
			schedules = "schedule"
		}
		a.Message = fmt.Sprintf("%s; %d %s folded", downMessage(a.Since), a.Folded, schedules)
		out = append(out, *a)
	}
	slices.SortFunc(out, func(a, b StatusView) int { return CompareKeys(KeyOf(a), KeyOf(b)) })
	return out
}

// downMessage is the message of the line of an agent down.
func downMessage(since time.Time) string {
	return "agent down since " + since.Local().Format(time.DateTime)
}

// severity orders statuses worst first: critical, warning, unknown, ok.
func severity(status string) int {
	switch result.Status(status) {
	case result.Critical:
		return 0
	case result.Warning:
		return 1
	case result.Unknown:
		return 2
	}
	return 3
}

// StatusKey is the place of a status in the list, worst first: its
// severity, agent and schedule.
type StatusKey struct {
	Severity        int
	Agent, Schedule string
}

// KeyOf returns the place of v in the list.
func KeyOf(v StatusView) StatusKey {
	return StatusKey{severity(v.Status.Status), v.Agent, v.Schedule}
}

// CompareKeys orders the places of statuses in the list.
func CompareKeys(a, b StatusKey) int {
	return cmp.Or(cmp.Compare(a.Severity, b.Severity), cmp.Compare(a.Agent, b.Agent), cmp.Compare(a.Schedule, b.Schedule))
}

// Covers reports whether silence s, in force or not, covers schedule on
// agent ("" for the agent itself, which only a silence of all its
// schedules covers), as the engine decides it.
func Covers(s state.Silence, agent, schedule string) bool {
	return match(s.Agents, agent) && coversSchedule(s, schedule)
}

// coversSchedule reports whether s covers schedule on an agent its
// Agents pattern matches.
func coversSchedule(s state.Silence, schedule string) bool {
	if schedule == "" {
		return s.Schedules == ""
	}
	return match(s.Schedules, schedule)
}
