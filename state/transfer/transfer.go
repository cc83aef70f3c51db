// Package transfer copies a helen's state from its bbolt store into an
// empty PostgreSQL one (helen migrate), one area of the state after
// another: through the state.Store interface where reading and writing it
// there copies it whole, and through an export of the one store and an
// import into the other where the interface cannot (a token is kept by
// the hash of a secret no one knows any more; a forgotten agent is not
// listed, and no method writes a pin or a time of revocation as it was).
package transfer

import (
	"context"
	"errors"
	"fmt"

	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/state/pgstore"
)

// ErrNotEmpty refuses a store that holds data already.
var ErrNotEmpty = errors.New("transfer: store not empty")

// Report is told, for each area, what is being copied and what was.
type Report func(area, what string)

// step copies one area of the state.
type step struct {
	area string
	copy func(ctx context.Context, from *state.DB, to *pgstore.Store, report func(what string)) error
}

// steps are the areas in the order they are copied: the agents first,
// which the others name.
var steps = []step{
	{"agents", copyCore},
	{"accounts", copyUsers},
}

// Copy copies everything from into to, which must be empty (ErrNotEmpty
// otherwise, and nothing is written). from must not change meanwhile: the
// helen of it stopped. An error leaves to partly filled: it says so, and
// to must be emptied (the database made again) before another try.
func Copy(ctx context.Context, from *state.DB, to *pgstore.Store, report Report) error {
	table, err := to.Empty(ctx)
	if err != nil {
		return err
	}
	if table != "" {
		return fmt.Errorf("%w: %s has rows in %s; migrate into an empty database", ErrNotEmpty, to.Path(), table)
	}
	for _, st := range steps {
		if err := st.copy(ctx, from, to, func(what string) { report(st.area, what) }); err != nil {
			return fmt.Errorf("copy %s: %w (%s is partly filled: make its database again before another try)", st.area, err, to.Path())
		}
	}
	return nil
}

// copyCore copies the agents, their revocations and the enrollment
// tokens, by export and import (CoreExport says why).
func copyCore(ctx context.Context, from *state.DB, to *pgstore.Store, report func(string)) error {
	x, err := from.ExportCore()
	if err != nil {
		return err
	}
	if err := to.ImportCore(ctx, x); err != nil {
		return err
	}
	forgotten := 0
	for _, a := range x.Agents {
		if !a.Forgotten.IsZero() {
			forgotten++
		}
	}
	report(fmt.Sprintf("%d agents (%d forgotten), %d revocations, %d enrollment tokens",
		len(x.Agents), forgotten, len(x.Revoked), len(x.Tokens)))
	return nil
}

// copyUsers copies the operators' accounts, through the interface: an
// account is written back whole.
func copyUsers(ctx context.Context, from *state.DB, to *pgstore.Store, report func(string)) error {
	var src, dst state.Store = from, to
	us, err := src.Users()
	if err != nil {
		return err
	}
	for _, u := range us {
		if err := dst.AddUser(u); err != nil {
			return err
		}
	}
	report(fmt.Sprintf("%d accounts", len(us)))
	return nil
}
