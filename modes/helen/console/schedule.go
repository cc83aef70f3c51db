package console

import (
	"bytes"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/monitor"
	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
)

// The page of a schedule on an agent, /agents/{name}/schedules/{schedule}:
// its status (soft or hard, n of N, flapping), its silence and
// acknowledgement, a graph of each metric over the range asked for
// (range=1h, 6h, 24h, 7d or 30d; 24h by default) with the newest
// result's thresholds, and its history in pages (cursor, per).

const historyPer = 50

type schedulePage struct {
	frame
	Agent, Schedule string
	Line            *statusLine
	Def             *state.Schedule
	Range           string
	Ranges          []string
	Graphs          []template.HTML
	History         []state.Result
	Cursor, Next    string
	Ran             *result.Doc // the result of "run now", just taken
	RanError        string
}

func (s *Console) schedulePage(w http.ResponseWriter, r *http.Request, v viewer) {
	s.renderSchedule(w, r, v, http.StatusOK, func(*schedulePage) {})
}

func (s *Console) renderSchedule(w http.ResponseWriter, r *http.Request, v viewer, code int, with func(*schedulePage)) {
	agent, schedule := r.PathValue("name"), r.PathValue("schedule")
	q := r.URL.Query()
	page := schedulePage{frame: s.frame(v, schedule+" on "+agent, "", ""), Agent: agent, Schedule: schedule,
		Range: q.Get("range"), Cursor: q.Get("cursor")}
	for _, rg := range Ranges {
		page.Ranges = append(page.Ranges, rg.Name)
	}
	span := 24 * time.Hour
	if page.Range == "" {
		page.Range = "24h"
	}
	found := false
	for _, rg := range Ranges {
		if rg.Name == page.Range {
			span, found = rg.Span, true
		}
	}
	if !found {
		page.Error, page.Range, code = "A range is 1h, 6h, 24h, 7d or 30d.", "24h", http.StatusBadRequest
	}
	if def, err := s.store.Schedule(schedule); err == nil {
		page.Def = &def
	} else if !errors.Is(err, state.ErrNotFound) {
		s.fail(w, v, http.StatusInternalServerError, "schedule", err)
		return
	}
	for _, st := range s.backend.Statuses(true) {
		if st.Agent == agent && st.Schedule == schedule {
			lines, err := s.statusLines([]monitor.StatusView{st}, page.Now)
			if err != nil {
				s.fail(w, v, http.StatusInternalServerError, "alerting", err)
				return
			}
			page.Line = &lines[0]
			break
		}
	}
	if page.Line == nil && page.Def == nil {
		s.render(w, http.StatusNotFound, "error", struct{ frame }{s.frame(v, "No such schedule", "", "No schedule "+schedule+" on "+agent+".")})
		return
	}
	per := historyPer
	hist, cursors, err := s.store.HistoryPage(agent, state.Filter{Schedule: schedule}, state.Query{Limit: per + 1, After: page.Cursor})
	if errors.Is(err, state.ErrInvalid) {
		page.Error, code = "No such page: a cursor is one of this page's links.", http.StatusBadRequest
		hist, cursors, err = s.store.HistoryPage(agent, state.Filter{Schedule: schedule}, state.Query{Limit: per + 1})
	}
	if err != nil {
		s.fail(w, v, http.StatusInternalServerError, "history", err)
		return
	}
	if len(hist) > per {
		hist, page.Next = hist[:per], cursors[per-1]
	}
	page.History = hist
	if s.cfg.Graphs != nil {
		var newest []state.Metric
		if len(hist) > 0 && page.Cursor == "" {
			newest = hist[0].Metrics
		}
		page.Graphs = s.graphs(agent, schedule, newest, page.Now.Add(-span), page.Now)
	}
	with(&page)
	s.render(w, code, "schedule", page)
}

// graphs draws each metric of the schedule on agent over [from, to), with
// the thresholds of newest, the newest result's metrics.
func (s *Console) graphs(agent, schedule string, newest []state.Metric, from, to time.Time) []template.HTML {
	names, err := s.cfg.Graphs.SeriesNames(agent, schedule)
	if err != nil {
		s.cfg.Log.Debug("console: series names", "agent", agent, "schedule", schedule, "err", err)
		return nil
	}
	var out []template.HTML
	for _, name := range names {
		g := Graph{Agent: agent, Schedule: schedule, Metric: name, Title: name, From: from, To: to, Width: graphWidth, Height: graphHeight}
		for _, m := range newest {
			if m.Name == name {
				g.Unit, g.Warn, g.Crit = m.Unit, m.Warn, m.Crit
			}
		}
		var b bytes.Buffer
		if err := s.cfg.Graphs.Graph(&b, g); err != nil {
			s.cfg.Log.Debug("console: graph", "agent", agent, "schedule", schedule, "metric", name, "err", err)
			continue
		}
		out = append(out, template.HTML(b.String()))
	}
	return out
}

// scheduleLink is the page of schedule on agent, with query q.
func scheduleLink(agent, schedule string, q url.Values) string {
	u := "/agents/" + url.PathEscape(agent) + "/schedules/" + url.PathEscape(schedule)
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}
