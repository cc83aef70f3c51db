package helen

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/monitor"
	"github.com/equus-monitoring/equus/state"
)

// The operators' JSON API, under /v1/ on the operators' port (behind the
// admin token) and on the admin socket (behind the socket's mode). Every
// endpoint, its parameters and the fields of its documents are described
// in docs/API.md, which TestAPIDoc holds to what the code serves. The
// lists come in pages (page.go). Times in queries are RFC 3339 or a
// duration back from now ("1h"). Errors are {"error": "..."}.

// apiRoute is an endpoint of the API.
type apiRoute struct {
	method, path string
	// params are the query parameters it takes: a request with another
	// is refused, so that a filter it does not know never passes for one
	// it applied.
	params []string
	handle http.HandlerFunc
}

// The parameters of every list, of the lists in time, and of the history.
var (
	pageParams    = []string{"cursor", "limit"}
	timeParams    = []string{"since", "until", "cursor", "limit"}
	historyParams = append([]string{"agent", "check", "schedule", "name"}, timeParams...)
)

// apiRoutes returns the endpoints of the API.
func (s *Server) apiRoutes() []apiRoute {
	return []apiRoute{
		{"GET", "/v1/agents", pageParams, s.handleAgents},
		{"GET", "/v1/status", append([]string{"all"}, pageParams...), s.handleStatus},
		{"GET", "/v1/history", historyParams, s.handleHistory},
		{"GET", "/v1/events", timeParams, s.handleEvents},
		{"GET", "/v1/schedules", pageParams, s.handleSchedules},
		{"POST", "/v1/schedules", nil, s.handlePutSchedule},
		{"GET", "/v1/schedules/{name}", nil, s.handleGetSchedule},
		{"DELETE", "/v1/schedules/{name}", nil, s.handleDeleteSchedule},
	}
}

func (s *Server) apiHandler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.apiRoutes() {
		mux.HandleFunc(rt.method+" "+rt.path, onlyParams(rt))
	}
	mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		httpError(w, http.StatusNotFound, "no such endpoint: %s %s", r.Method, r.URL.Path)
	})
	return mux
}

// onlyParams refuses a request to rt with a query parameter it does not
// take, or with one given twice.
func onlyParams(rt apiRoute) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for name, vs := range r.URL.Query() {
			if !slices.Contains(rt.params, name) {
				takes := "none"
				if len(rt.params) > 0 {
					takes = strings.Join(rt.params, ", ")
				}
				httpError(w, http.StatusBadRequest, "unknown parameter %q: %s %s takes %s", name, rt.method, rt.path, takes)
				return
			}
			if len(vs) > 1 {
				httpError(w, http.StatusBadRequest, "parameter %q given %d times", name, len(vs))
				return
			}
		}
		rt.handle(w, r)
	}
}

func (s *Server) handleGetSchedule(w http.ResponseWriter, r *http.Request) {
	sch, err := s.db.Schedule(r.PathValue("name"))
	if errors.Is(err, state.ErrNotFound) {
		httpError(w, http.StatusNotFound, "%v: %s", monitor.ErrNoSchedule, r.PathValue("name"))
		return
	}
	if err != nil {
		httpError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, viewOf(sch))
}

func (s *Server) handlePutSchedule(w http.ResponseWriter, r *http.Request) {
	var v ScheduleView
	if !decode(w, r, &v) {
		return
	}
	sch, err := s.putRequest(v.schedule())
	if err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, viewOf(sch))
}

func (s *Server) handleDeleteSchedule(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	err := s.DeleteSchedule(name)
	switch {
	case errors.Is(err, monitor.ErrNoSchedule):
		httpError(w, http.StatusNotFound, "%v", err)
	case err != nil:
		httpError(w, http.StatusInternalServerError, "%v", err)
	default:
		writeJSON(w, http.StatusOK, map[string]string{"deleted": name})
	}
}

// listQuery is the since, until, cursor and limit of a list request.
type listQuery struct {
	since, until time.Time
	cursor       string
	limit        int
}

func parseQuery(r *http.Request) (listQuery, error) {
	v := r.URL.Query()
	now := time.Now()
	q := listQuery{cursor: v.Get("cursor")}
	var err error
	if q.since, err = parseTime(v.Get("since"), now); err != nil {
		return q, fmt.Errorf("since: %w", err)
	}
	if q.until, err = parseTime(v.Get("until"), now); err != nil {
		return q, fmt.Errorf("until: %w", err)
	}
	q.limit, err = pageLimit(v)
	return q, err
}

// stateQuery is q as the store takes it, for a page of q.limit and one
// more, which says that more follow.
func (q listQuery) stateQuery() state.Query {
	return state.Query{Since: q.since, Until: q.until, Limit: q.limit + 1, After: q.cursor}
}

// parseTime reads an RFC 3339 time, or a duration back from now ("1h");
// "" is the zero time, no bound.
func parseTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(strings.TrimPrefix(s, "-")); err == nil {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a duration such as 1h", s)
	}
	return t, nil
}
