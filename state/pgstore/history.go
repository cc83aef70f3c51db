package pgstore

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/equus-monitoring/equus/state"
)

// readTimeout bounds a read of the results.
const readTimeout = 30 * time.Second

// History returns the results of one check of an agent (or of every
// check, when check is ""), newest first, at most limit of them (all,
// when limit <= 0), with since <= Time < until; a zero since or until is
// no bound.
func (s *Store) History(agent, check string, limit int, since, until time.Time) ([]state.Result, error) {
	rs, _, err := s.HistoryPage(agent, state.Filter{Check: check}, state.Query{Since: since, Until: until, Limit: limit})
	return rs, err
}

// A cursor is the place of a result in any list of them: its time (in
// Unix microseconds, PostgreSQL's resolution) and its seq, 8 bytes
// big-endian each, in base64url.
const cursorLen = 16

func encodeCursor(at time.Time, seq int64) string {
	b := binary.BigEndian.AppendUint64(nil, uint64(at.UnixMicro()))
	return base64.RawURLEncoding.EncodeToString(binary.BigEndian.AppendUint64(b, uint64(seq)))
}

func decodeCursor(c string) (time.Time, int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) != cursorLen {
		return time.Time{}, 0, fmt.Errorf("%w: cursor %q", state.ErrInvalid, c)
	}
	return time.UnixMicro(int64(binary.BigEndian.Uint64(b))), int64(binary.BigEndian.Uint64(b[8:])), nil
}

// historyPage reads each series the filter selects newest first, at most
// the page's size of each (by their primary key), and merges them.
const historyPage = `SELECT s.agent, s.check_name, s.schedule, r.at, r.seq, r.status, r.message, r.long_output, r.metrics, r.duration_ms
	FROM result_series s CROSS JOIN LATERAL (
		SELECT at, seq, status, message, long_output, metrics, duration_ms FROM results
		WHERE series = s.id AND at >= $5 AND at < $6 AND (at, seq) < ($7, $8)
		ORDER BY at DESC, seq DESC LIMIT $9) r
	WHERE s.agent = $1 AND ($2 = '' OR s.check_name = $2) AND ($3 = '' OR s.schedule = $3) AND ($4 = '' OR s.check_name = $4 OR s.schedule = $4)
	ORDER BY r.at DESC, r.seq DESC LIMIT $9`

// HistoryPage returns the results of an agent that f selects, newest
// first, by pages: the results after q.After, and for each the cursor of
// the results after it, which the next page begins from. Results of the
// same time are the later written first.
func (s *Store) HistoryPage(agent string, f state.Filter, q state.Query) ([]state.Result, []string, error) {
	out, cursors, err := s.historyPage(agent, f, q)
	if err != nil {
		return nil, nil, fmt.Errorf("history %s %s: %w", agent, f, err)
	}
	return out, cursors, nil
}

func (s *Store) historyPage(agent string, f state.Filter, q state.Query) ([]state.Result, []string, error) {
	// No bound is the widest one, so that the statement is one plan.
	since, until := pgMin, pgMax
	afterAt, afterSeq := pgMax, int64(math.MaxInt64)
	if !q.Since.IsZero() {
		since = q.Since
	}
	if !q.Until.IsZero() {
		until = q.Until
	}
	if q.After != "" {
		var err error
		if afterAt, afterSeq, err = decodeCursor(q.After); err != nil {
			return nil, nil, err
		}
	}
	var limit *int
	if q.Limit > 0 {
		limit = &q.Limit
	}
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, historyPage, agent, f.Check, f.Schedule, f.Name, since, until, afterAt, afterSeq, limit)
	if err != nil {
		return nil, nil, err
	}
	var out []state.Result
	var cursors []string
	for rows.Next() {
		var r state.Result
		var seq int64
		var metrics []byte
		if err := rows.Scan(&r.Agent, &r.Check, &r.Schedule, &r.Time, &seq, &r.Status, &r.Message, &r.LongOutput, &metrics, &r.DurationMS); err != nil {
			return nil, nil, err
		}
		if err := decodeMetrics(&r, metrics); err != nil {
			return nil, nil, err
		}
		r.Time = r.Time.UTC()
		out = append(out, r)
		cursors = append(cursors, encodeCursor(r.Time, seq))
	}
	return out, cursors, rows.Err()
}

// The widest bounds of a time PostgreSQL keeps: stored times are within
// them (state.PrepareResult keeps a result's within 1970 to 2262).
var (
	pgMin = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	pgMax = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
)

func decodeMetrics(r *state.Result, b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, &r.Metrics); err != nil {
		return fmt.Errorf("metrics of %s %s at %v: %w", r.Agent, r.Check, r.Time, err)
	}
	return nil
}

const checkStates = `SELECT agent, check_name, schedule, at, status, message, long_output, metrics, duration_ms, since, count
	FROM result_series WHERE $1 = '' OR agent = $1 ORDER BY agent, check_name, schedule`

// CheckStates returns the state of each series of an agent ("" for every
// agent), by agent, check then schedule.
func (s *Store) CheckStates(agent string) ([]state.CheckState, error) {
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, checkStates, agent)
	if err != nil {
		return nil, fmt.Errorf("states %s: %w", agent, err)
	}
	states, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (state.CheckState, error) {
		var st state.CheckState
		r := &st.Result
		var metrics []byte
		if err := row.Scan(&r.Agent, &r.Check, &r.Schedule, &r.Time, &r.Status, &r.Message, &r.LongOutput, &metrics,
			&r.DurationMS, &st.Since, &st.Count); err != nil {
			return st, err
		}
		r.Time, st.Since = r.Time.UTC(), st.Since.UTC()
		return st, decodeMetrics(r, metrics)
	})
	if err != nil {
		return nil, fmt.Errorf("states %s: %w", agent, err)
	}
	return states, nil
}

// Latest returns the latest result of each series of an agent ("" for
// every agent), by agent, check then schedule.
func (s *Store) Latest(agent string) ([]state.Result, error) {
	states, err := s.CheckStates(agent)
	if err != nil {
		return nil, err
	}
	var out []state.Result
	for _, st := range states {
		out = append(out, st.Result)
	}
	return out, nil
}
