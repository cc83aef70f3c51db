package state

import (
	"fmt"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"
)

const maxNanos = math.MaxInt64

// pruneStep bounds the results one transaction of Prune deletes, so that a
// large prune (the first after a long pause, or after HistoryMaxAge was
// lowered) holds the database in short steps and results keep being
// written between them. Small steps are also faster in all: bolt's deletes
// grow dearer with the size of the transaction (BenchmarkPruneWhileWriting:
// 700,000 results/s in steps of 1,000, 200,000/s in one transaction).
const pruneStep = 1_000

// Prune deletes results older than HistoryMaxAge before now, and the oldest
// results of any series (a check, or a schedule of a check) holding more
// than HistoryMaxPerCheck. A series (or an agent) left with no results
// loses its bucket and its latest record. It
// returns how many results it deleted. Enrollment tokens that expired before
// the same cutoff go too, and silences that ended SilenceKeep before now
// (PruneSilences), and notifications delivered or expired before the
// cutoff (PruneNotifications). It works in transactions of at most
// pruneStep deletions, one series at a time; a pruner goroutine runs it
// every PruneInterval. It moves the results log into the series first.
func (db *DB) Prune(now time.Time) (int, error) {
	cutoff := now.Add(-db.opt.HistoryMaxAge).UnixNano()
	// What the log holds now goes into the series first, to be pruned
	// with them.
	trimmed, err := db.compactAll(db.stopPruner)
	if err != nil {
		return trimmed, fmt.Errorf("prune: %w", err)
	}
	type pair struct{ agent, series []byte }
	var pairs []pair
	err = db.view(func(tx *bolt.Tx) error {
		results := tx.Bucket(bucketResults)
		for _, agent := range bucketNamesTx(results) {
			for _, series := range bucketNamesTx(results.Bucket(agent)) {
				pairs = append(pairs, pair{agent, series})
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("prune: %w", err)
	}
	if err := db.pruneTokens(time.Unix(0, cutoff)); err != nil {
		return 0, fmt.Errorf("prune: %w", err)
	}
	if _, err := db.PruneSilences(now); err != nil {
		return 0, fmt.Errorf("prune: %w", err)
	}
	if _, err := db.PruneNotifications(time.Unix(0, cutoff)); err != nil {
		return 0, fmt.Errorf("prune: %w", err)
	}
	if _, err := db.pruneRollups(now); err != nil {
		return 0, fmt.Errorf("prune graphs: %w", err)
	}
	total := trimmed
	for i, p := range pairs {
		for {
			n, err := db.pruneStepTx(p.agent, p.series, cutoff, i == len(pairs)-1 || string(pairs[i+1].agent) != string(p.agent))
			total += n
			if err != nil {
				check, schedule := splitSeries(p.series)
				return total, fmt.Errorf("prune %s %s %s: %w", p.agent, check, schedule, err)
			}
			if n < pruneStep {
				break
			}
		}
	}
	return total, nil
}

// pruneStepTx deletes at most pruneStep results of one series in one
// transaction; with lastOfAgent, it also removes the agent's bucket when
// that is left empty.
func (db *DB) pruneStepTx(agent, series []byte, cutoff int64, lastOfAgent bool) (int, error) {
	var n int
	err := db.update(func(tx *bolt.Tx) error {
		results := tx.Bucket(bucketResults)
		ab := results.Bucket(agent)
		if ab == nil {
			return nil
		}
		if ab.Bucket(series) != nil {
			var err error
			if n, err = db.pruneSeriesTx(ab, tx.Bucket(bucketLatest), string(agent), string(series), cutoff, pruneStep); err != nil {
				return err
			}
		}
		if k, _ := ab.Cursor().First(); k == nil && lastOfAgent {
			return results.DeleteBucket(agent)
		}
		return nil
	})
	return n, err
}

// pruner runs Prune every PruneInterval until Close.
func (db *DB) pruner() {
	defer close(db.prunerDone)
	t := time.NewTicker(db.opt.PruneInterval)
	defer t.Stop()
	for {
		select {
		case <-db.stopPruner:
			return
		case now := <-t.C:
			// A failure here is a failing disk, which the next batch of
			// results reports to its callers; this package does not log.
			_, _ = db.Prune(now)
		}
	}
}

// pruneSeriesTx deletes at most budget results of one series and keeps
// its latest record in step.
func (db *DB) pruneSeriesTx(ab, lb *bolt.Bucket, agent, series string, cutoff int64, budget int) (int, error) {
	cb := ab.Bucket([]byte(series))
	lk := latestKey(agent, series)
	l, found, err := getLatestTx(lb, lk)
	if err != nil {
		return 0, err
	}
	if !found {
		// Every series bucket has a record, written in the same
		// transaction; should one be missing, prune by a count anyway.
		l.count = uint64(cb.Stats().KeyN)
	}
	aged, err := deleteOldestTx(cb, budget, cutoff)
	if err != nil {
		return aged, err
	}
	l.count -= min(l.count, uint64(aged))
	counted := 0
	if keep := uint64(db.opt.HistoryMaxPerCheck); l.count > keep && aged < budget {
		counted, err = deleteOldestTx(cb, min(int(l.count-keep), budget-aged), maxNanos)
		if err != nil {
			return aged + counted, err
		}
		l.count -= uint64(counted)
	}
	if k, _ := cb.Cursor().First(); k == nil {
		if err := ab.DeleteBucket([]byte(series)); err != nil {
			return aged + counted, err
		}
		return aged + counted, lb.Delete(lk)
	}
	if found && aged+counted > 0 {
		return aged + counted, lb.Put(lk, l.encode())
	}
	return aged + counted, nil
}

// deleteOldestTx deletes, oldest first, at most n results of a series bucket whose time is before the given Unix nanoseconds.
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
