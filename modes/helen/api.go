package helen

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/equus-monitoring/equus/state"
)

// The operators' JSON API, under /v1/ on the operators' port (behind the
// admin token) and on the admin socket (behind the socket's mode):
//
//	GET    /v1/agents?cursor=&limit=
//	GET    /v1/status?cursor=&limit=
//	GET    /v1/history?agent=&check=&since=&until=&cursor=&limit=
//	GET    /v1/events?since=&until=&cursor=&limit=
//	GET    /v1/schedules?cursor=&limit=
//	POST   /v1/schedules          a ScheduleView
//	GET    /v1/schedules/{name}
//	DELETE /v1/schedules/{name}
//
// The lists come in pages (page.go). Times in queries are RFC 3339 or a
// duration back from now ("1h"). Errors are {"error": "..."}.

func (s *Server) apiHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/agents", s.handleAgents)
	mux.HandleFunc("GET /v1/status", s.handleStatus)
	mux.HandleFunc("GET /v1/history", s.handleHistory)
	mux.HandleFunc("GET /v1/events", s.handleEvents)
	mux.HandleFunc("GET /v1/schedules", s.handleSchedules)
	mux.HandleFunc("GET /v1/schedules/{name}", func(w http.ResponseWriter, r *http.Request) {
		sch, err := s.db.Schedule(r.PathValue("name"))
		if errors.Is(err, state.ErrNotFound) {
			httpError(w, http.StatusNotFound, "%v: %s", ErrNoSchedule, r.PathValue("name"))
			return
		}
		if err != nil {
			httpError(w, http.StatusInternalServerError, "%v", err)
			return
		}
		writeJSON(w, http.StatusOK, viewOf(sch))
	})
	mux.HandleFunc("POST /v1/schedules", func(w http.ResponseWriter, r *http.Request) {
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
	})
	mux.HandleFunc("DELETE /v1/schedules/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		err := s.DeleteSchedule(name)
		switch {
		case errors.Is(err, ErrNoSchedule):
			httpError(w, http.StatusNotFound, "%v", err)
		case err != nil:
			httpError(w, http.StatusInternalServerError, "%v", err)
		default:
			writeJSON(w, http.StatusOK, map[string]string{"deleted": name})
		}
	})
	mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		httpError(w, http.StatusNotFound, "no such endpoint: %s %s", r.Method, r.URL.Path)
	})
	return mux
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
