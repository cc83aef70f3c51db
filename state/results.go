package state

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/equus-monitoring/equus/result"
	bolt "go.etcd.io/bbolt"
)

// Metric is one performance figure of a result, as in PROTOCOL.md. It is
// the result package's, so that a parsed document is stored as it is.
type Metric = result.Metric

// Result is the outcome of one run of a check on an agent.
type Result struct {
	Agent string `json:"agent"`
	Check string `json:"check"`
	// Schedule is the schedule that ran the check, "" for a run asked
	// for (helen run), and for every result stored before schedules were
	// recorded.
	Schedule   string    `json:"schedule"`
	Time       time.Time `json:"time"`
	Status     string    `json:"status"` // ok warning critical unknown
	Message    string    `json:"message"`
	LongOutput string    `json:"long_output,omitempty"` // lines of detail after the message
	Metrics    []Metric  `json:"metrics,omitempty"`
	DurationMS float64   `json:"duration_ms"`
}

// encodeResult checks r and returns its stored form, capped (Cap,
// CapLongOutput).
func encodeResult(r Result) ([]byte, error) {
	r, err := PrepareResult(r)
	if err != nil {
		return nil, err
	}
	// The bytes of json.Marshal(r), with each metric as the struct
	// Metric.MarshalJSON marshals instead of through it: encoding/json
	// marshals what a MarshalJSON returns again, to check and compact
	// it, which was most of the cost of a result with metrics
	// (TestEncodeResultAsMarshal holds the two the same).
	type stored struct {
		Agent      string              `json:"agent"`
		Check      string              `json:"check"`
		Schedule   string              `json:"schedule"`
		Time       time.Time           `json:"time"`
		Status     string              `json:"status"`
		Message    string              `json:"message"`
		LongOutput string              `json:"long_output,omitempty"`
		Metrics    []result.MetricJSON `json:"metrics,omitempty"`
		DurationMS float64             `json:"duration_ms"`
	}
	ms := make([]result.MetricJSON, len(r.Metrics))
	for i := range r.Metrics {
		ms[i] = r.Metrics[i].JSON()
	}
	v, err := json.Marshal(stored{Agent: r.Agent, Check: r.Check, Schedule: r.Schedule, Time: r.Time,
		Status: r.Status, Message: r.Message, LongOutput: r.LongOutput, Metrics: ms, DurationMS: r.DurationMS})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return v, nil
}

// Filter selects results of an agent's history. Every field that is set
// must hold: Check, the results of that check (by any schedule, or none);
// Schedule, those of that schedule; Name, those whose check or schedule
// is Name. The zero Filter selects every result.
type Filter struct {
	Check, Schedule, Name string
}

// matches reports whether the results of a series of check and schedule
// are selected.
func (f Filter) matches(check, schedule string) bool {
	return (f.Check == "" || f.Check == check) &&
		(f.Schedule == "" || f.Schedule == schedule) &&
		(f.Name == "" || f.Name == check || f.Name == schedule)
}

func (f Filter) String() string {
	var parts []string
	for _, p := range []struct{ k, v string }{{"check", f.Check}, {"schedule", f.Schedule}, {"name", f.Name}} {
		if p.v != "" {
			parts = append(parts, p.k+"="+p.v)
		}
	}
	return strings.Join(parts, " ")
}

// History returns the results of one check of an agent (or of every check,
// when check is ""), newest first, at most limit of them (all, when limit <=
// 0), with since <= Time < until. A zero since or until is no bound. An agent
// or check with no results gives none and no error.
func (db *DB) History(agent, check string, limit int, since, until time.Time) ([]Result, error) {
	rs, _, err := db.HistoryPage(agent, Filter{Check: check}, Query{Since: since, Until: until, Limit: limit})
	return rs, err
}

// HistoryPage returns the results of an agent that f selects, newest
// first, by pages: the results after q.After, and for each the cursor of
// the results after it, which the next page begins from. Results of
// several series at the same time are ordered by series.
func (db *DB) HistoryPage(agent string, f Filter, q Query) ([]Result, []string, error) {
	afterKey, afterSeries, err := decodeCursor(q.After)
	if err != nil {
		return nil, nil, fmt.Errorf("history %s %s: %w", agent, f, err)
	}
	var low []byte
	if !q.Since.IsZero() {
		low = boundKey(q.Since)
	}
	var out []Result
	var cursors []string
	err = db.view(func(tx *bolt.Tx) error {
		// The series' buckets and the log's entries not moved into them
		// yet (log.go): each result is in one of the two.
		logged, err := visibleLogTx(tx, agent)
		if err != nil {
			return err
		}
		bySeries := map[string][]logEntry{}
		for _, e := range logged {
			bySeries[e.series] = append(bySeries[e.series], e)
		}
		var ab *bolt.Bucket
		if results := tx.Bucket(bucketResults).Bucket([]byte(agent)); results != nil {
			ab = results
		}
		// An agent has a series per check and schedule of it: few
		// enough to walk them all for any filter.
		var names []string
		if ab != nil {
			_ = ab.ForEachBucket(func(name []byte) error {
				names = append(names, string(name))
				return nil
			})
		}
		for name := range bySeries {
			if ab == nil || ab.Bucket([]byte(name)) == nil {
				names = append(names, name)
			}
		}
		lb := tx.Bucket(bucketLatest)
		var found []entry
		for _, name := range names {
			if !f.matches(splitSeries([]byte(name))) {
				continue
			}
			var b *bolt.Bucket
			if ab != nil {
				b = ab.Bucket([]byte(name))
			}
			logs := bySeries[name]
			// What trimming the series will delete once the log is
			// moved into it is out of its history already.
			slow, err := db.trimmedLowTx(lb, b, agent, name, logs)
			if err != nil {
				return err
			}
			if bytes.Compare(slow, low) < 0 {
				slow = low
			}
			// The results after the cursor: older ones, and of its
			// time those of the series after its series.
			var upto []byte
			if afterKey != nil {
				upto = afterKey
				if name > afterSeries {
					upto = keyAfter(afterKey)
				}
			}
			high := below(q.Until, upto)
			if b != nil {
				found = scanBackTx(b, name, q.Limit, slow, high, found)
			}
			for _, e := range logs {
				if k := e.key(); bytes.Compare(k, slow) >= 0 && (high == nil || bytes.Compare(k, high) < 0) {
					found = append(found, entry{k, e.value, name})
				}
			}
		}
		slices.SortStableFunc(found, func(a, b entry) int {
			return cmp.Or(bytes.Compare(b.key, a.key), cmp.Compare(a.series, b.series))
		})
		if q.Limit > 0 && len(found) > q.Limit {
			found = found[:q.Limit]
		}
		// Decoding copies out of the memory map, so the results outlive tx.
		out = make([]Result, len(found))
		cursors = make([]string, len(found))
		for i, e := range found {
			if err := json.Unmarshal(e.value, &out[i]); err != nil {
				return fmt.Errorf("decode result %x: %w", e.key, err)
			}
			cursors[i] = encodeCursor(e.key, e.series)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("history %s %s: %w", agent, f, err)
	}
	return out, cursors, nil
}

// entry is a key and value that point into the memory map: valid only
// while their transaction is open. series names the bucket of a result.
type entry struct {
	key, value []byte
	series     string
}

// scanBackTx appends to found the items of bucket b (of series, for
// results) from newest to oldest, with low <= key < high, at most limit of
// them when limit > 0. A nil low or high is no bound.
func scanBackTx(b *bolt.Bucket, series string, limit int, low, high []byte, found []entry) []entry {
	c := b.Cursor()
	var k, v []byte
	if high == nil {
		k, v = c.Last()
	} else if k, _ = c.Seek(high); k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	for n := 0; k != nil && (limit <= 0 || n < limit); n++ {
		if bytes.Compare(k, low) < 0 {
			break
		}
		found = append(found, entry{k, v, series})
		k, v = c.Prev()
	}
	return found
}

// CheckState is the current state of a series of an agent: the results
// of a check that one schedule ran, or that no schedule did.
type CheckState struct {
	Result Result    // the latest result, by its Time
	Since  time.Time // when the status became what it is
	Count  int       // how many results of the series the history holds
}

// CheckStates returns the state of each series of an agent ("" for every
// agent), by agent, check then schedule.
func (db *DB) CheckStates(agent string) ([]CheckState, error) {
	var states []CheckState
	err := db.view(func(tx *bolt.Tx) error {
		// The latest records of the series, with the log's entries not
		// moved into them yet counted in, as the compactor will.
		type series struct {
			l             latest
			found, logged bool
		}
		all := map[string]*series{}
		var keys []string
		c := tx.Bucket(bucketLatest).Cursor()
		var prefix []byte
		if agent != "" {
			prefix = latestKey(agent, "")
		}
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			l, err := decodeLatest(v)
			if err != nil {
				return fmt.Errorf("latest %q: %w", k, err)
			}
			all[string(k)] = &series{l: l, found: true}
			keys = append(keys, string(k))
		}
		logged, err := visibleLogTx(tx, agent)
		if err != nil {
			return err
		}
		for _, e := range logged {
			lk := e.latestKey()
			s := all[lk]
			if s == nil {
				s = &series{}
				all[lk] = s
				keys = append(keys, lk)
			}
			s.l.add(&s.found, e.nanos, e.code, e.value)
			s.logged = true
		}
		slices.Sort(keys)
		for _, k := range keys {
			s := all[k]
			if keep := uint64(db.opt.HistoryMaxPerCheck); s.logged && s.l.count > keep {
				s.l.count = keep // the oldest go, as moveTx trims
			}
			st := CheckState{Since: time.Unix(0, s.l.since), Count: int(s.l.count)}
			if err := json.Unmarshal(s.l.result, &st.Result); err != nil {
				return fmt.Errorf("latest %q: %w", k, err)
			}
			states = append(states, st)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("states %s: %w", agent, err)
	}
	return states, nil
}

// Latest returns the latest result of each series of an agent ("" for
// every agent), by agent, check then schedule.
func (db *DB) Latest(agent string) ([]Result, error) {
	states, err := db.CheckStates(agent)
	if err != nil {
		return nil, err
	}
	out := make([]Result, len(states))
	for i, st := range states {
		out[i] = st.Result
	}
	return out, nil
}

// ResultOf is the record of doc, the result of a run of check (of
// schedule, "" for a run asked for) on agent at at.
func ResultOf(agent, check, schedule string, at time.Time, doc result.Doc) Result {
	return Result{
		Agent:      agent,
		Check:      check,
		Schedule:   schedule,
		Time:       at,
		Status:     string(doc.Status),
		Message:    doc.Message,
		LongOutput: doc.LongOutput,
		Metrics:    doc.Metrics,
		DurationMS: doc.DurationMS,
	}
}
