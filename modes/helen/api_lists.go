package helen

import (
	"cmp"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/equus-monitoring/equus/state"
)

// The list endpoints of the API, each a page at a time (page.go).

func (s *Server) handleAgents(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r)
	if err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}
	from, err := parseNameCursor(q.cursor)
	if err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}
	agents, err := s.db.AgentsPage(from, q.limit+1)
	if err == nil {
		var views []AgentView
		if views, err = viewAgents(s.db, agents); err == nil {
			page{n: len(views), limit: q.limit,
				item:   func(i int) any { return views[i] },
				cursor: func(i int) string { return nameCursor(views[i].Name) },
			}.write(w, r)
			return
		}
	}
	httpError(w, http.StatusInternalServerError, "%v", err)
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r)
	if err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}
	unfold, err := boolParam(r, "all")
	if err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}
	views := s.Statuses(unfold)
	start := 0
	if q.cursor != "" {
		key, err := parseStatusCursor(q.cursor)
		if err != nil {
			httpError(w, http.StatusBadRequest, "%v", err)
			return
		}
		start = after(views, key, func(v StatusView, k statusKey) int { return compareStatusKeys(keyOfStatus(v), k) })
	}
	views = views[start:min(len(views), start+q.limit+1)]
	page{n: len(views), limit: q.limit,
		item:   func(i int) any { return views[i] },
		cursor: func(i int) string { return statusCursor(keyOfStatus(views[i])) },
	}.write(w, r)
}

func (s *Server) handleHistory(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r)
	if err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}
	v := r.URL.Query()
	agent := v.Get("agent")
	if agent == "" {
		httpError(w, http.StatusBadRequest, "history needs ?agent=NAME")
		return
	}
	f := state.Filter{Check: v.Get("check"), Schedule: v.Get("schedule"), Name: v.Get("name")}
	rs, cursors, err := s.db.HistoryPage(agent, f, q.stateQuery())
	if err != nil {
		httpError(w, listErrorCode(err), "%v", err)
		return
	}
	page{n: len(rs), limit: q.limit,
		item:   func(i int) any { return rs[i] },
		cursor: func(i int) string { return cursors[i] },
	}.write(w, r)
}

func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r)
	if err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}
	evs, cursors, err := s.db.EventsPage(q.stateQuery())
	if err != nil {
		httpError(w, listErrorCode(err), "%v", err)
		return
	}
	page{n: len(evs), limit: q.limit, reverse: true,
		item:   func(i int) any { return evs[i] },
		cursor: func(i int) string { return cursors[i] },
	}.write(w, r)
}

func (s *Server) handleSchedules(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r)
	if err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}
	from, err := parseNameCursor(q.cursor)
	if err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}
	ss := s.Schedules()
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

// statusKey is the place of a status in the list, worst first: its
// severity, agent and schedule.
type statusKey struct {
	severity        int
	agent, schedule string
}

func keyOfStatus(v StatusView) statusKey {
	return statusKey{severity(v.Status.Status), v.Agent, v.Schedule}
}

func compareStatusKeys(a, b statusKey) int {
	return cmp.Or(cmp.Compare(a.severity, b.severity), cmp.Compare(a.agent, b.agent), cmp.Compare(a.schedule, b.schedule))
}

// statusCursor is a statusKey in base64url: its severity as a digit, then
// agent and schedule, each after a NUL (names never hold one).
func statusCursor(k statusKey) string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%d\x00%s\x00%s", k.severity, k.agent, k.schedule))
}

func parseStatusCursor(c string) (statusKey, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	parts := strings.Split(string(b), "\x00")
	if err != nil || len(parts) != 3 || len(parts[0]) != 1 || parts[0][0] < '0' || parts[0][0] > '3' {
		return statusKey{}, fmt.Errorf("bad cursor %q", c)
	}
	return statusKey{int(parts[0][0] - '0'), parts[1], parts[2]}, nil
}
