package monitor

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
	"k8s.io/utils/clock"
)

// statusTable is the state of every schedule on every agent, in memory,
// with the agents gone or down. Changes of status are events, stored at
// once with the new status; other results are written every flush.
type statusTable struct {
	db        state.Store
	log       *slog.Logger
	downAfter time.Duration
	flapping  Flapping
	clock     clock.WithDelayedExecution // the monitor's, of the grace periods
	metrics   *metrics
	engine    *engine // decides the notifications of the events
	// notified, when not nil, is told that notifications were stored.
	notified func()

	// writes orders the table's writes of an agent's statuses and down
	// mark (read-locked around each, from the change in memory to the
	// store) before and after forget (locked), so that no write begun
	// before forget lands after it and brings a forgotten status back.
	writes sync.RWMutex

	mu     sync.Mutex
	closed bool
	rows   map[pair]*state.Status
	dirty  map[pair]bool
	down   map[string]time.Time // agents declared down, since when
	gone   map[string]*grace    // agents disconnected, not yet down
	conns  map[string]Agent     // agents' current connections, swept for silence
	sweep  clock.Timer          // the next sweep (sweepSilent)
	// forgotten are the agents forgotten (forget) and not connected
	// since: what their last session still says is not recorded.
	forgotten map[string]bool
	subs      map[chan state.Event]struct{}
	wg        sync.WaitGroup // grace expiries and sweeps in progress

	// cluster is the store as one shared by many helens, nil when it is
	// not (cluster.go).
	cluster state.Cluster
	// marks order this helen's decisions of each agent's down and up
	// (striped by agent), each from the look at memory to the store's
	// decision: a session that starts as the grace period ends sees the
	// down decided before its up, or stops it.
	marks [64]sync.Mutex
	view  clusterView // the status list of every helen's agents
}

// newStatusTable loads the statuses of db; clk, nil for the real one,
// times the grace periods of downAfter; fl says when a schedule flaps.
func newStatusTable(db state.Store, log *slog.Logger, downAfter time.Duration, fl Flapping, clk clock.WithDelayedExecution, m *metrics) (*statusTable, error) {
	rows, err := db.Statuses("")
	if err != nil {
		return nil, err
	}
	down, err := db.AgentsDown()
	if err != nil {
		return nil, err
	}
	if clk == nil {
		clk = clock.RealClock{}
	}
	eng, err := newEngine(db, log)
	if err != nil {
		return nil, err
	}
	t := &statusTable{
		db: db, log: log, downAfter: downAfter, flapping: fl, clock: clk, metrics: m, engine: eng,
		rows:  make(map[pair]*state.Status, len(rows)),
		dirty: map[pair]bool{},
		down:  down,
		gone:  map[string]*grace{},
		conns: map[string]Agent{},
		subs:  map[chan state.Event]struct{}{},

		forgotten: map[string]bool{},
	}
	for _, st := range rows {
		t.rows[pair{st.Agent, st.Schedule}] = &st
	}
	return t, nil
}

// start rebuilds the problems told that re-notification looks at
// (engine.reopen), gives every agent with statuses that is not known to
// be down the grace period to connect (none is connected when helen
// starts), and starts the sweeps of the agents connected for silence.
func (t *statusTable) start(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cluster == nil {
		// In a cluster no agent is held here yet: the problems of each
		// are reopened as its session starts (load).
		t.engine.reopen(t.rows, t.down, now)
	}
	for k := range t.rows {
		if _, down := t.down[k.agent]; !down && t.gone[k.agent] == nil {
			t.disconnectedLocked(k.agent, now, 0)
		}
	}
	t.armSweepLocked()
}

// stop stops the grace timers and the sweeps and writes what is not yet
// written.
func (t *statusTable) stop() {
	t.mu.Lock()
	t.closed = true
	if t.sweep != nil {
		t.sweep.Stop()
	}
	for name, g := range t.gone {
		g.t.Stop()
		delete(t.gone, name)
	}
	t.mu.Unlock()
	t.wg.Wait()
	t.flush()
}

// record takes the result of a run of schedule s on agent, received at
// now, and reports whether the status is soft after it: a problem not
// confirmed yet, to run again at s.RetryEvery. A result that is an event
// (evaluate) is stored at once with the new status, and so is one that
// moved the status's confirmation or flapping; others are written with
// the next flush. A run whose ctx has ended (its schedule removed or
// changed meanwhile) records nothing: the check under the lock orders it
// with drop, which comes after the cancel.
func (t *statusTable) record(ctx context.Context, agent string, s state.Schedule, doc result.Doc, now time.Time) (soft bool) {
	k := pair{agent, s.Name}
	t.writes.RLock()
	defer t.writes.RUnlock()
	t.mu.Lock()
	if ctx.Err() != nil || t.forgotten[agent] {
		t.mu.Unlock()
		return false
	}
	row := t.rows[k]
	first := row == nil
	if first {
		row = &state.Status{Agent: agent, Schedule: s.Name}
		t.rows[k] = row
	}
	from := row.Status
	row.Check = s.Check
	v := evaluate(row, first, string(doc.Status), now, s.Attempts, t.flapping)
	row.Message = doc.Message
	row.LongOutput = doc.LongOutput
	row.Time = now
	// The metrics as the result has them, as its history does; /metrics
	// cleans their names for Prometheus where it exports them.
	row.Metrics = slices.Clone(doc.Metrics)
	snap := *row
	soft = row.StateType == state.Soft
	_, agentDown := t.down[agent]
	log := t.log
	if a := t.conns[agent]; a != nil {
		log = a.Log()
	}
	if !v.eventful() && !v.moved {
		t.dirty[k] = true
		t.mu.Unlock()
		return soft
	}
	delete(t.dirty, k)
	t.mu.Unlock()
	if err := t.db.PutStatuses(snap); errors.Is(err, state.ErrFenced) {
		log.Info("status not stored: another helen holds the agent since", "schedule", s.Name)
	} else if err != nil {
		t.log.Error("store status", "agent", agent, "schedule", s.Name, "err", err)
	}
	if v.eventful() {
		ev := eventOf(&snap, v, from, doc.Message, now)
		if ev.HardChange {
			log.Info("hard change", "agent", agent, "schedule", s.Name, "from", ev.HardFrom, "to", ev.To, "flapping", ev.Flapping, "message", ev.Message)
		}
		t.eventOf(ev, &snap, agentDown, log)
	}
	return soft
}

// soft returns the time of the last result of a schedule on an agent
// whose status is soft, and false if it is not.
func (t *statusTable) soft(k pair) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	row := t.rows[k]
	if row == nil || row.StateType != state.Soft {
		return time.Time{}, false
	}
	return row.Time, true
}

// event stores ev, an agent's (down, or up again), with its
// notifications, logs it, and hands it to the subscribers.
func (t *statusTable) event(ev state.Event) {
	t.log.Info("agent "+ev.To, "agent", ev.Agent, "from", ev.From, "to", ev.To, "message", ev.Message)
	t.eventOf(ev, nil, false, t.log)
}

// eventOf stores ev with the notifications it makes (st the status it
// made, nil for an agent's; agentDown whether its agent was down), in one
// transaction, does what a recovery asks (a silence that expires on
// resolve ends, the acknowledgement clears), and hands ev to the
// subscribers. log is the lines' about its agent. It returns the error
// of storing it, which it logs too.
func (t *statusTable) eventOf(ev state.Event, st *state.Status, agentDown bool, log *slog.Logger) error {
	p := t.engine.decide(ev, st, agentDown)
	err := t.db.AddEventsWithNotifications(state.EventNotifications{Event: ev, Notify: p.notify})
	if err != nil {
		t.log.Error("store event", "agent", ev.Agent, "schedule", ev.Schedule, "err", err)
	}
	t.stored(ev, p, err == nil, agentDown, log)
	return err
}

// stored does what follows the storing of ev, whose plan is p (ok
// reports whether it was stored): it wakes the delivery, ends the
// silences and clears the acknowledgement the recovery ends, and hands ev
// to the subscribers.
func (t *statusTable) stored(ev state.Event, p plan, ok, agentDown bool, log *slog.Logger) {
	if ok && len(p.notify) > 0 && t.notified != nil {
		t.notified()
	}
	t.viewsStale()
	switch {
	case p.silenced != "":
		log.Info("notification silenced", "agent", ev.Agent, "schedule", ev.Schedule, "to", ev.To, "silence", p.silenced)
	case ev.Schedule != "" && agentDown && len(kinds(ev)) > 0:
		log.Info("notification folded into agent down", "agent", ev.Agent, "schedule", ev.Schedule, "to", ev.To)
	}
	for _, id := range p.endSilences {
		if err := t.db.EndSilence(id, ev.Time); err != nil {
			t.log.Error("end silence on resolve", "silence", id, "err", err)
		} else {
			log.Info("silence ended on resolve", "silence", id, "agent", ev.Agent, "schedule", ev.Schedule)
		}
	}
	if p.unack != nil {
		if err := t.db.Unack(p.unack.agent, p.unack.schedule); err != nil {
			t.log.Error("clear acknowledgement", "agent", p.unack.agent, "schedule", p.unack.schedule, "err", err)
		} else {
			log.Info("acknowledgement cleared on recovery", "agent", p.unack.agent, "schedule", p.unack.schedule)
		}
	}
	t.publish(ev)
}

// renotify stores the re-notifications due at now (engine.renotify).
func (t *statusTable) renotify(now time.Time) {
	row := func(k pair) (state.Status, bool) {
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.cluster != nil && t.conns[k.agent] == nil {
			// Another helen's, or none's: its holder tells it.
			return state.Status{}, false
		}
		if r := t.rows[k]; r != nil {
			return *r, true
		}
		return state.Status{}, false
	}
	down := func(agent string) bool {
		t.mu.Lock()
		defer t.mu.Unlock()
		_, ok := t.down[agent]
		return ok
	}
	ens := t.engine.renotify(now, row, down)
	if len(ens) == 0 {
		return
	}
	if err := t.db.AddEventsWithNotifications(ens...); err != nil {
		t.log.Error("store re-notifications", "n", len(ens), "err", err)
		return
	}
	if t.notified != nil {
		t.notified()
	}
}

// publish hands a stored event to the subscribers.
func (t *statusTable) publish(ev state.Event) {
	t.metrics.events.Inc()
	t.mu.Lock()
	defer t.mu.Unlock()
	for ch := range t.subs {
		select {
		case ch <- ev:
		default:
			t.metrics.eventsDropped.Inc()
		}
	}
}

// subscribe returns a channel of the events from now on, and the function
// that ends the subscription. Events that find the channel full are
// dropped, never waited for.
func (t *statusTable) subscribe(buf int) (<-chan state.Event, func()) {
	ch := make(chan state.Event, buf)
	t.mu.Lock()
	t.subs[ch] = struct{}{}
	t.mu.Unlock()
	return ch, func() {
		t.mu.Lock()
		delete(t.subs, ch)
		t.mu.Unlock()
	}
}

// flush writes the statuses changed since the last flush.
func (t *statusTable) flush() {
	t.writes.RLock()
	defer t.writes.RUnlock()
	t.mu.Lock()
	sts := make([]state.Status, 0, len(t.dirty))
	for k := range t.dirty {
		if row := t.rows[k]; row != nil {
			sts = append(sts, *row)
		}
	}
	clear(t.dirty)
	t.mu.Unlock()
	if len(sts) == 0 {
		return
	}
	if err := t.db.PutStatuses(sts...); err != nil {
		if t.cluster != nil && errors.Is(err, state.ErrFenced) {
			t.putEach(sts)
			return
		}
		t.log.Error("store statuses", "n", len(sts), "err", err)
	}
}

// dropAfter runs store, which removes the statuses for which match is
// true from the store, and then forgets them in memory, with no write of
// the table in between: one transaction however many there are.
func (t *statusTable) dropAfter(match func(pair) bool, store func() error) error {
	t.writes.Lock()
	defer t.writes.Unlock()
	if err := store(); err != nil {
		return err
	}
	t.mu.Lock()
	for k := range t.rows {
		if match(k) {
			delete(t.rows, k)
			delete(t.dirty, k)
		}
	}
	t.mu.Unlock()
	return nil
}

// drop forgets the statuses for which match is true, in memory and in
// the store (one transaction, none when there are none).
func (t *statusTable) drop(match func(pair) bool) {
	t.mu.Lock()
	var doomed []state.StatusKey
	for k := range t.rows {
		if match(k) {
			doomed = append(doomed, state.StatusKey{Agent: k.agent, Schedule: k.schedule})
			delete(t.rows, k)
			delete(t.dirty, k)
		}
	}
	t.mu.Unlock()
	if err := t.db.DeleteStatuses(doomed); err != nil {
		t.log.Error("delete statuses", "n", len(doomed), "err", err)
	}
}

// views returns the status list, worst first, folded (unfold false) or
// not.
func (t *statusTable) views(unfold bool) []StatusView {
	if t.cluster != nil {
		return t.clusterViews(unfold)
	}
	t.mu.Lock()
	rows := make([]state.Status, 0, len(t.rows))
	for _, row := range t.rows {
		rows = append(rows, *row)
	}
	down := maps.Clone(t.down)
	t.mu.Unlock()
	return statusViews(rows, down, unfold)
}
