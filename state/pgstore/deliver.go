package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/equus-monitoring/equus/state"
)

// What delivery workers do with the outbox: take what is due (NextDue),
// send it, and record how it went (RecordAttempt), or give it back
// (Release); and what is past its age expires (Expire).

// NextDue returns at most limit notifications (every one due, when limit
// <= 0) whose next attempt is at or before now, the heads of their groups
// by time of next attempt, and holds each group for this helen until it
// records an attempt (RecordAttempt) or releases it (Release), or until
// the lease (Options.DeliveryLease) runs out after now: meanwhile no call
// of NextDue, of this store or of another on the same database, gives
// out a notification of that group. A group whose lease ran out (its
// helen died, or took longer than the lease) is given out again, and so
// is one whose helen is dead by its heartbeat (state.DeadHelen) or
// started again since it took the group (its row's start is later than
// the hold's, the lease's end less the lease, the helens sharing one
// lease): a notification in flight on a helen killed is delivered by
// another within seconds, not after the lease.
func (s *Store) NextDue(now time.Time, limit int) ([]state.Notification, error) {
	var out []state.Notification
	err := s.monitorTx(func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `WITH picked AS (
				SELECT id FROM outbox_groups
				WHERE head_next <= $1 AND (claimed_by IS NULL OR lease_until <= $1
					OR EXISTS (SELECT 1 FROM helens h WHERE h.id = outbox_groups.claimed_by
						AND (h.beat <= $5 OR h.started > outbox_groups.lease_until - $6 * interval '1 microsecond')))
				ORDER BY head_next, head_ns, head_seq
				LIMIT $2
				FOR UPDATE SKIP LOCKED)
			UPDATE outbox_groups g SET claimed_by = $3, claimed_ns = g.head_ns, claimed_seq = g.head_seq, lease_until = $4
			FROM picked WHERE g.id = picked.id
			RETURNING g.head_ns, g.head_seq`, now, sqlLimit(limit), s.opt.Helen, now.Add(s.opt.DeliveryLease),
			now.Add(-state.DeadHelen), s.opt.DeliveryLease.Microseconds())
		if err != nil {
			return err
		}
		var nanos, seqs []int64
		var ns, seq int64
		if _, err := pgx.ForEachRow(rows, []any{&ns, &seq}, func() error {
			nanos, seqs = append(nanos, ns), append(seqs, seq)
			return nil
		}); err != nil {
			return err
		}
		if len(nanos) == 0 {
			return nil
		}
		rows, err = tx.Query(ctx, `SELECT `+notificationCols+` FROM notifications
			WHERE (ns, seq) IN (SELECT * FROM unnest($1::bigint[], $2::bigint[]))
			ORDER BY next_at, ns, seq`, nanos, seqs)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, scanNotification)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("next due: %w", err)
	}
	return out, nil
}

// Release gives back a notification NextDue gave out that no attempt was
// recorded for: its group may be given out again at once. A hold that is
// no longer this helen's (its lease ran out and another took the group)
// stays.
func (s *Store) Release(id string) error {
	k, err := state.ParseNotificationID(id)
	if err != nil {
		return fmt.Errorf("release: %w", err)
	}
	ctx, cancel := monitorCtx()
	defer cancel()
	_, err = s.pool.Exec(ctx, `UPDATE outbox_groups SET claimed_by = NULL, claimed_ns = NULL, claimed_seq = NULL, lease_until = NULL
		WHERE id = (SELECT grp FROM notifications WHERE ns = $1 AND seq = $2)
		AND claimed_by = $3 AND claimed_ns = $1 AND claimed_seq = $2`, k.Nanos, int64(k.Seq), s.opt.Helen)
	if err != nil {
		return fmt.Errorf("release %s: %w", id, err)
	}
	return nil
}

// RecordAttempt records an attempt at delivering notification id and what
// it came to: Delivered, Retry at nextAt, or GiveUp, and ends this
// helen's hold of its group, as the bbolt store's.
func (s *Store) RecordAttempt(id string, a state.Attempt, outcome state.Outcome, nextAt time.Time) error {
	r := state.AttemptRecord{ID: id, Attempt: a, Outcome: outcome, NextAt: nextAt}
	if err := r.Check(); err != nil {
		return fmt.Errorf("record attempt: %w", err)
	}
	missing, err := s.recordAttempts([]state.AttemptRecord{r})
	if err == nil && len(missing) > 0 {
		err = state.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("record attempt %s: %w", id, err)
	}
	return nil
}

// RecordAttempts records attempts as RecordAttempt does, all in one
// transaction, which ends their holds. An invalid record makes it record
// none (ErrInvalid). A record of a notification no longer stored is left
// out and the others recorded: the error then wraps ErrNotFound and names
// it. Any other error records none, and the holds are kept: the caller
// releases them.
func (s *Store) RecordAttempts(recs ...state.AttemptRecord) error {
	for _, r := range recs {
		if err := r.Check(); err != nil {
			return fmt.Errorf("record attempts: %w", err)
		}
	}
	missing, err := s.recordAttempts(recs)
	if err != nil {
		return fmt.Errorf("record attempts: %w", err)
	}
	if len(missing) > 0 {
		errs := make([]error, len(missing))
		for i, id := range missing {
			errs[i] = fmt.Errorf("%s: %w", id, state.ErrNotFound)
		}
		return fmt.Errorf("record attempts: %w", errors.Join(errs...))
	}
	return nil
}

// recordAttempts records recs, checked, in one transaction, and returns
// the ids of those not stored.
func (s *Store) recordAttempts(recs []state.AttemptRecord) (missing []string, err error) {
	if len(recs) == 0 {
		return nil, nil
	}
	nanos, seqs := make([]int64, len(recs)), make([]int64, len(recs))
	for i, r := range recs {
		k, _ := state.ParseNotificationID(r.ID)
		nanos[i], seqs[i] = k.Nanos, int64(k.Seq)
	}
	err = s.monitorTx(func(ctx context.Context, tx pgx.Tx) error {
		missing = nil
		rows, err := tx.Query(ctx, `SELECT DISTINCT grp FROM notifications
			WHERE (ns, seq) IN (SELECT * FROM unnest($1::bigint[], $2::bigint[]))`, nanos, seqs)
		if err != nil {
			return err
		}
		gids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		if err := lockGroupsTx(ctx, tx, gids); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT `+notificationCols+` FROM notifications
			WHERE (ns, seq) IN (SELECT * FROM unnest($1::bigint[], $2::bigint[])) ORDER BY ns, seq FOR UPDATE`, nanos, seqs)
		if err != nil {
			return err
		}
		found, err := pgx.CollectRows(rows, scanNotification)
		if err != nil {
			return err
		}
		byID := make(map[string]*state.Notification, len(found))
		for i := range found {
			byID[found[i].ID] = &found[i]
		}
		for _, r := range recs {
			n := byID[r.ID]
			if n == nil {
				missing = append(missing, r.ID)
				continue
			}
			applyAttempt(n, r)
		}
		b := &pgx.Batch{}
		for _, n := range found {
			atts, err := json.Marshal(n.Attempts)
			if err != nil {
				return err
			}
			if n.Attempts == nil {
				atts = []byte("[]")
			}
			var ended *time.Time
			if !n.Ended.IsZero() {
				ended = &n.Ended
			}
			k, _ := state.ParseNotificationID(n.ID)
			b.Queue(`UPDATE notifications SET state = $3, next_at = $4, attempts = $5, attempt_count = $6, ended = $7
				WHERE ns = $1 AND seq = $2`, k.Nanos, int64(k.Seq), string(n.State), n.NextAt, string(atts), n.AttemptCount, ended)
		}
		b.Queue(`UPDATE outbox_groups g SET claimed_by = NULL, claimed_ns = NULL, claimed_seq = NULL, lease_until = NULL
			FROM unnest($1::bigint[], $2::bigint[]) AS u(ns, seq)
			WHERE g.id = ANY($3) AND g.claimed_by = $4 AND g.claimed_ns = u.ns AND g.claimed_seq = u.seq`,
			nanos, seqs, gids, s.opt.Helen)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		return refreshHeadsTx(ctx, tx, gids)
	})
	return missing, err
}

// applyAttempt records r in n, as the bbolt store's recordAttemptTx does.
func applyAttempt(n *state.Notification, r state.AttemptRecord) {
	a := state.CapAttempt(r.Attempt)
	n.Attempts = append(n.Attempts, a)
	if len(n.Attempts) > state.MaxAttemptsKept {
		n.Attempts = n.Attempts[len(n.Attempts)-state.MaxAttemptsKept:]
	}
	n.AttemptCount++
	switch {
	case r.Outcome == state.Delivered && (n.State.Open() || n.State == state.NotifyExpired):
		n.State, n.Ended = state.NotifyDelivered, a.Time
	case r.Outcome == state.GiveUp && n.State.Open():
		n.State, n.Ended = state.NotifyExpired, a.Time
	case r.Outcome == state.Retry && n.State.Open():
		n.State, n.NextAt = state.NotifyRetrying, r.NextAt
	}
}

// Expire records as expired every notification not delivered that was
// made more than maxAge before now, and returns how many. It works in
// transactions of at most outboxStep notifications.
func (s *Store) Expire(now time.Time, maxAge time.Duration) (int, error) {
	if maxAge <= 0 {
		return 0, fmt.Errorf("expire: %w: age %v", state.ErrInvalid, maxAge)
	}
	cutoff := now.Add(-maxAge).UnixNano()
	total := 0
	for {
		n, picked := 0, 0
		err := s.monitorTx(func(ctx context.Context, tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `SELECT ns, seq, grp FROM notifications WHERE `+openStates+` AND ns < $1
				ORDER BY ns, seq LIMIT $2`, cutoff, outboxStep)
			if err != nil {
				return err
			}
			var nanos, seqs, gids []int64
			var ns, seq, grp int64
			if _, err := pgx.ForEachRow(rows, []any{&ns, &seq, &grp}, func() error {
				nanos, seqs, gids = append(nanos, ns), append(seqs, seq), append(gids, grp)
				return nil
			}); err != nil {
				return err
			}
			if picked = len(nanos); picked == 0 {
				return nil
			}
			slices.Sort(gids)
			gids = slices.Compact(gids)
			if err := lockGroupsTx(ctx, tx, gids); err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, `UPDATE notifications SET state = 'expired', ended = $3
				WHERE (ns, seq) IN (SELECT * FROM unnest($1::bigint[], $2::bigint[])) AND `+openStates, nanos, seqs, now)
			if err != nil {
				return err
			}
			n = int(tag.RowsAffected())
			return refreshHeadsTx(ctx, tx, gids)
		})
		if err != nil {
			return total, fmt.Errorf("expire: %w", err)
		}
		total += n
		if picked < outboxStep {
			return total, nil
		}
	}
}
