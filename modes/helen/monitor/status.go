package monitor

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
	"k8s.io/utils/clock"
)

// StatusView is a line of the status list, as the API, the helen
// commands and the dashboard show it: the status of a schedule on an
// agent, or for an agent down one line for the agent, its schedules
// folded under it (they say nothing new until it is back). Kind says
// which.
type StatusView struct {
	Kind string `json:"kind"`
	state.Status
	// Folded is how many schedules an agent down has folded under its
	// line (KindAgentDown).
	Folded int `json:"folded,omitempty"`
}

// The kinds of StatusView.
const (
	// KindSchedule is the status of a schedule on an agent not down.
	KindSchedule = "schedule"
	// KindAgentDown is an agent down: status unknown since it went down,
	// Schedule and Check "", Time its last result's.
	KindAgentDown = "agent_down"
	// KindFolded is, in the list unfolded (?all=true), a schedule on an
	// agent down: status unknown since it went down, Previous what its
	// last result said.
	KindFolded = "folded"
)

// statusTable is the state of every schedule on every agent, in memory,
// with the agents gone or down. Changes of status are events, stored at
// once with the new status; other results are written every flush.
type statusTable struct {
	db        state.Store
	log       *slog.Logger
	downAfter time.Duration
	clock     clock.WithDelayedExecution // the monitor's, of the grace periods
	metrics   *metrics

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
	// forgotten are the agents forgotten (forget) and not connected
	// since: what their last session still says is not recorded.
	forgotten map[string]bool
	subs      map[chan state.Event]struct{}
	wg        sync.WaitGroup // grace expiries in progress
}

// grace is the wait before a disconnected agent is declared down.
type grace struct {
	t     clock.Timer
	since time.Time
}

// newStatusTable loads the statuses of db; clk, nil for the real one,
// times the grace periods of downAfter.
func newStatusTable(db state.Store, log *slog.Logger, downAfter time.Duration, clk clock.WithDelayedExecution, m *metrics) (*statusTable, error) {
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
	t := &statusTable{
		db: db, log: log, downAfter: downAfter, clock: clk, metrics: m,
		rows:  make(map[pair]*state.Status, len(rows)),
		dirty: map[pair]bool{},
		down:  down,
		gone:  map[string]*grace{},
		subs:  map[chan state.Event]struct{}{},

		forgotten: map[string]bool{},
	}
	for _, st := range rows {
		t.rows[pair{st.Agent, st.Schedule}] = &st
	}
	return t, nil
}

// start gives every agent with statuses that is not known to be down the
// grace period to connect: none is connected when helen starts.
func (t *statusTable) start(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k := range t.rows {
		if _, down := t.down[k.agent]; !down && t.gone[k.agent] == nil {
			t.disconnectedLocked(k.agent, now)
		}
	}
}

// stop stops the grace timers and writes what is not yet written.
func (t *statusTable) stop() {
	t.mu.Lock()
	t.closed = true
	for name, g := range t.gone {
		g.t.Stop()
		delete(t.gone, name)
	}
	t.mu.Unlock()
	t.wg.Wait()
	t.flush()
}

// record takes the result of a run of schedule s on agent, received at
// now. A new status, or a first result, is an event. A run whose ctx has
// ended (its schedule removed or changed meanwhile) records nothing: the
// check under the lock orders it with drop, which comes after the cancel.
func (t *statusTable) record(ctx context.Context, agent string, s state.Schedule, doc result.Doc, now time.Time) {
	k := pair{agent, s.Name}
	status := string(doc.Status)
	t.writes.RLock()
	defer t.writes.RUnlock()
	t.mu.Lock()
	if ctx.Err() != nil || t.forgotten[agent] {
		t.mu.Unlock()
		return
	}
	row := t.rows[k]
	var ev *state.Event
	if row == nil || row.Status != status {
		from := ""
		if row == nil {
			row = &state.Status{Agent: agent, Schedule: s.Name}
			t.rows[k] = row
		} else {
			from = row.Status
			row.Previous = row.Status
		}
		row.Status, row.Since = status, now
		ev = &state.Event{Time: now, Agent: agent, Schedule: s.Name, Check: s.Check, From: from, To: status, Message: doc.Message}
	}
	row.Check = s.Check
	row.Message = doc.Message
	row.LongOutput = doc.LongOutput
	row.Time = now
	// The metrics as the result has them, as its history does; /metrics
	// cleans their names for Prometheus where it exports them.
	row.Metrics = slices.Clone(doc.Metrics)
	snap := *row
	if ev == nil {
		t.dirty[k] = true
	} else {
		delete(t.dirty, k)
	}
	t.mu.Unlock()
	if ev == nil {
		return
	}
	if err := t.db.PutStatuses(snap); err != nil {
		t.log.Error("store status", "agent", agent, "schedule", s.Name, "err", err)
	}
	t.event(*ev)
}

// event stores ev and hands it to the subscribers.
func (t *statusTable) event(ev state.Event) {
	if err := t.db.AddEvents(ev); err != nil {
		t.log.Error("store event", "agent", ev.Agent, "schedule", ev.Schedule, "err", err)
	}
	t.publish(ev)
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
		t.log.Error("store statuses", "n", len(sts), "err", err)
	}
}

// drop forgets the statuses for which match is true.
func (t *statusTable) drop(match func(pair) bool) {
	t.mu.Lock()
	var doomed []pair
	for k := range t.rows {
		if match(k) {
			doomed = append(doomed, k)
			delete(t.rows, k)
			delete(t.dirty, k)
		}
	}
	t.mu.Unlock()
	for _, k := range doomed {
		if err := t.db.DeleteStatus(k.agent, k.schedule); err != nil {
			t.log.Error("delete status", "agent", k.agent, "schedule", k.schedule, "err", err)
		}
	}
}

// connected notes that an agent connected: an agent that was down is up
// again, an event, and one forgotten is remembered.
func (t *statusTable) connected(agent string, now time.Time) {
	t.writes.RLock()
	defer t.writes.RUnlock()
	t.mu.Lock()
	delete(t.forgotten, agent)
	if g := t.gone[agent]; g != nil {
		g.t.Stop()
		delete(t.gone, agent)
	}
	downSince, wasDown := t.down[agent]
	delete(t.down, agent)
	t.mu.Unlock()
	if !wasDown {
		return
	}
	if err := t.db.SetAgentDown(agent, time.Time{}); err != nil {
		t.log.Error("record agent up", "agent", agent, "err", err)
	}
	t.event(state.Event{Time: now, Agent: agent, From: "down", To: "up",
		Message: fmt.Sprintf("agent up after %s down", now.Sub(downSince).Round(time.Second))})
}

// disconnected starts the grace period of an agent whose session ended.
func (t *statusTable) disconnected(agent string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.disconnectedLocked(agent, now)
}

func (t *statusTable) disconnectedLocked(agent string, now time.Time) {
	if t.closed || t.forgotten[agent] {
		return
	}
	if _, down := t.down[agent]; down {
		return
	}
	if g := t.gone[agent]; g != nil {
		g.t.Stop()
	}
	g := &grace{since: now}
	t.gone[agent] = g
	// Set under the lock, which expire takes first, so g.t is set before
	// expire can look at it. Expire runs in a goroutine of its own: a
	// fake clock calls back with its lock held, which expire's look at
	// the clock would wait for.
	g.t = t.clock.AfterFunc(t.downAfter, func() { go t.expire(agent, g) })
}

// expire declares an agent down when its grace period ends with no new
// session.
func (t *statusTable) expire(agent string, g *grace) {
	t.writes.RLock()
	defer t.writes.RUnlock()
	t.mu.Lock()
	if t.closed || t.gone[agent] != g {
		t.mu.Unlock()
		return
	}
	delete(t.gone, agent)
	now := t.clock.Now()
	t.down[agent] = now
	t.wg.Add(1)
	t.mu.Unlock()
	defer t.wg.Done()
	if err := t.db.SetAgentDown(agent, now); err != nil {
		t.log.Error("record agent down", "agent", agent, "err", err)
	}
	t.event(state.Event{Time: now, Agent: agent, From: "up", To: "down",
		Message: fmt.Sprintf("agent down: no connection for %s", now.Sub(g.since).Round(time.Millisecond))})
}

// forget forgets an agent, which helen has checked is not connected or
// is revoked: its statuses, its grace period or mark as down, in memory
// and in the store (state.Forget, with ev), and what its last session, if
// still ending, records. It returns an error wrapping state.ErrNotFound
// when there is nothing to forget.
func (t *statusTable) forget(agent string, ev state.Event) error {
	t.writes.Lock()
	defer t.writes.Unlock()
	if err := t.db.Forget(agent, ev.Time, ev); err != nil {
		return err
	}
	t.mu.Lock()
	for k := range t.rows {
		if k.agent == agent {
			delete(t.rows, k)
			delete(t.dirty, k)
		}
	}
	delete(t.down, agent)
	if g := t.gone[agent]; g != nil {
		g.t.Stop()
		delete(t.gone, agent)
	}
	t.forgotten[agent] = true
	t.mu.Unlock()
	t.publish(ev)
	return nil
}

// views returns the status list, worst first, folded (unfold false) or
// not.
func (t *statusTable) views(unfold bool) []StatusView {
	t.mu.Lock()
	rows := make([]state.Status, 0, len(t.rows))
	for _, row := range t.rows {
		rows = append(rows, *row)
	}
	down := maps.Clone(t.down)
	t.mu.Unlock()
	return statusViews(rows, down, unfold)
}

// statusViews turns stored statuses into the status list, worst first:
// one line for each agent down, with the number of its schedules, and
// with unfold a line for each of those too, saying unknown.
func statusViews(rows []state.Status, down map[string]time.Time, unfold bool) []StatusView {
	out := make([]StatusView, 0, len(rows))
	agents := map[string]*StatusView{}
	for _, st := range rows {
		since, ok := down[st.Agent]
		if !ok {
			out = append(out, StatusView{Kind: KindSchedule, Status: st})
			continue
		}
		a := agents[st.Agent]
		if a == nil {
			a = &StatusView{Kind: KindAgentDown, Status: state.Status{Agent: st.Agent, Status: string(result.Unknown), Since: since}}
			agents[st.Agent] = a
		}
		a.Folded++
		if st.Time.After(a.Time) {
			a.Time = st.Time
		}
		if unfold {
			out = append(out, StatusView{Kind: KindFolded, Status: state.Status{
				Agent: st.Agent, Schedule: st.Schedule, Check: st.Check, Status: string(result.Unknown), Since: since,
				Previous: st.Status, Message: downMessage(since), Time: st.Time,
			}})
		}
	}
	for _, a := range agents {
		schedules := "schedules"
		if a.Folded == 1 {
			schedules = "schedule"
		}
		a.Message = fmt.Sprintf("%s; %d %s folded", downMessage(a.Since), a.Folded, schedules)
		out = append(out, *a)
	}
	slices.SortFunc(out, func(a, b StatusView) int { return CompareKeys(KeyOf(a), KeyOf(b)) })
	return out
}

// downMessage is the message of the line of an agent down.
func downMessage(since time.Time) string {
	return "agent down since " + since.Local().Format(time.DateTime)
}

// severity orders statuses worst first: critical, warning, unknown, ok.
func severity(status string) int {
	switch result.Status(status) {
	case result.Critical:
		return 0
	case result.Warning:
		return 1
	case result.Unknown:
		return 2
	}
	return 3
}

// StatusKey is the place of a status in the list, worst first: its
// severity, agent and schedule.
type StatusKey struct {
	Severity        int
	Agent, Schedule string
}

// KeyOf returns the place of v in the list.
func KeyOf(v StatusView) StatusKey {
	return StatusKey{severity(v.Status.Status), v.Agent, v.Schedule}
}

// CompareKeys orders the places of statuses in the list.
func CompareKeys(a, b StatusKey) int {
	return cmp.Or(cmp.Compare(a.Severity, b.Severity), cmp.Compare(a.Agent, b.Agent), cmp.Compare(a.Schedule, b.Schedule))
}
