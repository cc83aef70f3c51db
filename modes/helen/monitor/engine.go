package monitor

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"path"
	"slices"
	"sync"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/monitor/notify"
	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
)

// The engine decides the notifications of an event as the status table
// makes it, so that they are stored in the event's own transaction: each
// decision (a hard change, the start or end of flapping, an agent down or
// up) goes to the routes that match it, unless a silence in force covers
// it, its agent is down (an agent down is one notification, never one a
// schedule), or it flaps (only its start and end are told). Routes,
// silences and acknowledgements are kept in memory and read again only
// when the store's NotifyGeneration has moved, so that a decision costs
// no read of the store and a write through the store is seen by the next
// decision.

// maxAgentCache bounds the engine's cache of what matches each agent: past
// it, the cache starts over.
const maxAgentCache = 100_000

// engine is the monitor's notification engine.
type engine struct {
	store state.Store
	log   *slog.Logger

	mu       sync.Mutex
	gen      uint64
	routes   []state.Route
	silences []state.Silence
	acks     map[pair]state.Ack
	byAgent  map[string]*agentRules // what matches an agent, by name
	// routeAgents and silenceAgents index the agents patterns of routes
	// and silences, so that an agent first seen is not matched against
	// every one.
	routeAgents, silenceAgents patterns
	// open are the problems told and not recovered: what re-notification
	// looks at.
	open map[pair]*openProblem
}

// agentRules are the indices of the routes and silences whose agents
// pattern matches an agent.
type agentRules struct{ routes, silences []int }

// openProblem is a problem told to its routes: when each last heard of
// it. held marks one that a silence kept from them: it is told once no
// silence covers it, if it is still there.
type openProblem struct {
	told map[string]time.Time // by route
	held bool
}

// newEngine loads the routes, silences and acknowledgements of store: a
// helen that starts knows its silences before its first evaluation.
func newEngine(store state.Store, log *slog.Logger) (*engine, error) {
	e := &engine{store: store, log: log, open: map[pair]*openProblem{}}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.loadLocked(); err != nil {
		return nil, err
	}
	return e, nil
}

// loadLocked reads the routes, silences and acknowledgements again. The
// generation is read first, so that a write during the reads makes the
// next decision read them again.
func (e *engine) loadLocked() error {
	gen := e.store.NotifyGeneration()
	routes, err := e.store.Routes()
	if err != nil {
		return fmt.Errorf("load routes: %w", err)
	}
	silences, err := e.store.Silences()
	if err != nil {
		return fmt.Errorf("load silences: %w", err)
	}
	acks, err := e.store.Acks()
	if err != nil {
		return fmt.Errorf("load acknowledgements: %w", err)
	}
	e.gen, e.routes, e.silences = gen, routes, silences
	e.acks = make(map[pair]state.Ack, len(acks))
	for _, a := range acks {
		e.acks[pair{a.Agent, a.Schedule}] = a
	}
	e.byAgent = map[string]*agentRules{}
	e.indexLocked()
	return nil
}

// indexLocked indexes the agents patterns of the routes and silences.
func (e *engine) indexLocked() {
	e.routeAgents, e.silenceAgents = patterns{}, patterns{}
	for i, rt := range e.routes {
		e.routeAgents.add(i, rt.Agents)
	}
	for i, s := range e.silences {
		e.silenceAgents.add(i, s.Agents)
	}
}

// freshLocked reads the rules again if the store has changed them. A
// failed read keeps the rules known, and is logged.
func (e *engine) freshLocked() {
	if e.store.NotifyGeneration() == e.gen {
		return
	}
	if err := e.loadLocked(); err != nil {
		e.log.Error("notification rules", "err", err)
	}
}

// reload reads the rules again, as another helen changed them (a Change
// of the store's Watch). A failed read keeps the rules known, and is
// logged.
func (e *engine) reload() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.loadLocked(); err != nil {
		e.log.Error("notification rules", "err", err)
	}
}

// fresh reads the rules again if the store has changed them, so that a
// decision made next with decideAsKnown has them.
func (e *engine) fresh() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.freshLocked()
}

// rulesLocked returns what matches agent, worked out once per agent and
// generation.
func (e *engine) rulesLocked(agent string) *agentRules {
	if r := e.byAgent[agent]; r != nil {
		return r
	}
	if len(e.byAgent) >= maxAgentCache {
		clear(e.byAgent)
	}
	r := &agentRules{routes: e.routeAgents.matching(agent), silences: e.silenceAgents.matching(agent)}
	e.byAgent[agent] = r
	return r
}

// match reports whether name matches pattern ("" matches every name).
func match(pattern, name string) bool {
	if pattern == "" {
		return true
	}
	ok, _ := path.Match(pattern, name)
	return ok
}

// plan is what an event makes: its notifications, and what to do once it
// is stored.
type plan struct {
	notify []state.Outgoing
	// endSilences are the silences that end on the recovery
	// (expire-on-resolve).
	endSilences []string
	// unack is the acknowledgement the recovery clears.
	unack *pair
	// silenced names the silence that kept it from being told, "" for
	// none.
	silenced string
}

// kinds returns the notifications ev asks for: its decisions as kinds.
func kinds(ev state.Event) []notify.Kind {
	if ev.Schedule == "" {
		switch {
		case ev.To == state.EventSessionStarted && ev.Session != nil:
			return []notify.Kind{notify.SessionStarted}
		case ev.To == state.EventSessionEnded && ev.Session != nil:
			return []notify.Kind{notify.SessionEnded}
		case ev.To == "down":
			return []notify.Kind{notify.AgentDown}
		case ev.From == "down" && ev.To == "up":
			return []notify.Kind{notify.AgentUp}
		}
		return nil
	}
	var out []notify.Kind
	for _, d := range ev.Decisions() {
		switch {
		case d == state.DecisionFlappingStart:
			out = append(out, notify.FlappingStart)
		case d == state.DecisionFlappingEnd:
			out = append(out, notify.FlappingEnd)
		case d == state.DecisionHardChange && ev.To == string(result.OK):
			out = append(out, notify.Recovery)
		case d == state.DecisionHardChange:
			out = append(out, notify.Problem)
		}
	}
	return out
}

// decide returns the plan of ev, made by the status table; st is the
// status it made (nil for an agent's event), agentDown whether the
// agent was down when it came.
func (e *engine) decide(ev state.Event, st *state.Status, agentDown bool) plan {
	ks := kinds(ev)
	if len(ks) == 0 {
		return plan{}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.freshLocked()
	return e.decideLocked(ks, ev, st, agentDown)
}

// decideAsKnown is decide with the rules as the engine has them, not
// read again: it reads nothing from the store, so that a store may call
// it inside a transaction of its own (state.Cluster's MarkDown).
func (e *engine) decideAsKnown(ev state.Event, st *state.Status, agentDown bool) plan {
	ks := kinds(ev)
	if len(ks) == 0 {
		return plan{}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.decideLocked(ks, ev, st, agentDown)
}

func (e *engine) decideLocked(ks []notify.Kind, ev state.Event, st *state.Status, agentDown bool) plan {
	var p plan
	if ks[0] == notify.SessionStarted || ks[0] == notify.SessionEnded {
		// An audit: no silence holds it, nothing is open after it.
		p.notify = e.outgoingLocked(ks[0], ev, st, nil)
		return p
	}
	k := pair{ev.Agent, ev.Schedule}
	for _, kind := range ks {
		recovery := kind == notify.Recovery || kind == notify.AgentUp
		if recovery {
			if _, ok := e.acks[k]; ok {
				p.unack = &k
			}
			delete(e.open, k)
		}
		if ev.Schedule != "" && agentDown {
			// The agent's down notification says it for all its
			// schedules.
			continue
		}
		if ss := e.silencesLocked(ev.Agent, ev.Schedule, ev.Time); len(ss) > 0 {
			p.silenced = ss[0].ID
			for _, s := range ss {
				if recovery && s.ExpireOnResolve {
					p.endSilences = append(p.endSilences, s.ID)
				}
			}
			if kind == notify.Problem || kind == notify.AgentDown {
				e.open[k] = &openProblem{told: map[string]time.Time{}, held: true}
			}
			continue
		}
		p.notify = append(p.notify, e.outgoingLocked(kind, ev, st, nil)...)
		if kind == notify.Problem || kind == notify.AgentDown {
			told := map[string]time.Time{}
			for _, o := range p.notify {
				told[o.Route] = ev.Time
			}
			e.open[k] = &openProblem{told: told}
		}
	}
	return p
}

// silencesLocked returns the silences in force at t over schedule on
// agent ("" for the agent itself, which only a silence of all its
// schedules covers).
func (e *engine) silencesLocked(agent, schedule string, t time.Time) []state.Silence {
	var out []state.Silence
	for _, i := range e.rulesLocked(agent).silences {
		s := e.silences[i]
		if !s.Active(t) {
			continue
		}
		if coversSchedule(s, schedule) {
			out = append(out, s)
		}
	}
	return out
}

// outgoingLocked returns the notifications of kind about ev to every
// receiver of the routes that take it; only, when not nil, says which
// routes may.
func (e *engine) outgoingLocked(kind notify.Kind, ev state.Event, st *state.Status, only func(state.Route) bool) []state.Outgoing {
	return e.outgoingDocLocked(kind, ev, only, func() (json.RawMessage, error) { return document(kind, ev, st) })
}

// outgoingDocLocked is outgoingLocked with the document made by doc,
// called once if a route takes it.
func (e *engine) outgoingDocLocked(kind notify.Kind, ev state.Event, only func(state.Route) bool, mk func() (json.RawMessage, error)) []state.Outgoing {
	var out []state.Outgoing
	var doc json.RawMessage
	for _, i := range e.rulesLocked(ev.Agent).routes {
		rt := e.routes[i]
		if !takes(rt, kind, ev) || (only != nil && !only(rt)) {
			continue
		}
		if doc == nil {
			var err error
			if doc, err = mk(); err != nil {
				e.log.Error("notification document", "agent", ev.Agent, "schedule", ev.Schedule, "err", err)
				return nil
			}
		}
		for r := range rt.Receivers {
			out = append(out, state.Outgoing{Route: rt.Name, Receiver: r, Doc: doc,
				Agent: ev.Agent, Schedule: ev.Schedule, Created: ev.Time})
		}
	}
	return out
}

// takes reports whether route rt takes a notification of kind about ev:
// its schedules pattern matches (an agent's own kinds go to every route
// of the agent), its statuses hold the problem's (the recovery's problem
// for a recovery, the problem acknowledged for an acknowledgement;
// flapping and an agent's kinds pass), and a recovery is wanted. A shell
// session's start or end goes only to the routes whose statuses name it
// (session-started, session-ended).
func takes(rt state.Route, kind notify.Kind, ev state.Event) bool {
	if ev.Schedule != "" && !match(rt.Schedules, ev.Schedule) {
		return false
	}
	switch kind {
	case notify.Problem:
		return len(rt.Statuses) == 0 || slices.Contains(rt.Statuses, ev.To)
	case notify.Acknowledgement:
		// The routes that take the problem it acknowledges (ev.To): an
		// agent down's, every route of the agent.
		return ev.Schedule == "" || len(rt.Statuses) == 0 || slices.Contains(rt.Statuses, ev.To)
	case notify.Recovery:
		return !rt.NoRecovery && (len(rt.Statuses) == 0 || slices.Contains(rt.Statuses, ev.HardFrom))
	case notify.AgentUp:
		return !rt.NoRecovery
	case notify.SessionStarted, notify.SessionEnded:
		// Only the routes that ask for it by its status.
		return slices.Contains(rt.Statuses, ev.To)
	}
	return true
}

// document is the notification of kind about ev, as receivers are told
// it, but for its delivery and attempt, which the worker sets.
func document(kind notify.Kind, ev state.Event, st *state.Status) (json.RawMessage, error) {
	n := notify.Notification{
		ID: notificationID(kind, ev), Kind: kind, Agent: ev.Agent, Schedule: ev.Schedule, Check: ev.Check,
		Status: ev.To, Previous: ev.From, Message: ev.Message, Since: ev.Time, Time: ev.Time,
	}
	switch kind {
	case notify.Recovery, notify.Problem:
		if kind == notify.Problem || ev.HardFrom != "" {
			n.Previous = ev.HardFrom
		}
	case notify.AgentDown:
		n.Status, n.Previous = notify.StatusDown, notify.StatusUp
	case notify.AgentUp:
		n.Status, n.Previous = notify.StatusUp, notify.StatusDown
	}
	if s := ev.Session; s != nil && (kind == notify.SessionStarted || kind == notify.SessionEnded) {
		n.Session = &notify.Session{ID: s.ID, Who: s.Who, User: s.User, Command: s.Command,
			ExitStatus: s.ExitStatus, Signal: s.Signal, Error: s.Error}
		if kind == notify.SessionEnded {
			d := s.Duration.Seconds()
			n.Session.Duration = &d
		}
	}
	if st != nil {
		n.Since = st.Since
		n.Metrics = st.Metrics[:min(len(st.Metrics), MaxMetrics)]
	}
	return json.Marshal(n)
}

// notificationID names a decision: the same for every route and receiver
// it goes to, and for nothing else.
func notificationID(kind notify.Kind, ev state.Event) string {
	h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%s\x00%d", kind, ev.Agent, ev.Schedule, ev.Time.UnixNano()))
	return hex.EncodeToString(h[:12])
}

// reopen rebuilds, at a start at now, the problems told and not
// recovered from the statuses the store kept (rows) and the agents down:
// the map of them is in memory only, and without it a problem that
// outlasts a restart would never be told again. Each hard problem of an
// agent not down, not flapping, is taken as told at now to the routes
// that take it (the outbox keeps no cheap index of when each was last
// told), so that its next re-notification is at most an interval late,
// never early, and a start is no burst. An acknowledged one is there too:
// re-notification skips it while it is acknowledged.
func (e *engine) reopen(rows map[pair]*state.Status, down map[string]time.Time, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.freshLocked()
	told := func(kind notify.Kind, ev state.Event) *openProblem {
		op := &openProblem{told: map[string]time.Time{}}
		for _, i := range e.rulesLocked(ev.Agent).routes {
			if rt := e.routes[i]; takes(rt, kind, ev) {
				op.told[rt.Name] = now
			}
		}
		return op
	}
	// A problem under a silence now was not told, or not lately: it is
	// told once the silence ends.
	held := func(k pair) *openProblem {
		if len(e.silencesLocked(k.agent, k.schedule, now)) == 0 {
			return nil
		}
		return &openProblem{told: map[string]time.Time{}, held: true}
	}
	for k, st := range rows {
		if _, isDown := down[k.agent]; isDown || st.Flapping || !hardProblem(*st) {
			continue
		}
		if e.open[k] = held(k); e.open[k] == nil {
			e.open[k] = told(notify.Problem, state.Event{Agent: k.agent, Schedule: k.schedule, To: st.HardStatus})
		}
	}
	for agent := range down {
		k := pair{agent, ""}
		if e.open[k] = held(k); e.open[k] == nil {
			e.open[k] = told(notify.AgentDown, state.Event{Agent: agent, To: "down"})
		}
	}
}

// reopenAgent is reopen for one agent whose session starts on this
// helen, one of many that share the store: its problems (rows, its
// statuses) are re-notified by the helen that holds it. A problem the
// engine has open already keeps when it was told.
func (e *engine) reopenAgent(agent string, rows map[pair]*state.Status, now time.Time) {
	e.mu.Lock()
	fresh := map[pair]*state.Status{}
	for k, st := range rows {
		if k.agent == agent && e.open[k] == nil {
			fresh[k] = st
		}
	}
	e.mu.Unlock()
	if len(fresh) > 0 {
		e.reopen(fresh, nil, now)
	}
}

// renotify returns the problems to tell again at now: those told, still
// a hard problem (row), not acknowledged, silenced, flapping or of an
// agent down, to each route whose re-notify interval has passed since it
// last told it.
func (e *engine) renotify(now time.Time, row func(pair) (state.Status, bool), down func(string) bool) []state.EventNotifications {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.freshLocked()
	var out []state.EventNotifications
	for k, op := range e.open {
		if op.held {
			if en, ok := e.unheldLocked(k, op, now, row, down); ok {
				out = append(out, en)
			}
			continue
		}
		if k.schedule == "" {
			continue
		}
		st, ok := row(k)
		if !ok || st.HardStatus == string(result.OK) || st.Flapping || down(k.agent) {
			continue
		}
		if _, acked := e.acks[k]; acked {
			continue
		}
		if len(e.silencesLocked(k.agent, k.schedule, now)) > 0 {
			continue
		}
		ev := state.Event{Time: now, Agent: k.agent, Schedule: k.schedule, Check: st.Check,
			From: st.Previous, To: st.HardStatus, HardFrom: string(result.OK), Message: st.Message}
		due := func(rt state.Route) bool {
			last, told := op.told[rt.Name]
			return told && rt.Renotify > 0 && !now.Before(last.Add(rt.Renotify))
		}
		outs := e.outgoingLocked(notify.Problem, ev, &st, due)
		if len(outs) == 0 {
			continue
		}
		for _, o := range outs {
			op.told[o.Route] = now
		}
		out = append(out, state.EventNotifications{Notify: outs})
	}
	return out
}

// unheldLocked returns the notifications of the problem k that a silence
// kept from its routes, now that none covers it, if it is still there
// (a hard problem, not flapping, not acknowledged; or its agent still
// down), and marks it told.
func (e *engine) unheldLocked(k pair, op *openProblem, now time.Time, row func(pair) (state.Status, bool), down func(string) bool) (state.EventNotifications, bool) {
	if len(e.silencesLocked(k.agent, k.schedule, now)) > 0 {
		return state.EventNotifications{}, false
	}
	if _, acked := e.acks[k]; acked {
		return state.EventNotifications{}, false
	}
	kind, ev := notify.AgentDown, state.Event{Time: now, Agent: k.agent, From: "up", To: "down"}
	var st *state.Status
	if k.schedule != "" {
		row, ok := row(k)
		if !ok || !hardProblem(row) || row.Flapping || down(k.agent) {
			return state.EventNotifications{}, false
		}
		kind, st = notify.Problem, &row
		ev = state.Event{Time: now, Agent: k.agent, Schedule: k.schedule, Check: row.Check,
			From: row.Previous, To: row.HardStatus, HardFrom: string(result.OK), Message: row.Message}
	} else if !down(k.agent) {
		return state.EventNotifications{}, false
	}
	op.held = false
	outs := e.outgoingLocked(kind, ev, st, nil)
	for _, o := range outs {
		op.told[o.Route] = now
	}
	return state.EventNotifications{Notify: outs}, len(outs) > 0
}
