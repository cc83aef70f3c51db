package pgstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/equus-monitoring/equus/state"
)

// Series returns the buckets of a metric of an agent's schedule that
// start within [from, to), in ascending order, as the bbolt store does
// (state.DB.Series): for a range of state.RollupFineRange or less, a
// bucket a result from the history when it holds every result of the
// range and at most state.MaxRawPoints of them, else a bucket a minute;
// for a longer range, a bucket an hour. A range older than
// HistoryMaxAge is cut to it.
func (s *Store) Series(agent, schedule, metric string, from, to time.Time) ([]state.Bucket, error) {
	if err := state.CheckSeries(agent, schedule, metric); err != nil {
		return nil, err
	}
	if !to.After(from) {
		return nil, fmt.Errorf("series %s %s %s: %w: range %v to %v is empty", agent, schedule, metric, state.ErrInvalid, from, to)
	}
	out, err := s.series(agent, schedule, metric, from, to)
	if err != nil {
		return nil, fmt.Errorf("series %s %s %s: %w", agent, schedule, metric, err)
	}
	return out, nil
}

func (s *Store) series(agent, schedule, metric string, from, to time.Time) ([]state.Bucket, error) {
	floor := s.opt.now().Add(-s.opt.HistoryMaxAge - time.Hour)
	if from.Before(floor) {
		from = floor
	}
	if !to.After(from) {
		return nil, nil
	}
	fine := to.Sub(from) <= state.RollupFineRange
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	var id int64
	err := s.pool.QueryRow(ctx, `SELECT id FROM rollup_series WHERE agent = $1 AND schedule = $2 AND metric = $3`,
		agent, schedule, metric).Scan(&id)
	if err != nil && err != pgx.ErrNoRows {
		return nil, err
	}
	// A series not flushed yet is one of the last minutes' points in
	// memory: the history may have it.
	if id == 0 && (!fine || !s.rollups.fed(agent, schedule, metric, s.opt.now())) {
		return nil, nil
	}
	if fine {
		if out, ok, err := s.rawSeries(ctx, metric, agent, schedule, id, from, to); err != nil || ok {
			return out, err
		}
	}
	tier, step := "rollup_hour", time.Hour
	if fine {
		tier, step = "rollup_minute", time.Minute
	}
	rows, err := s.pool.Query(ctx, `SELECT start, min, max, sum, count FROM `+tier+`
		WHERE series = $1 AND start >= $2 AND start < $3 ORDER BY start`, id, from.Truncate(step), to)
	if err != nil {
		return nil, err
	}
	var out []state.Bucket
	for rows.Next() {
		var start time.Time
		var a acc
		if err := rows.Scan(&start, &a.min, &a.max, &a.sum, &a.count); err != nil {
			return nil, err
		}
		// The range's first bucket may begin before it: not drawn.
		if a.count == 0 || start.Before(from) {
			continue
		}
		out = append(out, state.Bucket{Start: start.UTC(), Min: a.min, Max: a.max, Mean: a.sum / float64(a.count), Count: int(a.count)})
	}
	return out, rows.Err()
}

// rawSeries returns a bucket a result of the metric within [from, to),
// and reports whether the history answers: it holds at most
// state.MaxRawPoints results in the range, and every result of the range
// that the series id has points of: it holds one before from, or the
// minute tier has none before its oldest in the range.
func (s *Store) rawSeries(ctx context.Context, metric, agent, schedule string, id int64, from, to time.Time) ([]state.Bucket, bool, error) {
	f := state.Filter{Schedule: schedule}
	rs, _, err := s.HistoryPage(agent, f, state.Query{Since: from, Until: to, Limit: state.MaxRawPoints + 1})
	if err != nil || len(rs) == 0 || len(rs) > state.MaxRawPoints {
		return nil, false, err
	}
	older, _, err := s.HistoryPage(agent, f, state.Query{Until: from, Limit: 1})
	if err != nil {
		return nil, false, err
	}
	if len(older) == 0 {
		oldest := rs[len(rs)-1].Time.Truncate(time.Minute)
		var before bool
		err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM rollup_minute WHERE series = $1 AND start >= $2 AND start < $3)`,
			id, from.Truncate(time.Minute), oldest).Scan(&before)
		if err != nil || before {
			return nil, false, err
		}
	}
	out := make([]state.Bucket, 0, len(rs))
	for _, r := range slices.Backward(rs) {
		for _, m := range r.Metrics {
			if m.Name == metric && !m.Unknown && state.CheckPoint(m.Name, m.Value) == nil {
				out = append(out, state.Bucket{Start: r.Time, Min: m.Value, Max: m.Value, Mean: m.Value, Count: 1})
				break
			}
		}
	}
	return out, true, nil
}

// SeriesNames returns the metric names of an agent's schedule that have
// a series, flushed or fed since, in byte order: at most
// state.MaxSeriesPerSchedule.
func (s *Store) SeriesNames(agent, schedule string) ([]string, error) {
	if err := state.CheckSeries(agent, schedule, "-"); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT metric FROM rollup_series WHERE agent = $1 AND schedule = $2`, agent, schedule)
	if err != nil {
		return nil, fmt.Errorf("series names %s %s: %w", agent, schedule, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("series names %s %s: %w", agent, schedule, err)
	}
	for _, n := range s.rollups.fedNames(agent, schedule) {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out[:min(len(out), state.MaxSeriesPerSchedule)], nil
}
