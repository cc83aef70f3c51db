package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/equus-monitoring/equus/agentname"
	"github.com/equus-monitoring/equus/state"
)

// The monitor's area of the store: schedules, statuses, agents down and
// events (this file), routes, silences and acknowledgements (notify.go),
// the outbox (outbox.go).

// monitorTimeout bounds each call of the monitor's area on the server.
const monitorTimeout = 30 * time.Second

// ChangesChannel is the channel of PostgreSQL's NOTIFY on which every
// write of schedules, silences, acknowledgements and routes is told, in
// its transaction, to the other helens (Watch): the payload is the kind,
// one of the Change* constants.
const ChangesChannel = "equus_changes"

// The kinds of change told on ChangesChannel by this area.
const (
	ChangeSchedules = "schedules"
	ChangeSilences  = "silences"
	ChangeAcks      = "acks"
	ChangeRoutes    = "routes"
)

// monitor is the monitor area's state in a Store.
type monitor struct {
	// gen counts this store's writes of routes, silences and
	// acknowledgements (NotifyGeneration).
	gen atomic.Uint64
}

// tellTx marks kind changed, in tx: the other helens hear of it when tx
// commits.
func tellTx(ctx context.Context, tx pgx.Tx, kind string) error {
	_, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", ChangesChannel, kind)
	return err
}

// monitorTries is how many times monitorTx runs a transaction that
// PostgreSQL ended to break a deadlock.
const monitorTries = 3

// monitorTx runs f in a transaction bounded by monitorTimeout, and again
// when PostgreSQL ended it to break a deadlock (retryable): f must start
// from what it reads.
func (s *Store) monitorTx(f func(ctx context.Context, tx pgx.Tx) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), monitorTimeout)
	defer cancel()
	var err error
	for range monitorTries {
		err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return f(ctx, tx) })
		if !retryable(err) {
			return err
		}
	}
	return err
}

// monitorCtx returns a context bounded by monitorTimeout.
func monitorCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), monitorTimeout)
}

// PutSchedule creates the schedule s.Name or replaces it, keeping the
// creation time of the one it replaces.
func (s *Store) PutSchedule(sc state.Schedule) error {
	sc, err := state.CheckSchedule(sc)
	if err != nil {
		return err
	}
	err = s.monitorTx(func(ctx context.Context, tx pgx.Tx) error {
		var old []byte
		err := tx.QueryRow(ctx, "SELECT doc FROM schedules WHERE name = $1 FOR UPDATE", sc.Name).Scan(&old)
		switch {
		case err == nil:
			var o state.Schedule
			if err := json.Unmarshal(old, &o); err != nil {
				return fmt.Errorf("decode schedule: %w", err)
			}
			sc.Created = o.Created
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		v, err := json.Marshal(sc)
		if err != nil {
			return fmt.Errorf("encode schedule: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schedules (name, doc) VALUES ($1, $2)
			ON CONFLICT (name) DO UPDATE SET doc = EXCLUDED.doc`, sc.Name, string(v)); err != nil {
			return err
		}
		return tellTx(ctx, tx, ChangeSchedules)
	})
	if err != nil {
		return fmt.Errorf("put schedule %s: %w", sc.Name, err)
	}
	return nil
}

// Schedule returns the schedule called name, or ErrNotFound.
func (s *Store) Schedule(name string) (state.Schedule, error) {
	ctx, cancel := monitorCtx()
	defer cancel()
	var v []byte
	err := s.pool.QueryRow(ctx, "SELECT doc FROM schedules WHERE name = $1", name).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		err = state.ErrNotFound
	}
	var sc state.Schedule
	if err == nil {
		sc, err = decodeSchedule(v)
	}
	if err != nil {
		return state.Schedule{}, fmt.Errorf("schedule %s: %w", name, err)
	}
	return sc, nil
}

// decodeSchedule reads a stored schedule, stored with its defaults.
func decodeSchedule(v []byte) (state.Schedule, error) {
	var sc state.Schedule
	if err := json.Unmarshal(v, &sc); err != nil {
		return state.Schedule{}, fmt.Errorf("decode schedule: %w", err)
	}
	return sc, nil
}

// Schedules returns every schedule, by name.
func (s *Store) Schedules() ([]state.Schedule, error) {
	out, err := monitorDocs(s, "SELECT doc FROM schedules ORDER BY name", decodeSchedule)
	if err != nil {
		return nil, fmt.Errorf("schedules: %w", err)
	}
	return out, nil
}

// monitorDocs returns the records of the documents q selects, decoded.
func monitorDocs[T any](s *Store, q string, decode func([]byte) (T, error), args ...any) ([]T, error) {
	ctx, cancel := monitorCtx()
	defer cancel()
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (T, error) {
		var v []byte
		if err := row.Scan(&v); err != nil {
			var zero T
			return zero, err
		}
		return decode(v)
	})
}

// DeleteSchedule removes the schedule called name, the statuses of its
// runs and its graphs, or returns ErrNotFound.
func (s *Store) DeleteSchedule(name string) error {
	err := s.monitorTx(func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM schedules WHERE name = $1", name)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return state.ErrNotFound
		}
		if _, err := tx.Exec(ctx, "DELETE FROM statuses WHERE schedule = $1", name); err != nil {
			return err
		}
		// Its graphs with it, and their points in memory, as the bbolt
		// store's.
		if err := s.deleteRollups(ctx, tx, "", name); err != nil {
			return err
		}
		return tellTx(ctx, tx, ChangeSchedules)
	})
	if err != nil {
		return fmt.Errorf("delete schedule %s: %w", name, err)
	}
	return nil
}

// PutStatuses stores statuses, each replacing the one of its agent and
// schedule (the last of one agent and schedule, given twice), with
// message, long output and metrics capped. Those of an agent this store
// claimed are fenced: when its claim is no longer this store's, with the
// epoch it took, none is stored and the error wraps state.ErrFenced.
func (s *Store) PutStatuses(sts ...state.Status) error {
	if len(sts) == 0 {
		return nil
	}
	type key struct{ agent, schedule string }
	last := make(map[key]int, len(sts))
	for i, st := range sts {
		st, err := state.CheckStatus(st)
		if err != nil {
			return err
		}
		sts[i] = st
		last[key{st.Agent, st.Schedule}] = i
	}
	var agents, schedules, docs []string
	var epochs []int64
	for i, st := range sts {
		if last[key{st.Agent, st.Schedule}] != i {
			continue
		}
		v, err := json.Marshal(st)
		if err != nil {
			return fmt.Errorf("put status %s %s: %w: %w", st.Agent, st.Schedule, state.ErrInvalid, err)
		}
		epoch, held := s.heldEpoch(st.Agent)
		if !held {
			epoch = -1
		}
		agents, schedules, docs, epochs = append(agents, st.Agent), append(schedules, st.Schedule), append(docs, string(v)), append(epochs, epoch)
	}
	// One statement, so one round trip: it writes all of them, or none
	// when one is fenced.
	ctx, cancel := monitorCtx()
	defer cancel()
	tag, err := s.pool.Exec(ctx, `WITH u AS (
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS u(agent, schedule, doc, epoch)),
		fenced AS (
			SELECT 1 FROM u WHERE u.epoch >= 0
			AND NOT EXISTS (SELECT 1 FROM claims c WHERE c.agent = u.agent AND c.helen = $5 AND c.epoch = u.epoch))
		INSERT INTO statuses (agent, schedule, doc)
		SELECT u.agent, u.schedule, u.doc::json FROM u WHERE NOT EXISTS (SELECT 1 FROM fenced)
		ON CONFLICT (agent, schedule) DO UPDATE SET doc = EXCLUDED.doc`,
		agents, schedules, docs, epochs, s.opt.Helen)
	if err == nil && tag.RowsAffected() != int64(len(agents)) {
		err = fmt.Errorf("%w: statuses of an agent whose claim this helen lost", state.ErrFenced)
	}
	if err != nil {
		return fmt.Errorf("put statuses: %w", err)
	}
	return nil
}

// Statuses returns the stored statuses of an agent ("" for every agent), by
// agent then schedule.
func (s *Store) Statuses(agent string) ([]state.Status, error) {
	decode := func(v []byte) (state.Status, error) {
		var st state.Status
		if err := json.Unmarshal(v, &st); err != nil {
			return state.Status{}, fmt.Errorf("decode status: %w", err)
		}
		return st, nil
	}
	var out []state.Status
	var err error
	if agent == "" {
		out, err = monitorDocs(s, "SELECT doc FROM statuses ORDER BY agent, schedule", decode)
	} else {
		out, err = monitorDocs(s, "SELECT doc FROM statuses WHERE agent = $1 ORDER BY schedule", decode, agent)
	}
	if err != nil {
		return nil, fmt.Errorf("statuses %s: %w", agent, err)
	}
	return out, nil
}

// DeleteStatus removes the status of a schedule on an agent, if any.
func (s *Store) DeleteStatus(agent, schedule string) error {
	return s.DeleteStatuses([]state.StatusKey{{Agent: agent, Schedule: schedule}})
}

// DeleteStatuses removes the statuses of keys that exist, in one
// statement however many there are.
func (s *Store) DeleteStatuses(keys []state.StatusKey) error {
	if len(keys) == 0 {
		return nil
	}
	agents, schedules := make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		agents[i], schedules[i] = k.Agent, k.Schedule
	}
	ctx, cancel := monitorCtx()
	defer cancel()
	_, err := s.pool.Exec(ctx, `DELETE FROM statuses s USING unnest($1::text[], $2::text[]) AS u(agent, schedule)
		WHERE s.agent = u.agent AND s.schedule = u.schedule`, agents, schedules)
	if err != nil {
		if len(keys) == 1 {
			return fmt.Errorf("delete status %s %s: %w", keys[0].Agent, keys[0].Schedule, err)
		}
		return fmt.Errorf("delete %d statuses: %w", len(keys), err)
	}
	return nil
}

// SetAgentDown records that an agent was declared down at at, or, with a
// zero at, that it is up again.
func (s *Store) SetAgentDown(agent string, at time.Time) error {
	if err := agentname.Check(agent); err != nil {
		return fmt.Errorf("set agent down: %w: %w", state.ErrInvalid, err)
	}
	ctx, cancel := monitorCtx()
	defer cancel()
	var err error
	if at.IsZero() {
		_, err = s.pool.Exec(ctx, "DELETE FROM agents_down WHERE agent = $1", agent)
	} else {
		_, err = s.pool.Exec(ctx, `INSERT INTO agents_down (agent, at) VALUES ($1, $2)
			ON CONFLICT (agent) DO UPDATE SET at = EXCLUDED.at`, agent, at)
	}
	if err != nil {
		return fmt.Errorf("set agent down %s: %w", agent, err)
	}
	return nil
}

// AgentsDown returns the agents declared down, with the time each was.
func (s *Store) AgentsDown() (map[string]time.Time, error) {
	ctx, cancel := monitorCtx()
	defer cancel()
	rows, err := s.pool.Query(ctx, "SELECT agent, at FROM agents_down")
	if err != nil {
		return nil, fmt.Errorf("agents down: %w", err)
	}
	down := map[string]time.Time{}
	var agent string
	var at time.Time
	_, err = pgx.ForEachRow(rows, []any{&agent, &at}, func() error {
		down[agent] = at.UTC()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("agents down: %w", err)
	}
	return down, nil
}

// AddEvents appends events, with messages capped.
func (s *Store) AddEvents(evs ...state.Event) error {
	if len(evs) == 0 {
		return nil
	}
	docs, err := checkEvents(evs)
	if err != nil {
		return err
	}
	ctx, cancel := monitorCtx()
	defer cancel()
	if _, err := insertEvents(ctx, s.pool, evs, docs); err != nil {
		return fmt.Errorf("add events: %w", err)
	}
	return nil
}

// checkEvents checks events and returns their stored forms, capped.
func checkEvents(evs []state.Event) ([]string, error) {
	docs := make([]string, len(evs))
	for i, ev := range evs {
		ev, err := state.CheckEvent(ev)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(ev)
		if err != nil {
			return nil, fmt.Errorf("add event: %w: %w", state.ErrInvalid, err)
		}
		docs[i] = string(v)
	}
	return docs, nil
}

// putEventsTx stores the events evs in tx: what the core area's writes
// (a revocation, a forgetting) store with their own.
func (s *Store) putEventsTx(ctx context.Context, tx pgx.Tx, evs []state.Event) error {
	_, err := addEventsTx(ctx, tx, evs)
	return err
}

// addEventsTx writes events in tx, refusing those state.CheckEvent
// refuses, and returns their keys (their cursors are the keys' Cursor):
// what any write of events (a revocation's, say) calls.
func addEventsTx(ctx context.Context, tx pgx.Tx, evs []state.Event) ([]state.ListKey, error) {
	if len(evs) == 0 {
		return nil, nil
	}
	docs, err := checkEvents(evs)
	if err != nil {
		return nil, err
	}
	return insertEvents(ctx, tx, evs, docs)
}

// insertEvents writes events in their stored forms, docs, in one
// statement, and returns their keys.
func insertEvents(ctx context.Context, q rowsQuerier, evs []state.Event, docs []string) ([]state.ListKey, error) {
	ns := make([]int64, len(evs))
	agents := make([]string, len(evs))
	for i, ev := range evs {
		ns[i], agents[i] = ev.Time.UnixNano(), ev.Agent
	}
	rows, err := q.Query(ctx, `WITH u AS (
			SELECT u.ns, nextval('event_seq') AS seq, u.agent, u.doc, u.i
			FROM unnest($1::bigint[], $2::text[], $3::json[]) WITH ORDINALITY AS u(ns, agent, doc, i)),
		ins AS (INSERT INTO events (ns, seq, agent, doc) SELECT ns, seq, agent, doc FROM u)
		SELECT seq FROM u ORDER BY i`, ns, agents, docs)
	if err != nil {
		return nil, err
	}
	seqs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, err
	}
	keys := make([]state.ListKey, len(evs))
	for i := range evs {
		keys[i] = state.ListKey{Nanos: ns[i], Seq: uint32(seqs[i])}
	}
	return keys, nil
}

// rowsQuerier is a pool or a transaction.
type rowsQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// nextSeqsTx returns n numbers of the sequence seq.
func nextSeqsTx(ctx context.Context, tx pgx.Tx, seq string, n int) ([]int64, error) {
	rows, err := tx.Query(ctx, "SELECT nextval($1::regclass) FROM generate_series(1, $2)", seq, n)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// Events returns the events with since <= Time < until, oldest first: the
// newest limit of them when limit > 0. A zero since or until is no bound.
func (s *Store) Events(since, until time.Time, limit int) ([]state.Event, error) {
	evs, _, err := s.EventsPage(state.Query{Since: since, Until: until, Limit: limit})
	for i, j := 0, len(evs)-1; i < j; i, j = i+1, j-1 {
		evs[i], evs[j] = evs[j], evs[i]
	}
	return evs, err
}

// EventsPage is Events by pages, newest first: the events older than
// q.After, and for each the cursor of the events before it, which the next
// page begins from.
func (s *Store) EventsPage(q state.Query) ([]state.Event, []string, error) {
	after, hasAfter, err := state.ParseListCursor(q.After)
	if err != nil {
		return nil, nil, fmt.Errorf("events: %w", err)
	}
	lo, hi := keyBounds(q, after, hasAfter)
	ctx, cancel := monitorCtx()
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT ns, seq, doc FROM events
		WHERE ns >= $1 AND (ns, seq) < ($2, $3)
		ORDER BY ns DESC, seq DESC LIMIT $4`, lo, hi.Nanos, int64(hi.Seq), sqlLimit(q.Limit))
	if err != nil {
		return nil, nil, fmt.Errorf("events: %w", err)
	}
	var out []state.Event
	var cursors []string
	var ns, seq int64
	var doc []byte
	_, err = pgx.ForEachRow(rows, []any{&ns, &seq, &doc}, func() error {
		var ev state.Event
		if err := json.Unmarshal(doc, &ev); err != nil {
			return fmt.Errorf("decode event %d.%d: %w", ns, seq, err)
		}
		out = append(out, ev)
		cursors = append(cursors, state.ListKey{Nanos: ns, Seq: uint32(seq)}.Cursor())
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("events: %w", err)
	}
	return out, cursors, nil
}

// keyBounds returns the bounds of a page of q back in time: keys from
// lo nanoseconds (inclusive) to hi (exclusive), the smaller of Until's
// bound and after's.
func keyBounds(q state.Query, after state.ListKey, hasAfter bool) (lo int64, hi state.ListKey) {
	lo = -1 << 63
	if !q.Since.IsZero() {
		lo = q.Since.UnixNano()
	}
	// (MaxInt64, MaxUint32) is above every key.
	hi = state.ListKey{Nanos: 1<<63 - 1, Seq: 1<<32 - 1}
	if !q.Until.IsZero() {
		hi = state.ListKey{Nanos: q.Until.UnixNano()}
	}
	if hasAfter && (after.Nanos < hi.Nanos || after.Nanos == hi.Nanos && after.Seq < hi.Seq) {
		hi = after
	}
	return lo, hi
}

// sqlLimit is a LIMIT's argument: NULL, no limit, for limit <= 0.
func sqlLimit(limit int) *int64 {
	if limit <= 0 {
		return nil
	}
	n := int64(limit)
	return &n
}

// PruneEvents deletes the events older than before and returns how many.
func (s *Store) PruneEvents(before time.Time) (int, error) {
	ctx, cancel := monitorCtx()
	defer cancel()
	tag, err := s.pool.Exec(ctx, "DELETE FROM events WHERE ns < $1", before.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
