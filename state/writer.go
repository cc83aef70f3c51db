package state

import (
	"context"
	"fmt"

	"github.com/equus-monitoring/equus/result"
	bolt "go.etcd.io/bbolt"
)

// pending is a result waiting for the writer, already checked and encoded
// as a log entry (encodeLog) by its caller, so that the writer only
// writes.
type pending struct {
	entry []byte
	err   chan error // buffered: the writer never waits on a caller
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
		entry: encodeLog(r.Agent, seriesName(r.Check, r.Schedule), r.Time.UnixNano(), byte(result.Status(r.Status).Code()), v),
		err:   make(chan error, 1),
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
		err := db.waitLogRoom()
		if err == nil {
			if db.opt.beforeCommit != nil {
				db.opt.beforeCommit(len(batch))
			}
			err = db.update(func(tx *bolt.Tx) error {
				db.tail.keep(tx)
				return appendLogTx(tx, batch)
			})
		}
		if err == nil && db.logLen.Add(int64(len(batch))) >= int64(db.opt.compact.At) {
			db.wakeCompactor()
		}
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

// appendFill is the fill percent of the buckets whose keys mostly append
// (the log, the series): bolt's default of half leaves the pages a run of
// appends splits off half empty, so the file and the pages a commit
// writes double.
const appendFill = 0.95

// appendLogTx appends a batch of results to the log: a few pages at its
// end, whatever the series. The compactor moves them into their series.
func appendLogTx(tx *bolt.Tx, batch []*pending) error {
	lb := tx.Bucket(bucketLog)
	lb.FillPercent = appendFill
	for _, p := range batch {
		seq, err := lb.NextSequence()
		if err != nil {
			return err
		}
		if err := lb.Put(logKey(seq), p.entry); err != nil {
			return fmt.Errorf("append result to the log: %w", err)
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
