package state

import (
	"context"
	"fmt"

	"github.com/equus-monitoring/equus/result"
	bolt "go.etcd.io/bbolt"
)

// pending is a result waiting for the writer, already checked and encoded
// by its caller so that the writer only writes.
type pending struct {
	agent, check string
	series       string // seriesName of check and schedule
	nanos        int64
	code         byte
	value        []byte
	err          chan error // buffered: the writer never waits on a caller
}

// AddResult stores r and returns once it is committed to disk. Results of
// concurrent callers are grouped into one transaction by the writer. An
// error from ctx means r was not acknowledged; it may still be committed.
func (db *DB) AddResult(ctx context.Context, r Result) error {
	if err := db.addResult(ctx, r); err != nil {
		return fmt.Errorf("add result %s %s: %w", r.Agent, r.Check, err)
	}
	return nil
}

func (db *DB) addResult(ctx context.Context, r Result) error {
	v, err := encodeResult(r)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	p := &pending{
		agent: r.Agent, check: r.Check, series: seriesName(r.Check, r.Schedule), nanos: r.Time.UnixNano(),
		code: byte(result.Status(r.Status).Code()), value: v, err: make(chan error, 1),
	}
	if err := db.enqueue(ctx, p); err != nil {
		return err
	}
	select {
	case err := <-p.err:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// enqueue hands p to the writer. The read lock keeps Close from closing the
// queue while a send is in flight; the writer keeps draining until then.
func (db *DB) enqueue(ctx context.Context, p *pending) error {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return ErrClosed
	}
	db.pending.Add(1)
	select {
	case db.queue <- p:
		return nil
	case <-ctx.Done():
		db.pending.Add(-1)
		return ctx.Err()
	}
}

// Pending returns how many results are queued or being written: a measure
// of how far the writer is behind.
func (db *DB) Pending() int { return int(db.pending.Load()) }

// The writer is this package's own rather than bolt's DB.Batch so that
// Close can commit what is queued, Pending can tell how far behind it is,
// and a commit never waits on a timer (bolt's Batch waits MaxBatchDelay
// for company).

// write is the writer, a group commit: it takes what is queued, commits
// it in one transaction and answers every caller, then takes what came in
// while that commit ran. So a result that finds the writer idle is
// committed at once, and under load each batch holds what came during the
// commit before: batches grow with the load, and the fsyncs per result
// fall, up to BatchSize a transaction. It returns when Close has closed the
// queue and everything queued before is committed.
func (db *DB) write() {
	defer close(db.done)
	batch := make([]*pending, 0, db.opt.BatchSize)
	for open := true; open; {
		p, ok := <-db.queue
		if !ok {
			return
		}
		batch = append(batch[:0], p)
		open = db.drain(&batch)
		if db.opt.beforeCommit != nil {
			db.opt.beforeCommit(len(batch))
		}
		err := db.update(func(tx *bolt.Tx) error { return db.addResultsTx(tx, batch) })
		for _, p := range batch {
			p.err <- err
		}
		db.pending.Add(-int64(len(batch)))
		clear(batch)
	}
}

// drain adds to batch what is queued, without waiting, until it holds
// BatchSize. It reports whether the queue is still open.
func (db *DB) drain(batch *[]*pending) bool {
	for len(*batch) < db.opt.BatchSize {
		select {
		case p, ok := <-db.queue:
			if !ok {
				return false
			}
			*batch = append(*batch, p)
		default:
			return true
		}
	}
	return true
}

// appendFill is the fill percent of the buckets of series, whose keys
// mostly append: bolt's default of half leaves the pages a run of appends
// splits off half empty, so the file and the pages a commit writes double.
const appendFill = 0.95

// addResultsTx writes a batch of results, updates the latest record of
// each series, and trims each series to HistoryMaxPerCheck.
func (db *DB) addResultsTx(tx *bolt.Tx, batch []*pending) error {
	results := tx.Bucket(bucketResults)
	lb := tx.Bucket(bucketLatest)
	for _, p := range batch {
		ab, err := results.CreateBucketIfNotExists([]byte(p.agent))
		if err != nil {
			return fmt.Errorf("agent bucket %s: %w", p.agent, err)
		}
		cb, err := ab.CreateBucketIfNotExists([]byte(p.series))
		if err != nil {
			return fmt.Errorf("series bucket %s %s: %w", p.agent, p.check, err)
		}
		// Results come in time order: fill the pages the appends split
		// off, instead of leaving half of each empty.
		cb.FillPercent = appendFill
		seq, err := cb.NextSequence()
		if err != nil {
			return err
		}
		if err := cb.Put(resultKey(p.nanos, uint32(seq)), p.value); err != nil {
			return fmt.Errorf("put result %s %s: %w", p.agent, p.check, err)
		}

		lk := latestKey(p.agent, p.series)
		l, found, err := getLatestTx(lb, lk)
		if err != nil {
			return err
		}
		l.count++
		if !found || p.nanos >= l.time {
			if !found || p.code != l.code {
				l.since = p.nanos
			}
			l.time, l.code, l.result = p.nanos, p.code, p.value
		}
		if keep := uint64(db.opt.HistoryMaxPerCheck); l.count > keep {
			n, err := deleteOldestTx(cb, int(l.count-keep), maxNanos)
			if err != nil {
				return fmt.Errorf("trim %s %s: %w", p.agent, p.check, err)
			}
			l.count -= uint64(n)
		}
		if err := lb.Put(lk, l.encode()); err != nil {
			return fmt.Errorf("put latest %s %s: %w", p.agent, p.check, err)
		}
	}
	return nil
}

// getLatestTx reads the latest record of a check. Its result points into
// the transaction's memory.
func getLatestTx(lb *bolt.Bucket, key []byte) (l latest, found bool, err error) {
	v := lb.Get(key)
	if v == nil {
		return latest{}, false, nil
	}
	l, err = decodeLatest(v)
	if err != nil {
		return latest{}, false, fmt.Errorf("latest %q: %w", key, err)
	}
	return l, true, nil
}
