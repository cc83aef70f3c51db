package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/equus-monitoring/equus/internal/tty"
	"github.com/equus-monitoring/equus/modes/helen/web"
	"github.com/equus-monitoring/equus/state"
)

// The actions, each a POST of a form of the pages (action checks its
// session's token and the account's role first), each through the call
// the API makes for it, and each recorded as an event that says who.
// The events' To is the action's name: a status change is never one.

const (
	maxComment = 1024 // bytes of a silence's or an acknowledgement's comment
	// maxSilenceFor is the longest silence the form takes; helen
	// silence add takes any.
	maxSilenceFor = 30 * 24 * time.Hour
	// runTimeoutMax is the longest run the page waits for: its answer
	// must be written within the operators' port's bound (as the API's).
	runTimeoutMax = web.WriteTimeout - 10*time.Second
	// enrollTTL is how long an enrollment token made here is valid; it
	// enrolls the one agent, once.
	enrollTTL = 24 * time.Hour
)

// The events' To of the actions.
const (
	evRun       = "run"
	evSilenced  = "silenced"
	evUnsilence = "unsilenced"
	evAcked     = "acknowledged"
	evToken     = "token"
	evForgotten = "forgotten"
)

// record adds the event of an action, logging a failure: the action is
// done whatever becomes of its record.
func (s *Console) record(v viewer, agent, schedule, to, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	ev := state.Event{Time: s.cfg.Now(), Agent: agent, Schedule: schedule, To: to, Message: msg}
	if err := s.store.AddEvents(ev); err != nil {
		s.cfg.Log.Error("console: record an action", "user", v.User, "action", to, "err", err)
	}
	s.cfg.Log.Info("console: "+msg, "user", v.User, "agent", agent, "schedule", schedule)
}

// refuse answers an action that could not be taken on the page it came
// from, saying why.
func (s *Console) refuse(w http.ResponseWriter, v viewer, code int, what string) {
	s.render(w, code, "error", struct{ frame }{s.frame(v, "Not done", "", what)})
}

// back is where an action on agent (and schedule) sends the browser.
func back(agent, schedule string) string {
	switch {
	case agent == "":
		return "/"
	case schedule == "":
		return "/agents/" + url.PathEscape(agent)
	}
	return scheduleLink(agent, schedule, nil)
}

func (s *Console) runNow(w http.ResponseWriter, r *http.Request, v viewer) {
	agent, schedule := r.PathValue("name"), r.PathValue("schedule")
	def, err := s.store.Schedule(schedule)
	if err != nil {
		s.refuse(w, v, http.StatusNotFound, "No schedule "+schedule+" to run.")
		return
	}
	timeout := min(def.Timeout, runTimeoutMax)
	doc, err := s.backend.Run(r.Context(), agent, def.Check, def.Args, timeout)
	if err != nil {
		s.record(v, agent, schedule, evRun, "run now by %s: %s: %v", v.User, def.Check, err)
		s.renderSchedule(w, r, v, http.StatusOK, func(p *schedulePage) { p.RanError = err.Error() })
		return
	}
	s.record(v, agent, schedule, evRun, "run now by %s: %s: %s %s", v.User, def.Check, doc.Status, tty.OneLine(doc.Message))
	s.renderSchedule(w, r, v, http.StatusOK, func(p *schedulePage) { p.Ran = &doc })
}

func (s *Console) addSilence(w http.ResponseWriter, r *http.Request, v viewer) {
	f := r.PostForm
	agent, schedule, comment := f.Get("agent"), f.Get("schedule"), f.Get("comment")
	d, err := time.ParseDuration(f.Get("for"))
	switch {
	case agent == "":
		s.refuse(w, v, http.StatusBadRequest, "A silence needs its agent.")
		return
	case err != nil || d <= 0 || d > maxSilenceFor:
		s.refuse(w, v, http.StatusBadRequest, "A silence lasts a duration from 1m to 30 days (720h).")
		return
	case comment == "" || len(comment) > maxComment:
		s.refuse(w, v, http.StatusBadRequest, "Say why, in at most 1024 bytes.")
		return
	}
	now := s.cfg.Now()
	sl, err := s.store.AddSilence(state.Silence{Agents: agent, Schedules: schedule, Start: now, End: now.Add(d),
		Comment: comment, Author: v.User, Created: now})
	if err != nil {
		s.refuse(w, v, web.StatusOf(err), "Silence: "+err.Error())
		return
	}
	s.record(v, agent, schedule, evSilenced, "silence %s added by %s for %v: %s", sl.ID, v.User, d, tty.OneLine(comment))
	http.Redirect(w, r, back(agent, schedule), http.StatusSeeOther)
}

func (s *Console) deleteSilence(w http.ResponseWriter, r *http.Request, v viewer) {
	id := r.PathValue("id")
	all, err := s.store.Silences()
	if err != nil {
		s.fail(w, v, http.StatusInternalServerError, "silences", err)
		return
	}
	var sl *state.Silence
	for i := range all {
		if all[i].ID == id {
			sl = &all[i]
		}
	}
	if sl == nil {
		s.refuse(w, v, http.StatusNotFound, "No silence "+id+".")
		return
	}
	if err := s.store.DeleteSilence(id); err != nil {
		s.refuse(w, v, web.StatusOf(err), "Remove the silence: "+err.Error())
		return
	}
	s.record(v, sl.Agents, sl.Schedules, evUnsilence, "silence %s removed by %s (%s)", id, v.User, tty.OneLine(sl.Comment))
	agent := r.PostForm.Get("agent")
	http.Redirect(w, r, back(agent, r.PostForm.Get("schedule")), http.StatusSeeOther)
}

func (s *Console) ack(w http.ResponseWriter, r *http.Request, v viewer) {
	f := r.PostForm
	agent, schedule, comment := f.Get("agent"), f.Get("schedule"), f.Get("comment")
	if comment == "" || len(comment) > maxComment {
		s.refuse(w, v, http.StatusBadRequest, "Say what is being done, in at most 1024 bytes.")
		return
	}
	a, err := s.backend.Ack(state.Ack{Agent: agent, Schedule: schedule, Comment: comment, Author: v.User, Time: s.cfg.Now()})
	if err != nil {
		s.refuse(w, v, web.StatusOf(err), "Acknowledge: "+err.Error())
		return
	}
	s.record(v, a.Agent, a.Schedule, evAcked, "acknowledged by %s: %s", v.User, tty.OneLine(comment))
	http.Redirect(w, r, back(agent, schedule), http.StatusSeeOther)
}

func (s *Console) enrollToken(w http.ResponseWriter, r *http.Request, v viewer) {
	name := r.PathValue("name")
	if _, err := s.store.Agent(name); err != nil {
		s.refuse(w, v, http.StatusNotFound, "No agent called "+name+".")
		return
	}
	t, err := s.backend.Token(web.TokenRequest{Uses: 1, TTL: web.Duration(enrollTTL), Agent: name})
	if err != nil {
		s.refuse(w, v, http.StatusBadRequest, "Token: "+err.Error())
		return
	}
	s.record(v, name, "", evToken, "enrollment token %s made by %s, valid until %s", t.ID, v.User, t.Expires.UTC().Format(time.RFC3339))
	s.renderAgent(w, v, name, http.StatusOK, func(p *agentPage) { p.Token = &tokenShown{Token: t.Token, Join: t.Join} })
}

func (s *Console) forget(w http.ResponseWriter, r *http.Request, v viewer) {
	name := r.PathValue("name")
	if r.PostForm.Get("confirm") != "yes" {
		s.renderAgent(w, v, name, http.StatusOK, func(p *agentPage) { p.Confirm = true })
		return
	}
	if err := s.backend.Forget(name); err != nil {
		code := http.StatusBadRequest
		switch {
		case errors.Is(err, web.ErrUnknownAgent), errors.Is(err, web.ErrNoAgent):
			code = http.StatusNotFound
		case errors.Is(err, web.ErrConnected):
			code = http.StatusConflict
		}
		s.refuse(w, v, code, "Forget: "+err.Error())
		return
	}
	s.record(v, name, "", evForgotten, "agent forgotten by %s", v.User)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
