package state

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"math"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The rollups on disk:
//
//	rollup-series  agent NUL schedule NUL metric -> id (8) newest minute written (8, Unix ns)
//	rollup-minute  minute start (8, Unix ns) id (8) -> bucket (rollAccLen)
//	rollup-hour    hour start (8, Unix ns) id (8)   -> bucket
//	meta/rollup-rolled  the hour before which every minute is in the hour tier
//
// A series is known by an id, never reused, so that deleting it (forget,
// schedule deletion) is deleting its name: its points are out of reach at
// once and go with the pruning of their tier.

// rollGrace is how long after an hour ends its minutes are made into the
// hour's bucket: the results of its last runs are still coming in. A
// point of a minute whose hour was made already is merged into both.
const rollGrace = 2 * time.Minute

// maxRollsPerFlush bounds the hours one flush makes into buckets (after a
// long stop the next flushes go on).
const maxRollsPerFlush = 48

const rollAccLen = 32

func encodeAcc(a acc) []byte {
	v := make([]byte, rollAccLen)
	binary.BigEndian.PutUint64(v, math.Float64bits(a.min))
	binary.BigEndian.PutUint64(v[8:], math.Float64bits(a.max))
	binary.BigEndian.PutUint64(v[16:], math.Float64bits(a.sum))
	binary.BigEndian.PutUint64(v[24:], a.count)
	return v
}

// decodeAcc decodes encodeAcc; a malformed value is no data.
func decodeAcc(v []byte) acc {
	if len(v) != rollAccLen {
		return acc{}
	}
	return acc{
		min:   math.Float64frombits(binary.BigEndian.Uint64(v)),
		max:   math.Float64frombits(binary.BigEndian.Uint64(v[8:])),
		sum:   math.Float64frombits(binary.BigEndian.Uint64(v[16:])),
		count: binary.BigEndian.Uint64(v[24:]),
	}
}

func pointKey(start int64, id uint64) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, uint64(start))
	binary.BigEndian.PutUint64(k[8:], id)
	return k
}

func rollSeriesKey(agent, schedule, metric string) []byte {
	return []byte(agent + "\x00" + schedule + "\x00" + metric)
}

func hourOf(nanos int64) int64 { return nanos - nanos%int64(time.Hour) }

// mergeTx merges a into the bucket at k.
func mergeTx(b *bolt.Bucket, k []byte, a acc) error {
	if v := b.Get(k); v != nil {
		a.merge(decodeAcc(v))
	}
	return b.Put(k, encodeAcc(a))
}

func rolledTx(tx *bolt.Tx) int64 {
	v := tx.Bucket(bucketMeta).Get(keyRolled)
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

// startRollups starts the flusher, knowing from the file whether it has
// hours to make: with no minutes, a flush with no points writes nothing.
func (db *DB) startRollups() {
	ro := db.rollups
	_ = db.view(func(tx *bolt.Tx) error {
		ro.mark.Store(rolledTx(tx))
		if k, _ := tx.Bucket(bucketRollMinute).Cursor().First(); k == nil {
			ro.mark.Store(math.MaxInt64)
		}
		return nil
	})
	if ro.interval <= 0 {
		close(ro.done)
		return
	}
	go func() {
		defer close(ro.done)
		t := time.NewTicker(ro.interval)
		defer t.Stop()
		for {
			select {
			case <-ro.stop:
				return
			case <-t.C:
				// A failure is counted in RollupStats and its points
				// kept for the next flush; this package does not log.
				_ = db.flushRollups(db.opt.now())
			}
		}
	}()
}

// closeRollups stops the flusher and flushes what is left: after it,
// Feed refuses with ErrClosed.
func (db *DB) closeRollups() error {
	ro := db.rollups
	close(ro.stop)
	<-ro.done
	err := db.flushRollups(db.opt.now())
	ro.mu.Lock()
	ro.closed = true
	ro.mu.Unlock()
	return err
}

// flushRollups writes the points fed since the last flush, in one
// transaction, and makes the hours over into the hour tier. When it
// fails, the points are kept for the next.
func (db *DB) flushRollups(now time.Time) error {
	ro := db.rollups
	ro.flushMu.Lock()
	defer ro.flushMu.Unlock()
	keys, accs := ro.take()
	// Idle, with no hour to make: no transaction (and no fsync).
	if len(keys) == 0 && ro.mark.Load() >= hourOf(now.Add(-rollGrace).UnixNano()) {
		ro.recycle(keys, accs)
		return nil
	}
	var dropped uint64
	var mark int64
	var recs map[[3]string]*seriesRec
	var gen uint64
	err := db.update(func(tx *bolt.Tx) (err error) {
		dropped = 0
		// Within bolt's writer lock, which deletions take too: a
		// deletion committed since the cache was filled emptied it.
		if gen = ro.cacheGen.Load(); gen != ro.cacheAt {
			clear(ro.cache)
			ro.cacheAt = gen
		}
		if recs, err = db.flushTx(tx, keys, accs, now, &dropped); err != nil {
			return err
		}
		mark = rolledTx(tx)
		return nil
	})
	if err != nil {
		ro.putBack(keys, accs)
		ro.mu.Lock()
		ro.stats.Failures++
		ro.stats.LastErr = err.Error()
		ro.mu.Unlock()
		return err
	}
	// The records as committed, for the next flushes to find without
	// a look-up each, unless a deletion came since.
	if len(ro.cache)+len(recs) > MaxRollupOpen {
		clear(ro.cache)
	}
	if ro.cacheGen.Load() == gen {
		for sk, rec := range recs {
			ro.cache[sk] = seriesRec{id: rec.id, last: rec.last, lastStored: rec.last}
		}
	}
	ro.mark.Store(mark)
	ro.recycle(keys, accs)
	ro.mu.Lock()
	ro.stats.Flushes++
	ro.stats.Dropped += dropped
	ro.mu.Unlock()
	return nil
}

// seriesRec is a series' record in a flush.
type seriesRec struct {
	id         uint64 // 0: dropped, its schedule is full
	last       int64  // its newest minute
	lastStored int64  // the newest minute its record says
}

// flushTx writes the points and returns the records of their series,
// as written. Its caller holds flushMu, which guards the cache.
func (db *DB) flushTx(tx *bolt.Tx, keys []rollKey, accs []acc, now time.Time, dropped *uint64) (map[[3]string]*seriesRec, error) {
	names := tx.Bucket(bucketRollSeries)
	minutes, hours := tx.Bucket(bucketRollMinute), tx.Bucket(bucketRollHour)
	rolled := rolledTx(tx)
	ro := db.rollups
	ro.mu.Lock()
	drops := slices.Clone(ro.drops)
	ro.mu.Unlock()
	type point struct {
		minute int64
		id     uint64
		a      acc
	}
	pts := make([]point, 0, len(keys))
	recs := map[[3]string]*seriesRec{}
	for i, k := range keys {
		if slices.ContainsFunc(drops, func(m func(string, string) bool) bool { return m(k.agent, k.schedule) }) {
			continue
		}
		sk := [3]string{k.agent, k.schedule, k.metric}
		rec, ok := recs[sk]
		if !ok {
			if c, cached := ro.cache[sk]; cached {
				rec = &c
			} else {
				var err error
				if rec, err = seriesRecTx(names, k); err != nil {
					return nil, err
				}
			}
			recs[sk] = rec
		}
		if rec.id == 0 {
			*dropped += accs[i].count
			continue
		}
		rec.last = max(rec.last, k.minute)
		pts = append(pts, point{k.minute, rec.id, accs[i]})
	}
	// In key order: bolt's puts in order write each page once.
	slices.SortFunc(pts, func(a, b point) int { return cmp.Or(cmp.Compare(a.minute, b.minute), cmp.Compare(a.id, b.id)) })
	for _, p := range pts {
		if err := mergeTx(minutes, pointKey(p.minute, p.id), p.a); err != nil {
			return nil, err
		}
		if rolled != 0 && p.minute < rolled {
			if err := mergeTx(hours, pointKey(hourOf(p.minute), p.id), p.a); err != nil {
				return nil, err
			}
		}
	}
	// The newest minute of a series is written when its hour changes:
	// pruning needs no finer.
	for sk, rec := range recs {
		if rec.id != 0 && hourOf(rec.last) != hourOf(rec.lastStored) {
			v := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, rec.id), uint64(rec.last))
			if err := names.Put(rollSeriesKey(sk[0], sk[1], sk[2]), v); err != nil {
				return nil, err
			}
		}
	}
	return recs, rollHoursTx(tx, rolled, now)
}

// seriesRecTx finds the record of k's series, or makes one when its
// schedule has room.
func seriesRecTx(names *bolt.Bucket, k rollKey) (*seriesRec, error) {
	key := rollSeriesKey(k.agent, k.schedule, k.metric)
	if v := names.Get(key); len(v) == 16 {
		last := int64(binary.BigEndian.Uint64(v[8:]))
		return &seriesRec{id: binary.BigEndian.Uint64(v), last: last, lastStored: last}, nil
	}
	prefix := []byte(k.agent + "\x00" + k.schedule + "\x00")
	n := 0
	c := names.Cursor()
	for ck, _ := c.Seek(prefix); ck != nil && bytes.HasPrefix(ck, prefix); ck, _ = c.Next() {
		if n++; n >= MaxSeriesPerSchedule {
			return &seriesRec{}, nil
		}
	}
	id, err := names.NextSequence()
	if err != nil {
		return nil, err
	}
	// Written at once, for the next new series of its schedule to count.
	v := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, id), uint64(k.minute))
	if err := names.Put(key, v); err != nil {
		return nil, err
	}
	return &seriesRec{id: id, last: k.minute, lastStored: k.minute}, nil
}

// rollHoursTx makes each hour over (rollGrace past its end), from the
// mark on, into the hour tier, and moves the mark past them. Hours
// without minutes are skipped at once.
func rollHoursTx(tx *bolt.Tx, mark int64, now time.Time) error {
	minutes, hours := tx.Bucket(bucketRollMinute), tx.Bucket(bucketRollHour)
	hour := int64(time.Hour)
	edge := hourOf(now.Add(-rollGrace).UnixNano()) // the first hour not over
	c := minutes.Cursor()
	if mark == 0 {
		mark = edge
		if k, _ := c.First(); k != nil {
			mark = min(hourOf(keyNanos(k)), edge)
		}
	}
	start := mark
	for range maxRollsPerFlush {
		if mark >= edge {
			break
		}
		k, v := c.Seek(timeKey(time.Unix(0, mark)))
		if k == nil {
			mark = edge
			break
		}
		if h := hourOf(keyNanos(k)); h > mark {
			mark = min(h, edge)
			continue
		}
		sums := map[uint64]acc{}
		var ids []uint64
		for ; k != nil && keyNanos(k) < mark+hour; k, v = c.Next() {
			id := binary.BigEndian.Uint64(k[8:])
			a, ok := sums[id]
			if !ok {
				ids = append(ids, id)
			}
			a.merge(decodeAcc(v))
			sums[id] = a
		}
		slices.Sort(ids)
		for _, id := range ids {
			if err := hours.Put(pointKey(mark, id), encodeAcc(sums[id])); err != nil {
				return err
			}
		}
		mark += hour
	}
	if mark == start && rolledTx(tx) != 0 {
		return nil
	}
	return tx.Bucket(bucketMeta).Put(keyRolled, binary.BigEndian.AppendUint64(nil, uint64(mark)))
}

// deleteRollupsTx deletes the series for which match is true, in memory
// too: their points are out of reach at once, and go with the pruning of
// their tiers.
func (db *DB) deleteRollupsTx(tx *bolt.Tx, match func(agent, schedule string) bool) error {
	db.rollups.drop(match)
	db.rollups.cacheGen.Add(1)
	names := tx.Bucket(bucketRollSeries)
	var doomed [][]byte
	err := names.ForEach(func(k, _ []byte) error {
		parts := bytes.SplitN(k, []byte{0}, 3)
		if len(parts) == 3 && match(string(parts[0]), string(parts[1])) {
			doomed = append(doomed, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range doomed {
		if err := names.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// pruneRollups deletes the minute tier's buckets older than
// RollupMinuteKeep (none the hour tier lacks yet), the hour tier's older
// than HistoryMaxAge, and the series with none left, in transactions of
// at most pruneStep deletions.
func (db *DB) pruneRollups(now time.Time) (int, error) {
	var rolled int64
	if err := db.view(func(tx *bolt.Tx) error { rolled = rolledTx(tx); return nil }); err != nil {
		return 0, err
	}
	minuteCut := min(now.Add(-RollupMinuteKeep).UnixNano(), rolled)
	hourCut := now.Add(-db.opt.HistoryMaxAge).UnixNano()
	total := 0
	for _, tier := range []struct {
		name []byte
		cut  int64
	}{{bucketRollMinute, minuteCut}, {bucketRollHour, hourCut}} {
		for {
			var n int
			err := db.update(func(tx *bolt.Tx) (err error) {
				n, err = deleteOldestTx(tx.Bucket(tier.name), pruneStep, tier.cut)
				return err
			})
			total += n
			if err != nil {
				return total, err
			}
			if n < pruneStep {
				break
			}
		}
	}
	err := db.update(func(tx *bolt.Tx) error {
		names := tx.Bucket(bucketRollSeries)
		var doomed [][]byte
		_ = names.ForEach(func(k, v []byte) error {
			if len(v) != 16 || int64(binary.BigEndian.Uint64(v[8:]))+int64(time.Hour) <= hourCut {
				doomed = append(doomed, bytes.Clone(k))
			}
			return nil
		})
		for _, k := range doomed {
			if err := names.Delete(k); err != nil {
				return err
			}
		}
		if len(doomed) > 0 {
			db.rollups.cacheGen.Add(1)
		}
		total += len(doomed)
		return nil
	})
	return total, err
}
