package state

import (
	"bytes"
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

// RollupPoint is the figures of a series' values over a minute or an
// hour from Start.
type RollupPoint struct {
	Start         time.Time
	Min, Max, Sum float64
	Count         uint64
}

// RollupExport is a graph's series as the store keeps it: its newest
// minute written, and its points of each tier, oldest first. Hours holds
// every minute kept, also those of hours not made into the hour tier yet
// (rollGrace), merged into their hours.
type RollupExport struct {
	Agent, Schedule, Metric string
	Last                    time.Time
	Minutes, Hours          []RollupPoint
}

// ExportRollups returns every graph's series, by agent, schedule and
// metric, read in one transaction.
func (db *DB) ExportRollups() ([]RollupExport, error) {
	var out []RollupExport
	err := db.view(func(tx *bolt.Tx) error {
		byID := map[uint64]int{}
		err := tx.Bucket(bucketRollSeries).ForEach(func(k, v []byte) error {
			parts := bytes.SplitN(k, []byte{0}, 3)
			if len(parts) != 3 || len(v) != 16 {
				return corruptError(tx.DB().Path(), fmt.Sprintf("rollup series %q", k))
			}
			byID[binary.BigEndian.Uint64(v)] = len(out)
			out = append(out, RollupExport{Agent: string(parts[0]), Schedule: string(parts[1]), Metric: string(parts[2]),
				Last: time.Unix(0, int64(binary.BigEndian.Uint64(v[8:]))).UTC()})
			return nil
		})
		if err != nil {
			return err
		}
		// Points of an id no series has any more are out of reach: they
		// wait for their pruning, and are not copied.
		points := func(bucket []byte, add func(i int, start int64, a acc)) error {
			return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
				if len(k) != 16 {
					return corruptError(tx.DB().Path(), fmt.Sprintf("%s key %x", bucket, k))
				}
				if i, ok := byID[binary.BigEndian.Uint64(k[8:])]; ok {
					add(i, keyNanos(k), decodeAcc(v))
				}
				return nil
			})
		}
		hours := make([]map[int64]acc, len(out))
		for i := range hours {
			hours[i] = map[int64]acc{}
		}
		err = points(bucketRollHour, func(i int, start int64, a acc) {
			h := hours[i][start]
			h.merge(a)
			hours[i][start] = h
		})
		if err != nil {
			return err
		}
		rolled := rolledTx(tx)
		err = points(bucketRollMinute, func(i int, start int64, a acc) {
			out[i].Minutes = append(out[i].Minutes, a.point(start))
			if hour := hourOf(start); rolled == 0 || hour >= rolled {
				h := hours[i][hour]
				h.merge(a)
				hours[i][hour] = h
			}
		})
		if err != nil {
			return err
		}
		for i := range out {
			for _, start := range slices.Sorted(maps.Keys(hours[i])) {
				out[i].Hours = append(out[i].Hours, hours[i][start].point(start))
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("export rollups: %w", err)
	}
	return out, nil
}

func (a acc) point(start int64) RollupPoint {
	return RollupPoint{Start: time.Unix(0, start).UTC(), Min: a.min, Max: a.max, Sum: a.sum, Count: a.count}
}
