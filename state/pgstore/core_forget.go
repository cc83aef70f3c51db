package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/equus-monitoring/equus/state"
)

// forgetKeeps names the tables with a column agent whose rows Forget
// keeps, as the bbolt store's Forget keeps them: the agent's history and
// latest results (result_series, pruned in time), its events,
// acknowledgements and notifications (outbox_groups, notifications), and
// its claim, whose epochs must go on growing. Every other table of the
// schema with a column agent holds the agent's present (its statuses,
// its mark as down, its graphs' rollups), which Forget deletes: an area
// that adds such a table need not tell Forget, and one that adds a table
// to keep names it here. The store suite's ForgetPresent tests both.
var forgetKeeps = map[string]bool{
	"result_series": true,
	"events":        true,
	"acks":          true,
	"outbox_groups": true,
	"notifications": true,
	"claims":        true,
}

// forgetTablesTx returns the tables of the schema whose rows of an agent
// Forget deletes: those with a column named agent but forgetKeeps. It is
// read from the catalog at each Forget (a rare call), so that it follows
// every migration.
func forgetTablesTx(ctx context.Context, tx pgx.Tx) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT c.relname FROM pg_attribute a
		JOIN pg_class c ON c.oid = a.attrelid
		WHERE a.attname = 'agent' AND NOT a.attisdropped AND c.relkind IN ('r', 'p') AND NOT c.relispartition
			AND c.relnamespace = current_schema()::regnamespace
		ORDER BY c.relname`)
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	var tables []string
	for _, n := range names {
		if !forgetKeeps[n] {
			tables = append(tables, n)
		}
	}
	return tables, nil
}

// Forget removes what helen keeps of an agent's present, in one
// transaction with the events evs, as the bbolt store's does: its rows in
// the tables forgetTablesTx finds, and its line among the agents (its
// record stays, hidden, which keeps its name taken and its certificate
// pinned). It returns state.ErrNotFound when there is nothing to forget.
func (s *Store) Forget(name string, at time.Time, evs ...state.Event) error {
	if err := state.CheckAgentName("forget", name); err != nil {
		return err
	}
	if err := state.CheckEvents(evs); err != nil {
		return fmt.Errorf("forget %s: %w", name, err)
	}
	ctx, cancel := coreCtx()
	defer cancel()
	err := s.coreTx(ctx, func(tx pgx.Tx) error {
		r, err := s.readAgentTx(ctx, tx, name, false)
		if err != nil {
			return err
		}
		listed := r.found && r.agent.Forgotten.IsZero()
		tables, err := forgetTablesTx(ctx, tx)
		if err != nil {
			return err
		}
		var deleted int64
		for _, t := range tables {
			tag, err := tx.Exec(ctx, `DELETE FROM `+pgx.Identifier{t}.Sanitize()+` WHERE agent = $1`, name)
			if err != nil {
				return fmt.Errorf("%s: %w", t, err)
			}
			deleted += tag.RowsAffected()
		}
		if !listed && deleted == 0 {
			return state.ErrNotFound
		}
		if listed {
			a := r.agent
			a.SetConnected(false, at)
			a.Forgotten = at
			if err := putAgentTx(ctx, tx, a, true); err != nil {
				return err
			}
		}
		return s.putEventsTx(ctx, tx, evs)
	})
	if err != nil {
		return fmt.Errorf("forget %s: %w", name, err)
	}
	// Its graphs' points still in memory, which the next flush would
	// otherwise write back into series made anew.
	s.forgetGraphs(name)
	return nil
}
