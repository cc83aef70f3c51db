package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/equus-monitoring/equus/state"
)

// The core area's frame: agents, certificates, tokens, accounts
// (core_*.go, migrations/001_core.sql).

// CoreTimeout bounds each call of the core area's methods, which take no
// context: a server that stops answering fails them after it.
const CoreTimeout = 30 * time.Second

// coreTries is how many times a transaction of the core area runs when a
// concurrent one made the same new agent under it, or PostgreSQL chose it
// to break a deadlock.
const coreTries = 3

func coreCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), CoreTimeout)
}

// coreTx runs f in a transaction and commits it. A transaction that
// inserted an agent that another made meanwhile, or that PostgreSQL
// ended to break a deadlock, is run again, so that f reads what the other
// wrote: f must start from what it reads.
func (s *Store) coreTx(ctx context.Context, f func(tx pgx.Tx) error) error {
	var err error
	for range coreTries {
		err = pgx.BeginFunc(ctx, s.pool, f)
		if !retryable(err) {
			return err
		}
	}
	return err
}

// retryable reports whether err ends a transaction that may succeed if
// run again.
func retryable(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case "23505": // unique_violation
		return pe.ConstraintName == "agents_pkey"
	case "40P01", "40001": // deadlock_detected, serialization_failure
		return true
	}
	return false
}

// tz is t as a parameter: NULL for the zero time.
func tz(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// fromTZ is a stored time in UTC, the zero time for NULL.
func fromTZ(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

const agentCols = `name, fingerprint, version, addr, first_seen, last_seen, connected, since,
	pinned, pending, renewed, cert_expires, forgotten`

func scanAgent(row pgx.Row) (state.Agent, error) {
	var a state.Agent
	var first, last, since, renewed, expires, forgotten pgtype.Timestamptz
	err := row.Scan(&a.Name, &a.Fingerprint, &a.Version, &a.Addr, &first, &last, &a.Connected, &since,
		&a.Pinned, &a.Pending, &renewed, &expires, &forgotten)
	a.FirstSeen, a.LastSeen, a.Since = fromTZ(first), fromTZ(last), fromTZ(since)
	a.Renewed, a.CertExpires, a.Forgotten = fromTZ(renewed), fromTZ(expires), fromTZ(forgotten)
	return a, err
}

func collectAgents(rows pgx.Rows) ([]state.Agent, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (state.Agent, error) { return scanAgent(r) })
}

// putAgentTx writes a, as a new agent unless found.
func putAgentTx(ctx context.Context, tx pgx.Tx, a state.Agent, found bool) error {
	args := []any{a.Name, a.Fingerprint, a.Version, a.Addr, tz(a.FirstSeen), tz(a.LastSeen), a.Connected, tz(a.Since),
		a.Pinned, a.Pending, tz(a.Renewed), tz(a.CertExpires), tz(a.Forgotten)}
	q := `INSERT INTO agents (` + agentCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`
	if found {
		q = `UPDATE agents SET fingerprint = $2, version = $3, addr = $4, first_seen = $5, last_seen = $6,
			connected = $7, since = $8, pinned = $9, pending = $10, renewed = $11, cert_expires = $12,
			forgotten = $13 WHERE name = $1`
	}
	_, err := tx.Exec(ctx, q, args...)
	return err
}

// agentRead is what a write for an agent reads first.
type agentRead struct {
	agent   state.Agent
	found   bool // the agent is known
	revoked bool
}

// readAgentTx reads the agent called name, locked for the rest of tx,
// and whether it is revoked, in one round trip. With fence, a write for
// an agent this store claimed, it returns state.ErrFenced unless the
// claim is still this store's under the same epoch, and holds the claim
// for the rest of tx so that no helen takes it over before tx ends.
func (s *Store) readAgentTx(ctx context.Context, tx pgx.Tx, name string, fence bool) (agentRead, error) {
	var r agentRead
	b := &pgx.Batch{}
	epoch, held := s.heldEpoch(name)
	held = held && fence
	if held {
		b.Queue(`SELECT count(*) FROM (SELECT 1 FROM claims WHERE agent = $1 AND helen = $2 AND epoch = $3 FOR SHARE) c`,
			name, s.opt.Helen, epoch)
	}
	b.Queue(`SELECT EXISTS (SELECT 1 FROM revoked WHERE name = $1)`, name)
	b.Queue(`SELECT `+agentCols+` FROM agents WHERE name = $1 FOR UPDATE`, name)
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	if held {
		var n int
		if err := br.QueryRow().Scan(&n); err != nil {
			return r, err
		}
		if n == 0 {
			return r, state.ErrFenced
		}
	}
	if err := br.QueryRow().Scan(&r.revoked); err != nil {
		return r, err
	}
	a, err := scanAgent(br.QueryRow())
	switch {
	case err == nil:
		r.agent, r.found = a, true
	case !errors.Is(err, pgx.ErrNoRows):
		return r, err
	}
	return r, br.Close()
}

// pruneTokens deletes the tokens that expired before cutoff: Prune's, as
// the bbolt store's Prune does.
func (s *Store) pruneTokens(ctx context.Context, cutoff time.Time) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM tokens WHERE expires < $1`, cutoff); err != nil {
		return fmt.Errorf("prune tokens: %w", err)
	}
	return nil
}
