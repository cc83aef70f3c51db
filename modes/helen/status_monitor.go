package helen

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/equus-monitoring/equus/state"
)

// How often the status table is written and the events pruned.
const (
	statusFlushEvery = 5 * time.Second
	eventsPruneEvery = 10 * time.Minute
)

// monitor is the part of helen that runs the schedules and keeps the
// status of every schedule on every agent.
type monitor struct {
	sched   *scheduler
	status  *statusTable
	metrics *monitorMetrics

	token        string // the operators' admin token
	tokenCreated bool   // reports whether this start created the token
}

// newMonitor loads the schedules, the statuses and the admin token, and
// registers the status metrics.
func (s *Server) newMonitor() (*monitor, error) {
	token, created, err := loadOrCreateAdminToken(s.cfg.DataDir)
	if err != nil {
		return nil, err
	}
	schedules, err := s.db.Schedules()
	if err != nil {
		return nil, err
	}
	m := &monitor{metrics: newMonitorMetrics(), token: token, tokenCreated: created}
	if m.status, err = newStatusTable(s.db, s.log, s.cfg.DownAfter, s.cfg.downClock, m.metrics); err != nil {
		return nil, err
	}
	m.sched = newScheduler(s, schedules)
	// Statuses of schedules removed, or changed to other agents, while
	// helen was not running (or written as they were removed) go.
	byName := make(map[string]state.Schedule, len(schedules))
	for _, sch := range schedules {
		byName[sch.Name] = sch
	}
	m.status.drop(func(k pair) bool {
		sch, ok := byName[k.schedule]
		return !ok || !matches(sch, k.agent)
	})
	m.metrics.register(s.metrics.reg)
	s.metrics.reg.MustRegister(statusCollector{m.status}, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "helen_database_bytes", Help: "Size of helen's database file.",
	}, func() float64 {
		n, err := s.db.Size()
		if err != nil {
			return 0
		}
		return float64(n)
	}))
	return m, nil
}

// startMonitor starts the schedules, the grace periods of the agents not
// connected yet, and the loop that writes statuses and prunes events.
func (s *Server) startMonitor(ctx context.Context) {
	s.monitor.status.start(s.monitor.status.clock.Now())
	s.monitor.sched.start(ctx)
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.statusLoop(ctx) }()
}

// stopMonitor ends the runs of schedules and writes the statuses. Serve
// calls it after the sessions have ended.
func (s *Server) stopMonitor() {
	s.monitor.sched.stop()
	s.monitor.status.stop()
}

func (s *Server) statusLoop(ctx context.Context) {
	flush := time.NewTicker(statusFlushEvery)
	defer flush.Stop()
	prune := time.NewTicker(eventsPruneEvery)
	defer prune.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-flush.C:
			s.monitor.status.flush()
		case <-prune.C:
			age := s.cfg.HistoryMaxAge
			if age <= 0 {
				age = 30 * 24 * time.Hour
			}
			if _, err := s.db.PruneEvents(time.Now().Add(-age)); err != nil {
				s.log.Error("prune events", "err", err)
			}
		}
	}
}

// sessionUp hands a newly registered session to the monitor.
func (s *Server) sessionUp(ss *session) {
	s.monitor.status.connected(ss.name, s.monitor.status.clock.Now())
	s.monitor.sched.attach(ss)
}

// sessionDown tells the monitor that a session ended; current reports
// whether it was its agent's current session (not one replaced by a newer).
func (s *Server) sessionDown(ss *session, current bool) {
	s.monitor.sched.detach(ss)
	if current {
		s.monitor.status.disconnected(ss.name, s.monitor.status.clock.Now())
	}
}

// AdminToken returns the operators' admin token, and reports whether it
// was created by this start (so that it is printed once).
func (s *Server) AdminToken() (token string, created bool) {
	return s.monitor.token, s.monitor.tokenCreated
}

// PutSchedule creates or replaces a schedule and starts running it at
// once. It returns the schedule as stored, defaults filled in.
func (s *Server) PutSchedule(sch state.Schedule) (state.Schedule, error) {
	sch, err := putSchedule(s.db, sch, time.Now())
	if err != nil {
		return sch, err
	}
	s.monitor.sched.put(sch)
	s.monitor.status.drop(func(k pair) bool { return k.schedule == sch.Name && !matches(sch, k.agent) })
	return sch, nil
}

// DeleteSchedule stops a schedule and forgets it and its statuses.
func (s *Server) DeleteSchedule(name string) error {
	if err := deleteSchedule(s.db, name); err != nil {
		return err
	}
	s.monitor.sched.remove(name)
	s.monitor.status.drop(func(k pair) bool { return k.schedule == name })
	return nil
}

// Schedules returns the schedules, by name.
func (s *Server) Schedules() []state.Schedule { return s.monitor.sched.list() }

// Statuses returns the status list, worst first: critical, warning,
// unknown, ok; then by agent and schedule. An agent down is one line, its
// schedules folded under it, unless unfold: then each follows it.
func (s *Server) Statuses(unfold bool) []StatusView { return s.monitor.status.views(unfold) }

// Subscribe returns a channel of the events from now on, buffered for buf
// of them, and the function that ends the subscription. Events that find
// the buffer full are dropped.
func (s *Server) Subscribe(buf int) (<-chan state.Event, func()) {
	return s.monitor.status.subscribe(buf)
}

// The functions below serve both a running helen and the commands run
// offline against its data directory.

func putSchedule(db *state.DB, sch state.Schedule, now time.Time) (state.Schedule, error) {
	if err := checkSchedule(&sch); err != nil {
		return sch, err
	}
	sch.Created, sch.Updated = now, now
	if err := db.PutSchedule(sch); err != nil {
		return sch, err
	}
	return db.Schedule(sch.Name)
}

func deleteSchedule(db *state.DB, name string) error {
	err := db.DeleteSchedule(name)
	if errors.Is(err, state.ErrNotFound) {
		return fmt.Errorf("%w: %s", ErrNoSchedule, name)
	}
	return err
}

func schedules(db *state.DB) ([]state.Schedule, error) {
	out, err := db.Schedules()
	if out == nil {
		out = []state.Schedule{}
	}
	return out, err
}

func statuses(db *state.DB, unfold bool) ([]StatusView, error) {
	rows, err := db.Statuses("")
	if err != nil {
		return nil, err
	}
	down, err := db.AgentsDown()
	if err != nil {
		return nil, err
	}
	return statusViews(rows, down, unfold), nil
}

func events(db *state.DB, since time.Time, limit int) ([]state.Event, error) {
	out, err := db.Events(since, time.Time{}, limit)
	if out == nil {
		out = []state.Event{}
	}
	return out, err
}
