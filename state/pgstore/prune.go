package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// pruneStep bounds the results (or graph points) one statement of Prune
// deletes, so that a large prune (the first after a long pause, or after
// HistoryMaxAge was lowered) holds no lock long and results keep being
// written between its steps; and the notifications one transaction of
// Expire or PruneNotifications changes, as in the bbolt store.
const pruneStep = 1000

// pruneTimeout bounds one Prune.
const pruneTimeout = 10 * time.Minute

// pruneLock is the key of the advisory lock a Prune holds, so that of
// helens pruning at once one does the work and the others skip theirs.
const pruneLock = 0x65717570 // "equp"

// otherPrunes are what Prune deletes beside the results and the graphs:
// each area of the store registers its own (tokens expired before the
// cutoff, silences ended, notifications delivered), in an init function.
var otherPrunes []func(s *Store, ctx context.Context, now, cutoff time.Time) error

// pruneAged deletes a step of results older than the cutoff ($1): the
// series walked in order of their names after the one named $3, $4, $5,
// at most $2 of them and of their results, each series locked (as
// writers lock them) before its results are touched. It returns how many
// it deleted, how many series it walked, and the name of the last.
const pruneAged = `WITH walk AS (
		SELECT id, agent, check_name, schedule FROM result_series
		WHERE (agent, check_name, schedule) > ($3::text COLLATE "C", $4::text COLLATE "C", $5::text COLLATE "C")
		ORDER BY agent, check_name, schedule LIMIT $2 FOR UPDATE),
	doomed AS (
		SELECT w.id, d.at, d.seq FROM walk w
		CROSS JOIN LATERAL (SELECT at, seq FROM results WHERE series = w.id AND at < $1 ORDER BY at, seq LIMIT $2) d
		LIMIT $2),
	gone AS (
		DELETE FROM results r USING doomed WHERE r.series = doomed.id AND r.at = doomed.at AND r.seq = doomed.seq
		RETURNING r.series),
	counted AS (
		UPDATE result_series l SET count = l.count - g.n
		FROM (SELECT series, count(*) AS n FROM gone GROUP BY series) g WHERE l.id = g.series
		RETURNING g.n),
	last AS (SELECT agent, check_name, schedule FROM walk ORDER BY agent DESC, check_name DESC, schedule DESC LIMIT 1)
	SELECT (SELECT coalesce(sum(n), 0) FROM counted), (SELECT count(*) FROM walk),
		coalesce((SELECT agent FROM last), ''), coalesce((SELECT check_name FROM last), ''), coalesce((SELECT schedule FROM last), '')`

// pruneCounted deletes a step of the oldest results of the series that
// hold more than HistoryMaxPerCheck ($1), as after it was lowered.
const pruneCounted = `WITH over AS (
		SELECT id, count - $1 AS n FROM result_series WHERE count > $1
		ORDER BY agent, check_name, schedule LIMIT $2 FOR UPDATE),
	doomed AS (
		SELECT o.id, d.at, d.seq FROM over o
		CROSS JOIN LATERAL (SELECT at, seq FROM results WHERE series = o.id ORDER BY at, seq LIMIT least(o.n, $2)) d
		LIMIT $2),
	gone AS (
		DELETE FROM results r USING doomed WHERE r.series = doomed.id AND r.at = doomed.at AND r.seq = doomed.seq
		RETURNING r.series),
	counted AS (
		UPDATE result_series l SET count = l.count - g.n
		FROM (SELECT series, count(*) AS n FROM gone GROUP BY series) g WHERE l.id = g.series
		RETURNING g.n)
	SELECT coalesce(sum(n), 0) FROM counted`

// Prune deletes results older than HistoryMaxAge before now, and the
// oldest results of any series holding more than HistoryMaxPerCheck; a
// series left with no results loses its latest record. It returns how
// many results it deleted. The graphs' points past their tiers' ages go
// too, and what the other areas registered (otherPrunes). It works in
// statements of at most pruneStep deletions, under an advisory lock: of
// helens pruning at once, one does. A pruner goroutine runs it every
// PruneInterval.
func (s *Store) Prune(now time.Time) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), pruneTimeout)
	defer cancel()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("prune: %w", err)
	}
	defer conn.Release()
	var locked bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", pruneLock).Scan(&locked); err != nil {
		return 0, fmt.Errorf("prune: %w", err)
	}
	if !locked {
		return 0, nil // another helen prunes
	}
	defer conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", pruneLock)
	n, err := s.prune(ctx, now)
	if err != nil {
		return n, fmt.Errorf("prune: %w", err)
	}
	return n, nil
}

func (s *Store) prune(ctx context.Context, now time.Time) (int, error) {
	cutoff := now.Add(-s.opt.HistoryMaxAge)
	for _, p := range otherPrunes {
		if err := p(s, ctx, now, cutoff); err != nil {
			return 0, err
		}
	}
	if err := s.pruneRollups(ctx, now); err != nil {
		return 0, fmt.Errorf("graphs: %w", err)
	}
	total := 0
	// By age: the series walked in steps, in order of their names; a
	// step whose deletions were cut at pruneStep is walked again.
	var from [3]string
	for {
		var n, walked int
		var last [3]string
		if err := s.pool.QueryRow(ctx, pruneAged, cutoff, pruneStep, from[0], from[1], from[2]).Scan(&n, &walked, &last[0], &last[1], &last[2]); err != nil {
			return total, err
		}
		total += n
		if n == pruneStep {
			continue
		}
		if walked < pruneStep {
			break
		}
		from = last
	}
	for {
		var n int
		if err := s.pool.QueryRow(ctx, pruneCounted, s.opt.HistoryMaxPerCheck, pruneStep).Scan(&n); err != nil {
			return total, err
		}
		total += n
		if n == 0 {
			break
		}
	}
	return total, s.dropEmptySeries(ctx)
}

// dropEmptySeries deletes the series with no results left, in steps:
// each locks its series first, as writers do, and deletes those that
// are still empty then, in a statement of its own that sees what a
// writer committed before the lock was had.
func (s *Store) dropEmptySeries(ctx context.Context) error {
	for {
		n, err := s.dropEmptyStep(ctx)
		if err != nil || n < pruneStep {
			return err
		}
	}
}

func (s *Store) dropEmptyStep(ctx context.Context) (int, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx)
	rows, err := tx.Query(ctx, `SELECT id FROM result_series l WHERE NOT EXISTS (SELECT 1 FROM results r WHERE r.series = l.id)
		ORDER BY agent, check_name, schedule LIMIT $1 FOR UPDATE`, pruneStep)
	if err != nil {
		return 0, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return 0, err
	}
	if len(ids) == 0 {
		return 0, nil
	}
	if _, err := tx.Exec(ctx, `DELETE FROM result_series l WHERE l.id = ANY($1)
		AND NOT EXISTS (SELECT 1 FROM results r WHERE r.series = l.id)`, ids); err != nil {
		return 0, err
	}
	return len(ids), tx.Commit(ctx)
}

// pruner runs Prune every PruneInterval until Close.
func (s *Store) pruner(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(s.opt.PruneInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			// A failure is the database's, which the next results
			// report to their callers; this package does not log.
			_, _ = s.Prune(now)
		}
	}
}
