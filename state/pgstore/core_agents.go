package pgstore

import (
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/equus-monitoring/equus/state"
)

// AgentSeen records that agent a was seen at a.LastSeen (now, if zero),
// as the bbolt store's does (state.Seen decides the record). For an
// agent this store claimed, it returns state.ErrFenced once another
// claim took it over.
func (s *Store) AgentSeen(a state.Agent) error {
	if err := state.CheckAgentName("agent seen", a.Name); err != nil {
		return err
	}
	seen := a.LastSeen
	if seen.IsZero() {
		seen = time.Now()
	}
	ctx, cancel := coreCtx()
	defer cancel()
	err := s.coreTx(ctx, func(tx pgx.Tx) error {
		r, err := s.readAgentTx(ctx, tx, a.Name, true)
		if err != nil {
			return err
		}
		if r.revoked {
			return state.ErrRevoked
		}
		rec, err := state.Seen(r.agent, r.found, a, seen)
		if err != nil {
			return err
		}
		return putAgentTx(ctx, tx, rec, r.found)
	})
	if err != nil {
		return fmt.Errorf("agent seen %s: %w", a.Name, err)
	}
	return nil
}

// SetConnected records that the agent connected or disconnected at at,
// as the bbolt store's does; fenced as AgentSeen is.
func (s *Store) SetConnected(name string, connected bool, at time.Time) error {
	ctx, cancel := coreCtx()
	defer cancel()
	err := s.coreTx(ctx, func(tx pgx.Tx) error {
		r, err := s.readAgentTx(ctx, tx, name, true)
		if err != nil {
			return err
		}
		if connected && r.revoked {
			return state.ErrRevoked
		}
		if !r.found {
			return state.ErrNotFound
		}
		a := r.agent
		if connected {
			a.Remember(at)
		}
		a.SetConnected(connected, at)
		if at.After(a.LastSeen) {
			a.LastSeen = at
		}
		return putAgentTx(ctx, tx, a, true)
	})
	if err != nil {
		return fmt.Errorf("set connected %s: %w", name, err)
	}
	return nil
}

// Agent returns the agent called name, or state.ErrNotFound.
func (s *Store) Agent(name string) (state.Agent, error) {
	ctx, cancel := coreCtx()
	defer cancel()
	a, err := scanAgent(s.pool.QueryRow(ctx, `SELECT `+agentCols+` FROM agents WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		err = state.ErrNotFound
	}
	if err != nil {
		return state.Agent{}, fmt.Errorf("agent %s: %w", name, err)
	}
	return a, nil
}

// Agents returns every agent, by name, but those forgotten.
func (s *Store) Agents() ([]state.Agent, error) {
	return s.AgentsPage("", 0)
}

// AgentsPage returns the agents whose names come after after ("" for the
// first), by name, at most limit of them (all, when limit <= 0), but those
// forgotten.
func (s *Store) AgentsPage(after string, limit int) ([]state.Agent, error) {
	var lim any // NULL: LIMIT ALL
	if limit > 0 {
		lim = limit
	}
	ctx, cancel := coreCtx()
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+agentCols+` FROM agents
		WHERE name > $1 AND forgotten IS NULL ORDER BY name LIMIT $2`, after, lim)
	if err != nil {
		return nil, fmt.Errorf("agents: %w", err)
	}
	agents, err := collectAgents(rows)
	if err != nil {
		return nil, fmt.Errorf("agents: %w", err)
	}
	return agents, nil
}

// DisconnectAll marks every agent disconnected as of at, as helen does
// when it starts, but those whose session another helen holds (its
// claim): in a cluster the others' connections outlive this helen's
// restart. With one helen it is the bbolt store's.
func (s *Store) DisconnectAll(at time.Time) error {
	ctx, cancel := coreCtx()
	defer cancel()
	_, err := s.pool.Exec(ctx, `UPDATE agents SET connected = false, since = $1
		WHERE connected AND NOT EXISTS (
			SELECT 1 FROM claims c WHERE c.agent = agents.name AND c.held AND c.helen <> $2)`,
		at, s.opt.Helen)
	if err != nil {
		return fmt.Errorf("disconnect all: %w", err)
	}
	return nil
}

// Revoke refuses the agent from now on, as the bbolt store's does: a
// known agent is marked disconnected, the events evs stored in the same
// transaction; revoking one revoked already changes nothing.
func (s *Store) Revoke(name string, at time.Time, evs ...state.Event) error {
	if err := state.CheckAgentName("revoke", name); err != nil {
		return err
	}
	if err := state.CheckEvents(evs); err != nil {
		return fmt.Errorf("revoke %s: %w", name, err)
	}
	ctx, cancel := coreCtx()
	defer cancel()
	err := s.coreTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO revoked (name, at) VALUES ($1, $2) ON CONFLICT DO NOTHING`, name, at)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		if err := s.putEventsTx(ctx, tx, evs); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE agents SET since = CASE WHEN connected THEN $2 ELSE since END,
			connected = false WHERE name = $1`, name, at)
		return err
	})
	if err != nil {
		return fmt.Errorf("revoke %s: %w", name, err)
	}
	return nil
}

// Revoked reports whether the agent has been revoked.
func (s *Store) Revoked(name string) (bool, error) {
	ctx, cancel := coreCtx()
	defer cancel()
	var revoked bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM revoked WHERE name = $1)`, name).Scan(&revoked); err != nil {
		return false, fmt.Errorf("revoked %s: %w", name, err)
	}
	return revoked, nil
}
