package state

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/equus-monitoring/equus/agentname"
	"github.com/equus-monitoring/equus/internal/svgchart"
)

// Rollups: each metric of a scheduled check's results, summed up over time
// for the graphs, kept beyond the raw history (at most HistoryMaxPerCheck
// results, 28 hours of a 10 s schedule). A series is an (agent, schedule,
// metric name); its points are buckets of {min, max, sum, count} of the
// metric's known values in two tiers: a bucket a minute, kept
// RollupMinuteKeep, and a bucket an hour, kept HistoryMaxAge.
//
// The results' path pays no I/O for them: Feed adds a result's metrics
// to the buckets of the minute open in memory, and a flusher merges what
// was added into the file every RollupFlushInterval, in one transaction,
// with what the file holds of those buckets already (so that a restart
// inside a bucket loses nothing flushed); Close flushes what is left. A
// crash loses at most the last flush interval of points: the results
// themselves are in the history. The hour tier is made from the minute
// tier once an hour is over (rollup_flush.go).
//
// The points are stored time first, as the results log is: the buckets of
// one minute, of every series, side by side, so that a flush writes the
// few pages of the minutes it holds, not a page a series.

// Bucket is what is known of a metric over a minute or an hour: what the
// graphs draw (svgchart.Bucket).
type Bucket = svgchart.Bucket

// The bounds of the rollups.
const (
	// RollupMinuteKeep is how long the minute tier is kept.
	RollupMinuteKeep = 48 * time.Hour
	// RollupFineRange is the longest range Series answers from the
	// minute tier (or the raw results); longer ones, from the hour tier.
	// A day's graph is drawn from its 1,440 minutes, not 24 hours.
	RollupFineRange = 25 * time.Hour
	// RollupFlushInterval is how often the flusher writes the points fed
	// since the last flush: what a crash can lose of them.
	RollupFlushInterval = 10 * time.Second
	// MaxSeriesPerSchedule bounds the series of an agent's schedule
	// (metric names it ever had, until pruned): a point of a name beyond
	// it is dropped, counted in RollupStats.
	MaxSeriesPerSchedule = 64
	// MaxRollupOpen bounds the points held in memory between two flushes
	// (a series' minute each, about 200 bytes: some 50 MiB at most); a
	// point of a new one beyond it is refused with ErrFull.
	MaxRollupOpen = 1 << 18
	// MaxRawPoints is the most raw results Series reads to answer a fine
	// range from the history itself; more, it takes the minute tier.
	MaxRawPoints = 2000
)

// rollKey is an open bucket: a series' minute.
type rollKey struct {
	agent, schedule, metric string
	minute                  int64 // the minute's start, Unix nanoseconds
}

// acc is a bucket's figures.
type acc struct {
	min, max, sum float64
	count         uint64
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
	if b.count == 0 {
		return
	}
	if a.count == 0 {
		*a = b
		return
	}
	a.min, a.max = min(a.min, b.min), max(a.max, b.max)
	a.sum += b.sum
	a.count += b.count
}

func (a acc) bucket(start time.Time) Bucket {
	return Bucket{Start: start, Min: a.min, Max: a.max, Mean: a.sum / float64(a.count), Count: int(a.count)}
}

// rollups is what is fed and not yet flushed.
type rollups struct {
	mu     sync.Mutex
	open   map[rollKey]int // index in keys and accs
	keys   []rollKey
	accs   []acc
	spareK []rollKey // the slices of the flush before, reused
	// names are the metric names of each agent's schedule with points
	// fed since the last flush took them, and flushing those of the
	// flush under way, until it has committed: SeriesNames adds them
	// to the file's, so that a new series is drawn before its first
	// flush.
	names, flushing map[[2]string][]string
	spareA          []acc
	// drops are the matches of the series deleted (forget, schedule
	// deletion) since the flush under way took its points: it skips
	// theirs.
	drops  []func(agent, schedule string) bool
	closed bool
	stats  RollupStats

	flushMu sync.Mutex // one flush at a time, and the cache
	// cache holds the records of the series flushed, as committed (at
	// most MaxRollupOpen), valid while cacheGen is cacheAt: a deletion
	// of series adds to cacheGen.
	cache    map[[3]string]seriesRec
	cacheAt  uint64
	cacheGen atomic.Uint64
	mark     atomic.Int64 // the hour tier's mark (rolledTx) as the last flush left it
	stop     chan struct{}
	done     chan struct{}
	interval time.Duration
}

// RollupStats counts what became of the points fed.
type RollupStats struct {
	Open     int    // points in memory, to be flushed
	Refused  uint64 // metrics Feed refused: a bad name, a value not finite, MaxRollupOpen reached
	Refusal  string // why the last was refused
	Dropped  uint64 // points a flush dropped: their schedule has MaxSeriesPerSchedule series already
	Flushes  uint64 // flushes that wrote their points
	Failures uint64 // flushes that failed (their points are kept for the next)
	LastErr  string // the last failure's error
}

func newRollups(interval time.Duration) *rollups {
	return &rollups{open: map[rollKey]int{}, names: map[[2]string][]string{}, cache: map[[3]string]seriesRec{}, interval: interval,
		stop: make(chan struct{}), done: make(chan struct{})}
}

// Feed adds the known metrics of r, a result of a schedule just stored,
// to the graphs' open buckets: in memory, no I/O. A result of no schedule
// (a run asked for) is not graphed. A metric of a name a series cannot
// have (control characters, not UTF-8) or of a value that is not finite
// is skipped, and the error returned says which and why, wrapping
// ErrInvalid (or ErrFull, for MaxRollupOpen); the others are added all
// the same. It is cut to MaxMetrics and MaxMetricName as the stored
// result is.
func (db *DB) Feed(r Result) error {
	if r.Schedule == "" || len(r.Metrics) == 0 {
		return nil
	}
	if !agentname.Valid(r.Agent) || !validName(r.Schedule) {
		return fmt.Errorf("graph %s %s: %w: names", r.Agent, r.Schedule, ErrInvalid)
	}
	ro := db.rollups
	minute := r.Time.Truncate(time.Minute).UnixNano()
	var errs []error
	ro.mu.Lock()
	defer ro.mu.Unlock()
	if ro.closed {
		return ErrClosed
	}
	for _, m := range r.Metrics[:min(len(r.Metrics), MaxMetrics)] {
		if m.Unknown {
			continue
		}
		name := cut(m.Name, MaxMetricName)
		if err := checkPoint(name, m.Value); err != nil {
			errs = append(errs, err)
			continue
		}
		k := rollKey{r.Agent, r.Schedule, name, minute}
		i, ok := ro.open[k]
		if !ok {
			if len(ro.keys) >= MaxRollupOpen {
				errs = append(errs, fmt.Errorf("metric %q: %w: %d points wait for the flush (MaxRollupOpen)", name, ErrFull, len(ro.keys)))
				continue
			}
			i = len(ro.keys)
			ro.open[k] = i
			ro.keys = append(ro.keys, k)
			ro.accs = append(ro.accs, acc{})
			ro.named(k)
		}
		ro.accs[i].add(m.Value)
	}
	if errs != nil {
		err := fmt.Errorf("graph %s %s: %w", r.Agent, r.Schedule, errors.Join(errs...))
		ro.stats.Refused += uint64(len(errs))
		ro.stats.Refusal = err.Error()
		return err
	}
	return nil
}

// checkPoint refuses a metric a series cannot be made of.
func checkPoint(name string, v float64) error {
	if err := checkMetricName(name); err != nil {
		return err
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("metric %q: %w: value %v is not finite", name, ErrInvalid, v)
	}
	return nil
}

// checkMetricName refuses a name a series' key cannot hold unambiguously
// (a NUL), or that a page could not show as it is: empty, not UTF-8, or
// with control characters.
func checkMetricName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("metric %q: %w: empty name", name, ErrInvalid)
	case len(name) > MaxMetricName:
		return fmt.Errorf("metric %q: %w: name longer than %d bytes", name[:MaxMetricName], ErrInvalid, MaxMetricName)
	case !utf8.ValidString(name):
		return fmt.Errorf("metric %q: %w: name is not UTF-8", name, ErrInvalid)
	}
	for _, c := range name {
		if unicode.IsControl(c) {
			return fmt.Errorf("metric %q: %w: name has a control character", name, ErrInvalid)
		}
	}
	return nil
}

// take hands the points fed so far to a flush and starts afresh.
func (ro *rollups) take() ([]rollKey, []acc) {
	ro.mu.Lock()
	defer ro.mu.Unlock()
	keys, accs := ro.keys, ro.accs
	ro.keys, ro.accs = ro.spareK[:0], ro.spareA[:0]
	ro.spareK, ro.spareA = nil, nil
	clear(ro.open)
	ro.drops = nil
	ro.flushing, ro.names = ro.names, map[[2]string][]string{}
	return keys, accs
}

// named records k's metric name among its schedule's fed since the last
// flush. Called with mu held, once a series a minute.
func (ro *rollups) named(k rollKey) {
	p := [2]string{k.agent, k.schedule}
	if ns := ro.names[p]; !slices.Contains(ns, k.metric) && len(ns) < MaxSeriesPerSchedule {
		ro.names[p] = append(ns, k.metric)
	}
}

// fedNames returns the metric names of agent's schedule fed since the
// flush before the last.
func (ro *rollups) fedNames(agent, schedule string) []string {
	ro.mu.Lock()
	defer ro.mu.Unlock()
	p := [2]string{agent, schedule}
	return append(slices.Clone(ro.names[p]), ro.flushing[p]...)
}

// recycle gives back the slices of a flush that wrote its points, for the
// next to reuse.
func (ro *rollups) recycle(keys []rollKey, accs []acc) {
	ro.mu.Lock()
	defer ro.mu.Unlock()
	clear(keys) // the strings they hold
	ro.spareK, ro.spareA = keys[:0], accs[:0]
	ro.flushing = nil
}

// putBack merges the points of a flush that failed into those fed since,
// to be written by the next; what does not fit in MaxRollupOpen is lost,
// counted as refused.
func (ro *rollups) putBack(keys []rollKey, accs []acc) {
	ro.mu.Lock()
	defer ro.mu.Unlock()
	for j, k := range keys {
		i, ok := ro.open[k]
		if !ok {
			if len(ro.keys) >= MaxRollupOpen {
				ro.stats.Refused += accs[j].count
				continue
			}
			i = len(ro.keys)
			ro.open[k] = i
			ro.keys = append(ro.keys, k)
			ro.accs = append(ro.accs, acc{})
			ro.named(k)
		}
		ro.accs[i].merge(accs[j])
	}
	ro.flushing = nil
}

// drop forgets the open points of the series match selects, and makes
// the flush under way skip theirs.
func (ro *rollups) drop(match func(agent, schedule string) bool) {
	ro.mu.Lock()
	defer ro.mu.Unlock()
	ro.drops = append(ro.drops, match)
	for _, ns := range []map[[2]string][]string{ro.names, ro.flushing} {
		for p := range ns {
			if match(p[0], p[1]) {
				delete(ns, p)
			}
		}
	}
	keys, accs := ro.keys, ro.accs
	ro.keys, ro.accs = make([]rollKey, 0, len(keys)), make([]acc, 0, len(accs))
	clear(ro.open)
	for i, k := range keys {
		if match(k.agent, k.schedule) {
			continue
		}
		ro.open[k] = len(ro.keys)
		ro.keys = append(ro.keys, k)
		ro.accs = append(ro.accs, accs[i])
	}
}

// dropped reports whether a series was deleted since its points were
// taken by the flush under way.
func (ro *rollups) dropped(agent, schedule string) bool {
	ro.mu.Lock()
	defer ro.mu.Unlock()
	for _, m := range ro.drops {
		if m(agent, schedule) {
			return true
		}
	}
	return false
}

// fed reports whether a series has points in memory of the last
// minutes before now, where those since the last flush are.
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

// RollupStats returns the counts of the rollups.
func (db *DB) RollupStats() RollupStats {
	ro := db.rollups
	ro.mu.Lock()
	defer ro.mu.Unlock()
	st := ro.stats
	st.Open = len(ro.keys)
	return st
}
