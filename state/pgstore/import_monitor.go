package pgstore

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/equus-monitoring/equus/state"
)

// ImportMonitor writes x, the monitor's area, exactly as the other store
// kept it (notifications at their keys, so that their ids are the same;
// silences with their ids; notifications in their
// states, with their attempts, queued in their groups so that NextDue
// gives out those still open), into tables that must be empty, in one
// transaction: all of it lands, or none.
func (s *Store) ImportMonitor(ctx context.Context, x state.MonitorExport) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		copyDocs := func(table string, cols []string, n int, row func(i int) ([]any, any)) error {
			return copyDocsTx(ctx, tx, table, cols, n, row)
		}
		err := copyDocs("schedules", []string{"name"}, len(x.Schedules), func(i int) ([]any, any) {
			return []any{x.Schedules[i].Name}, x.Schedules[i]
		})
		if err == nil {
			err = copyDocs("statuses", []string{"agent", "schedule"}, len(x.Statuses), func(i int) ([]any, any) {
				return []any{x.Statuses[i].Agent, x.Statuses[i].Schedule}, x.Statuses[i]
			})
		}
		if err == nil {
			err = copyDocs("routes", []string{"name"}, len(x.Routes), func(i int) ([]any, any) {
				return []any{x.Routes[i].Name}, x.Routes[i]
			})
		}
		if err == nil {
			err = copyDocs("silences", []string{"id", "start_ns", "end_ns"}, len(x.Silences), func(i int) ([]any, any) {
				sl := x.Silences[i]
				return []any{sl.ID, sl.Start.UnixNano(), sl.End.UnixNano()}, sl
			})
		}
		if err == nil {
			err = copyDocs("acks", []string{"agent", "schedule"}, len(x.Acks), func(i int) ([]any, any) {
				return []any{x.Acks[i].Agent, x.Acks[i].Schedule}, x.Acks[i]
			})
		}
		if err != nil {
			return err
		}
		down := slices.Sorted(maps.Keys(x.Down))
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"agents_down"}, []string{"agent", "at"},
			pgx.CopyFromSlice(len(down), func(i int) ([]any, error) { return []any{down[i], x.Down[down[i]]}, nil })); err != nil {
			return fmt.Errorf("agents down: %w", err)
		}
		if err := importNotificationsTx(ctx, tx, x.Notifications); err != nil {
			return fmt.Errorf("notifications: %w", err)
		}
		// The next keys are past the last ones (the sequences cycle
		// through 32 bits, as the bbolt store's keys take their low 32).
		for seq, last := range map[string]uint64{"event_seq": x.EventSeq, "notification_seq": x.NotificationSeq} {
			if last == 0 {
				continue
			}
			if _, err := tx.Exec(ctx, "SELECT setval($1::regclass, $2)", seq, int64(uint32(last))); err != nil {
				return fmt.Errorf("%s: %w", seq, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("import into %s: %w", s.url, err)
	}
	return nil
}

// importNotificationsTx writes ns at their keys in their groups, made
// here, and sets each group's head: its oldest notification still open.
func importNotificationsTx(ctx context.Context, tx pgx.Tx, ns []state.KeyedNotification) error {
	if len(ns) == 0 {
		return nil
	}
	set := map[groupKey]bool{}
	for _, kn := range ns {
		set[groupOf(kn.Notification)] = true
	}
	keys := slices.SortedFunc(maps.Keys(set), func(a, b groupKey) int {
		return cmp.Or(cmp.Compare(a.agent, b.agent), cmp.Compare(a.schedule, b.schedule),
			cmp.Compare(a.route, b.route), cmp.Compare(a.receiver, b.receiver))
	})
	agents, schedules, routes := make([]string, len(keys)), make([]string, len(keys)), make([]string, len(keys))
	receivers := make([]int32, len(keys))
	for i, k := range keys {
		agents[i], schedules[i], routes[i], receivers[i] = k.agent, k.schedule, k.route, int32(k.receiver)
	}
	rows, err := tx.Query(ctx, `INSERT INTO outbox_groups (agent, schedule, route, receiver)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[])
		RETURNING id, agent, schedule, route, receiver`, agents, schedules, routes, receivers)
	if err != nil {
		return err
	}
	ids := map[groupKey]int64{}
	var id int64
	var k groupKey
	if _, err := pgx.ForEachRow(rows, []any{&id, &k.agent, &k.schedule, &k.route, &k.receiver}, func() error {
		ids[k] = id
		return nil
	}); err != nil {
		return err
	}
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"notifications"}, []string{"ns", "seq", "grp", "event", "agent", "schedule",
		"route", "receiver", "doc", "created", "state", "next_at", "attempts", "attempt_count", "ended"},
		pgx.CopyFromSlice(len(ns), func(i int) ([]any, error) {
			kn := ns[i]
			n := kn.Notification
			atts := []byte("[]")
			if len(n.Attempts) > 0 {
				var err error
				if atts, err = json.Marshal(n.Attempts); err != nil {
					return nil, err
				}
			}
			doc := string(n.Doc)
			if doc == "" {
				doc = "null"
			}
			var ended *time.Time
			if !n.Ended.IsZero() {
				ended = &n.Ended
			}
			return []any{kn.Key.Nanos, int64(kn.Key.Seq), ids[groupOf(n)], n.Event, n.Agent, n.Schedule, n.Route, int32(n.Receiver),
				doc, n.Created, string(n.State), n.NextAt, string(atts), int32(n.AttemptCount), ended}, nil
		}))
	if err != nil {
		return err
	}
	return refreshHeadsTx(ctx, tx, slices.Collect(maps.Values(ids)))
}

// copyDocsTx copies n rows into table: the values of cols, then the JSON
// of a record into doc, each of row(i).
func copyDocsTx(ctx context.Context, tx pgx.Tx, table string, cols []string, n int, row func(i int) ([]any, any)) error {
	_, err := tx.CopyFrom(ctx, pgx.Identifier{table}, append(cols, "doc"),
		pgx.CopyFromSlice(n, func(i int) ([]any, error) {
			vals, rec := row(i)
			v, err := json.Marshal(rec)
			if err != nil {
				return nil, err
			}
			return append(vals, string(v)), nil
		}))
	if err != nil {
		return fmt.Errorf("%s: %w", table, err)
	}
	return nil
}

// ImportEvents writes events at their keys, so that their cursors are
// the other store's, in one transaction: helen migrate writes the events
// in bounded batches by it.
func (s *Store) ImportEvents(ctx context.Context, evs []state.KeyedEvent) error {
	for _, ev := range evs {
		if _, err := state.CheckEvent(ev.Event); err != nil {
			return fmt.Errorf("import: %w", err)
		}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return copyDocsTx(ctx, tx, "events", []string{"ns", "seq", "agent"}, len(evs), func(i int) ([]any, any) {
			e := evs[i]
			return []any{e.Key.Nanos, int64(e.Key.Seq), e.Event.Agent}, e.Event
		})
	})
	if err != nil {
		return fmt.Errorf("import into %s: %w", s.url, err)
	}
	return nil
}
