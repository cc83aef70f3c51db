package helen

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/equus-monitoring/equus/state"
)

// The operators' JSON API, under /v1/ on the operators' port (behind the
// admin token) and on the admin socket (behind the socket's mode), which
// serves it alone: the helen commands use it. Every endpoint, its
// parameters and the fields of its documents are described in
// docs/API.md, which TestAPIDoc holds to what the code serves. The lists
// come in pages (page.go). Times in queries are RFC 3339 or a duration
// back from now ("1h"). Errors are {"error": "..."}.

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

// apiRoutes returns the endpoints of the API, whose runs take at most
// runMax (0: as long as asked).
func (s *Server) apiRoutes(runMax time.Duration) []apiRoute {
	return []apiRoute{
		{"GET", "/v1/agents", pageParams, s.handleAgents},
		{"GET", "/v1/status", append([]string{"all"}, pageParams...), s.handleStatus},
		{"GET", "/v1/history", historyParams, s.handleHistory},
		{"GET", "/v1/events", timeParams, s.handleEvents},
		{"GET", "/v1/schedules", pageParams, s.handleSchedules},
		{"POST", "/v1/schedules", nil, s.handlePutSchedule},
		{"GET", "/v1/schedules/{name}", nil, s.handleGetSchedule},
		{"DELETE", "/v1/schedules/{name}", nil, s.handleDeleteSchedule},
		{"POST", "/v1/tokens", nil, s.handleToken},
		{"POST", "/v1/agents/{name}/certificate", nil, s.handleIssue},
		{"POST", "/v1/agents/{name}/revoke", nil, s.handleRevoke},
		{"DELETE", "/v1/agents/{name}", nil, s.handleForget},
		{"POST", "/v1/agents/{name}/run", nil, s.handleRun(runMax)},
		{"POST", "/v1/agents/{name}/reload", nil, s.handleReload},
	}
}

// apiHandler is the API of the operators' port, whose runs take at most
// opsRunTimeoutMax.
func (s *Server) apiHandler() http.Handler { return s.api(opsRunTimeoutMax) }

// adminHandler is the API of the admin socket.
func (s *Server) adminHandler() http.Handler { return s.api(0) }

// api serves the API, its runs taking at most runMax (0: as long as
// asked). What no endpoint serves is a JSON 404, on the admin socket as
// under /v1/.
func (s *Server) api(runMax time.Duration) http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.apiRoutes(runMax) {
		mux.HandleFunc(rt.method+" "+rt.path, onlyParams(rt))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
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
