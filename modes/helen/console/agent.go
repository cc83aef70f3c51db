package console

import (
	"bytes"
	"errors"
	"html/template"
	"net/http"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/monitor"
	"github.com/equus-monitoring/equus/state"
)

// The agent's page, /agents/{name}: who it is, each of its schedules'
// status with a sparkline of its main metric, the silences over it, its
// newest events and notifications, and the actions on it.

const (
	agentEvents        = 20   // the newest events of the agent the page shows
	agentNotifications = 10   // and notifications
	maxScan            = 5000 // events a page reads at most to find those it shows
)

type agentPage struct {
	frame
	Agent    state.Agent
	Revoked  bool
	Down     bool
	Lines    []statusLine
	Silences []state.Silence
	Events   []state.Event
	Notes    []deliveryLine
	Token    *tokenShown // made by the action just taken, shown once
	Confirm  bool        // forget asked: the page asks to confirm
}

type tokenShown struct{ Token, Join string }

func (s *Console) agentPage(w http.ResponseWriter, r *http.Request, v viewer) {
	s.renderAgent(w, v, r.PathValue("name"), http.StatusOK, func(*agentPage) {})
}

// renderAgent renders the page of agent name, with what the action just
// taken adds to it.
func (s *Console) renderAgent(w http.ResponseWriter, v viewer, name string, code int, with func(*agentPage)) {
	a, err := s.store.Agent(name)
	if errors.Is(err, state.ErrNotFound) || err == nil && !a.Forgotten.IsZero() {
		s.render(w, http.StatusNotFound, "error", struct{ frame }{s.frame(v, "No such agent", "", "No agent called "+name+".")})
		return
	}
	if err != nil {
		s.fail(w, v, http.StatusInternalServerError, "agent", err)
		return
	}
	page := agentPage{frame: s.frame(v, name, "", ""), Agent: a}
	if page.Revoked, err = s.store.Revoked(name); err != nil {
		s.fail(w, v, http.StatusInternalServerError, "agent", err)
		return
	}
	var mine []monitor.StatusView
	for _, st := range s.backend.Statuses(true) {
		if st.Agent == name {
			mine = append(mine, st)
		}
	}
	lines, err := s.statusLines(mine, page.Now)
	if err != nil {
		s.fail(w, v, http.StatusInternalServerError, "alerting", err)
		return
	}
	down, err := s.store.AgentsDown()
	if err != nil {
		s.fail(w, v, http.StatusInternalServerError, "agents down", err)
		return
	}
	_, page.Down = down[name]
	for _, l := range lines {
		l.Spark = s.sparkline(name, l.Schedule, page.Now)
		page.Lines = append(page.Lines, l)
	}
	active, err := s.activeSilences(page.Now)
	if err != nil {
		s.fail(w, v, http.StatusInternalServerError, "silences", err)
		return
	}
	for _, sl := range active {
		if monitor.Covers(state.Silence{Agents: sl.Agents}, name, "") {
			page.Silences = append(page.Silences, sl)
		}
	}
	page.Events, _, err = s.events(func(e *state.Event) bool { return e.Agent == name }, state.Query{}, agentEvents)
	if err != nil {
		s.fail(w, v, http.StatusInternalServerError, "events", err)
		return
	}
	ns, _, err := s.store.Notifications(state.NotificationQuery{Query: state.Query{Limit: agentNotifications}, Agent: name})
	if err != nil {
		s.fail(w, v, http.StatusInternalServerError, "notifications", err)
		return
	}
	for _, n := range ns {
		page.Notes = append(page.Notes, deliveryLineOf(n))
	}
	with(&page)
	s.render(w, code, "agent", page)
}

// sparkline returns the sparkline of schedule's main metric on agent over
// the last sparklineSpan, "" when there is no grapher or no series.
func (s *Console) sparkline(agent, schedule string, now time.Time) template.HTML {
	if s.cfg.Graphs == nil || schedule == "" {
		return ""
	}
	names, err := s.cfg.Graphs.SeriesNames(agent, schedule)
	if err != nil || len(names) == 0 {
		return ""
	}
	var b bytes.Buffer
	if err := s.cfg.Graphs.Sparkline(&b, agent, schedule, names[0], now.Add(-sparklineSpan), now, sparklineWidth, sparklineHeight); err != nil {
		s.cfg.Log.Debug("console: sparkline", "agent", agent, "schedule", schedule, "err", err)
		return ""
	}
	// The grapher's SVG, escaped where it holds text (svgchart).
	return template.HTML(b.String())
}

// events returns up to want events that match, newest first, from the
// cursor of q, reading at most maxScan, and the cursor of the next page
// ("" for none).
func (s *Console) events(match func(*state.Event) bool, q state.Query, want int) ([]state.Event, string, error) {
	var out []state.Event
	scanned := 0
	for scanned < maxScan {
		q.Limit = min(500, maxScan-scanned)
		evs, cursors, err := s.store.EventsPage(q)
		if err != nil {
			return nil, "", err
		}
		for i := range evs {
			if match(&evs[i]) {
				out = append(out, evs[i])
				if len(out) == want {
					if i == len(evs)-1 && len(evs) < q.Limit {
						return out, "", nil
					}
					return out, cursors[i], nil
				}
			}
		}
		scanned += len(evs)
		if len(evs) < q.Limit {
			return out, "", nil
		}
		q.After = cursors[len(cursors)-1]
	}
	return out, q.After, nil
}
