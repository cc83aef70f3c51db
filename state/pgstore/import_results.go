package pgstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
)

// ImportResults writes, in one transaction, the records of the series of
// series (each its latest result, since when its status is what it is,
// and how many results it holds), which must not be stored yet, and
// results, of those series or of series an earlier call wrote, at their
// keys' times and sequence numbers (which order results of one time, as
// the other store did): helen migrate writes a store's history in
// bounded batches by it. Texts are made over as AddResult makes them (a
// NUL as U+FFFD). The sequence of results goes on past the numbers
// written.
func (s *Store) ImportResults(ctx context.Context, series []state.CheckState, results []state.KeyedResult) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if len(series) > 0 {
			_, err := tx.CopyFrom(ctx, pgx.Identifier{"result_series"}, []string{"agent", "check_name", "schedule", "count",
				"since", "at", "status", "message", "long_output", "metrics", "duration_ms"},
				pgx.CopyFromSlice(len(series), func(i int) ([]any, error) {
					st := series[i]
					r := textOf(st.Result)
					ms, err := metricsJSON(r.Metrics)
					if err != nil {
						return nil, err
					}
					return []any{r.Agent, r.Check, r.Schedule, int64(st.Count), st.Since, r.Time, r.Status, r.Message, r.LongOutput,
						ms, r.DurationMS}, nil
				}))
			if err != nil {
				return fmt.Errorf("series: %w", err)
			}
		}
		if len(results) == 0 {
			return nil
		}
		ids, err := seriesIDsTx(ctx, tx, results)
		if err != nil {
			return err
		}
		var last int64
		for _, kr := range results {
			last = max(last, int64(kr.Key.Seq))
		}
		if _, err := tx.Exec(ctx, "SELECT setval('results_seq', greatest($1, (SELECT last_value FROM results_seq)))", last); err != nil {
			return err
		}
		_, err = tx.CopyFrom(ctx, pgx.Identifier{"results"}, []string{"series", "at", "seq", "status", "message", "long_output",
			"metrics", "duration_ms"},
			pgx.CopyFromSlice(len(results), func(i int) ([]any, error) {
				r := textOf(results[i].Result)
				ms, err := metricsJSON(r.Metrics)
				if err != nil {
					return nil, err
				}
				return []any{ids[[3]string{r.Agent, r.Check, r.Schedule}], r.Time, int64(results[i].Key.Seq), r.Status, r.Message,
					r.LongOutput, ms, r.DurationMS}, nil
			}))
		if err != nil {
			return fmt.Errorf("results: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("import into %s: %w", s.url, err)
	}
	return nil
}

// seriesIDsTx returns the ids of the series of results, by agent, check
// and schedule; a series not stored is an error.
func seriesIDsTx(ctx context.Context, tx pgx.Tx, results []state.KeyedResult) (map[[3]string]int64, error) {
	ids := map[[3]string]int64{}
	var agents, checks, schedules []string
	for _, kr := range results {
		r := kr.Result
		k := [3]string{r.Agent, r.Check, r.Schedule}
		if _, ok := ids[k]; !ok {
			ids[k] = 0
			agents, checks, schedules = append(agents, k[0]), append(checks, k[1]), append(schedules, k[2])
		}
	}
	rows, err := tx.Query(ctx, `SELECT s.id, s.agent, s.check_name, s.schedule FROM result_series s
		JOIN unnest($1::text[], $2::text[], $3::text[]) AS u(agent, check_name, schedule)
		ON s.agent = u.agent COLLATE "C" AND s.check_name = u.check_name COLLATE "C" AND s.schedule = u.schedule COLLATE "C"`,
		agents, checks, schedules)
	if err != nil {
		return nil, err
	}
	var id int64
	var k [3]string
	if _, err := pgx.ForEachRow(rows, []any{&id, &k[0], &k[1], &k[2]}, func() error {
		ids[k] = id
		return nil
	}); err != nil {
		return nil, err
	}
	for k, id := range ids {
		if id == 0 {
			return nil, fmt.Errorf("results of %s %s %s: no record of their series", k[0], k[1], k[2])
		}
	}
	return ids, nil
}

// metricsJSON is the stored form of metrics, nil (NULL) for none.
func metricsJSON(metrics []state.Metric) (any, error) {
	if len(metrics) == 0 {
		return nil, nil
	}
	ms := make([]result.MetricJSON, len(metrics))
	for i := range metrics {
		ms[i] = metrics[i].JSON()
	}
	b, err := json.Marshal(ms)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", state.ErrInvalid, err)
	}
	return string(b), nil
}

// ImportRollupSeries writes the graphs' series rs, which must not be
// stored yet, in one transaction, and returns their ids, in the order of
// rs, for ImportRollupPoints.
func (s *Store) ImportRollupSeries(ctx context.Context, rs []state.RollupSeries) ([]int64, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	agents, schedules, metrics := make([]string, len(rs)), make([]string, len(rs)), make([]string, len(rs))
	lasts := make([]time.Time, len(rs))
	for i, r := range rs {
		agents[i], schedules[i], metrics[i] = r.Agent, r.Schedule, r.Metric
		// Here a series' record keeps its newest minute's hour.
		lasts[i] = time.Unix(0, hourOf(r.Last.UnixNano())).UTC()
	}
	ids := make([]int64, len(rs))
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `INSERT INTO rollup_series (agent, schedule, metric, last)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])
			RETURNING id, agent, schedule, metric`, agents, schedules, metrics, lasts)
		if err != nil {
			return err
		}
		byName := map[[3]string]int64{}
		var id int64
		var k [3]string
		if _, err := pgx.ForEachRow(rows, []any{&id, &k[0], &k[1], &k[2]}, func() error {
			byName[k] = id
			return nil
		}); err != nil {
			return err
		}
		for i, r := range rs {
			if ids[i] = byName[[3]string{r.Agent, r.Schedule, r.Metric}]; ids[i] == 0 {
				return fmt.Errorf("series %s %s %s: not stored", r.Agent, r.Schedule, r.Metric)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("import graphs' series into %s: %w", s.url, err)
	}
	return ids, nil
}

// ImportRollupPoints writes points of the minute tier (hour false) or of
// the hour tier, each of the series ids[p.Series], in one transaction:
// helen migrate writes the graphs in bounded batches by it.
func (s *Store) ImportRollupPoints(ctx context.Context, hour bool, ids []int64, ps []state.RollupPoint) error {
	table := "rollup_minute"
	if hour {
		table = "rollup_hour"
	}
	for _, p := range ps {
		if p.Series < 0 || p.Series >= len(ids) {
			return fmt.Errorf("import %s: point of series %d of %d", table, p.Series, len(ids))
		}
	}
	_, err := s.pool.CopyFrom(ctx, pgx.Identifier{table}, []string{"series", "start", "min", "max", "sum", "count"},
		pgx.CopyFromSlice(len(ps), func(i int) ([]any, error) {
			p := ps[i]
			return []any{ids[p.Series], p.Start, p.Min, p.Max, p.Sum, int64(p.Count)}, nil
		}))
	if err != nil {
		return fmt.Errorf("import %s into %s: %w", table, s.url, err)
	}
	return nil
}
