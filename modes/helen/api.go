package helen

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/equus-monitoring/equus/state"
)

// The operators' JSON API, under /v1/ on the operators' port (behind the
// admin token) and on the admin socket (behind the socket's mode):
//
//	GET    /v1/agents
//	GET    /v1/status
//	GET    /v1/history?agent=&check=&since=&until=&limit=
//	GET    /v1/events?since=&until=&limit=
//	GET    /v1/schedules
//	POST   /v1/schedules          a ScheduleView
//	GET    /v1/schedules/{name}
//	DELETE /v1/schedules/{name}
//
// Times in queries are RFC 3339 or a duration back from now ("1h").
// Errors are {"error": "..."}.

// Bounds of the lists the API returns.
const (
	defaultListLimit = 1000
	maxListLimit     = 100000
)

func (s *Server) apiHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/agents", func(w http.ResponseWriter, r *http.Request) {
		views, err := agentViews(s.db)
		if err != nil {
			httpError(w, http.StatusInternalServerError, "%v", err)
			return
		}
		writeJSON(w, http.StatusOK, views)
	})
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Statuses())
	})
	mux.HandleFunc("GET /v1/history", func(w http.ResponseWriter, r *http.Request) {
		q, err := parseQuery(r)
		if err != nil {
			httpError(w, http.StatusBadRequest, "%v", err)
			return
		}
		agent := r.URL.Query().Get("agent")
		if agent == "" {
			httpError(w, http.StatusBadRequest, "history needs ?agent=NAME")
			return
		}
		rs, err := s.db.History(agent, r.URL.Query().Get("check"), q.limit, q.since, q.until)
		if err != nil {
			httpError(w, http.StatusInternalServerError, "%v", err)
			return
		}
		if rs == nil {
			rs = []state.Result{}
		}
		writeJSON(w, http.StatusOK, rs)
	})
	mux.HandleFunc("GET /v1/events", func(w http.ResponseWriter, r *http.Request) {
		q, err := parseQuery(r)
		if err != nil {
			httpError(w, http.StatusBadRequest, "%v", err)
			return
		}
		evs, err := s.db.Events(q.since, q.until, q.limit)
		if err != nil {
			httpError(w, http.StatusInternalServerError, "%v", err)
			return
		}
		if evs == nil {
			evs = []state.Event{}
		}
		writeJSON(w, http.StatusOK, evs)
	})
	mux.HandleFunc("GET /v1/schedules", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, viewsOf(s.Schedules()))
	})
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
		sch, err := s.PutSchedule(v.schedule())
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

// listQuery is the since, until and limit of a list request.
type listQuery struct {
	since, until time.Time
	limit        int
}

func parseQuery(r *http.Request) (listQuery, error) {
	v := r.URL.Query()
	now := time.Now()
	var q listQuery
	var err error
	if q.since, err = parseTime(v.Get("since"), now); err != nil {
		return q, fmt.Errorf("since: %w", err)
	}
	if q.until, err = parseTime(v.Get("until"), now); err != nil {
		return q, fmt.Errorf("until: %w", err)
	}
	q.limit = defaultListLimit
	if l := v.Get("limit"); l != "" {
		if q.limit, err = strconv.Atoi(l); err != nil || q.limit < 1 || q.limit > maxListLimit {
			return q, fmt.Errorf("limit %q: want 1 to %d", l, maxListLimit)
		}
	}
	return q, nil
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
