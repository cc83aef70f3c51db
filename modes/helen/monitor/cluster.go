package monitor

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/equus-monitoring/equus/state"
)

// On a store shared by many helens (state.Cluster) each helen's monitor
// runs the schedules of the agents whose sessions it holds, as one helen
// does, and differs in what it does not decide alone:
//
//   - an agent's down and up are the store's decisions (MarkDown, MarkUp),
//     which one helen wins of those whose timers run out at once; only the
//     winner makes the event and its notifications, in the decision's
//     transaction. The grace periods and the sweep for silence stay: they
//     say when to ask.
//   - every flush, each helen also asks for the agents no helen has held
//     for DownAfter (the store's Unheld: their session ended, or their
//     helen died, and none took them since), so that an agent of a helen
//     killed is declared down once, by one of the others.
//   - an agent's statuses are read from the store when its session starts
//     here (its last helen wrote them), and its problems are re-notified
//     by the helen that holds it.
//   - the status list is every helen's agents, read from the store.
//   - a change of schedules, silences, acknowledgements or routes made on
//     any helen (the store's Watch) is read again at once.

// viewsMaxAge bounds how old the status list read from the store may be
// when a helen of a cluster shows it: one read of the store a second at
// most, however often it is asked for. A decision of this helen makes the
// next read at once.
const viewsMaxAge = time.Second

// maxUnheldSweep bounds the agents one sweep of the unheld declares down:
// more wait for the next sweep.
const maxUnheldSweep = 1000

// lockMarks locks the decisions of agent's down and up on this helen, and
// returns the function that unlocks them.
func (t *statusTable) lockMarks(agent string) func() {
	h := fnv.New32a()
	h.Write([]byte(agent))
	mu := &t.marks[h.Sum32()%uint32(len(t.marks))]
	mu.Lock()
	return mu.Unlock
}

// load takes the statuses the store has of an agent whose session starts
// here, where they are newer than the table's (another helen held it
// since), and reopens its problems told for re-notification here.
func (t *statusTable) load(agent string, now time.Time) {
	stored, err := t.db.Statuses(agent)
	if err != nil {
		t.log.Error("load statuses", "agent", agent, "err", err)
		return
	}
	rows := make(map[pair]*state.Status, len(stored))
	t.mu.Lock()
	for _, st := range stored {
		k := pair{agent, st.Schedule}
		if r := t.rows[k]; r == nil || st.Time.After(r.Time) {
			t.rows[k] = &st
			delete(t.dirty, k)
		}
		c := *t.rows[k]
		rows[k] = &c
	}
	t.mu.Unlock()
	t.engine.reopenAgent(agent, rows, now)
}

// putEach writes sts agent by agent, after a write of them all was
// refused for an agent that another helen has claimed since: the
// statuses of the others are written, that agent's are its new holder's.
func (t *statusTable) putEach(sts []state.Status) {
	byAgent := map[string][]state.Status{}
	for _, st := range sts {
		byAgent[st.Agent] = append(byAgent[st.Agent], st)
	}
	for agent, sts := range byAgent {
		if err := t.db.PutStatuses(sts...); errors.Is(err, state.ErrFenced) {
			t.log.Info("statuses not stored: another helen holds the agent since", "agent", agent, "n", len(sts))
		} else if err != nil {
			t.log.Error("store statuses", "agent", agent, "n", len(sts), "err", err)
		}
	}
}

// markDown asks the store to decide ev, an agent's down: if this helen's
// decision wins, the agent is down in memory too and ev, with the
// notifications the engine decides for it in the decision's transaction,
// is handed to the subscribers.
func (t *statusTable) markDown(ev state.Event) {
	t.engine.fresh()
	var p plan
	won, err := t.cluster.MarkDown(context.Background(), ev.Agent, ev.Time, t.downAfter, func() []state.EventNotifications {
		p = t.engine.decideAsKnown(ev, nil, false)
		return []state.EventNotifications{{Event: ev, Notify: p.notify}}
	})
	if err != nil {
		t.log.Error("record agent down", "agent", ev.Agent, "err", err)
		return
	}
	if !won {
		t.log.Debug("agent down not decided here: held, or decided by another helen", "agent", ev.Agent)
		return
	}
	t.mu.Lock()
	t.down[ev.Agent] = ev.Time
	t.mu.Unlock()
	t.log.Info("agent "+ev.To, "agent", ev.Agent, "from", ev.From, "to", ev.To, "message", ev.Message)
	t.stored(ev, p, true, false, t.log)
}

// markUp asks the store to clear agent's down at now: if this helen's
// decision wins, its event (which says for how long, as the store has
// it) is stored in the same transaction and handed to the subscribers.
func (t *statusTable) markUp(agent string, now time.Time) {
	t.engine.fresh()
	var ev state.Event
	var p plan
	_, won, err := t.cluster.MarkUp(context.Background(), agent, now, func(since time.Time) []state.EventNotifications {
		ev = upEvent(agent, since, now)
		p = t.engine.decideAsKnown(ev, nil, false)
		return []state.EventNotifications{{Event: ev, Notify: p.notify}}
	})
	if err != nil {
		t.log.Error("record agent up", "agent", agent, "err", err)
		return
	}
	if !won {
		return
	}
	t.log.Info("agent "+ev.To, "agent", ev.Agent, "from", ev.From, "to", ev.To, "message", ev.Message)
	t.stored(ev, p, true, false, t.log)
}

// sweepUnheld asks the store to declare down the agents no helen has
// held for downAfter at now, but those this helen waits for itself (a
// grace period of its own) or holds, and reads the agents down again.
func (t *statusTable) sweepUnheld(now time.Time) {
	agents, err := t.cluster.Unheld(context.Background(), now, t.downAfter, maxUnheldSweep)
	if err != nil {
		t.log.Error("agents no helen holds", "err", err)
	}
	for _, agent := range agents {
		t.sweepOne(agent, now)
	}
	down, err := t.db.AgentsDown()
	if err != nil {
		t.log.Error("agents down", "err", err)
		return
	}
	t.mu.Lock()
	t.down = down
	t.mu.Unlock()
}

func (t *statusTable) sweepOne(agent string, now time.Time) {
	t.writes.RLock()
	defer t.writes.RUnlock()
	defer t.lockMarks(agent)()
	t.mu.Lock()
	_, down := t.down[agent]
	skip := t.closed || down || t.forgotten[agent] || t.conns[agent] != nil || t.gone[agent] != nil
	t.mu.Unlock()
	if !skip {
		t.markDown(state.Event{Time: now, Agent: agent, From: "up", To: "down",
			Message: fmt.Sprintf("agent down: no helen has held it for %s", t.downAfter)})
	}
}

// clusterView is the status list of every helen's agents as the store
// has it, read again once it is viewsMaxAge old or stale.
type clusterView struct {
	mu    sync.Mutex
	valid bool
	at    time.Time
	rows  []state.Status
	down  map[string]time.Time
}

// viewsStale makes the next status list read the store again: this helen
// has changed it.
func (t *statusTable) viewsStale() {
	t.view.mu.Lock()
	t.view.valid = false
	t.view.mu.Unlock()
}

// clusterViews returns the status list of every agent of the cluster:
// the store's, with the statuses of the agents held here as the table
// has them (results not written yet).
func (t *statusTable) clusterViews(unfold bool) []StatusView {
	v := &t.view
	v.mu.Lock()
	now := t.clock.Now()
	if !v.valid || now.Sub(v.at) >= viewsMaxAge || now.Before(v.at) {
		rows, err := t.db.Statuses("")
		var down map[string]time.Time
		if err == nil {
			down, err = t.db.AgentsDown()
		}
		if err != nil {
			t.log.Error("status list", "err", err)
		} else {
			v.valid, v.at, v.rows, v.down = true, now, rows, down
		}
	}
	rows, down := slices.Clone(v.rows), maps.Clone(v.down)
	v.mu.Unlock()
	t.mu.Lock()
	for i, st := range rows {
		if t.conns[st.Agent] == nil {
			continue
		}
		if r := t.rows[pair{st.Agent, st.Schedule}]; r != nil && !r.Time.Before(st.Time) {
			rows[i] = *r
		}
	}
	t.mu.Unlock()
	return statusViews(rows, down, unfold)
}

// watch reads again what another helen changed, as the store's Watch
// tells it, until ctx ends.
func (m *Monitor) watch(ctx context.Context) {
	// What changed between New's read of the store and the first
	// listen is read again once listening, as after a lost watch.
	lost := true
	for ctx.Err() == nil {
		ch, err := m.cluster.Watch(ctx)
		if err != nil {
			if ctx.Err() == nil {
				m.cfg.Log.Error("watch the store's changes", "err", err)
			}
			lost = true
			t := m.clock.NewTimer(statusFlushEvery)
			select {
			case <-ctx.Done():
			case <-t.C():
			}
			t.Stop()
			continue
		}
		if lost {
			m.changed("resync") // what was told while it was not watched
			lost = false
		}
		for c := range ch {
			m.changed(c.Kind)
		}
	}
}

// changed reads again what a change of kind (state.Change) made stale.
func (m *Monitor) changed(kind string) {
	switch kind {
	case "schedules":
		m.reloadSchedules()
	case "silences", "acks", "routes":
		m.status.engine.reload()
	case "resync":
		m.reloadSchedules()
		m.status.engine.reload()
	}
}

// reloadSchedules runs the schedules as the store has them: those new or
// changed start again, those gone stop, and their statuses go with them
// as PutSchedule and DeleteSchedule do.
func (m *Monitor) reloadSchedules() {
	stored, err := m.store.Schedules()
	if err != nil {
		m.cfg.Log.Error("reload schedules", "err", err)
		return
	}
	changed, removed := m.sched.sync(stored)
	for _, sch := range changed {
		m.status.drop(func(k pair) bool { return k.schedule == sch.Name && !Matches(sch, k.agent) })
	}
	for _, name := range removed {
		m.status.drop(func(k pair) bool { return k.schedule == name })
	}
}

// sync makes the schedules run those of stored: it returns those it
// started again (new or changed) and the names of those it stopped.
func (sc *scheduler) sync(stored []state.Schedule) (changed []state.Schedule, removed []string) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	names := make(map[string]bool, len(stored))
	for _, s := range stored {
		names[s.Name] = true
		if old, ok := sc.schedules[s.Name]; ok && sameSchedule(old, s) {
			continue
		}
		sc.putLocked(s)
		changed = append(changed, s)
	}
	for name := range sc.schedules {
		if !names[name] {
			sc.removeLocked(name)
			removed = append(removed, name)
		}
	}
	return changed, removed
}

// sameSchedule reports whether a and b are one schedule, unchanged.
func sameSchedule(a, b state.Schedule) bool {
	return a.Name == b.Name && a.Check == b.Check && string(a.Args) == string(b.Args) &&
		a.Every == b.Every && a.Timeout == b.Timeout && a.Agents == b.Agents &&
		a.Attempts == b.Attempts && a.RetryEvery == b.RetryEvery &&
		a.Created.Equal(b.Created) && a.Updated.Equal(b.Updated)
}
