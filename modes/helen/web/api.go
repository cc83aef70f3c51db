package web

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/monitor"
	"github.com/equus-monitoring/equus/modes/helen/reply"
	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
)

// The operators' JSON API, under /v1/ on the operators' port (behind the
// admin token) and on the admin socket (behind the socket's mode), which
// serves it alone: the helen commands use it, and serve it to themselves
// in process when no helen runs (offline.go). Every endpoint, its
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
	// notificationParams are those of the outbox's list.
	notificationParams = append([]string{"state", "agent"}, timeParams...)
)

// Backend is what the API asks of a helen beyond its store: the lists it
// keeps in memory (statuses, schedules) and what it does. *Server is the
// backend of a running helen; offlineBackend is that of the helen
// commands run while none runs, which serve the API to themselves over
// its data directory, so that they print the same either way.
type Backend interface {
	// Statuses returns the status list, worst first (Server.Statuses).
	Statuses(unfold bool) []monitor.StatusView
	// Schedules returns the schedules, by name.
	Schedules() []state.Schedule
	// AddSchedule checks a schedule an operator asks for (checkRequest),
	// stores it, replacing the one of its name, and runs it.
	AddSchedule(sch state.Schedule) (state.Schedule, error)
	DeleteSchedule(name string) error
	Token(req TokenRequest) (TokenResponse, error)
	Issue(name string) (IssueResponse, error)
	Revoke(name string) error
	Forget(name string) error
	Run(ctx context.Context, agent, check string, args []byte, timeout time.Duration) (result.Doc, error)
	Reload(ctx context.Context, name string) error
	// PutRoute checks a route (its receivers must be ones that can
	// work: notify.FromSpec) and stores it, replacing the one of its
	// name; an error of bad input wraps state.ErrInvalid.
	PutRoute(r state.Route) (state.Route, error)
	// TestRoute sends a test notification through each receiver of the
	// route called name, at once and whatever its filters, and returns
	// what each answered; state.ErrNotFound for no such route.
	TestRoute(ctx context.Context, name string) (RouteTest, error)
	// Ack stores an acknowledgement of a problem with the notifications
	// that tell it (monitor.Monitor.Ack); an error wrapping
	// monitor.ErrNoProblem when there is no such problem to take.
	Ack(a state.Ack) (state.Ack, error)
}

// api serves the API: the lists that come from the store, the rest from
// the backend. What no endpoint serves is a JSON 404, under /v1/ and
// beside it (on the admin socket, which serves the API alone).
type api struct {
	store   state.Store
	backend Backend
	// log is told what the API changes that the monitor goes by (the
	// silences, the acknowledgements), at info.
	log    *slog.Logger
	runMax time.Duration // the longest run it asks for; 0: any
	mux    *http.ServeMux
}

// NewAPI returns the API over store and backend, whose runs take at most
// runMax (0: as long as asked), logging to log (nil: nowhere).
func NewAPI(store state.Store, backend Backend, log *slog.Logger, runMax time.Duration) *api {
	return newAPI(store, backend, log, runMax, func(string) bool { return true })
}

// liveRoutes are the endpoints of the API that need an agent's live
// session, which only the helen holding it has: what the helens that
// share a store ask each other (NewPeerAPI).
var liveRoutes = []string{
	"POST /v1/agents/{name}/run",
	"POST /v1/agents/{name}/runs",
	"POST /v1/agents/{name}/reload",
	"POST /v1/agents/{name}/shell",
}

// NewPeerAPI returns the endpoints of the API that need an agent's live
// session (runs, reloads, shell sessions), over backend, for the other
// helens of a shared store: the same handlers as NewAPI's, and no other.
// Its runs take as long as asked: the helen that forwards them bounds
// them as its own port does.
func NewPeerAPI(backend Backend, log *slog.Logger) http.Handler {
	return newAPI(nil, backend, log, 0, func(route string) bool { return slices.Contains(liveRoutes, route) })
}

func newAPI(store state.Store, backend Backend, log *slog.Logger, runMax time.Duration, serves func(route string) bool) *api {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &api{store: store, backend: backend, log: log, runMax: runMax, mux: http.NewServeMux()}
	for _, rt := range a.routes() {
		if route := rt.method + " " + rt.path; serves(route) {
			a.mux.HandleFunc(route, onlyParams(rt))
		}
	}
	a.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		reply.Error(w, http.StatusNotFound, "no such endpoint: %s %s", r.Method, r.URL.Path)
	})
	return a
}

func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// routes returns the endpoints of the API.
func (a *api) routes() []apiRoute {
	return []apiRoute{
		{"GET", "/v1/agents", pageParams, a.handleAgents},
		{"GET", "/v1/status", append([]string{"all"}, pageParams...), a.handleStatus},
		{"GET", "/v1/history", historyParams, a.handleHistory},
		{"GET", "/v1/events", timeParams, a.handleEvents},
		{"GET", "/v1/schedules", pageParams, a.handleSchedules},
		{"POST", "/v1/schedules", nil, a.handlePutSchedule},
		{"GET", "/v1/schedules/{name}", nil, a.handleGetSchedule},
		{"DELETE", "/v1/schedules/{name}", nil, a.handleDeleteSchedule},
		{"POST", "/v1/tokens", nil, a.handleToken},
		{"POST", "/v1/agents/{name}/certificate", nil, a.handleIssue},
		{"POST", "/v1/agents/{name}/revoke", nil, a.handleRevoke},
		{"DELETE", "/v1/agents/{name}", nil, a.handleForget},
		{"POST", "/v1/agents/{name}/run", nil, a.handleRun},
		{"POST", "/v1/agents/{name}/runs", nil, a.handleRuns},
		{"POST", "/v1/agents/{name}/reload", nil, a.handleReload},
		{"POST", "/v1/agents/{name}/shell", nil, a.handleShell},
		{"GET", "/v1/agents/{name}/schedules/{schedule}/series", []string{"metric", "range"}, a.handleSeries},
		{"GET", "/v1/routes", pageParams, a.handleRoutes},
		{"POST", "/v1/routes", nil, a.handlePutRoute},
		{"GET", "/v1/routes/{name}", nil, a.handleGetRoute},
		{"DELETE", "/v1/routes/{name}", nil, a.handleDeleteRoute},
		{"POST", "/v1/routes/{name}/test", nil, a.handleTestRoute},
		{"GET", "/v1/silences", pageParams, a.handleSilences},
		{"POST", "/v1/silences", nil, a.handleAddSilence},
		{"DELETE", "/v1/silences/{id}", nil, a.handleDeleteSilence},
		{"GET", "/v1/acks", pageParams, a.handleAcks},
		{"POST", "/v1/acks", nil, a.handleAck},
		{"DELETE", "/v1/acks/{agent}/{schedule}", nil, a.handleUnack},
		{"DELETE", "/v1/acks/{agent}", nil, a.handleUnack},
		{"GET", "/v1/notifications", notificationParams, a.handleNotifications},
		{"GET", "/v1/users", pageParams, a.handleUsers},
		{"POST", "/v1/users", nil, a.handleAddUser},
		{"DELETE", "/v1/users/{name}", nil, a.handleDeleteUser},
	}
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
				reply.Error(w, http.StatusBadRequest, "unknown parameter %q: %s %s takes %s", name, rt.method, rt.path, takes)
				return
			}
			if len(vs) > 1 {
				reply.Error(w, http.StatusBadRequest, "parameter %q given %d times", name, len(vs))
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

// Routes lists the API's endpoints, as "METHOD PATH" with the query
// parameters each takes: what docs/API.md describes (TestAPIDocTables).
func Routes() map[string][]string {
	out := map[string][]string{}
	for _, rt := range (&api{}).routes() {
		out[rt.method+" "+rt.path] = slices.Clone(rt.params)
	}
	return out
}
