package web

import (
	"cmp"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/equus-monitoring/equus/modes/helen/monitor"
	"github.com/equus-monitoring/equus/modes/helen/reply"
	"github.com/equus-monitoring/equus/state"
)

// The list endpoints of the API, each a page at a time (page.go).

func (a *api) handleAgents(w http.ResponseWriter, r *http.Request) {
	q, from, ok := nameQuery(w, r)
	if !ok {
		return
	}
	agents, err := a.store.AgentsPage(from, q.limit+1)
	if err == nil {
		var views []AgentView
		if views, err = viewAgents(a.store, agents); err == nil {
			page{n: len(views), limit: q.limit,
				item:   func(i int) any { return views[i] },
				cursor: func(i int) string { return nameCursor(views[i].Name) },
			}.write(w, r)
			return
		}
	}
	reply.Error(w, http.StatusInternalServerError, "%v", err)
}

func (a *api) handleStatus(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r)
	if err != nil {
		reply.Error(w, http.StatusBadRequest, "%v", err)
		return
	}
	unfold, err := boolParam(r, "all")
	if err != nil {
		reply.Error(w, http.StatusBadRequest, "%v", err)
		return
	}
	views := a.backend.Statuses(unfold)
	start := 0
	if q.cursor != "" {
		key, err := parseStatusCursor(q.cursor)
		if err != nil {
			reply.Error(w, http.StatusBadRequest, "%v", err)
			return
		}
		start = after(views, key, func(v monitor.StatusView, k monitor.StatusKey) int { return monitor.CompareKeys(monitor.KeyOf(v), k) })
	}
	views = views[start:min(len(views), start+q.limit+1)]
	page{n: len(views), limit: q.limit,
		item:   func(i int) any { return views[i] },
		cursor: func(i int) string { return statusCursor(monitor.KeyOf(views[i])) },
	}.write(w, r)
}

func (a *api) handleHistory(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r)
	if err != nil {
		reply.Error(w, http.StatusBadRequest, "%v", err)
		return
	}
	v := r.URL.Query()
	agent := v.Get("agent")
	if agent == "" {
		reply.Error(w, http.StatusBadRequest, "history needs ?agent=NAME")
		return
	}
	f := state.Filter{Check: v.Get("check"), Schedule: v.Get("schedule"), Name: v.Get("name")}
	rs, cursors, err := a.store.HistoryPage(agent, f, q.stateQuery())
	if err != nil {
		reply.Error(w, listErrorCode(err), "%v", err)
		return
	}
	page{n: len(rs), limit: q.limit,
		item:   func(i int) any { return rs[i] },
		cursor: func(i int) string { return cursors[i] },
	}.write(w, r)
}

func (a *api) handleEvents(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r)
	if err != nil {
		reply.Error(w, http.StatusBadRequest, "%v", err)
		return
	}
	evs, cursors, err := a.store.EventsPage(q.stateQuery())
	if err != nil {
		reply.Error(w, listErrorCode(err), "%v", err)
		return
	}
	page{n: len(evs), limit: q.limit, reverse: true,
		item:   func(i int) any { return evs[i] },
		cursor: func(i int) string { return cursors[i] },
	}.write(w, r)
}

func (a *api) handleSchedules(w http.ResponseWriter, r *http.Request) {
	q, from, ok := nameQuery(w, r)
	if !ok {
		return
	}
	ss := a.backend.Schedules()
	start := after(ss, from, func(sch state.Schedule, name string) int { return cmp.Compare(sch.Name, name) })
	ss = ss[start:min(len(ss), start+q.limit+1)]
	page{n: len(ss), limit: q.limit,
		item:   func(i int) any { return viewOf(ss[i]) },
		cursor: func(i int) string { return nameCursor(ss[i].Name) },
	}.write(w, r)
}

// boolParam reads a parameter that is true or false (1 or 0); absent, it
// is false.
func boolParam(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s %q: want true or false", name, v)
	}
	return b, nil
}

// listErrorCode is the HTTP status of a store's error reading a list: a
// bad cursor is the client's.
func listErrorCode(err error) int {
	if errors.Is(err, state.ErrInvalid) {
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

// statusCursor is a monitor.StatusKey in base64url: its severity as a digit, then
// agent and schedule, each after a NUL (names never hold one).
func statusCursor(k monitor.StatusKey) string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%d\x00%s\x00%s", k.Severity, k.Agent, k.Schedule))
}

func parseStatusCursor(c string) (monitor.StatusKey, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	parts := strings.Split(string(b), "\x00")
	if err != nil || len(parts) != 3 || len(parts[0]) != 1 || parts[0][0] < '0' || parts[0][0] > '3' {
		return monitor.StatusKey{}, fmt.Errorf("bad cursor %q", c)
	}
	return monitor.StatusKey{Severity: int(parts[0][0] - '0'), Agent: parts[1], Schedule: parts[2]}, nil
}
