package state

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The results' area as another store imports it (helen migrate): each
// series' results (ExportSeries) with its state through the interface
// (CheckStates), and the graphs' rollups whole (ExportRollups), which no
// method gives as they are kept.

// KeyedResult is a result and its key in its series: its time and the
// sequence number of its writing, which orders results of one time, of
// one series and across series.
type KeyedResult struct {
	Key    ListKey
	Result Result
}

// ExportSeries returns the results of the series of agent's check that
// schedule ran ("" for the runs asked for) oldest first, as its history
// holds them: those of its bucket and of the log not moved into it yet,
// but what trimming the series to HistoryMaxPerCheck will delete.
func (db *DB) ExportSeries(agent, check, schedule string) ([]KeyedResult, error) {
	name := seriesName(check, schedule)
	var out []KeyedResult
	err := db.view(func(tx *bolt.Tx) error {
		logged, err := visibleLogTx(tx, agent)
		if err != nil {
			return err
		}
		var logs []logEntry
		for _, e := range logged {
			if e.series == name {
				logs = append(logs, e)
			}
		}
		var b *bolt.Bucket
		if ab := tx.Bucket(bucketResults).Bucket([]byte(agent)); ab != nil {
			b = ab.Bucket([]byte(name))
		}
		low, err := db.trimmedLowTx(tx.Bucket(bucketLatest), b, agent, name, logs)
		if err != nil {
			return err
		}
		var found []entry
		if b != nil {
			c := b.Cursor()
			k, v := c.First()
			if low != nil {
				k, v = c.Seek(low)
			}
			for ; k != nil; k, v = c.Next() {
				found = append(found, entry{k, v, name})
			}
		}
		for _, e := range logs {
			if k := e.key(); bytes.Compare(k, low) >= 0 {
				found = append(found, entry{k, e.value, name})
			}
		}
		slices.SortStableFunc(found, func(a, b entry) int { return bytes.Compare(a.key, b.key) })
		out = make([]KeyedResult, len(found))
		for i, e := range found {
			out[i].Key = listKeyOf(e.key)
			if err := json.Unmarshal(e.value, &out[i].Result); err != nil {
				return fmt.Errorf("decode result %x: %w", e.key, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("export series %s %s %s: %w", agent, check, schedule, err)
	}
	return out, nil
}

// RollupSeries is a graph's series as the store keeps it, with its
// newest minute written.
type RollupSeries struct {
	Agent, Schedule, Metric string
	Last                    time.Time
}

// RollupPoint is the figures of the values of a series (its index in
// the list ExportRollups gave) over a minute or an hour from Start.
type RollupPoint struct {
	Series        int
	Start         time.Time
	Min, Max, Sum float64
	Count         uint64
}

// ExportRollups calls series with every graph's series, by agent,
// schedule and metric, then points with their points of the minute tier
// (hour false), then of the hour tier (hour true), batch of them at most
// a call (batch > 0), all read in one transaction. The hour tier's
// points hold every minute kept, those of the hours not made into the
// hour tier yet (rollGrace) too, merged into their hours.
func (db *DB) ExportRollups(batch int, series func([]RollupSeries) error, points func(hour bool, ps []RollupPoint) error) error {
	err := db.view(func(tx *bolt.Tx) error {
		var all []RollupSeries
		byID := map[uint64]int{}
		err := tx.Bucket(bucketRollSeries).ForEach(func(k, v []byte) error {
			parts := bytes.SplitN(k, []byte{0}, 3)
			if len(parts) != 3 || len(v) != 16 {
				return corruptError(tx.DB().Path(), fmt.Sprintf("rollup series %q", k))
			}
			byID[binary.BigEndian.Uint64(v)] = len(all)
			all = append(all, RollupSeries{Agent: string(parts[0]), Schedule: string(parts[1]), Metric: string(parts[2]),
				Last: time.Unix(0, int64(binary.BigEndian.Uint64(v[8:]))).UTC()})
			return nil
		})
		if err != nil {
			return err
		}
		if err := series(all); err != nil {
			return err
		}
		out := make([]RollupPoint, 0, batch)
		emit := func(hour bool, p RollupPoint) error {
			if out = append(out, p); len(out) < batch {
				return nil
			}
			err := points(hour, out)
			out = out[:0]
			return err
		}
		flush := func(hour bool) error {
			if len(out) == 0 {
				return nil
			}
			err := points(hour, out)
			out = out[:0]
			return err
		}
		// Points of an id no series has any more are out of reach: they
		// wait for their pruning, and are not copied.
		each := func(bucket []byte, f func(i int, start int64, a acc) error) error {
			return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
				if len(k) != 16 {
					return corruptError(tx.DB().Path(), fmt.Sprintf("%s key %x", bucket, k))
				}
				if i, ok := byID[binary.BigEndian.Uint64(k[8:])]; ok {
					return f(i, keyNanos(k), decodeAcc(v))
				}
				return nil
			})
		}
		// The minutes not in the hour tier yet, by series and hour: those
		// of the last hours, but for a store that never made one.
		type hourKey struct {
			series int
			start  int64
		}
		unrolled := map[hourKey]acc{}
		rolled := rolledTx(tx)
		err = each(bucketRollMinute, func(i int, start int64, a acc) error {
			if h := hourOf(start); rolled == 0 || h >= rolled {
				u := unrolled[hourKey{i, h}]
				u.merge(a)
				unrolled[hourKey{i, h}] = u
			}
			return emit(false, a.point(i, start))
		})
		if err == nil {
			err = flush(false)
		}
		if err == nil {
			err = each(bucketRollHour, func(i int, start int64, a acc) error {
				if u, ok := unrolled[hourKey{i, start}]; ok {
					a.merge(u)
					delete(unrolled, hourKey{i, start})
				}
				return emit(true, a.point(i, start))
			})
		}
		if err != nil {
			return err
		}
		rest := slices.SortedFunc(maps.Keys(unrolled), func(a, b hourKey) int {
			return cmp.Or(cmp.Compare(a.start, b.start), cmp.Compare(a.series, b.series))
		})
		for _, k := range rest {
			if err := emit(true, unrolled[k].point(k.series, k.start)); err != nil {
				return err
			}
		}
		return flush(true)
	})
	if err != nil {
		return fmt.Errorf("export rollups: %w", err)
	}
	return nil
}

func (a acc) point(series int, start int64) RollupPoint {
	return RollupPoint{Series: series, Start: time.Unix(0, start).UTC(), Min: a.min, Max: a.max, Sum: a.sum, Count: a.count}
}
