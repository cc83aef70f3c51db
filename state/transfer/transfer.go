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

// Report is told, for each area, how far its copy is and what it
// copied.
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
	{"monitor", copyMonitor},
	{"results", copyResults},
	{"graphs", copyRollups},
}

// maxBatch is the most results, events or graphs' points one
// transaction of the copy writes: what no count bounds goes in batches
// of it, the history's each told (Report) as it lands.
var maxBatch = 10_000

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
	report(fmt.Sprintf("copied %d agents (%d forgotten), %d revocations, %d enrollment tokens",
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
	report(fmt.Sprintf("copied %d accounts", len(us)))
	return nil
}

// copyMonitor copies schedules, statuses, agents down, routes,
// silences, acknowledgements and the outbox, by export and import
// (MonitorExport says why), then the events in batches.
func copyMonitor(ctx context.Context, from *state.DB, to *pgstore.Store, report func(string)) error {
	x, err := from.ExportMonitor()
	if err != nil {
		return err
	}
	if err := to.ImportMonitor(ctx, x); err != nil {
		return err
	}
	events := 0
	err = from.ExportEvents(maxBatch, func(evs []state.KeyedEvent) error {
		events += len(evs)
		return to.ImportEvents(ctx, evs)
	})
	if err != nil {
		return err
	}
	open := 0
	for _, n := range x.Notifications {
		if n.Notification.State.Open() {
			open++
		}
	}
	report(fmt.Sprintf("copied %d schedules, %d statuses, %d agents down, %d events, %d routes, %d silences, "+
		"%d acknowledgements, %d notifications (%d to deliver)", len(x.Schedules), len(x.Statuses), len(x.Down),
		events, len(x.Routes), len(x.Silences), len(x.Acks), len(x.Notifications), open))
	return nil
}

// copyResults copies the history, series by series, in batches of
// maxBatch results, each told as it lands: the series' states as
// CheckStates gives them (latest, since when, how many), their results as
// ExportSeries does.
func copyResults(ctx context.Context, from *state.DB, to *pgstore.Store, report func(string)) error {
	states, err := from.CheckStates("")
	if err != nil {
		return err
	}
	total := 0
	for _, st := range states {
		total += st.Count
	}
	var (
		series []state.CheckState
		batch  []state.KeyedResult
		done   int
	)
	flush := func() error {
		if len(series) == 0 && len(batch) == 0 {
			return nil
		}
		if err := to.ImportResults(ctx, series, batch); err != nil {
			return err
		}
		done += len(batch)
		series, batch = series[:0], batch[:0]
		report(fmt.Sprintf("%d of %d", done, total))
		return nil
	}
	for _, st := range states {
		agent, check, schedule := st.Result.Agent, st.Result.Check, st.Result.Schedule
		rs, err := from.ExportSeries(agent, check, schedule)
		if err != nil {
			return err
		}
		st.Count = len(rs)
		series = append(series, st)
		for len(rs) > 0 {
			n := min(len(rs), maxBatch-len(batch))
			batch = append(batch, rs[:n]...)
			rs = rs[n:]
			if len(batch) == maxBatch {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	report(fmt.Sprintf("copied %d results of %d series", done, len(states)))
	return nil
}

// copyRollups copies the graphs' series, then their points in batches,
// by export and import (no method gives the tiers as they are kept).
func copyRollups(ctx context.Context, from *state.DB, to *pgstore.Store, report func(string)) error {
	var ids []int64
	var minutes, hours int
	err := from.ExportRollups(maxBatch, func(rs []state.RollupSeries) error {
		var err error
		ids, err = to.ImportRollupSeries(ctx, rs)
		return err
	}, func(hour bool, ps []state.RollupPoint) error {
		if hour {
			hours += len(ps)
		} else {
			minutes += len(ps)
		}
		return to.ImportRollupPoints(ctx, hour, ids, ps)
	})
	if err != nil {
		return err
	}
	report(fmt.Sprintf("copied %d series, %d minute and %d hour points", len(ids), minutes, hours))
	return nil
}
