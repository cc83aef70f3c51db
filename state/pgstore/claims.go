package pgstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/equus-monitoring/equus/agentname"
	"github.com/equus-monitoring/equus/state"
)

// held is the epochs of the claims this store made (Claim), by agent:
// the fencing tokens its writes for those agents carry. An entry stays
// after Unclaim: a write this helen makes for the agent after its session
// ended (that it is disconnected) still lands unless another helen has
// claimed the agent since, and is fenced if one has.
type held struct {
	mu sync.Mutex
	m  map[string]int64
}

// heldEpoch returns the epoch of this store's claim of agent, if it made
// one: a write for agent must then carry the condition
//
//	EXISTS (SELECT 1 FROM claims WHERE agent = $agent AND helen = $helen AND epoch = $epoch)
//
// with $helen s.opt.Helen, and return state.ErrFenced when it fails. A
// write for an agent never claimed here is not fenced.
func (s *Store) heldEpoch(agent string) (int64, bool) {
	s.held.mu.Lock()
	defer s.held.mu.Unlock()
	e, ok := s.held.m[agent]
	return e, ok
}

// hold records epoch as this store's claim of agent, unless it holds a
// newer one (two sessions of one agent claimed here at once).
func (s *Store) hold(agent string, epoch int64) {
	s.held.mu.Lock()
	defer s.held.mu.Unlock()
	if s.held.m == nil {
		s.held.m = make(map[string]int64)
	}
	if epoch > s.held.m[agent] {
		s.held.m[agent] = epoch
	}
}

// claimPayload is the notification of a claim or a release on
// changesChannel: the Change's kind and its Claim.
func claimPayload(table string) string {
	return `json_build_object('kind', 'claim', 'agent', ` + table + `.agent, 'helen', ` + table + `.helen,
		'epoch', ` + table + `.epoch, 'held', ` + table + `.held, 'at', ` + table + `.at)::text`
}

// Claim makes helen the holder of agent with the epoch one more than the
// agent's last (1 for its first claim), in one upsert: of claims at once,
// PostgreSQL orders them on the row's lock, each gets its own epoch, and
// the last is the holder. The other helens learn of it at the commit
// (NOTIFY is sent then). A claim in this store's helen's name
// (Options.Helen) fences this store's later writes for agent.
func (s *Store) Claim(ctx context.Context, agent, helen string, at time.Time) (state.Claim, error) {
	if err := agentname.Check(agent); err != nil {
		return state.Claim{}, fmt.Errorf("claim: %w: %w", state.ErrInvalid, err)
	}
	if helen == "" || len(helen) > MaxHelenID {
		return state.Claim{}, fmt.Errorf("claim %s: %w: helen id %q: 1 to %d bytes", agent, state.ErrInvalid, helen, MaxHelenID)
	}
	c := state.Claim{Agent: agent, Helen: helen, Held: true}
	err := s.pool.QueryRow(ctx, `
		WITH c AS (
			INSERT INTO claims (agent, helen, epoch, held, at) VALUES ($1, $2, 1, true, $3)
			ON CONFLICT (agent) DO UPDATE SET helen = excluded.helen, epoch = claims.epoch + 1,
				held = true, at = excluded.at
			RETURNING agent, helen, epoch, held, at)
		SELECT epoch, at, pg_notify($4, `+claimPayload("c")+`) FROM c`,
		agent, helen, at.UTC(), changesChannel).Scan(&c.Epoch, &c.At, nil)
	if err != nil {
		return state.Claim{}, fmt.Errorf("claim %s: %w", agent, err)
	}
	c.At = c.At.UTC()
	if helen == s.opt.Helen {
		s.hold(agent, c.Epoch)
	}
	return c, nil
}

// Unclaim releases c if it is still the agent's claim, and tells the
// other helens; a claim taken over since is left alone, with no error.
func (s *Store) Unclaim(ctx context.Context, c state.Claim, at time.Time) error {
	_, err := s.pool.Exec(ctx, `
		WITH c AS (
			UPDATE claims SET held = false, at = $4
			WHERE agent = $1 AND helen = $2 AND epoch = $3 AND held
			RETURNING agent, helen, epoch, held, at)
		SELECT pg_notify($5, `+claimPayload("c")+`) FROM c`,
		c.Agent, c.Helen, c.Epoch, at.UTC(), changesChannel)
	if err != nil {
		return fmt.Errorf("unclaim %s: %w", c.Agent, err)
	}
	return nil
}

// Owner returns agent's last claim, held or released.
func (s *Store) Owner(ctx context.Context, agent string) (state.Claim, error) {
	c := state.Claim{Agent: agent}
	err := s.pool.QueryRow(ctx, "SELECT helen, epoch, held, at FROM claims WHERE agent = $1", agent).
		Scan(&c.Helen, &c.Epoch, &c.Held, &c.At)
	if errors.Is(err, pgx.ErrNoRows) {
		return state.Claim{}, fmt.Errorf("owner %s: %w", agent, state.ErrNotFound)
	}
	if err != nil {
		return state.Claim{}, fmt.Errorf("owner %s: %w", agent, err)
	}
	c.At = c.At.UTC()
	return c, nil
}
