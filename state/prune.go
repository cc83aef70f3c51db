package state

import (
	"fmt"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"
)

const maxNanos = math.MaxInt64

// Prune deletes results older than HistoryMaxAge before now, and the oldest
// results of any check holding more than HistoryMaxPerCheck. A check (or an
// agent) left with no results loses its bucket and its latest record. It
// returns how many results it deleted. The writer also runs it every
// PruneInterval.
func (db *DB) Prune(now time.Time) (int, error) {
	var n int
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		var err error
		n, err = db.pruneTx(tx, now.Add(-db.opt.HistoryMaxAge).UnixNano())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune: %w", err)
	}
	return n, nil
}

func (db *DB) pruneTx(tx *bolt.Tx, cutoff int64) (int, error) {
	results := tx.Bucket(bucketResults)
	lb := tx.Bucket(bucketLatest)
	total := 0
	for _, agent := range bucketNamesTx(results) {
		ab := results.Bucket(agent)
		for _, check := range bucketNamesTx(ab) {
			n, err := db.pruneCheckTx(ab, lb, string(agent), string(check), cutoff)
			total += n
			if err != nil {
				return total, fmt.Errorf("%s %s: %w", agent, check, err)
			}
		}
		if k, _ := ab.Cursor().First(); k == nil {
			if err := results.DeleteBucket(agent); err != nil {
				return total, fmt.Errorf("%s: %w", agent, err)
			}
		}
	}
	return total, nil
}

// pruneCheckTx prunes the results of one check and keeps its latest record
// in step.
func (db *DB) pruneCheckTx(ab, lb *bolt.Bucket, agent, check string, cutoff int64) (int, error) {
	cb := ab.Bucket([]byte(check))
	lk := latestKey(agent, check)
	l, found, err := getLatestTx(lb, lk)
	if err != nil {
		return 0, err
	}
	if !found {
		// Every check bucket has a record, written in the same
		// transaction; should one be missing, prune by a count anyway.
		l.count = uint64(cb.Stats().KeyN)
	}
	aged, err := deleteOldestTx(cb, -1, cutoff)
	if err != nil {
		return aged, err
	}
	l.count -= min(l.count, uint64(aged))
	counted := 0
	if keep := uint64(db.opt.HistoryMaxPerCheck); l.count > keep {
		counted, err = deleteOldestTx(cb, int(l.count-keep), maxNanos)
		if err != nil {
			return aged + counted, err
		}
		l.count -= uint64(counted)
	}
	if k, _ := cb.Cursor().First(); k == nil {
		if err := ab.DeleteBucket([]byte(check)); err != nil {
			return aged + counted, err
		}
		return aged + counted, lb.Delete(lk)
	}
	if found && aged+counted > 0 {
		return aged + counted, lb.Put(lk, l.encode())
	}
	return aged + counted, nil
}

// deleteOldestTx deletes, oldest first, at most n results (any number when
// n < 0) of a check bucket whose time is before the given Unix nanoseconds.
// It returns how many it deleted.
func deleteOldestTx(cb *bolt.Bucket, n int, before int64) (int, error) {
	c := cb.Cursor()
	deleted := 0
	for k, _ := c.First(); k != nil && deleted != n && keyNanos(k) < before; k, _ = c.First() {
		if err := c.Delete(); err != nil {
			return deleted, err
		}
		deleted++
	}
	return deleted, nil
}

// bucketNamesTx returns copies of the names of the buckets nested in b, so
// that the caller may delete them while going through the list.
func bucketNamesTx(b *bolt.Bucket) [][]byte {
	var names [][]byte
	_ = b.ForEachBucket(func(k []byte) error {
		names = append(names, append([]byte(nil), k...))
		return nil
	})
	return names
}
