package pgstore

import (
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/equus-monitoring/equus/state"
)

// CreateToken makes a token good for spec.Uses enrollments until
// now+spec.TTL and returns its secret, which is not stored.
func (s *Store) CreateToken(spec state.TokenSpec, now time.Time) (string, state.Token, error) {
	secret, hash, t, err := state.NewToken(spec, now)
	if err != nil {
		return "", state.Token{}, err
	}
	ctx, cancel := coreCtx()
	defer cancel()
	_, err = s.pool.Exec(ctx, `INSERT INTO tokens (hash, uses, created, expires, for_agent) VALUES ($1, $2, $3, $4, $5)`,
		hash, t.Uses, t.Created, t.Expires, t.Agent)
	if err != nil {
		return "", state.Token{}, fmt.Errorf("create token: %w", err)
	}
	return secret, t, nil
}

const tokenCols = `hash, uses, used, created, expires, for_agent`

func scanToken(row pgx.Row) (state.Token, error) {
	var t state.Token
	var hash []byte
	if err := row.Scan(&hash, &t.Uses, &t.Used, &t.Created, &t.Expires, &t.Agent); err != nil {
		return t, err
	}
	t.ID, t.Created, t.Expires = state.TokenID(hash), t.Created.UTC(), t.Expires.UTC()
	return t, nil
}

// Enroll spends one use of the token to enroll agent a, and records a in
// the same transaction, as the bbolt store's does: of many callers racing
// for the last use, or for one new name, exactly one succeeds (the
// token's row is locked), and a refusal spends nothing.
func (s *Store) Enroll(secret string, a state.Agent, now time.Time) error {
	if err := state.CheckAgentName("enroll", a.Name); err != nil {
		return err
	}
	hash := state.TokenHash(secret)
	ctx, cancel := coreCtx()
	defer cancel()
	err := s.coreTx(ctx, func(tx pgx.Tx) error {
		t, err := scanToken(tx.QueryRow(ctx, `SELECT `+tokenCols+` FROM tokens WHERE hash = $1 FOR UPDATE`, hash))
		if errors.Is(err, pgx.ErrNoRows) {
			return state.ErrTokenUnknown
		}
		if err != nil {
			return err
		}
		if err := t.Spend(a.Name, now); err != nil {
			return err
		}
		r, err := s.readAgentTx(ctx, tx, a.Name, false)
		switch {
		case err != nil:
			return err
		case r.revoked:
			return state.ErrRevoked
		case r.found && t.Agent == "":
			return state.ErrEnrolled
		}
		agent := r.agent
		if !r.found {
			agent = state.Agent{Name: a.Name, FirstSeen: now, Since: now}
		}
		// The row is locked; the condition says again what it holds to.
		tag, err := tx.Exec(ctx, `UPDATE tokens SET used = used + 1 WHERE hash = $1 AND used < uses`, hash)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return state.ErrTokenUsedUp
		}
		agent.Remember(now)
		agent.LastSeen = now
		state.Replace(&agent.Addr, a.Addr)
		if a.Fingerprint != "" {
			// The new certificate is the agent's only one from now on.
			agent.Pin(a.Fingerprint)
		}
		return putAgentTx(ctx, tx, agent, r.found)
	})
	if err != nil {
		return fmt.Errorf("enroll %s: %w", a.Name, err)
	}
	return nil
}

// Tokens returns every token, oldest first.
func (s *Store) Tokens() ([]state.Token, error) {
	ctx, cancel := coreCtx()
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+tokenCols+` FROM tokens ORDER BY created, hash`)
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	toks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (state.Token, error) { return scanToken(r) })
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	return toks, nil
}
