package state

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Series returns the buckets of a metric of an agent's schedule that
// start within [from, to), in ascending order, with gaps where it had no
// value: for a range of RollupFineRange or less, a bucket a result from
// the history when it holds every result of the range (an older one is
// kept, or the series began in the range) and at most MaxRawPoints of
// them, else a bucket a minute; for a
// longer range, a bucket an hour. A range older than HistoryMaxAge is cut
// to it. A series never fed, or deleted, gives none and no error. The
// minute and hour tiers hold what was flushed: up to
// RollupFlushInterval behind, and a series not flushed yet has only its
// raw results.
func (db *DB) Series(agent, schedule, metric string, from, to time.Time) ([]Bucket, error) {
	if err := db.checkSeries(agent, schedule, metric); err != nil {
		return nil, err
	}
	if !to.After(from) {
		return nil, fmt.Errorf("series %s %s %s: %w: range %v to %v is empty", agent, schedule, metric, ErrInvalid, from, to)
	}
	floor := db.opt.now().Add(-db.opt.HistoryMaxAge - time.Hour)
	from = later(from, floor)
	if !to.After(from) {
		return nil, nil
	}
	fine := to.Sub(from) <= RollupFineRange
	var id uint64
	err := db.view(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketRollSeries).Get(rollSeriesKey(agent, schedule, metric)); len(v) == 16 {
			id = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// A series not flushed yet is one of the last minutes' points in
	// memory: the history may have it.
	if id == 0 && (!fine || !db.rollups.fed(agent, schedule, metric, db.opt.now())) {
		return nil, nil
	}
	if fine {
		if out, ok, err := db.rawSeries(agent, schedule, metric, id, from, to); err != nil || ok {
			return out, err
		}
	}
	var out []Bucket
	err = db.view(func(tx *bolt.Tx) error {
		minutes, hours := tx.Bucket(bucketRollMinute), tx.Bucket(bucketRollHour)
		if fine {
			for m := from.Truncate(time.Minute).UnixNano(); m < to.UnixNano(); m += int64(time.Minute) {
				out = appendPoint(out, m, from, decodeAcc(minutes.Get(pointKey(m, id))))
			}
			return nil
		}
		rolled := rolledTx(tx)
		for h := from.Truncate(time.Hour).UnixNano(); h < to.UnixNano(); h += int64(time.Hour) {
			if h < rolled {
				out = appendPoint(out, h, from, decodeAcc(hours.Get(pointKey(h, id))))
				continue
			}
			// An hour not made into its bucket yet: its minutes.
			var a acc
			for m := h; m < h+int64(time.Hour); m += int64(time.Minute) {
				a.merge(decodeAcc(minutes.Get(pointKey(m, id))))
			}
			out = appendPoint(out, h, from, a)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("series %s %s %s: %w", agent, schedule, metric, err)
	}
	return out, nil
}

// appendPoint appends the bucket a of start, unless it has no data or
// starts before from (the range's first bucket began before it).
func appendPoint(out []Bucket, start int64, from time.Time, a acc) []Bucket {
	if a.count == 0 || start < from.UnixNano() {
		return out
	}
	return append(out, a.bucket(time.Unix(0, start)))
}

// rawSeries returns a bucket a result of the metric within [from, to),
// and reports whether the history answers: it holds at most MaxRawPoints
// results in the range, and every result of the range that the series
// id has points of: it holds one before from, or the minute tier has
// none before its oldest in the range (the series began there).
func (db *DB) rawSeries(agent, schedule, metric string, id uint64, from, to time.Time) ([]Bucket, bool, error) {
	f := Filter{Schedule: schedule}
	rs, _, err := db.HistoryPage(agent, f, Query{Since: from, Until: to, Limit: MaxRawPoints + 1})
	if err != nil || len(rs) == 0 || len(rs) > MaxRawPoints {
		return nil, false, err
	}
	older, _, err := db.HistoryPage(agent, f, Query{Until: from, Limit: 1})
	if err != nil {
		return nil, false, err
	}
	if len(older) == 0 {
		before := false
		oldest := rs[len(rs)-1].Time.Truncate(time.Minute).UnixNano()
		err := db.view(func(tx *bolt.Tx) error {
			minutes := tx.Bucket(bucketRollMinute)
			for m := from.Truncate(time.Minute).UnixNano(); m < oldest && !before; m += int64(time.Minute) {
				before = minutes.Get(pointKey(m, id)) != nil
			}
			return nil
		})
		if err != nil || before {
			return nil, false, err
		}
	}
	out := make([]Bucket, 0, len(rs))
	for _, r := range slices.Backward(rs) {
		for _, m := range r.Metrics {
			if m.Name == metric && !m.Unknown && checkPoint(m.Name, m.Value) == nil {
				out = append(out, Bucket{Start: r.Time, Min: m.Value, Max: m.Value, Mean: m.Value, Count: 1})
				break
			}
		}
	}
	return out, true, nil
}

// SeriesNames returns the metric names of an agent's schedule that have
// a series, flushed or fed since, in byte order: at most
// MaxSeriesPerSchedule.
func (db *DB) SeriesNames(agent, schedule string) ([]string, error) {
	if err := db.checkSeries(agent, schedule, "-"); err != nil {
		return nil, err
	}
	prefix := []byte(agent + "\x00" + schedule + "\x00")
	var out []string
	err := db.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRollSeries).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			out = append(out, string(k[len(prefix):]))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("series names %s %s: %w", agent, schedule, err)
	}
	// A series fed but not flushed yet has its points in memory.
	for _, n := range db.rollups.fedNames(agent, schedule) {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out[:min(len(out), MaxSeriesPerSchedule)], nil
}

func (db *DB) checkSeries(agent, schedule, metric string) error {
	return CheckSeries(agent, schedule, metric)
}

// later returns the later of two times.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
