package helen

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
)

// StatusView is the status of a schedule on an agent as the API and the
// helen commands show it: while the agent is down, its statuses say
// unknown, and Previous says what the last result said.
type StatusView struct {
	state.Status
	AgentDown bool `json:"agent_down,omitempty"`
}

// statusTable is the state of every schedule on every agent, in memory,
// with the agents gone or down. Changes of status are events, stored at
// once with the new status; other results are written every flush.
type statusTable struct {
	db        *state.DB
	log       *slog.Logger
	downAfter time.Duration
	metrics   *monitorMetrics

	mu     sync.Mutex
	closed bool
	rows   map[pair]*state.Status
	dirty  map[pair]bool
	down   map[string]time.Time // agents declared down, since when
	gone   map[string]*grace    // agents disconnected, not yet down
	subs   map[chan state.Event]struct{}
	wg     sync.WaitGroup // grace expiries in progress
}

// grace is the wait before a disconnected agent is declared down.
type grace struct {
	t     *time.Timer
	since time.Time
}

func newStatusTable(db *state.DB, log *slog.Logger, downAfter time.Duration, m *monitorMetrics) (*statusTable, error) {
	rows, err := db.Statuses("")
	if err != nil {
		return nil, err
	}
	down, err := db.AgentsDown()
	if err != nil {
		return nil, err
	}
	t := &statusTable{
		db: db, log: log, downAfter: downAfter, metrics: m,
		rows:  make(map[pair]*state.Status, len(rows)),
		dirty: map[pair]bool{},
		down:  down,
		gone:  map[string]*grace{},
		subs:  map[chan state.Event]struct{}{},
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
	t.mu.Lock()
	if ctx.Err() != nil {
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
	row.Metrics = boundMetrics(doc.Metrics)
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
// again, an event.
func (t *statusTable) connected(agent string, now time.Time) {
	t.mu.Lock()
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
	if t.closed {
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
	// expire can look at it.
	g.t = time.AfterFunc(t.downAfter, func() { t.expire(agent, g) })
}

// expire declares an agent down when its grace period ends with no new
// session.
func (t *statusTable) expire(agent string, g *grace) {
	t.mu.Lock()
	if t.closed || t.gone[agent] != g {
		t.mu.Unlock()
		return
	}
	delete(t.gone, agent)
	now := time.Now()
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

// views returns the statuses, worst first.
func (t *statusTable) views() []StatusView {
	t.mu.Lock()
	rows := make([]state.Status, 0, len(t.rows))
	for _, row := range t.rows {
		rows = append(rows, *row)
	}
	down := maps.Clone(t.down)
	t.mu.Unlock()
	return statusViews(rows, down)
}

// statusViews turns stored statuses into views, worst first: the
// statuses of agents down say unknown.
func statusViews(rows []state.Status, down map[string]time.Time) []StatusView {
	out := make([]StatusView, len(rows))
	for i, st := range rows {
		if since, ok := down[st.Agent]; ok {
			st.Previous = st.Status
			st.Status = string(result.Unknown)
			st.Since = since
			st.Message = "agent down since " + since.Local().Format(time.DateTime)
			st.LongOutput = ""
			st.Metrics = nil
			out[i] = StatusView{Status: st, AgentDown: true}
			continue
		}
		out[i] = StatusView{Status: st}
	}
	slices.SortFunc(out, func(a, b StatusView) int { return compareStatusKeys(keyOfStatus(a), keyOfStatus(b)) })
	return out
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
