// Package monitor is helen's monitoring: it runs the schedules on the
// agents connected, times their runs, keeps the status of every schedule
// on every agent, makes the events of their changes and declares agents
// down. It knows agents only through Agent, what the link to them offers,
// and its state only through state.Store, so that it runs on a fake clock
// with no TLS in its tests.
package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"k8s.io/utils/clock"

	"github.com/equus-monitoring/equus/internal/metricset"
	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
)

// An Agent is one connection of a connected agent, as the link to the
// agents gives it.
type Agent interface {
	// Name is the agent's name.
	Name() string
	// Check sends a check with args and waits for its result until ctx
	// ends: the agent's, capped as the store keeps it (state.Cap), or
	// status unknown once ctx's deadline has passed. It keeps ctx no
	// longer than it runs: a schedule's runs share one (runCtx).
	Check(ctx context.Context, check string, args []byte) (result.Doc, error)
	// Done is closed when the connection has ended.
	Done() <-chan struct{}
	// Log is the logger of the lines about the agent.
	Log() *slog.Logger
	// Silence is how long the connection has brought nothing from the
	// agent, on the link's clock. The link asks an idle agent for a word
	// well within DownAfter (helen's pings), so that only an agent that
	// cannot answer stays silent that long.
	Silence() time.Duration
}

// Clock is what the monitor waits on: its schedules' timers, its
// periodic writes and the agents' grace periods, all of them.
type Clock interface {
	clock.WithTicker
	clock.WithDelayedExecution
}

// Config is the monitor's configuration.
type Config struct {
	Log *slog.Logger
	// DownAfter is how long an agent may stay silent, connected or not,
	// before it is declared down: its silence is counted from the last
	// message its link heard from it.
	DownAfter time.Duration
	// HistoryMaxAge is how long events are kept (0: 30 days).
	HistoryMaxAge time.Duration
	// Flapping says when a schedule flaps on an agent (nil:
	// DefaultFlapping).
	Flapping *Flapping
	// Clock is the monitor's time (nil: the real one).
	Clock Clock
	// Notify, when not nil, starts the delivery workers, which send what
	// the outbox holds; nil leaves it to be delivered by a later start.
	Notify *NotifyConfig
}

// How often the status table is written and the events pruned.
const (
	statusFlushEvery = 5 * time.Second
	eventsPruneEvery = 10 * time.Minute
)

// ErrNoSchedule is returned for a schedule that does not exist.
var ErrNoSchedule = errors.New("helen: no such schedule")

// Monitor runs the schedules and keeps the status of every schedule on
// every agent.
type Monitor struct {
	cfg     Config
	store   state.Store
	clock   Clock
	sched   *scheduler
	status  *statusTable
	metrics *metrics
	deliver *deliverer    // nil when Config.Notify is
	stopped chan struct{} // closed when the loop of Start has ended
	// cluster is the store as one that many helens share, nil when it
	// is not (cluster.go); watched is closed when the watch of its
	// changes has ended.
	cluster state.Cluster
	watched chan struct{}
	// delivered is closed when the delivery workers have ended.
	delivered chan struct{}
}

// New loads the schedules and the statuses of store, and puts the
// monitor's metrics in set.
func New(store state.Store, cfg Config, set *metricset.Set) (*Monitor, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	clk := cfg.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	fl := DefaultFlapping
	if cfg.Flapping != nil {
		fl = *cfg.Flapping
	}
	if err := fl.Check(); err != nil {
		return nil, err
	}
	schedules, err := store.Schedules()
	if err != nil {
		return nil, err
	}
	m := &Monitor{cfg: cfg, store: store, clock: clk, metrics: newMetrics(set)}
	if m.status, err = newStatusTable(store, cfg.Log, cfg.DownAfter, fl, clk, m.metrics); err != nil {
		return nil, err
	}
	if cl, ok := store.(state.Cluster); ok {
		m.cluster, m.status.cluster = cl, cl
	}
	m.sched = newScheduler(m, schedules)
	// Statuses of schedules removed, or changed to other agents, while
	// helen was not running (or written as they were removed) go.
	byName := make(map[string]state.Schedule, len(schedules))
	for _, sch := range schedules {
		byName[sch.Name] = sch
	}
	m.status.drop(func(k pair) bool {
		sch, ok := byName[k.schedule]
		return !ok || !Matches(sch, k.agent)
	})
	registerStatus(set, m.status)
	if cfg.Notify != nil {
		m.deliver = newDeliverer(store, cfg.Log, clk, *cfg.Notify, set)
		m.status.notified = m.deliver.poke
	}
	return m, nil
}

// Start starts the schedules, the grace periods of the agents not
// connected yet, and the loop that writes statuses and prunes events,
// until ctx ends.
func (m *Monitor) Start(ctx context.Context) {
	m.status.start(m.clock.Now())
	m.sched.start(ctx)
	m.stopped = make(chan struct{})
	go func() { defer close(m.stopped); m.loop(ctx) }()
	if m.cluster != nil {
		m.watched = make(chan struct{})
		go func() { defer close(m.watched); m.watch(ctx) }()
	}
	if m.deliver != nil {
		m.delivered = make(chan struct{})
		go func() { defer close(m.delivered); m.deliver.run(ctx) }()
	}
}

// Stop ends the runs of schedules and writes the statuses. Call it after
// the context of Start has ended and the agents' connections with it.
func (m *Monitor) Stop() {
	m.sched.stop()
	if m.stopped != nil {
		<-m.stopped
	}
	if m.delivered != nil {
		<-m.delivered
	}
	if m.watched != nil {
		<-m.watched
	}
	m.status.stop()
}

func (m *Monitor) loop(ctx context.Context) {
	flush := m.clock.NewTicker(statusFlushEvery)
	defer flush.Stop()
	prune := m.clock.NewTicker(eventsPruneEvery)
	defer prune.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-flush.C():
			m.status.flush()
			m.status.renotify(m.clock.Now())
			if m.cluster != nil {
				m.status.sweepUnheld(m.clock.Now())
			}
		case <-prune.C():
			age := m.cfg.HistoryMaxAge
			if age <= 0 {
				age = 30 * 24 * time.Hour
			}
			if _, err := m.store.PruneEvents(m.clock.Now().Add(-age)); err != nil {
				m.cfg.Log.Error("prune events", "err", err)
			}
		}
	}
}

// Connected hands the monitor a new connection of an agent, which takes
// the place of its older one.
func (m *Monitor) Connected(a Agent) {
	m.status.connected(a, m.clock.Now())
	m.sched.attach(a)
}

// Disconnected tells the monitor that a connection ended; current reports
// whether it was its agent's current one (not one replaced by a newer).
func (m *Monitor) Disconnected(a Agent, current bool) {
	m.sched.detach(a)
	if current {
		m.status.disconnected(a, m.clock.Now())
	}
}

// PutSchedule creates or replaces a schedule and starts running it at
// once. It returns the schedule as stored, defaults filled in.
func (m *Monitor) PutSchedule(sch state.Schedule) (state.Schedule, error) {
	sch, err := PutSchedule(m.store, sch, m.clock.Now())
	if err != nil {
		return sch, err
	}
	m.sched.put(sch)
	m.status.drop(func(k pair) bool { return k.schedule == sch.Name && !Matches(sch, k.agent) })
	return sch, nil
}

// DeleteSchedule stops a schedule and forgets it and its statuses.
func (m *Monitor) DeleteSchedule(name string) error {
	of := func(k pair) bool { return k.schedule == name }
	if err := m.status.dropAfter(of, func() error { return DeleteSchedule(m.store, name) }); err != nil {
		return err
	}
	m.sched.remove(name)
	// A run that ended as the schedule went may have recorded since.
	m.status.drop(of)
	return nil
}

// Schedules returns the schedules, by name.
func (m *Monitor) Schedules() []state.Schedule { return m.sched.list() }

// Statuses returns the status list, worst first: critical, warning,
// unknown, ok; then by agent and schedule. An agent down is one line, its
// schedules folded under it, unless unfold: then each follows it.
func (m *Monitor) Statuses(unfold bool) []StatusView { return m.status.views(unfold) }

// Subscribe returns a channel of the events from now on, buffered for buf
// of them, and the function that ends the subscription. Events that find
// the buffer full are dropped.
func (m *Monitor) Subscribe(buf int) (<-chan state.Event, func()) {
	return m.status.subscribe(buf)
}

// Published hands the subscribers an event stored by someone else (a
// revocation).
func (m *Monitor) Published(ev state.Event) { m.status.publish(ev) }

// Record stores ev, an event of an agent made outside the monitor (a
// shell session's start or end), with the notifications of the routes
// that take it in the same transaction, and hands it to the subscribers.
func (m *Monitor) Record(ev state.Event) error {
	if ev.Agent == "" || ev.Schedule != "" {
		return fmt.Errorf("monitor: record an event of agent %q, schedule %q: only an agent's own", ev.Agent, ev.Schedule)
	}
	return m.status.eventOf(ev, nil, false, m.status.log)
}

// Forget forgets an agent's statuses, grace period and down mark, and
// stores its forgetting (state.Store.Forget) with ev.
func (m *Monitor) Forget(agent string, ev state.Event) error { return m.status.forget(agent, ev) }

// Waiting reports whether agent is in its grace period: disconnected, and
// not declared down yet.
func (m *Monitor) Waiting(agent string) bool {
	m.status.mu.Lock()
	defer m.status.mu.Unlock()
	return m.status.gone[agent] != nil
}

// Runs returns the agents that schedule runs on now, by name.
func (m *Monitor) Runs(schedule string) []string {
	m.sched.mu.Lock()
	defer m.sched.mu.Unlock()
	var on []string
	for agent, rs := range m.sched.runs {
		if rs[schedule] != nil {
			on = append(on, agent)
		}
	}
	slices.Sort(on)
	return on
}

// The functions below serve both a running helen and the commands run
// offline against its data directory.

// PutSchedule checks sch, fills in its defaults and stores it, as made or
// changed at now. It returns the schedule as stored.
func PutSchedule(store state.Store, sch state.Schedule, now time.Time) (state.Schedule, error) {
	if err := CheckSchedule(&sch); err != nil {
		return sch, err
	}
	sch.Created, sch.Updated = now, now
	if err := store.PutSchedule(sch); err != nil {
		return sch, err
	}
	return store.Schedule(sch.Name)
}

// DeleteSchedule removes a schedule from store.
func DeleteSchedule(store state.Store, name string) error {
	err := store.DeleteSchedule(name)
	if errors.Is(err, state.ErrNotFound) {
		return fmt.Errorf("%w: %s", ErrNoSchedule, name)
	}
	return err
}

// StoredSchedules returns the schedules of store, by name.
func StoredSchedules(store state.Store) ([]state.Schedule, error) {
	out, err := store.Schedules()
	if out == nil {
		out = []state.Schedule{}
	}
	return out, err
}

// StoredStatuses returns the status list as store has it.
func StoredStatuses(store state.Store, unfold bool) ([]StatusView, error) {
	rows, err := store.Statuses("")
	if err != nil {
		return nil, err
	}
	down, err := store.AgentsDown()
	if err != nil {
		return nil, err
	}
	return statusViews(rows, down, unfold), nil
}

// StoredEvents returns the events of store since since, at most limit.
func StoredEvents(store state.Store, since time.Time, limit int) ([]state.Event, error) {
	out, err := store.Events(since, time.Time{}, limit)
	if out == nil {
		out = []state.Event{}
	}
	return out, err
}
