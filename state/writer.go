package state

import (
	"context"
	"fmt"

	"github.com/equus-monitoring/equus/result"
	bolt "go.etcd.io/bbolt"
)

// pending is a result waiting to be committed, already checked and
// encoded as a log entry (encodeLog) by its caller, so that the commit
// only writes.
type pending struct {
	entry []byte
	err   chan error // buffered: a committer never waits on a caller
}

// AddResult stores r and returns once it is committed to disk. Results of
// concurrent callers are grouped into one transaction (group commit). An
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
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return ErrClosed
	}
	// Counted, p gets committed: Close waits until it is queued.
	db.pending.Add(1)
	db.callers.Add(1)
	if !db.committing {
		return db.lead(p)
	}
	db.mu.Unlock()
	return db.queue(ctx, p)
}

// The group commit is this package's own rather than bolt's DB.Batch so
// that Close can commit what is queued, Pending can tell how far behind
// the commits are, and a commit never waits on a timer (bolt's Batch
// waits MaxBatchDelay for company).
//
// One commit runs at a time. A result that finds none under way is
// committed by its caller, in its own goroutine: an idle store hands
// nothing to another goroutine, whose wakeup would cost more than the
// rest of the commit but the fsyncs. The results that come while a commit
// runs queue (up to BatchSize, then their callers wait for room), and
// the committer hands them on to the writer, a goroutine that commits
// what is queued, a batch at a time, until the queue is empty. So under
// load each batch holds what came during the commit before: batches grow
// with the load, and the fsyncs per result fall, up to BatchSize a
// transaction. No caller is answered before the transaction that holds
// its result is on disk.

// lead commits p, with what is queued by then, in the caller's goroutine,
// and hands what queued meanwhile on to the writer. db.mu is held, and
// no commit is under way; lead unlocks it.
func (db *DB) lead(p *pending) error {
	db.committing = true
	db.mu.Unlock()
	if db.opt.beforeGather != nil {
		db.opt.beforeGather()
	}
	db.commit([]*pending{p})
	db.mu.Lock()
	if len(db.queued) == 0 {
		db.committing = false
	} else {
		db.kick <- struct{}{} // the only kick: the writer is idle
	}
	db.mu.Unlock()
	db.callers.Done()
	return <-p.err
}

// queue queues p for the commit under way, or commits it when that one
// ended meanwhile, and waits for its answer. A full queue is waited for
// until ctx ends.
func (db *DB) queue(ctx context.Context, p *pending) error {
	select {
	case db.slots <- struct{}{}:
	case <-ctx.Done():
		db.pending.Add(-1)
		db.callers.Done()
		return ctx.Err()
	}
	db.mu.Lock()
	if !db.committing {
		<-db.slots
		return db.lead(p)
	}
	db.queued = append(db.queued, p)
	db.mu.Unlock()
	db.callers.Done()
	select {
	case err := <-p.err:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Pending returns how many results are queued or being written: a measure
// of how far the commits are behind.
func (db *DB) Pending() int { return int(db.pending.Load()) }

// write is the writer: handed the commits by a caller whose commit found
// results queued, it commits them until none is left. It returns when
// Close has stopped it, having committed everything queued before.
func (db *DB) write() {
	defer close(db.done)
	batch := make([]*pending, 0, db.opt.BatchSize)
	for {
		select {
		case <-db.kick:
			db.commitQueued(batch)
		case <-db.stopWriter:
			// No caller commits now, so no other kick can come.
			select {
			case <-db.kick:
				db.commitQueued(batch)
			default:
			}
			return
		}
	}
}

// commitQueued commits what is queued, a batch at a time, until the
// queue is empty, and then ends the commit under way.
func (db *DB) commitQueued(batch []*pending) {
	for {
		db.mu.Lock()
		if len(db.queued) == 0 {
			db.committing = false
			db.mu.Unlock()
			return
		}
		db.mu.Unlock()
		db.commit(batch[:0])
	}
}

// commit commits batch and what is queued, up to BatchSize results a
// transaction (a batch the caller of lead holds, then the writer's), and
// answers each with the outcome, once it is on disk.
func (db *DB) commit(batch []*pending) {
	err := db.waitLogRoom()
	batch = db.gather(batch)
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
	clear(batch) // the writer's batch outlives it
}

// gather moves what is queued into batch, in order, until it holds
// BatchSize, and frees their room in the queue.
func (db *DB) gather(batch []*pending) []*pending {
	db.mu.Lock()
	n := min(len(db.queued), db.opt.BatchSize-len(batch))
	batch = append(batch, db.queued[:n]...)
	rest := copy(db.queued, db.queued[n:])
	clear(db.queued[rest:])
	db.queued = db.queued[:rest]
	db.mu.Unlock()
	for range n {
		<-db.slots
	}
	return batch
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
