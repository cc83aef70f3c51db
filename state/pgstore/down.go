package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/equus-monitoring/equus/state"
)

// An agent's down is decided by one helen of those that share the store:
// MarkDown is one conditional insert of its mark, which the helens whose
// timers run out at once all try and one wins, its event stored in the
// same transaction. The condition reads the agent's claim and its
// holder's heartbeat after the transaction has taken the agent's
// advisory lock, which MarkUp takes too: a helen that claims the agent
// and then clears its mark (MarkUp) either finds the mark made before
// its claim and clears it, or makes the decision that follows see its
// claim, so that an agent is never left down while it is held.

// downLock is the class of the advisory locks of agents' down marks (the
// two-key form, whose keys are apart from the one-key migration lock's):
// the other key is the hash of the agent's name. Agents whose names hash
// alike only wait for each other.
const downLock = 0x646f776e // "down"

// markTimeout bounds a decision of down or up, its wait for the lock
// with it.
const markTimeout = 10 * time.Second

// MaxUnheld bounds the agents one call of Unheld returns.
const MaxUnheld = 1000

// MarkDown records agent down since at, with what events returns, if it
// is not down already and no helen but this store's has held it for
// unheld (state.Cluster).
func (s *Store) MarkDown(ctx context.Context, agent string, at time.Time, unheld time.Duration, events func() []state.EventNotifications) (bool, error) {
	if agent == "" {
		return false, fmt.Errorf("%w: mark down an agent with no name", state.ErrInvalid)
	}
	ctx, cancel := context.WithTimeout(ctx, markTimeout)
	defer cancel()
	won := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, hashtext($2))", int32(downLock), agent); err != nil {
			return err
		}
		// A claim holds the agent while it is another helen's and
		// released less than unheld ago, or held by a helen that beat
		// (or claimed it) less than DeadHelen+unheld ago.
		err := tx.QueryRow(ctx, `
			INSERT INTO agents_down (agent, at)
			SELECT $1, $2
			WHERE NOT EXISTS (
				SELECT 1 FROM claims c LEFT JOIN helens h ON h.id = c.helen
				WHERE c.agent = $1 AND c.helen <> $3 AND (
					(NOT c.held AND c.at > $4) OR
					(c.held AND GREATEST(c.at, h.beat) > $5)))
			ON CONFLICT (agent) DO NOTHING
			RETURNING true`,
			agent, at, s.opt.Helen, at.Add(-unheld), at.Add(-unheld-state.DeadHelen)).Scan(&won)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if events != nil {
			return addEventsWithNotificationsTx(ctx, tx, events())
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("mark %s down: %w", agent, err)
	}
	return won, nil
}

// MarkUp clears agent's mark of down, with what events returns, and
// returns since when it was down (state.Cluster).
func (s *Store) MarkUp(ctx context.Context, agent string, at time.Time, events func(since time.Time) []state.EventNotifications) (time.Time, bool, error) {
	if agent == "" {
		return time.Time{}, false, fmt.Errorf("%w: mark up an agent with no name", state.ErrInvalid)
	}
	ctx, cancel := context.WithTimeout(ctx, markTimeout)
	defer cancel()
	var since time.Time
	won := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, hashtext($2))", int32(downLock), agent); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, "DELETE FROM agents_down WHERE agent = $1 RETURNING at", agent).Scan(&since)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		won, since = true, since.UTC()
		if events != nil {
			return addEventsWithNotificationsTx(ctx, tx, events(since))
		}
		return nil
	})
	if err != nil {
		return time.Time{}, false, fmt.Errorf("mark %s up: %w", agent, err)
	}
	return since, won, nil
}

// Unheld returns the agents not down whose claim has held them for
// nobody for unheld at at (state.Cluster), at most limit (and
// MaxUnheld), by name. An agent forgotten, whose claim Forget keeps (its
// epochs go on growing), is not among them: it is no longer an agent.
func (s *Store) Unheld(ctx context.Context, at time.Time, unheld time.Duration, limit int) ([]string, error) {
	if limit <= 0 || limit > MaxUnheld {
		limit = MaxUnheld
	}
	ctx, cancel := context.WithTimeout(ctx, markTimeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, `
		SELECT c.agent FROM claims c LEFT JOIN helens h ON h.id = c.helen
		WHERE ((NOT c.held AND c.at <= $1) OR (c.held AND GREATEST(c.at, h.beat) <= $2))
			AND NOT EXISTS (SELECT 1 FROM agents_down d WHERE d.agent = c.agent)
			AND EXISTS (SELECT 1 FROM agents a WHERE a.name = c.agent AND a.forgotten IS NULL)
		ORDER BY c.agent LIMIT $3`,
		at.Add(-unheld), at.Add(-unheld-state.DeadHelen), limit)
	if err != nil {
		return nil, fmt.Errorf("agents unheld: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("agents unheld: %w", err)
	}
	return out, nil
}
