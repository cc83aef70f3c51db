package pgstore

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/equus-monitoring/equus/state"
)

// What the core area needs of another and is not built yet; each goes as
// it is built.

// putEventsTx stores the events evs (checked already, state.CheckEvents)
// in tx: the monitor area's, whose table of events it is. Until it is
// built, a revocation or a forgetting with events fails whole.
func (s *Store) putEventsTx(ctx context.Context, tx pgx.Tx, evs []state.Event) error {
	if len(evs) == 0 {
		return nil
	}
	return errUnimplemented
}
