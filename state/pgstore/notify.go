package pgstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/equus-monitoring/equus/state"
)

// Routes, silences and acknowledgements: what the monitor's decisions of
// notifications read, each write of them told to the other helens
// (ChangesChannel) and counted in NotifyGeneration.

// NotifyGeneration returns a number that every write of a route, a
// silence or an acknowledgement by this store changes.
func (s *Store) NotifyGeneration() uint64 { return s.mon.gen.Load() }

// notifyChanged marks a write of routes, silences or acknowledgements;
// Watch calls it too for those the other helens tell.
func (s *Store) notifyChanged() { s.mon.gen.Add(1) }

// PutRoute creates the route r.Name or replaces it, keeping the creation
// time of the one it replaces. It refuses a new route beyond
// state.MaxRoutes.
func (s *Store) PutRoute(r state.Route) error {
	if err := state.CheckRoute(r); err != nil {
		return err
	}
	err := s.inTx(func(ctx context.Context, tx pgx.Tx) error {
		// Writers of routes one at a time, so that the count holds.
		if _, err := tx.Exec(ctx, "LOCK TABLE routes IN EXCLUSIVE MODE"); err != nil {
			return err
		}
		var old []byte
		err := tx.QueryRow(ctx, "SELECT doc FROM routes WHERE name = $1", r.Name).Scan(&old)
		switch {
		case err == nil:
			var o state.Route
			if err := json.Unmarshal(old, &o); err != nil {
				return fmt.Errorf("decode route: %w", err)
			}
			r.Created = o.Created
		case errors.Is(err, pgx.ErrNoRows):
			var n int
			if err := tx.QueryRow(ctx, "SELECT count(*) FROM routes").Scan(&n); err != nil {
				return err
			}
			if n >= state.MaxRoutes {
				return fmt.Errorf("%w: %d routes already, at most %d", state.ErrFull, n, state.MaxRoutes)
			}
		default:
			return err
		}
		v, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode route: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO routes (name, doc) VALUES ($1, $2)
			ON CONFLICT (name) DO UPDATE SET doc = EXCLUDED.doc`, r.Name, string(v)); err != nil {
			return err
		}
		return tell(ctx, tx, ChangeRoutes)
	})
	if err != nil {
		return fmt.Errorf("put route %s: %w", r.Name, err)
	}
	s.notifyChanged()
	return nil
}

func decodeRoute(v []byte) (state.Route, error) {
	var r state.Route
	if err := json.Unmarshal(v, &r); err != nil {
		return state.Route{}, fmt.Errorf("decode route: %w", err)
	}
	return r, nil
}

// Route returns the route called name, or ErrNotFound.
func (s *Store) Route(name string) (state.Route, error) {
	rs, err := queryDocs(s, "SELECT doc FROM routes WHERE name = $1", decodeRoute, name)
	if err == nil && len(rs) == 0 {
		err = state.ErrNotFound
	}
	if err != nil {
		return state.Route{}, fmt.Errorf("route %s: %w", name, err)
	}
	return rs[0], nil
}

// Routes returns every route, by name.
func (s *Store) Routes() ([]state.Route, error) {
	rs, err := queryDocs(s, "SELECT doc FROM routes ORDER BY name", decodeRoute)
	if err != nil {
		return nil, fmt.Errorf("routes: %w", err)
	}
	return rs, nil
}

// DeleteRoute removes the route called name, or returns ErrNotFound. Its
// notifications not yet delivered stay in the outbox.
func (s *Store) DeleteRoute(name string) error {
	err := s.deleteTold(ChangeRoutes, "DELETE FROM routes WHERE name = $1", name)
	if err != nil {
		return fmt.Errorf("delete route %s: %w", name, err)
	}
	s.notifyChanged()
	return nil
}

// deleteTold runs a DELETE and tells kind changed, or returns
// ErrNotFound when it deleted nothing.
func (s *Store) deleteTold(kind, q string, args ...any) error {
	return s.inTx(func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, q, args...)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return state.ErrNotFound
		}
		return tell(ctx, tx, kind)
	})
}

// AddSilence stores sl with a new id, which it returns with the silence
// as stored. Start, when zero, is Created. Beyond state.MaxSilences it
// drops the silences that ended longest ago, or refuses with ErrFull
// when every one is in force.
func (s *Store) AddSilence(sl state.Silence) (state.Silence, error) {
	sl, err := state.CheckSilence(sl)
	if err != nil {
		return state.Silence{}, err
	}
	err = s.inTx(func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "LOCK TABLE silences IN EXCLUSIVE MODE"); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM silences").Scan(&n); err != nil {
			return err
		}
		if n >= state.MaxSilences {
			tag, err := tx.Exec(ctx, `DELETE FROM silences WHERE id IN (
				SELECT id FROM silences WHERE end_ns <= $1 ORDER BY end_ns, id LIMIT $2)`,
				sl.Created.UnixNano(), n-state.MaxSilences+1)
			if err != nil {
				return err
			}
			if n -= int(tag.RowsAffected()); n >= state.MaxSilences {
				return fmt.Errorf("%w: %d silences in force, at most %d", state.ErrFull, n, state.MaxSilences)
			}
		}
		for {
			sl.ID = state.NewSilenceID()
			v, err := json.Marshal(sl)
			if err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, `INSERT INTO silences (id, start_ns, end_ns, doc) VALUES ($1, $2, $3, $4)
				ON CONFLICT (id) DO NOTHING`, sl.ID, sl.Start.UnixNano(), sl.End.UnixNano(), string(v))
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 1 {
				break
			}
		}
		return tell(ctx, tx, ChangeSilences)
	})
	if err != nil {
		return state.Silence{}, fmt.Errorf("add silence: %w", err)
	}
	s.notifyChanged()
	return sl, nil
}

func decodeSilence(v []byte) (state.Silence, error) {
	var sl state.Silence
	if err := json.Unmarshal(v, &sl); err != nil {
		return state.Silence{}, fmt.Errorf("decode silence: %w", err)
	}
	return sl, nil
}

// Silences returns every silence kept, ended ones too, by start then id.
func (s *Store) Silences() ([]state.Silence, error) {
	out, err := queryDocs(s, "SELECT doc FROM silences", decodeSilence)
	if err != nil {
		return nil, fmt.Errorf("silences: %w", err)
	}
	slices.SortFunc(out, func(a, b state.Silence) int { return cmp.Or(a.Start.Compare(b.Start), cmp.Compare(a.ID, b.ID)) })
	return out, nil
}

// DeleteSilence removes the silence id, or returns ErrNotFound.
func (s *Store) DeleteSilence(id string) error {
	if err := s.deleteTold(ChangeSilences, "DELETE FROM silences WHERE id = $1", id); err != nil {
		return fmt.Errorf("delete silence %s: %w", id, err)
	}
	s.notifyChanged()
	return nil
}

// EndSilence ends the silence id at at, if it was to end later, or
// returns ErrNotFound.
func (s *Store) EndSilence(id string, at time.Time) error {
	err := s.inTx(func(ctx context.Context, tx pgx.Tx) error {
		var v []byte
		err := tx.QueryRow(ctx, "SELECT doc FROM silences WHERE id = $1 FOR UPDATE", id).Scan(&v)
		if errors.Is(err, pgx.ErrNoRows) {
			return state.ErrNotFound
		}
		if err != nil {
			return err
		}
		sl, err := decodeSilence(v)
		if err != nil {
			return err
		}
		if !at.Before(sl.End) {
			return nil
		}
		sl.End = at
		if sl.End.Before(sl.Start) {
			sl.End = sl.Start
		}
		if v, err = json.Marshal(sl); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE silences SET end_ns = $2, doc = $3 WHERE id = $1", id, sl.End.UnixNano(), string(v)); err != nil {
			return err
		}
		return tell(ctx, tx, ChangeSilences)
	})
	if err != nil {
		return fmt.Errorf("end silence %s: %w", id, err)
	}
	s.notifyChanged()
	return nil
}

// PruneSilences drops the silences that ended more than
// state.SilenceKeep before now and returns how many. Prune runs it.
func (s *Store) PruneSilences(now time.Time) (int, error) {
	var n int
	err := s.inTx(func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM silences WHERE end_ns < $1", now.Add(-state.SilenceKeep).UnixNano())
		if err != nil {
			return err
		}
		if n = int(tag.RowsAffected()); n == 0 {
			return nil
		}
		return tell(ctx, tx, ChangeSilences)
	})
	if err != nil {
		return 0, fmt.Errorf("prune silences: %w", err)
	}
	if n > 0 {
		s.notifyChanged()
	}
	return n, nil
}

// Ack stores a, replacing the acknowledgement of the same agent and
// schedule.
func (s *Store) Ack(a state.Ack) error { return s.AckWithNotifications(a) }

// AckWithNotifications stores a, as Ack does, and the notifications that
// tell it, in one transaction. It refuses a new acknowledgement beyond
// state.MaxAcks.
func (s *Store) AckWithNotifications(a state.Ack, notify ...state.Outgoing) error {
	if err := state.CheckAck(a); err != nil {
		return err
	}
	v, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("ack %s %s: %w", a.Agent, a.Schedule, err)
	}
	outs, err := state.NewNotifications(state.EventNotifications{Notify: notify})
	if err != nil {
		return fmt.Errorf("ack %s %s: %w", a.Agent, a.Schedule, err)
	}
	err = s.inTx(func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "LOCK TABLE acks IN EXCLUSIVE MODE"); err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM acks WHERE agent = $1 AND schedule = $2)", a.Agent, a.Schedule).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			var n int
			if err := tx.QueryRow(ctx, "SELECT count(*) FROM acks").Scan(&n); err != nil {
				return err
			}
			if n >= state.MaxAcks {
				return fmt.Errorf("%w: %d acknowledgements already, at most %d", state.ErrFull, n, state.MaxAcks)
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO acks (agent, schedule, doc) VALUES ($1, $2, $3)
			ON CONFLICT (agent, schedule) DO UPDATE SET doc = EXCLUDED.doc`, a.Agent, a.Schedule, string(v)); err != nil {
			return err
		}
		if err := putNotificationsTx(ctx, tx, outs); err != nil {
			return err
		}
		return tell(ctx, tx, ChangeAcks)
	})
	if err != nil {
		return fmt.Errorf("ack %s %s: %w", a.Agent, a.Schedule, err)
	}
	s.notifyChanged()
	return nil
}

// Unack removes the acknowledgement of a schedule on an agent, or returns
// ErrNotFound.
func (s *Store) Unack(agent, schedule string) error {
	if err := s.deleteTold(ChangeAcks, "DELETE FROM acks WHERE agent = $1 AND schedule = $2", agent, schedule); err != nil {
		return fmt.Errorf("unack %s %s: %w", agent, schedule, err)
	}
	s.notifyChanged()
	return nil
}

// Acks returns every acknowledgement, by agent then schedule.
func (s *Store) Acks() ([]state.Ack, error) {
	out, err := queryDocs(s, "SELECT doc FROM acks ORDER BY agent, schedule", func(v []byte) (state.Ack, error) {
		var a state.Ack
		if err := json.Unmarshal(v, &a); err != nil {
			return state.Ack{}, fmt.Errorf("decode ack: %w", err)
		}
		return a, nil
	})
	if err != nil {
		return nil, fmt.Errorf("acks: %w", err)
	}
	return out, nil
}
