package pgstore

import (
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/equus-monitoring/equus/state"
)

// startRollups starts the flusher, unless the interval is negative (a
// test flushes itself).
func (s *Store) startRollups() {
	ro := s.rollups
	if s.opt.rollupFlush < 0 {
		close(ro.done)
		return
	}
	go func() {
		defer close(ro.done)
		t := time.NewTicker(s.opt.rollupFlush)
		defer t.Stop()
		for {
			select {
			case <-ro.stop:
				return
			case <-t.C:
				// A failure keeps its points for the next flush; this
				// package does not log.
				_ = s.flushRollups(s.opt.now())
			}
		}
	}()
}

// closeRollups stops the flusher and flushes what is left: after it,
// Feed refuses with ErrClosed.
func (s *Store) closeRollups() error {
	ro := s.rollups
	close(ro.stop)
	<-ro.done
	err := s.flushRollups(s.opt.now())
	ro.mu.Lock()
	ro.closed = true
	ro.mu.Unlock()
	return err
}

// point is an open bucket with its series' id.
type point struct {
	id    int64
	start time.Time
	a     acc
}

// flushRollups merges the points fed since the last flush into both
// tiers, in one transaction. When it fails, the points are kept for the
// next.
func (s *Store) flushRollups(now time.Time) error {
	ro := s.rollups
	ro.flushMu.Lock()
	defer ro.flushMu.Unlock()
	open := ro.take()
	if len(open) == 0 {
		ro.putBack(nil)
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	if err := s.flushPoints(ctx, open); err != nil {
		ro.putBack(open)
		return err
	}
	ro.mu.Lock()
	ro.flush = nil
	ro.mu.Unlock()
	return nil
}

func (s *Store) flushPoints(ctx context.Context, open map[rollKey]acc) error {
	ro := s.rollups
	ro.mu.Lock()
	drops, gen := slices.Clone(ro.drops), ro.gen
	ro.mu.Unlock()
	if gen != ro.cacheAt {
		clear(ro.cache)
		ro.cacheAt = gen
	}
	keys := make([]rollKey, 0, len(open))
	for k := range open {
		if !slices.ContainsFunc(drops, func(m func(string, string) bool) bool { return m(k.agent, k.schedule) }) {
			keys = append(keys, k)
		}
	}
	// In the order they are locked in: series, then minute.
	slices.SortFunc(keys, compareKey)
	recs, err := s.seriesRecs(ctx, keys)
	if err != nil {
		return err
	}
	var minutes []point
	hours := map[[2]int64]acc{}
	var hourKeys [][2]int64
	lasts := map[int64]int64{}
	var dropped int64
	for _, k := range keys {
		rec, ok := recs[[3]string{k.agent, k.schedule, k.metric}]
		if !ok {
			dropped += open[k].count
			continue
		}
		minutes = append(minutes, point{rec.id, time.Unix(0, k.minute), open[k]})
		h := [2]int64{rec.id, hourOf(k.minute)}
		a, ok := hours[h]
		if !ok {
			hourKeys = append(hourKeys, h)
		}
		a.merge(open[k])
		hours[h] = a
		if hourOf(k.minute) > rec.last && hourOf(k.minute) > lasts[rec.id] {
			lasts[rec.id] = hourOf(k.minute)
		}
	}
	hs := make([]point, len(hourKeys))
	for i, h := range hourKeys {
		hs[i] = point{h[0], time.Unix(0, h[1]), hours[h]}
	}
	var ids []int64
	var last []time.Time
	for id, l := range lasts {
		ids = append(ids, id)
		last = append(last, time.Unix(0, l))
	}
	b := &pgx.Batch{}
	live := map[int64]bool{}
	collect := func(rs pgx.Rows) error {
		for rs.Next() {
			var id int64
			if err := rs.Scan(&id); err != nil {
				return err
			}
			live[id] = true
		}
		return rs.Err()
	}
	b.Queue(mergePoints("rollup_minute"), pointArgs(minutes)...).Query(collect)
	b.Queue(mergePoints("rollup_hour"), pointArgs(hs)...).Query(collect)
	if len(ids) > 0 {
		b.Queue(`UPDATE rollup_series s SET last = greatest(s.last, x.last) FROM unnest($1::bigint[], $2::timestamptz[]) AS x(id, last) WHERE s.id = x.id`, ids, last)
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	// A series deleted meanwhile (on another helen) took its points
	// with it; this store forgets it, to make it anew if fed again.
	for sk, rec := range recs {
		if !live[rec.id] {
			delete(ro.cache, sk)
			continue
		}
		if l, ok := lasts[rec.id]; ok {
			rec.last = l
		}
		if len(ro.cache) < state.MaxRollupOpen {
			ro.cache[sk] = rec
		}
	}
	ro.mu.Lock()
	ro.dropped += dropped
	ro.mu.Unlock()
	return nil
}

func compareKey(a, b rollKey) int {
	for _, c := range [][2]string{{a.agent, b.agent}, {a.schedule, b.schedule}, {a.metric, b.metric}} {
		if c[0] != c[1] {
			if c[0] < c[1] {
				return -1
			}
			return 1
		}
	}
	switch {
	case a.minute < b.minute:
		return -1
	case a.minute > b.minute:
		return 1
	}
	return 0
}

func hourOf(nanos int64) int64 { return nanos - nanos%int64(time.Hour) }

// mergePoints merges points into a tier, and returns the series they
// were of: a point of a series deleted is dropped.
func mergePoints(tier string) string {
	return `INSERT INTO ` + tier + ` AS p (series, start, min, max, sum, count)
	SELECT x.series, x.start, x.min, x.max, x.sum, x.count
	FROM unnest($1::bigint[], $2::timestamptz[], $3::float8[], $4::float8[], $5::float8[], $6::bigint[]) AS x(series, start, min, max, sum, count)
	JOIN rollup_series s ON s.id = x.series
	ORDER BY x.series, x.start
	ON CONFLICT (series, start) DO UPDATE SET min = least(p.min, excluded.min), max = greatest(p.max, excluded.max),
		sum = p.sum + excluded.sum, count = p.count + excluded.count
	RETURNING series`
}

func pointArgs(ps []point) []any {
	ids := make([]int64, len(ps))
	starts := make([]time.Time, len(ps))
	mins, maxs, sums := make([]float64, len(ps)), make([]float64, len(ps)), make([]float64, len(ps))
	counts := make([]int64, len(ps))
	for i, p := range ps {
		ids[i], starts[i], mins[i], maxs[i], sums[i], counts[i] = p.id, p.start, p.a.min, p.a.max, p.a.sum, p.a.count
	}
	return []any{ids, starts, mins, maxs, sums, counts}
}

// seriesRecs returns the records of the keys' series, from the cache or
// the database, making those that are new while their schedule has
// fewer than state.MaxSeriesPerSchedule; a series with no record is one
// of a schedule full.
func (s *Store) seriesRecs(ctx context.Context, keys []rollKey) (map[[3]string]seriesRec, error) {
	ro := s.rollups
	recs := map[[3]string]seriesRec{}
	var missing [][3]string
	for _, k := range keys {
		sk := [3]string{k.agent, k.schedule, k.metric}
		if _, ok := recs[sk]; ok {
			continue
		}
		if rec, ok := ro.cache[sk]; ok {
			recs[sk] = rec
			continue
		}
		if !slices.Contains(missing, sk) {
			missing = append(missing, sk)
		}
	}
	if len(missing) == 0 {
		return recs, nil
	}
	find := func(sks [][3]string) error {
		var a, sc, m []string
		for _, sk := range sks {
			a, sc, m = append(a, sk[0]), append(sc, sk[1]), append(m, sk[2])
		}
		rows, err := s.pool.Query(ctx, `SELECT s.id, s.agent, s.schedule, s.metric, s.last FROM rollup_series s
			JOIN unnest($1::text[], $2::text[], $3::text[]) AS x(agent, schedule, metric)
			ON s.agent = x.agent COLLATE "C" AND s.schedule = x.schedule COLLATE "C" AND s.metric = x.metric COLLATE "C"`, a, sc, m)
		if err != nil {
			return err
		}
		for rows.Next() {
			var rec seriesRec
			var sk [3]string
			var last time.Time
			if err := rows.Scan(&rec.id, &sk[0], &sk[1], &sk[2], &last); err != nil {
				return err
			}
			rec.last = last.UnixNano()
			recs[sk] = rec
		}
		return rows.Err()
	}
	if err := find(missing); err != nil {
		return nil, err
	}
	// The new ones, as many as their schedules have room for, in the
	// order they were fed.
	var fresh [][3]string
	for _, sk := range missing {
		if _, ok := recs[sk]; !ok {
			fresh = append(fresh, sk)
		}
	}
	if len(fresh) == 0 {
		return recs, nil
	}
	counts := map[[2]string]int{}
	var a, sc []string
	for _, sk := range fresh {
		p := [2]string{sk[0], sk[1]}
		if _, ok := counts[p]; !ok {
			counts[p] = 0
			a, sc = append(a, sk[0]), append(sc, sk[1])
		}
	}
	rows, err := s.pool.Query(ctx, `SELECT s.agent, s.schedule, count(*) FROM rollup_series s
		JOIN unnest($1::text[], $2::text[]) AS x(agent, schedule) ON s.agent = x.agent COLLATE "C" AND s.schedule = x.schedule COLLATE "C"
		GROUP BY s.agent, s.schedule`, a, sc)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var p [2]string
		var n int
		if err := rows.Scan(&p[0], &p[1], &n); err != nil {
			return nil, err
		}
		counts[p] = n
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var na, nsc, nm []string
	var nl []time.Time
	firsts := map[[3]string]int64{}
	for _, k := range keys {
		sk := [3]string{k.agent, k.schedule, k.metric}
		if _, ok := firsts[sk]; !ok {
			firsts[sk] = hourOf(k.minute)
		}
	}
	var made [][3]string
	for _, sk := range fresh {
		p := [2]string{sk[0], sk[1]}
		if counts[p] >= state.MaxSeriesPerSchedule {
			continue
		}
		counts[p]++
		na, nsc, nm = append(na, sk[0]), append(nsc, sk[1]), append(nm, sk[2])
		nl = append(nl, time.Unix(0, firsts[sk]))
		made = append(made, sk)
	}
	if len(made) == 0 {
		return recs, nil
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO rollup_series (agent, schedule, metric, last)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) ON CONFLICT DO NOTHING`, na, nsc, nm, nl); err != nil {
		return nil, err
	}
	return recs, find(made)
}

// pruneRollups deletes the minute tier's buckets older than
// state.RollupMinuteKeep, the hour tier's older than HistoryMaxAge, and
// the series with none left, in statements of at most pruneStep
// deletions.
func (s *Store) pruneRollups(ctx context.Context, now time.Time) error {
	hourCut := now.Add(-s.opt.HistoryMaxAge)
	for _, tier := range []struct {
		name string
		cut  time.Time
	}{{"rollup_minute", now.Add(-state.RollupMinuteKeep)}, {"rollup_hour", hourCut}} {
		for {
			tag, err := s.pool.Exec(ctx, `DELETE FROM `+tier.name+` WHERE ctid = ANY(ARRAY(
				SELECT ctid FROM `+tier.name+` WHERE start < $1 LIMIT $2))`, tier.cut, pruneStep)
			if err != nil {
				return err
			}
			if tag.RowsAffected() < pruneStep {
				break
			}
		}
	}
	_, err := s.pool.Exec(ctx, `DELETE FROM rollup_series WHERE last + interval '1 hour' <= $1`, hourCut)
	if err == nil {
		s.rollups.mu.Lock()
		s.rollups.gen++
		s.rollups.mu.Unlock()
	}
	return err
}
