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

// The outbox, as the bbolt store's (state/outbox.go): notifications are
// written in the transaction of what causes them, and delivered in the
// order they were made one at a time in each group (agent, schedule,
// route, receiver). Where the bbolt store holds the groups given out in
// its memory, here the hold is in the group's row, in the name of the
// helen that took it (Options.Helen) and until a lease runs out, so that
// helens sharing the database never give out the same notification, nor
// two of one group at once, and a group held by a helen that died goes
// to another when its lease has run out.

// DeliveryLease is how long a group NextDue gave out stays held for its
// helen when no attempt is recorded nor the notification released: more
// than the longest delivery (state.MaxReceiverTimeout) with the wait in
// the deliverer's queue, so that no live helen's delivery is given out
// again; past it, a helen that died is taken to have, and its group is
// due again. Options.DeliveryLease changes it.
const DeliveryLease = 10 * time.Minute

// pruneStep bounds the notifications one transaction of Expire or
// PruneNotifications changes, as in the bbolt store.
const pruneStep = 1000

// openStates is the SQL condition of a notification still to deliver.
const openStates = "state IN ('pending', 'retrying')"

// groupKey names a group of the outbox.
type groupKey struct {
	agent, schedule, route string
	receiver               int
}

func groupOf(n state.Notification) groupKey {
	return groupKey{n.Agent, n.Schedule, n.Route, n.Receiver}
}

// AddEventsWithNotifications stores events and their notifications in
// one transaction: either all of them are stored or none.
func (s *Store) AddEventsWithNotifications(ens ...state.EventNotifications) error {
	var evs []state.Event
	for _, en := range ens {
		if en.Event.Agent != "" {
			evs = append(evs, en.Event)
		}
	}
	if _, err := checkEvents(evs); err != nil {
		return err
	}
	outs := make([][]state.Notification, len(ens))
	for i, en := range ens {
		var err error
		if outs[i], err = state.NewNotifications(en); err != nil {
			return fmt.Errorf("add notifications: %w", err)
		}
	}
	err := s.inTx(func(ctx context.Context, tx pgx.Tx) error {
		keys, err := addEventsTx(ctx, tx, evs)
		if err != nil {
			return err
		}
		var all []state.Notification
		for i, en := range ens {
			ref := ""
			if en.Event.Agent != "" {
				ref, keys = keys[0].Cursor(), keys[1:]
			}
			for _, n := range outs[i] {
				n.Event = ref
				all = append(all, n)
			}
		}
		return putNotificationsTx(ctx, tx, all)
	})
	if err != nil {
		return fmt.Errorf("add events with notifications: %w", err)
	}
	return nil
}

// putNotificationsTx writes new notifications (state.NewNotifications's,
// their Event set) and queues them in their groups.
func putNotificationsTx(ctx context.Context, tx pgx.Tx, ns []state.Notification) error {
	if len(ns) == 0 {
		return nil
	}
	ids, err := lockGroupsOf(ctx, tx, ns)
	if err != nil {
		return err
	}
	seqs, err := nextSeqs(ctx, tx, "notification_seq", len(ns))
	if err != nil {
		return err
	}
	var (
		nanos, grps       = make([]int64, len(ns)), make([]int64, len(ns))
		events, agents    = make([]string, len(ns)), make([]string, len(ns))
		schedules, routes = make([]string, len(ns)), make([]string, len(ns))
		docs              = make([]string, len(ns))
		receivers         = make([]int32, len(ns))
		created           = make([]time.Time, len(ns))
		gids              []int64
	)
	for i, n := range ns {
		nanos[i], grps[i] = n.Created.UnixNano(), ids[groupOf(n)]
		events[i], agents[i], schedules[i], routes[i] = n.Event, n.Agent, n.Schedule, n.Route
		docs[i], receivers[i], created[i] = string(n.Doc), int32(n.Receiver), n.Created
	}
	for _, id := range ids {
		gids = append(gids, id)
	}
	_, err = tx.Exec(ctx, `INSERT INTO notifications (ns, seq, grp, event, agent, schedule, route, receiver, doc, created,
			state, next_at, attempts, attempt_count)
		SELECT u.ns, u.seq, u.grp, u.event, u.agent, u.schedule, u.route, u.receiver, u.doc::json, u.created,
			'pending', u.created, '[]', 0
		FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[], $9::text[], $10::timestamptz[])
			AS u(ns, seq, grp, event, agent, schedule, route, receiver, doc, created)`,
		nanos, seqs, grps, events, agents, schedules, routes, receivers, docs, created)
	if err != nil {
		return err
	}
	return refreshHeads(ctx, tx, gids)
}

// lockGroupsOf makes the groups of ns that are not yet, locks them all
// (in order of id, as every writer of groups does, so that writers do not
// deadlock) and returns their ids.
func lockGroupsOf(ctx context.Context, tx pgx.Tx, ns []state.Notification) (map[groupKey]int64, error) {
	set := map[groupKey]bool{}
	for _, n := range ns {
		set[groupOf(n)] = true
	}
	keys := make([]groupKey, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b groupKey) int {
		switch {
		case a.agent != b.agent:
			return cmpStr(a.agent, b.agent)
		case a.schedule != b.schedule:
			return cmpStr(a.schedule, b.schedule)
		case a.route != b.route:
			return cmpStr(a.route, b.route)
		}
		return a.receiver - b.receiver
	})
	agents, schedules, routes := make([]string, len(keys)), make([]string, len(keys)), make([]string, len(keys))
	receivers := make([]int32, len(keys))
	for i, k := range keys {
		agents[i], schedules[i], routes[i], receivers[i] = k.agent, k.schedule, k.route, int32(k.receiver)
	}
	// An empty group PruneNotifications drops between the two statements
	// is made again by the next round.
	for range 3 {
		_, err := tx.Exec(ctx, `INSERT INTO outbox_groups (agent, schedule, route, receiver)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[]) ORDER BY 1, 2, 3, 4
			ON CONFLICT DO NOTHING`, agents, schedules, routes, receivers)
		if err != nil {
			return nil, err
		}
		rows, err := tx.Query(ctx, `SELECT g.id, g.agent, g.schedule, g.route, g.receiver FROM outbox_groups g
			JOIN unnest($1::text[], $2::text[], $3::text[], $4::int[]) AS u(agent, schedule, route, receiver)
			ON g.agent = u.agent AND g.schedule = u.schedule AND g.route = u.route AND g.receiver = u.receiver
			ORDER BY g.id FOR UPDATE OF g`, agents, schedules, routes, receivers)
		if err != nil {
			return nil, err
		}
		ids := map[groupKey]int64{}
		var id int64
		var k groupKey
		_, err = pgx.ForEachRow(rows, []any{&id, &k.agent, &k.schedule, &k.route, &k.receiver}, func() error {
			ids[k] = id
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(ids) == len(keys) {
			return ids, nil
		}
	}
	return nil, errors.New("outbox groups dropped as they were made, three times")
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// lockGroups locks the groups of ids, in order.
func lockGroups(ctx context.Context, tx pgx.Tx, gids []int64) error {
	_, err := tx.Exec(ctx, "SELECT id FROM outbox_groups WHERE id = ANY($1) ORDER BY id FOR UPDATE", gids)
	return err
}

// refreshHeads sets the head of each group of gids: its oldest open
// notification, and when it is due.
func refreshHeads(ctx context.Context, tx pgx.Tx, gids []int64) error {
	_, err := tx.Exec(ctx, `UPDATE outbox_groups g SET (head_ns, head_seq, head_next) = (
			SELECT n.ns, n.seq, n.next_at FROM notifications n
			WHERE n.grp = g.id AND n.`+openStates+` ORDER BY n.ns, n.seq LIMIT 1)
		WHERE g.id = ANY($1)`, gids)
	return err
}

// notificationCols are the columns scanNotification reads.
const notificationCols = `ns, seq, event, agent, schedule, route, receiver, doc, created, state, next_at, attempts, attempt_count, ended`

// scanNotification reads a row of notificationCols.
func scanNotification(row pgx.CollectableRow) (state.Notification, error) {
	var (
		n         state.Notification
		ns, seq   int64
		doc, atts []byte
		st        string
		ended     *time.Time
	)
	if err := row.Scan(&ns, &seq, &n.Event, &n.Agent, &n.Schedule, &n.Route, &n.Receiver, &doc, &n.Created, &st,
		&n.NextAt, &atts, &n.AttemptCount, &ended); err != nil {
		return state.Notification{}, err
	}
	n.ID = state.Key{Nanos: ns, Seq: uint32(seq)}.NotificationID()
	n.Doc, n.State = json.RawMessage(doc), state.NotificationState(st)
	n.Created, n.NextAt = n.Created.UTC(), n.NextAt.UTC()
	if ended != nil {
		n.Ended = ended.UTC()
	}
	if err := json.Unmarshal(atts, &n.Attempts); err != nil {
		return state.Notification{}, fmt.Errorf("decode attempts of %s: %w", n.ID, err)
	}
	if len(n.Attempts) == 0 {
		n.Attempts = nil
	}
	return n, nil
}

// NextDue returns at most limit notifications (every one due, when limit
// <= 0) whose next attempt is at or before now, the heads of their groups
// by time of next attempt, and holds each group for this helen until it
// records an attempt (RecordAttempt) or releases it (Release), or until
// the lease (Options.DeliveryLease) runs out after now: meanwhile no call
// of NextDue, of this store or of another on the same database, gives
// out a notification of that group. A group whose lease ran out (its
// helen died, or took longer than the lease) is given out again.
func (s *Store) NextDue(now time.Time, limit int) ([]state.Notification, error) {
	var out []state.Notification
	err := s.inTx(func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `WITH picked AS (
				SELECT id FROM outbox_groups
				WHERE head_next <= $1 AND (claimed_by IS NULL OR lease_until <= $1)
				ORDER BY head_next, head_ns, head_seq
				LIMIT $2
				FOR UPDATE SKIP LOCKED)
			UPDATE outbox_groups g SET claimed_by = $3, claimed_ns = g.head_ns, claimed_seq = g.head_seq, lease_until = $4
			FROM picked WHERE g.id = picked.id
			RETURNING g.head_ns, g.head_seq`, now, limitArg(limit), s.opt.Helen, now.Add(s.opt.DeliveryLease))
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
	ctx, cancel := bounded()
	defer cancel()
	_, err = s.pool.Exec(ctx, `UPDATE outbox_groups SET claimed_by = NULL, claimed_ns = NULL, claimed_seq = NULL, lease_until = NULL
		WHERE id = (SELECT grp FROM notifications WHERE ns = $1 AND seq = $2)
		AND claimed_by = $3 AND claimed_ns = $1 AND claimed_seq = $2`, k.Nanos, int64(k.Seq), s.opt.Helen)
	if err != nil {
		return fmt.Errorf("release %s: %w", id, err)
	}
	return nil
}

// Notification returns the notification id, or ErrNotFound.
func (s *Store) Notification(id string) (state.Notification, error) {
	k, err := state.ParseNotificationID(id)
	if err != nil {
		return state.Notification{}, err
	}
	ctx, cancel := bounded()
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+notificationCols+` FROM notifications WHERE ns = $1 AND seq = $2`, k.Nanos, int64(k.Seq))
	var n state.Notification
	if err == nil {
		n, err = pgx.CollectExactlyOneRow(rows, scanNotification)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		err = state.ErrNotFound
	}
	if err != nil {
		return state.Notification{}, fmt.Errorf("notification %s: %w", id, err)
	}
	return n, nil
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
	err = s.inTx(func(ctx context.Context, tx pgx.Tx) error {
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
		if err := lockGroups(ctx, tx, gids); err != nil {
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
			apply(n, r)
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
		return refreshHeads(ctx, tx, gids)
	})
	return missing, err
}

// apply records r in n, as the bbolt store's recordAttemptTx does.
func apply(n *state.Notification, r state.AttemptRecord) {
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
// transactions of at most pruneStep notifications.
func (s *Store) Expire(now time.Time, maxAge time.Duration) (int, error) {
	if maxAge <= 0 {
		return 0, fmt.Errorf("expire: %w: age %v", state.ErrInvalid, maxAge)
	}
	cutoff := now.Add(-maxAge).UnixNano()
	total := 0
	for {
		n, picked := 0, 0
		err := s.inTx(func(ctx context.Context, tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `SELECT ns, seq, grp FROM notifications WHERE `+openStates+` AND ns < $1
				ORDER BY ns, seq LIMIT $2`, cutoff, pruneStep)
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
			if err := lockGroups(ctx, tx, gids); err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, `UPDATE notifications SET state = 'expired', ended = $3
				WHERE (ns, seq) IN (SELECT * FROM unnest($1::bigint[], $2::bigint[])) AND `+openStates, nanos, seqs, now)
			if err != nil {
				return err
			}
			n = int(tag.RowsAffected())
			return refreshHeads(ctx, tx, gids)
		})
		if err != nil {
			return total, fmt.Errorf("expire: %w", err)
		}
		total += n
		if picked < pruneStep {
			return total, nil
		}
	}
}

// Notifications returns a page of the notifications q selects, newest
// first, and for each the cursor of those before it.
func (s *Store) Notifications(q state.NotificationQuery) ([]state.Notification, []string, error) {
	after, hasAfter, err := state.ParseCursor(q.After)
	if err != nil {
		return nil, nil, fmt.Errorf("notifications: %w", err)
	}
	cond := ""
	switch q.State {
	case "":
	case state.NotifyPending, state.NotifyRetrying:
		cond = " AND " + openStates + " AND state = $5"
	case state.NotifyDelivered, state.NotifyExpired:
		cond = " AND state = $5"
	default:
		return nil, nil, fmt.Errorf("notifications: %w: state %q", state.ErrInvalid, q.State)
	}
	if cond == "" {
		cond = " AND $5 = ''"
	}
	lo, hi := pageBounds(q.Query, after, hasAfter)
	ctx, cancel := bounded()
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+notificationCols+` FROM notifications
		WHERE ns >= $1 AND (ns, seq) < ($2, $3)`+cond+` AND ($6 = '' OR agent = $6)
		ORDER BY ns DESC, seq DESC LIMIT $4`, lo, hi.Nanos, int64(hi.Seq), limitArg(q.Limit), string(q.State), q.Agent)
	if err != nil {
		return nil, nil, fmt.Errorf("notifications: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanNotification)
	if err != nil {
		return nil, nil, fmt.Errorf("notifications: %w", err)
	}
	cursors := make([]string, len(out))
	for i, n := range out {
		k, _ := state.ParseNotificationID(n.ID)
		cursors[i] = k.Cursor()
	}
	return out, cursors, nil
}

// OutboxStats returns the counts of the outbox and the time of its oldest
// open notification.
func (s *Store) OutboxStats() (state.OutboxStats, error) {
	st := state.OutboxStats{Count: map[state.NotificationState]int{}}
	for _, ns := range []state.NotificationState{state.NotifyPending, state.NotifyRetrying, state.NotifyDelivered, state.NotifyExpired} {
		st.Count[ns] = 0
	}
	ctx, cancel := bounded()
	defer cancel()
	rows, err := s.pool.Query(ctx, "SELECT state, count(*) FROM notifications GROUP BY state")
	if err != nil {
		return state.OutboxStats{}, fmt.Errorf("outbox stats: %w", err)
	}
	var name string
	var n int
	if _, err := pgx.ForEachRow(rows, []any{&name, &n}, func() error {
		st.Count[state.NotificationState(name)] = n
		return nil
	}); err != nil {
		return state.OutboxStats{}, fmt.Errorf("outbox stats: %w", err)
	}
	var oldest *int64
	if err := s.pool.QueryRow(ctx, "SELECT min(ns) FROM notifications WHERE "+openStates).Scan(&oldest); err != nil {
		return state.OutboxStats{}, fmt.Errorf("outbox stats: %w", err)
	}
	if oldest != nil {
		st.OldestOpen = time.Unix(0, *oldest).UTC()
	}
	return st, nil
}

// PruneNotifications deletes the delivered and expired notifications made
// before before, and the oldest of them beyond Options.NotificationsKept,
// and returns how many; then the groups left with none. Those still open
// stay whatever their age. It works in transactions of at most pruneStep
// deletions.
func (s *Store) PruneNotifications(before time.Time) (int, error) {
	total := 0
	step := func(q string, args ...any) (int, error) {
		ctx, cancel := bounded()
		defer cancel()
		tag, err := s.pool.Exec(ctx, q, args...)
		return int(tag.RowsAffected()), err
	}
	const closed = "state IN ('delivered', 'expired')"
	for {
		n, err := step(`DELETE FROM notifications WHERE (ns, seq) IN (
			SELECT ns, seq FROM notifications WHERE `+closed+` AND ns < $1 ORDER BY ns, seq LIMIT $2)`, before.UnixNano(), pruneStep)
		total += n
		if err != nil {
			return total, fmt.Errorf("prune notifications: %w", err)
		}
		if n < pruneStep {
			break
		}
	}
	for {
		ctx, cancel := bounded()
		var kept int
		err := s.pool.QueryRow(ctx, "SELECT count(*) FROM notifications WHERE "+closed).Scan(&kept)
		cancel()
		if err != nil {
			return total, fmt.Errorf("prune notifications: %w", err)
		}
		over := kept - s.opt.NotificationsKept
		if over <= 0 {
			break
		}
		n, err := step(`DELETE FROM notifications WHERE (ns, seq) IN (
			SELECT ns, seq FROM notifications WHERE `+closed+` ORDER BY ns, seq LIMIT $1)`, min(over, pruneStep))
		total += n
		if err != nil {
			return total, fmt.Errorf("prune notifications: %w", err)
		}
		if n == 0 {
			break
		}
	}
	// The groups left empty, but those a writer holds (it is adding to
	// them) and those held for a delivery whose lease has not run out
	// long ago.
	if _, err := step(`DELETE FROM outbox_groups WHERE id IN (
		SELECT g.id FROM outbox_groups g
		WHERE g.head_next IS NULL AND (g.claimed_by IS NULL OR g.lease_until < $1)
		AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.grp = g.id)
		FOR UPDATE SKIP LOCKED)`, before); err != nil {
		return total, fmt.Errorf("prune notifications: groups: %w", err)
	}
	return total, nil
}
