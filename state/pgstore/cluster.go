package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/equus-monitoring/equus/state"
)

// MaxHelenID is the most bytes of a helen's id (its hostname by
// default): a DNS name's length.
const MaxHelenID = 253

var _ state.Cluster = (*Store)(nil)

// Beat upserts h's row. A row that is new, or whose addresses or start
// changed (the helen restarted or moved), is told to the other helens as a
// Change of kind "helens"; a plain heartbeat is not, so that the channel
// does not carry one notification per helen every few seconds.
func (s *Store) Beat(ctx context.Context, h state.Helen) error {
	if h.ID == "" || len(h.ID) > MaxHelenID {
		return fmt.Errorf("%w: helen id %q: 1 to %d bytes", state.ErrInvalid, h.ID, MaxHelenID)
	}
	// The CTE old reads the row as it was before the upsert (a statement
	// sees one snapshot), so the notification goes only for a change.
	_, err := s.pool.Exec(ctx, `
		WITH old AS (SELECT addr, agents, started FROM helens WHERE id = $1),
		up AS (
			INSERT INTO helens (id, addr, agents, version, started, beat) VALUES ($1, $2, $7, $3, $4, $5)
			ON CONFLICT (id) DO UPDATE SET addr = excluded.addr, agents = excluded.agents, version = excluded.version,
				started = excluded.started, beat = excluded.beat
			RETURNING id)
		SELECT pg_notify($6, 'helens') FROM up
		WHERE NOT EXISTS (SELECT 1 FROM old WHERE old.addr = $2 AND old.agents = $7 AND old.started = $4)`,
		h.ID, h.Addr, h.Version, h.Started.UTC(), h.Beat.UTC(), ChangesChannel, h.Agents)
	if err != nil {
		return fmt.Errorf("beat %s: %w", h.ID, err)
	}
	return nil
}

// Helens returns every helen's row by id.
func (s *Store) Helens(ctx context.Context) ([]state.Helen, error) {
	rows, err := s.pool.Query(ctx, "SELECT id, addr, agents, version, started, beat FROM helens ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("helens: %w", err)
	}
	hs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (state.Helen, error) {
		var h state.Helen
		err := r.Scan(&h.ID, &h.Addr, &h.Agents, &h.Version, &h.Started, &h.Beat)
		h.Started, h.Beat = h.Started.UTC(), h.Beat.UTC()
		return h, err
	})
	if err != nil {
		return nil, fmt.Errorf("helens: %w", err)
	}
	return hs, nil
}
