package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// compactBounds bound the results log and its compactor (log.go). Their
// defaults are in defaultCompact, and docs/DESIGN.md names them.
type compactBounds struct {
	// At is how many entries the log holds when the compactor starts a
	// round; maxLog how many it may hold before the writer waits for the
	// compactor (so a reader of the log reads at most that many).
	At, MaxLog int
	// Round is how many of the oldest entries a round takes at most: the
	// compactor's memory is an index of that many sequences.
	Round int
	// A step, one transaction, moves at most StepResults results of at
	// most StepSeries series and StepBytes bytes (one result more), or
	// deletes at most DeleteStep entries: the time the compactor holds
	// the writer out is bounded by those.
	StepResults, StepSeries, StepBytes, DeleteStep int
}

// defaultCompact: with 32,000 series (1,000 agents of 32 schedules) a
// round of 262,144 results writes each series' leaf once for about 8
// results.
var defaultCompact = compactBounds{
	At: 1 << 18, MaxLog: 1 << 19, Round: 1 << 18,
	StepResults: 16384, StepSeries: 2048, StepBytes: 16 << 20, DeleteStep: 1 << 16,
}

func (b compactBounds) withDefaults() compactBounds {
	d := defaultCompact
	for _, f := range []struct{ v, d *int }{{&b.At, &d.At}, {&b.MaxLog, &d.MaxLog}, {&b.Round, &d.Round},
		{&b.StepResults, &d.StepResults}, {&b.StepSeries, &d.StepSeries}, {&b.StepBytes, &d.StepBytes}, {&b.DeleteStep, &d.DeleteStep}} {
		if *f.v <= 0 {
			*f.v = *f.d
		}
	}
	return b
}

// seriesPlan is a series of the round in progress and the sequences of
// its entries that the round has still to move, in order.
type seriesPlan struct {
	lk   string // latestKey
	seqs []uint64
}

// compactor runs rounds while the log holds Compact.At entries or more,
// woken by the writer, until Close has stopped the writer.
func (db *DB) compactor() {
	defer close(db.compactDone)
	for {
		select {
		case <-db.stopCompact:
			return
		case <-db.compactWake:
		}
		for db.logLen.Load() >= int64(db.opt.compact.At) {
			if _, _, err := db.compactRound(^uint64(0), db.stopCompact); err != nil || stopped(db.stopCompact) {
				break
			}
		}
	}
}

func stopped(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return false
	}
}

// wakeCompactor asks the compactor to look at the log again.
func (db *DB) wakeCompactor() {
	select {
	case db.compactWake <- struct{}{}:
	default:
	}
}

// waitLogRoom holds the writer while the log holds MaxLog entries or
// more, until the compactor has deleted some. With the compactor failing
// it returns its error instead: the results are not acknowledged.
func (db *DB) waitLogRoom() error {
	db.logMu.Lock()
	defer db.logMu.Unlock()
	for db.logLen.Load() >= int64(db.opt.compact.MaxLog) {
		if db.compactErr != nil {
			return fmt.Errorf("results log full and its compaction failing: %w", db.compactErr)
		}
		db.wakeCompactor()
		db.logRoom.Wait()
	}
	return nil
}

// compactAll moves every entry the log holds now into the series, in
// rounds, unless stop ends first (ErrClosed). Entries written meanwhile
// may stay in the log. It returns how many results trimming the series
// deleted.
func (db *DB) compactAll(stop <-chan struct{}) (int, error) {
	var tail uint64
	if err := db.view(func(tx *bolt.Tx) error { tail = tx.Bucket(bucketLog).Sequence(); return nil }); err != nil {
		return 0, fmt.Errorf("compact: %w", err)
	}
	total := 0
	for {
		had, trimmed, err := db.compactRound(tail, stop)
		total += trimmed
		switch {
		case err != nil:
			return total, err
		case stopped(stop):
			return total, ErrClosed
		case !had:
			return total, nil
		}
	}
}

// compactRound goes on with the round in progress, or starts one of the
// oldest entries with a sequence up to limit, and runs it to its end
// unless stop ends first. It reports whether there was a round, and
// returns how many results trimming the series deleted.
func (db *DB) compactRound(limit uint64, stop <-chan struct{}) (bool, int, error) {
	db.compactMu.Lock()
	defer db.compactMu.Unlock()
	trimmed, err := db.runRound(limit, stop)
	none := errors.Is(err, errNoRound)
	db.logMu.Lock()
	db.compactErr = err
	if none {
		db.compactErr = nil
	}
	db.logRoom.Broadcast()
	db.logMu.Unlock()
	if none {
		return false, 0, nil
	}
	if err != nil {
		return true, trimmed, fmt.Errorf("compact results log: %w", err)
	}
	return true, trimmed, nil
}

// errNoRound is runRound finding nothing to compact.
var errNoRound = errors.New("no round")

func (db *DB) runRound(limit uint64, stop <-chan struct{}) (int, error) {
	var r round
	var plan []seriesPlan
	err := db.view(func(tx *bolt.Tx) (err error) {
		r, plan, err = db.planTx(tx, limit)
		return err
	})
	if err != nil {
		return 0, err
	}
	if !r.active {
		return 0, errNoRound
	}
	total := 0
	for !r.deleting {
		if stopped(stop) {
			return total, nil
		}
		var trimmed int
		if r, plan, trimmed, err = db.compactStep(r, plan); err != nil {
			return total, err
		}
		total += trimmed
	}
	for r.active {
		if stopped(stop) {
			return total, nil
		}
		if r, err = db.deleteStep(r); err != nil {
			return total, err
		}
	}
	return total, nil
}

// planTx reads the round in progress, or makes a new one (recorded by
// its first step) of the oldest entries up to Compact.Round of them with a
// sequence up to limit, and returns what the round has still to move, by
// series in latestKey order. An inactive round is no entry to compact.
func (db *DB) planTx(tx *bolt.Tx, limit uint64) (round, []seriesPlan, error) {
	r, err := getRoundTx(tx)
	if err != nil {
		return r, nil, err
	}
	c := tx.Bucket(bucketLog).Cursor()
	if !r.active {
		n := 0
		for k, _ := c.First(); k != nil && n < db.opt.compact.Round; k, _ = c.Next() {
			seq := binary.BigEndian.Uint64(k)
			if seq > limit {
				break
			}
			r.upto, n = seq, n+1
		}
		if n == 0 {
			return round{}, nil, nil
		}
		r.active = true
	}
	if r.deleting {
		return r, nil, nil
	}
	bySeries := map[string][]uint64{}
	for k, v := c.First(); k != nil && binary.BigEndian.Uint64(k) <= r.upto; k, v = c.Next() {
		e, err := decodeLog(k, v)
		if err != nil {
			return r, nil, corruptError(db.path, err.Error())
		}
		if lk := e.latestKey(); !r.moved(lk, e.seq) {
			bySeries[lk] = append(bySeries[lk], e.seq)
		}
	}
	plan := make([]seriesPlan, 0, len(bySeries))
	for lk, seqs := range bySeries {
		plan = append(plan, seriesPlan{lk, seqs})
	}
	slices.SortFunc(plan, func(a, b seriesPlan) int { return strings.Compare(a.lk, b.lk) })
	return r, plan, nil
}

// compactStep moves the next series of the plan, within the bounds of a
// step, in one transaction that records how far the round has come; with
// the plan done, the round deletes next. It returns the round and plan
// after it (those given, if the transaction failed), and how many results
// trimming the series deleted.
func (db *DB) compactStep(r round, plan []seriesPlan) (round, []seriesPlan, int, error) {
	b := db.opt.compact
	next, rest, trimmed := r, plan, 0
	err := db.update(func(tx *bolt.Tx) error {
		next, rest, trimmed = r, plan, 0
		results, lb, logb := tx.Bucket(bucketResults), tx.Bucket(bucketLatest), tx.Bucket(bucketLog)
		nres, nbytes := 0, 0
		for i := 0; len(rest) > 0 && i < b.StepSeries && nres < b.StepResults && nbytes < b.StepBytes; i++ {
			sp := rest[0]
			n, size, d, err := db.moveTx(results, lb, logb, sp, b.StepResults-nres, b.StepBytes-nbytes)
			if err != nil {
				return err
			}
			trimmed += d
			nres, nbytes = nres+n, nbytes+size
			next.series, next.seq = sp.lk, sp.seqs[n-1]
			if n == len(sp.seqs) {
				rest = rest[1:]
			} else {
				// The rest of the series goes in the next step: a new
				// head, so that plan stays as it was should this
				// transaction fail.
				rest = append([]seriesPlan{{sp.lk, sp.seqs[n:]}}, rest[1:]...)
			}
		}
		next.deleting = len(rest) == 0
		return putRoundTx(tx, next)
	})
	if err != nil {
		return r, plan, 0, err
	}
	return next, rest, trimmed, nil
}

// moveTx moves entries of a series from the log into its bucket, in
// order, at most maxResults of them and, past the first, while they come
// to less than maxBytes; then it trims the series to HistoryMaxPerCheck
// and writes its latest record once. The entries stay in the log, moved
// by the round record, until the round deletes them. It returns how many
// it moved, their bytes, and how many trimming deleted.
func (db *DB) moveTx(results, lb, logb *bolt.Bucket, sp seriesPlan, maxResults, maxBytes int) (n, size, trimmed int, err error) {
	agent, series, _ := strings.Cut(sp.lk, "\x00")
	ab, err := results.CreateBucketIfNotExists([]byte(agent))
	if err != nil {
		return 0, 0, 0, fmt.Errorf("agent bucket %s: %w", agent, err)
	}
	cb, err := ab.CreateBucketIfNotExists([]byte(series))
	if err != nil {
		return 0, 0, 0, fmt.Errorf("series bucket %s %q: %w", agent, series, err)
	}
	// Results come mostly in time order: fill the pages the appends
	// split off, instead of leaving half of each empty.
	cb.FillPercent = appendFill
	lk := []byte(sp.lk)
	l, found, err := getLatestTx(lb, lk)
	if err != nil {
		return 0, 0, 0, err
	}
	for _, seq := range sp.seqs {
		if n == maxResults || (n > 0 && size >= maxBytes) {
			break
		}
		k := logKey(seq)
		v := logb.Get(k)
		if v == nil {
			return n, size, 0, corruptError(db.path, fmt.Sprintf("log entry %d of %q, to be moved, is missing", seq, sp.lk))
		}
		e, err := decodeLog(k, v)
		if err != nil {
			return n, size, 0, corruptError(db.path, err.Error())
		}
		// The key it had in the log, unless the series holds it already
		// (a result of the same nanosecond from before the log, or 2^32
		// entries before): then the next free one.
		rk := e.key()
		for cb.Get(rk) != nil {
			rk = bumpSeq(rk)
		}
		val := bytes.Clone(e.value)
		if err := cb.Put(rk, val); err != nil {
			return n, size, 0, fmt.Errorf("put result %s %q: %w", agent, series, err)
		}
		l.add(&found, e.nanos, e.code, val)
		n, size = n+1, size+len(v)
	}
	if keep := uint64(db.opt.HistoryMaxPerCheck); l.count > keep {
		trimmed, err = deleteOldestTx(cb, int(l.count-keep), maxNanos)
		if err != nil {
			return n, size, trimmed, fmt.Errorf("trim %s %q: %w", agent, series, err)
		}
		l.count -= uint64(trimmed)
	}
	if err := lb.Put(lk, l.encode()); err != nil {
		return n, size, trimmed, fmt.Errorf("put latest %s %q: %w", agent, series, err)
	}
	return n, size, trimmed, nil
}

// deleteStep deletes at most Compact.DeleteStep of the round's entries
// from the head of the log; deleting the last of them ends the round.
func (db *DB) deleteStep(r round) (round, error) {
	next, n := r, 0
	err := db.update(func(tx *bolt.Tx) error {
		next, n = r, 0
		logb := tx.Bucket(bucketLog)
		// The keys first, then each deleted by its key: a cursor's
		// First after each deletion would walk again every leaf the
		// step has emptied (bolt rebalances them at the commit).
		var keys [][]byte
		c := logb.Cursor()
		k, _ := c.First()
		for ; k != nil && binary.BigEndian.Uint64(k) <= r.upto && len(keys) < db.opt.compact.DeleteStep; k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		for _, k := range keys {
			if err := logb.Delete(k); err != nil {
				return err
			}
		}
		n = len(keys)
		if k == nil || binary.BigEndian.Uint64(k) > r.upto {
			next = round{}
		}
		return putRoundTx(tx, next)
	})
	if err != nil {
		return r, err
	}
	db.logMu.Lock()
	db.logLen.Add(-int64(n))
	db.logRoom.Broadcast()
	db.logMu.Unlock()
	return next, nil
}

// countLogTx counts the entries of the log, for logLen at Open.
func countLogTx(tx *bolt.Tx) int64 {
	return int64(tx.Bucket(bucketLog).Stats().KeyN)
}
