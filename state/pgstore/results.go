package pgstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
)

// The results' writer is a group commit: AddResult queues its result and
// waits; one goroutine commits what is queued, up to BatchSize results,
// in one transaction (a pipeline of a few set statements over arrays,
// one round trip), and answers each caller once it is committed. Under
// load each batch holds what came during the commit before, so that
// the commits (and the server's fsyncs) per result fall as the load
// grows. One commit runs at a time: the writes of two batches never
// wait on each other's locks.

// commitTimeout bounds one commit of a batch of results: past it, the
// batch fails and its callers are told so.
const commitTimeout = 30 * time.Second

// pending is a result waiting to be committed, checked and capped.
type pending struct {
	r       state.Result
	metrics string // the JSON of its metrics, "" for none
	epoch   int64  // of this store's claim of its agent; 0: not fenced
	err     chan error
}

// writer is the group commit's state.
type writer struct {
	mu     sync.Mutex
	closed bool
	queued []*pending
	slots  chan struct{} // buffered BatchSize: a result in queued holds one
	wake   chan struct{} // buffered 1
	stop   chan struct{} // closed by Close
	done   chan struct{} // closed when the writer has returned
	// beforeCommit, if set, is called with the size of each batch
	// before it is committed: a test counts batches with it, or holds
	// the commit in it.
	beforeCommit func(n int)
}

func newWriter(size int) *writer {
	return &writer{slots: make(chan struct{}, size), wake: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
}

// AddResult stores r and returns once it is committed. Results of
// concurrent callers are committed together (group commit). A result for
// an agent this store claimed is stored only while the claim is still
// this store's, else refused with state.ErrFenced. An error from ctx
// means r was not acknowledged; it may still be committed.
func (s *Store) AddResult(ctx context.Context, r state.Result) error {
	if err := s.addResult(ctx, r); err != nil {
		return fmt.Errorf("add result %s %s: %w", r.Agent, r.Check, err)
	}
	return nil
}

func (s *Store) addResult(ctx context.Context, r state.Result) error {
	r, err := state.PrepareResult(r)
	if err != nil {
		return err
	}
	p := &pending{r: r, err: make(chan error, 1)}
	if len(r.Metrics) > 0 {
		ms := make([]result.MetricJSON, len(r.Metrics))
		for i := range r.Metrics {
			ms[i] = r.Metrics[i].JSON()
		}
		b, err := json.Marshal(ms)
		if err != nil {
			return fmt.Errorf("%w: %w", state.ErrInvalid, err)
		}
		p.metrics = string(b)
	}
	if e, ok := s.heldEpoch(r.Agent); ok {
		p.epoch = e
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	w := s.writer
	select {
	case w.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		<-w.slots
		return state.ErrClosed
	}
	w.queued = append(w.queued, p)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	select {
	case err := <-p.err:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// write is the writer's goroutine: it commits what is queued until the
// queue is empty, each time it is woken, and once Close stopped it, what
// is left.
func (s *Store) write() {
	w := s.writer
	defer close(w.done)
	batch := make([]*pending, 0, s.opt.BatchSize)
	for {
		select {
		case <-w.wake:
		case <-w.stop:
		}
		for {
			w.mu.Lock()
			n := min(len(w.queued), s.opt.BatchSize)
			batch = append(batch[:0], w.queued[:n]...)
			rest := copy(w.queued, w.queued[n:])
			clear(w.queued[rest:])
			w.queued = w.queued[:rest]
			closed := w.closed
			w.mu.Unlock()
			for range n {
				<-w.slots
			}
			if n == 0 {
				if closed {
					return
				}
				break
			}
			if w.beforeCommit != nil {
				w.beforeCommit(n)
			}
			s.commit(batch)
			clear(batch)
		}
	}
}

// closeWriter stops taking results, and returns once every result queued
// is committed and answered.
func (s *Store) closeWriter() {
	w := s.writer
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		<-w.done
		return
	}
	w.closed = true
	w.mu.Unlock()
	close(w.stop)
	<-w.done
}

// commit commits batch in one transaction and answers each of its
// callers: ErrFenced for a result of an agent whose claim another helen
// took, the commit's outcome for the others.
func (s *Store) commit(batch []*pending) {
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	fenced, err := s.commitBatch(ctx, batch)
	for _, p := range batch {
		switch {
		case err != nil:
			p.err <- err
		case fenced[p.r.Agent]:
			p.err <- fmt.Errorf("%w: claim of %s, epoch %d, is no longer %s's", state.ErrFenced, p.r.Agent, p.epoch, s.opt.Helen)
		default:
			p.err <- nil
		}
	}
}

// rows are a batch of results as the arrays of its statements.
type rows struct {
	agent, check, schedule, status, message, long, metrics []string
	at                                                     []time.Time
	duration                                               []float64
	epoch                                                  []int64
}

func (rs *rows) add(p *pending) {
	r := p.r
	rs.agent = append(rs.agent, r.Agent)
	rs.check = append(rs.check, r.Check)
	rs.schedule = append(rs.schedule, r.Schedule)
	rs.status = append(rs.status, r.Status)
	rs.message = append(rs.message, r.Message)
	rs.long = append(rs.long, r.LongOutput)
	rs.metrics = append(rs.metrics, p.metrics)
	rs.at = append(rs.at, r.Time)
	rs.duration = append(rs.duration, r.DurationMS)
	rs.epoch = append(rs.epoch, p.epoch)
}

func (rs *rows) args() []any {
	return []any{rs.agent, rs.check, rs.schedule, rs.at, rs.status, rs.message, rs.long, rs.metrics, rs.duration, rs.epoch}
}

// batchRows is the rows of a batch as a set (x) in a statement, those of
// a fenced agent whose claim is no longer this store's left out. $11 is
// this store's helen.
const batchRows = `x AS (
	SELECT u.agent COLLATE "C" AS agent, u.check_name COLLATE "C" AS check_name, u.schedule COLLATE "C" AS schedule,
		u.at, u.status, u.message, u.long_output, u.metrics, u.duration_ms, u.epoch, u.ord
	FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::text[], $8::text[],
		$9::float8[], $10::bigint[]) WITH ORDINALITY AS u(agent, check_name, schedule, at, status, message, long_output, metrics,
		duration_ms, epoch, ord)
	WHERE u.epoch = 0 OR EXISTS (SELECT 1 FROM claims c WHERE c.agent = u.agent AND c.helen = $11 AND c.epoch = u.epoch))`

// upsertSeries makes each series of the rows' latest record what it
// would be with the rows' results added, in the order given: the
// latest is the result of the latest time, the later written of equal
// times, and since changes with the status of the latest. Each series
// has one row at most: a statement cannot update a row twice. The rows
// go in the order of their series' names, as every writer locks them.
const upsertSeries = `INSERT INTO result_series AS l (agent, check_name, schedule, count, since, at, status, message, long_output, metrics, duration_ms)
	SELECT agent, check_name, schedule, 1, at, at, status, message, long_output, NULLIF(metrics, '')::jsonb, duration_ms
	FROM x ORDER BY agent, check_name, schedule
	ON CONFLICT (agent, check_name, schedule) DO UPDATE SET
		count = l.count + 1,
		since = CASE WHEN excluded.at >= l.at AND excluded.status <> l.status THEN excluded.at ELSE l.since END,
		at = greatest(l.at, excluded.at),
		status = CASE WHEN excluded.at >= l.at THEN excluded.status ELSE l.status END,
		message = CASE WHEN excluded.at >= l.at THEN excluded.message ELSE l.message END,
		long_output = CASE WHEN excluded.at >= l.at THEN excluded.long_output ELSE l.long_output END,
		metrics = CASE WHEN excluded.at >= l.at THEN excluded.metrics ELSE l.metrics END,
		duration_ms = CASE WHEN excluded.at >= l.at THEN excluded.duration_ms ELSE l.duration_ms END
	RETURNING id, agent, check_name, schedule`

// insertResults is the first statement of a batch: the series of its
// first round (every series of the batch) brought up to date, and every
// result of the batch inserted into its series, in the batch's order.
// $12 are the ordinals of the first round's rows.
var insertResults = `WITH ` + batchRows + `,
	s AS (` + strings.Replace(upsertSeries, "FROM x ORDER BY", "FROM x WHERE ord = ANY($12::bigint[]) ORDER BY", 1) + `),
	r AS (INSERT INTO results (series, at, seq, status, message, long_output, metrics, duration_ms)
		SELECT s.id, x.at, nextval('results_seq'), x.status, x.message, x.long_output, NULLIF(x.metrics, '')::jsonb, x.duration_ms
		FROM x JOIN s USING (agent, check_name, schedule) ORDER BY x.ord)
	SELECT count(*) FROM s`

// roundSeries is a later round of a batch: the latest records of the
// series with a result more in it.
var roundSeries = `WITH ` + batchRows + ` ` + upsertSeries

// trimSeries deletes the oldest results of the batch's series (in $1,
// $2, $3) beyond HistoryMaxPerCheck ($4), as the bbolt store trims its
// series when it writes them.
const trimSeries = `WITH over AS (
		SELECT l.id, l.count - $4 AS n FROM result_series l
		JOIN unnest($1::text[], $2::text[], $3::text[]) AS b(agent, check_name, schedule)
			ON l.agent = b.agent COLLATE "C" AND l.check_name = b.check_name COLLATE "C" AND l.schedule = b.schedule COLLATE "C"
		WHERE l.count > $4),
	doomed AS (
		SELECT o.id, d.at, d.seq FROM over o
		CROSS JOIN LATERAL (SELECT at, seq FROM results WHERE series = o.id ORDER BY at, seq LIMIT o.n) d),
	gone AS (
		DELETE FROM results r USING doomed WHERE r.series = doomed.id AND r.at = doomed.at AND r.seq = doomed.seq
		RETURNING r.series)
	UPDATE result_series l SET count = l.count - g.n
	FROM (SELECT series, count(*) AS n FROM gone GROUP BY series) g WHERE l.id = g.series`

// lockClaims locks, until the batch commits, the claims of the agents
// this store holds that are still its own, and returns their agents:
// another helen's claim of one waits for the commit, so that no result
// of a stale holder lands after it.
const lockClaims = `SELECT c.agent FROM claims c
	JOIN unnest($1::text[], $2::bigint[]) AS h(agent, epoch) ON c.agent = h.agent AND c.epoch = h.epoch
	WHERE c.helen = $3 ORDER BY c.agent FOR SHARE OF c`

// commitBatch writes batch in one transaction, and returns the agents
// whose results were refused as fenced.
func (s *Store) commitBatch(ctx context.Context, batch []*pending) (map[string]bool, error) {
	// The rounds: a series' n-th result of the batch is in round n.
	var all rows
	var rounds [][]int64 // ordinals (from 1) of each round's rows
	seen := map[[3]string]int{}
	fenced := map[string]bool{}
	var heldAgents []string
	var heldEpochs []int64
	for i, p := range batch {
		all.add(p)
		k := [3]string{p.r.Agent, p.r.Check, p.r.Schedule}
		n := seen[k]
		seen[k] = n + 1
		if n == len(rounds) {
			rounds = append(rounds, nil)
		}
		rounds[n] = append(rounds[n], int64(i+1))
		if p.epoch != 0 && !fenced[p.r.Agent] {
			fenced[p.r.Agent] = true // until the claim is found still ours
			heldAgents = append(heldAgents, p.r.Agent)
			heldEpochs = append(heldEpochs, p.epoch)
		}
	}
	b := &pgx.Batch{}
	if len(heldAgents) > 0 {
		b.Queue(lockClaims, heldAgents, heldEpochs, s.opt.Helen).Query(func(rs pgx.Rows) error {
			for rs.Next() {
				var a string
				if err := rs.Scan(&a); err != nil {
					return err
				}
				delete(fenced, a)
			}
			return rs.Err()
		})
	}
	b.Queue(insertResults, append(all.args(), s.opt.Helen, rounds[0])...)
	for _, round := range rounds[1:] {
		var rs rows
		for _, ord := range round {
			rs.add(batch[ord-1])
		}
		b.Queue(roundSeries, append(rs.args(), s.opt.Helen)...)
	}
	var names rows
	for k := range seen {
		names.agent = append(names.agent, k[0])
		names.check = append(names.check, k[1])
		names.schedule = append(names.schedule, k[2])
	}
	b.Queue(trimSeries, names.agent, names.check, names.schedule, s.opt.HistoryMaxPerCheck)
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	return fenced, nil
}

// startResults starts the writer, the graphs' flusher and the pruner.
func (s *Store) startResults() {
	s.writer = newWriter(s.opt.BatchSize)
	s.rollups = newRollups()
	s.stopPruner, s.prunerDone = make(chan struct{}), make(chan struct{})
	go s.write()
	s.startRollups()
	if s.opt.PruneInterval > 0 {
		go s.pruner(s.stopPruner, s.prunerDone)
	} else {
		close(s.prunerDone)
	}
}

// closeResults commits the results queued and answers their callers,
// flushes the graphs' points, and stops the pruner. Closing twice is
// harmless.
func (s *Store) closeResults() error {
	s.writer.mu.Lock()
	again := s.writer.closed
	s.writer.mu.Unlock()
	if again {
		return nil
	}
	close(s.stopPruner)
	<-s.prunerDone
	s.closeWriter()
	if err := s.closeRollups(); err != nil {
		return fmt.Errorf("close %s: graphs' points: %w", s.url, err)
	}
	return nil
}
