package pgstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/equus-monitoring/equus/agentname"
	"github.com/equus-monitoring/equus/state"
)

// The graphs' rollups, as the bbolt store keeps them (state/rollup.go):
// Feed adds a result's metrics to the minute buckets open in memory, and
// a flusher merges them into the database every RollupFlushInterval (and
// at Close), into the minute tier and the hour tier at once: merging is
// what makes an hour's bucket of its minutes, so that no step rolls the
// minutes up, and the points of several helens merge alike. A crash loses
// at most a flush interval of this helen's points; the results
// themselves are in the history.

// flushTimeout bounds one flush.
const flushTimeout = time.Minute

// rollKey is an open bucket: a series' minute.
type rollKey struct {
	agent, schedule, metric string
	minute                  int64 // Unix nanoseconds
}

type acc struct {
	min, max, sum float64
	count         int64
}

func (a *acc) add(v float64) {
	if a.count == 0 {
		a.min, a.max = v, v
	}
	a.min, a.max = min(a.min, v), max(a.max, v)
	a.sum += v
	a.count++
}

func (a *acc) merge(b acc) {
	switch {
	case b.count == 0:
	case a.count == 0:
		*a = b
	default:
		a.min, a.max = min(a.min, b.min), max(a.max, b.max)
		a.sum += b.sum
		a.count += b.count
	}
}

// seriesRec is what this store knows of a series of the database.
type seriesRec struct {
	id   int64
	last int64 // the hour its record's newest minute is in, Unix ns
}

// rollups is what is fed and not flushed yet, and the series known.
type rollups struct {
	mu     sync.Mutex
	open   map[rollKey]acc
	names  map[[2]string][]string // names fed since the last flush took them
	flush  map[[2]string][]string // and those of the flush under way
	drops  []func(agent, schedule string) bool
	closed bool
	// dropped counts the points a flush dropped, their schedule full.
	dropped int64

	flushMu sync.Mutex // one flush at a time; guards cache
	cache   map[[3]string]seriesRec
	gen     int // counts deletions, that empty the cache
	cacheAt int

	stop, done chan struct{}
}

func newRollups() *rollups {
	return &rollups{open: map[rollKey]acc{}, names: map[[2]string][]string{}, cache: map[[3]string]seriesRec{},
		stop: make(chan struct{}), done: make(chan struct{})}
}

// Feed adds the known metrics of r, a result of a schedule just stored,
// to the graphs' open buckets, in memory. A result of no schedule is not
// graphed. A metric no series can have is skipped, and the error returned
// says which and why (ErrInvalid; ErrFull past state.MaxRollupOpen); the
// others are added all the same.
func (s *Store) Feed(r state.Result) error {
	if r.Schedule == "" || len(r.Metrics) == 0 {
		return nil
	}
	if !agentname.Valid(r.Agent) || !state.ValidName(r.Schedule) {
		return fmt.Errorf("graph %s %s: %w: names", r.Agent, r.Schedule, state.ErrInvalid)
	}
	ro := s.rollups
	minute := r.Time.Truncate(time.Minute).UnixNano()
	_, metrics := state.Cap("", r.Metrics)
	var errs []error
	ro.mu.Lock()
	defer ro.mu.Unlock()
	if ro.closed {
		return state.ErrClosed
	}
	for _, m := range metrics {
		if m.Unknown {
			continue
		}
		if err := state.CheckPoint(m.Name, m.Value); err != nil {
			errs = append(errs, err)
			continue
		}
		k := rollKey{r.Agent, r.Schedule, m.Name, minute}
		a, ok := ro.open[k]
		if !ok {
			if len(ro.open) >= state.MaxRollupOpen {
				errs = append(errs, fmt.Errorf("metric %q: %w: %d points wait for the flush (MaxRollupOpen)", m.Name, state.ErrFull, len(ro.open)))
				continue
			}
			p := [2]string{r.Agent, r.Schedule}
			if ns := ro.names[p]; !slices.Contains(ns, m.Name) && len(ns) < state.MaxSeriesPerSchedule {
				ro.names[p] = append(ns, m.Name)
			}
		}
		a.add(m.Value)
		ro.open[k] = a
	}
	if errs != nil {
		return fmt.Errorf("graph %s %s: %w", r.Agent, r.Schedule, errors.Join(errs...))
	}
	return nil
}

// take hands the points fed so far to a flush.
func (ro *rollups) take() map[rollKey]acc {
	ro.mu.Lock()
	defer ro.mu.Unlock()
	open := ro.open
	ro.open = map[rollKey]acc{}
	ro.drops = nil
	ro.flush, ro.names = ro.names, map[[2]string][]string{}
	return open
}

// putBack merges the points of a flush that failed into those fed since.
func (ro *rollups) putBack(open map[rollKey]acc) {
	ro.mu.Lock()
	defer ro.mu.Unlock()
	for k, a := range open {
		if slices.ContainsFunc(ro.drops, func(m func(string, string) bool) bool { return m(k.agent, k.schedule) }) {
			continue
		}
		b, ok := ro.open[k]
		if !ok && len(ro.open) >= state.MaxRollupOpen {
			continue
		}
		b.merge(a)
		ro.open[k] = b
		p := [2]string{k.agent, k.schedule}
		if ns := ro.names[p]; !slices.Contains(ns, k.metric) && len(ns) < state.MaxSeriesPerSchedule {
			ro.names[p] = append(ns, k.metric)
		}
	}
	ro.flush = nil
}

// fedNames returns the metric names of agent's schedule fed and not
// flushed yet.
func (ro *rollups) fedNames(agent, schedule string) []string {
	ro.mu.Lock()
	defer ro.mu.Unlock()
	p := [2]string{agent, schedule}
	return append(slices.Clone(ro.names[p]), ro.flush[p]...)
}

// fed reports whether a series has points in memory of the last minutes
// before now.
func (ro *rollups) fed(agent, schedule, metric string, now time.Time) bool {
	ro.mu.Lock()
	defer ro.mu.Unlock()
	m := now.Truncate(time.Minute).UnixNano()
	for i := range int64(3) {
		if _, ok := ro.open[rollKey{agent, schedule, metric, m - i*int64(time.Minute)}]; ok {
			return true
		}
	}
	return false
}

// drop forgets the open points of the series match selects, and makes
// the flush under way skip theirs.
func (ro *rollups) drop(match func(agent, schedule string) bool) {
	ro.mu.Lock()
	defer ro.mu.Unlock()
	ro.drops = append(ro.drops, match)
	ro.gen++
	for k := range ro.open {
		if match(k.agent, k.schedule) {
			delete(ro.open, k)
		}
	}
	for _, ns := range []map[[2]string][]string{ro.names, ro.flush} {
		for p := range ns {
			if match(p[0], p[1]) {
				delete(ns, p)
			}
		}
	}
}

// execer is a pool, a connection or a transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// deleteRollups deletes the graphs' series of agent's schedule ("" for
// any agent, any schedule) in tx, and their points in memory: their
// points are out of reach at once, and go with the pruning of their
// tiers. Forget (an agent) and DeleteSchedule call it in their
// transaction.
func (s *Store) deleteRollups(ctx context.Context, tx execer, agent, schedule string) error {
	s.rollups.drop(func(a, sc string) bool { return (agent == "" || a == agent) && (schedule == "" || sc == schedule) })
	_, err := tx.Exec(ctx, `DELETE FROM rollup_series WHERE ($1 = '' OR agent = $1) AND ($2 = '' OR schedule = $2)`, agent, schedule)
	return err
}
