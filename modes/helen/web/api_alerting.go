package web

import (
	"cmp"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/monitor"
	"github.com/equus-monitoring/equus/modes/helen/reply"
	"github.com/equus-monitoring/equus/state"
)

// The endpoints of alerting: the routes (which notifications go to which
// receivers), the silences, the acknowledgements, and the notifications
// of the outbox. They read and write the store, which a running helen's
// monitor watches: a change is in force at once, with helen running or
// not. A route is checked by the backend (it builds its receivers), and
// tested through it.

// StatusOf is the HTTP status of a store's error: 404 for what is not
// there, 400 for bad input, 409 for a store full or an acknowledgement of
// no problem, 500 for the rest. The console answers its forms' errors
// with it too.
func StatusOf(err error) int {
	switch {
	case errors.Is(err, monitor.ErrNoProblem):
		return http.StatusConflict
	case errors.Is(err, state.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, state.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, state.ErrFull):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

func (a *api) handleRoutes(w http.ResponseWriter, r *http.Request) {
	q, from, ok := nameQuery(w, r)
	if !ok {
		return
	}
	rs, err := a.store.Routes()
	if err != nil {
		reply.Error(w, http.StatusInternalServerError, "%v", err)
		return
	}
	slices.SortFunc(rs, func(a, b state.Route) int { return cmp.Compare(a.Name, b.Name) })
	start := 0
	if q.cursor != "" {
		start = after(rs, from, func(rt state.Route, name string) int { return cmp.Compare(rt.Name, name) })
	}
	rs = rs[start:min(len(rs), start+q.limit+1)]
	page{n: len(rs), limit: q.limit,
		item:   func(i int) any { return RouteViewOf(rs[i]) },
		cursor: func(i int) string { return nameCursor(rs[i].Name) },
	}.write(w, r)
}

func (a *api) handleGetRoute(w http.ResponseWriter, r *http.Request) {
	rt, err := a.store.Route(r.PathValue("name"))
	if err != nil {
		reply.Error(w, StatusOf(err), "%v", err)
		return
	}
	reply.JSON(w, http.StatusOK, RouteViewOf(rt))
}

func (a *api) handlePutRoute(w http.ResponseWriter, r *http.Request) {
	var v RouteView
	if !decode(w, r, &v) {
		return
	}
	rt, err := a.backend.PutRoute(v.Route())
	if err != nil {
		reply.Error(w, StatusOf(err), "%v", err)
		return
	}
	reply.JSON(w, http.StatusOK, RouteViewOf(rt))
}

func (a *api) handleDeleteRoute(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := a.store.DeleteRoute(name); err != nil {
		reply.Error(w, StatusOf(err), "%v", err)
		return
	}
	reply.JSON(w, http.StatusOK, map[string]string{"deleted": name})
}

func (a *api) handleTestRoute(w http.ResponseWriter, r *http.Request) {
	if !noBody(w, r) {
		return
	}
	t, err := a.backend.TestRoute(r.Context(), r.PathValue("name"))
	if err != nil {
		reply.Error(w, StatusOf(err), "%v", err)
		return
	}
	reply.JSON(w, http.StatusOK, t)
}

func (a *api) handleSilences(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r)
	if err != nil {
		reply.Error(w, http.StatusBadRequest, "%v", err)
		return
	}
	ss, err := a.store.Silences()
	if err != nil {
		reply.Error(w, http.StatusInternalServerError, "%v", err)
		return
	}
	start := 0
	if q.cursor != "" {
		key, err := parseSilenceCursor(q.cursor)
		if err != nil {
			reply.Error(w, http.StatusBadRequest, "%v", err)
			return
		}
		start = after(ss, key, compareSilence)
	}
	ss = ss[start:min(len(ss), start+q.limit+1)]
	page{n: len(ss), limit: q.limit,
		item:   func(i int) any { return ss[i] },
		cursor: func(i int) string { return silenceCursor(ss[i]) },
	}.write(w, r)
}

// compareSilence orders silences as the store lists them: by start, then
// id.
func compareSilence(s, key state.Silence) int {
	return cmp.Or(s.Start.Compare(key.Start), cmp.Compare(s.ID, key.ID))
}

// silenceCursor is a silence's start (Unix nanoseconds) and id, in
// base64url.
func silenceCursor(s state.Silence) string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%d\x00%s", s.Start.UnixNano(), s.ID))
}

func parseSilenceCursor(c string) (state.Silence, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	nanos, id, ok := strings.Cut(string(b), "\x00")
	var n int64
	if err == nil && ok {
		_, err = fmt.Sscan(nanos, &n)
	}
	if err != nil || !ok {
		return state.Silence{}, fmt.Errorf("bad cursor %q", c)
	}
	return state.Silence{Start: time.Unix(0, n), ID: id}, nil
}

func (a *api) handleAddSilence(w http.ResponseWriter, r *http.Request) {
	var req SilenceRequest
	if !decode(w, r, &req) {
		return
	}
	s, err := a.store.AddSilence(state.Silence{
		Agents: req.Agents, Schedules: req.Schedules, Start: req.Start, End: req.End,
		Comment: req.Comment, Author: req.Author, ExpireOnResolve: req.ExpireOnResolve, Created: time.Now(),
	})
	if err != nil {
		reply.Error(w, StatusOf(err), "%v", err)
		return
	}
	a.log.Info("silence added", "silence", s.ID, "author", s.Author, "agents", s.Agents, "schedules", s.Schedules,
		"start", s.Start, "end", s.End, "expire_on_resolve", s.ExpireOnResolve, "comment", s.Comment)
	reply.JSON(w, http.StatusOK, s)
}

func (a *api) handleDeleteSilence(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := a.store.DeleteSilence(id); err != nil {
		reply.Error(w, StatusOf(err), "%v", err)
		return
	}
	a.log.Info("silence removed", "silence", id)
	reply.JSON(w, http.StatusOK, map[string]string{"deleted": id})
}

func (a *api) handleAcks(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r)
	if err != nil {
		reply.Error(w, http.StatusBadRequest, "%v", err)
		return
	}
	acks, err := a.store.Acks()
	if err != nil {
		reply.Error(w, http.StatusInternalServerError, "%v", err)
		return
	}
	slices.SortFunc(acks, compareAck)
	start := 0
	if q.cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(q.cursor)
		agent, schedule, ok := strings.Cut(string(b), "\x00")
		if err != nil || !ok {
			reply.Error(w, http.StatusBadRequest, "bad cursor %q", q.cursor)
			return
		}
		start = after(acks, state.Ack{Agent: agent, Schedule: schedule}, compareAck)
	}
	acks = acks[start:min(len(acks), start+q.limit+1)]
	page{n: len(acks), limit: q.limit,
		item: func(i int) any { return acks[i] },
		cursor: func(i int) string {
			return base64.RawURLEncoding.EncodeToString([]byte(acks[i].Agent + "\x00" + acks[i].Schedule))
		},
	}.write(w, r)
}

func compareAck(a, b state.Ack) int {
	return cmp.Or(cmp.Compare(a.Agent, b.Agent), cmp.Compare(a.Schedule, b.Schedule))
}

func (a *api) handleAck(w http.ResponseWriter, r *http.Request) {
	var req AckRequest
	if !decode(w, r, &req) {
		return
	}
	ack, err := a.backend.Ack(state.Ack{Agent: req.Agent, Schedule: req.Schedule, Comment: req.Comment, Author: req.Author, Time: time.Now()})
	if err != nil {
		reply.Error(w, StatusOf(err), "%v", err)
		return
	}
	reply.JSON(w, http.StatusOK, ack)
}

func (a *api) handleUnack(w http.ResponseWriter, r *http.Request) {
	agent, schedule := r.PathValue("agent"), r.PathValue("schedule")
	if err := a.store.Unack(agent, schedule); err != nil {
		reply.Error(w, StatusOf(err), "%v", err)
		return
	}
	a.log.Info("acknowledgement removed", "agent", agent, "schedule", schedule)
	reply.JSON(w, http.StatusOK, map[string]string{"agent": agent, "schedule": schedule})
}

func (a *api) handleNotifications(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r)
	if err != nil {
		reply.Error(w, http.StatusBadRequest, "%v", err)
		return
	}
	v := r.URL.Query()
	nq := state.NotificationQuery{Query: q.stateQuery(), State: state.NotificationState(v.Get("state")), Agent: v.Get("agent")}
	ns, cursors, err := a.store.Notifications(nq)
	if err != nil {
		reply.Error(w, listErrorCode(err), "%v", err)
		return
	}
	page{n: len(ns), limit: q.limit, reverse: true,
		item:   func(i int) any { return ns[i] },
		cursor: func(i int) string { return cursors[i] },
	}.write(w, r)
}
