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
// due again (sooner when its heartbeat shows it dead or restarted, see
// NextDue). Options.DeliveryLease changes it. The lease runs on the
// clocks of the helens (the now of NextDue), which are taken to agree to
// well within it.
const DeliveryLease = 10 * time.Minute

// outboxStep bounds the notifications one transaction of Expire or
// PruneNotifications changes, as in the bbolt store.
const outboxStep = 1000

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
	err := s.monitorTx(func(ctx context.Context, tx pgx.Tx) error { return addEventsWithNotificationsTx(ctx, tx, ens) })
	if err != nil {
		return fmt.Errorf("add events with notifications: %w", err)
	}
	return nil
}

// addEventsWithNotificationsTx is AddEventsWithNotifications in tx, for
// a transaction that stores events with something else (MarkDown).
func addEventsWithNotificationsTx(ctx context.Context, tx pgx.Tx, ens []state.EventNotifications) error {
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
}

// putNotificationsTx writes new notifications (state.NewNotifications's,
// their Event set) and queues them in their groups.
func putNotificationsTx(ctx context.Context, tx pgx.Tx, ns []state.Notification) error {
	if len(ns) == 0 {
		return nil
	}
	ids, err := lockGroupsOfTx(ctx, tx, ns)
	if err != nil {
		return err
	}
	seqs, err := nextSeqsTx(ctx, tx, "notification_seq", len(ns))
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
	return refreshHeadsTx(ctx, tx, gids)
}

// lockGroupsOfTx makes the groups of ns that are not yet, locks them all
// (in order of id, as every writer of groups does, so that writers do not
// deadlock) and returns their ids.
func lockGroupsOfTx(ctx context.Context, tx pgx.Tx, ns []state.Notification) (map[groupKey]int64, error) {
	set := map[groupKey]bool{}
	for _, n := range ns {
		set[groupOf(n)] = true
	}
	keys := make([]groupKey, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b groupKey) int {
		return cmp.Or(cmp.Compare(a.agent, b.agent), cmp.Compare(a.schedule, b.schedule),
			cmp.Compare(a.route, b.route), cmp.Compare(a.receiver, b.receiver))
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

// lockGroupsTx locks the groups of ids, in order.
func lockGroupsTx(ctx context.Context, tx pgx.Tx, gids []int64) error {
	_, err := tx.Exec(ctx, "SELECT id FROM outbox_groups WHERE id = ANY($1) ORDER BY id FOR UPDATE", gids)
	return err
}

// refreshHeadsTx sets the head of each group of gids: its oldest open
// notification, and when it is due.
func refreshHeadsTx(ctx context.Context, tx pgx.Tx, gids []int64) error {
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
	n.ID = state.ListKey{Nanos: ns, Seq: uint32(seq)}.NotificationID()
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

// Notification returns the notification id, or ErrNotFound.
func (s *Store) Notification(id string) (state.Notification, error) {
	k, err := state.ParseNotificationID(id)
	if err != nil {
		return state.Notification{}, err
	}
	ctx, cancel := monitorCtx()
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

// Notifications returns a page of the notifications q selects, newest
// first, and for each the cursor of those before it.
func (s *Store) Notifications(q state.NotificationQuery) ([]state.Notification, []string, error) {
	after, hasAfter, err := state.ParseListCursor(q.After)
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
	lo, hi := keyBounds(q.Query, after, hasAfter)
	ctx, cancel := monitorCtx()
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+notificationCols+` FROM notifications
		WHERE ns >= $1 AND (ns, seq) < ($2, $3)`+cond+` AND ($6 = '' OR agent = $6)
		ORDER BY ns DESC, seq DESC LIMIT $4`, lo, hi.Nanos, int64(hi.Seq), sqlLimit(q.Limit), string(q.State), q.Agent)
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
	ctx, cancel := monitorCtx()
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
// stay whatever their age. It works in transactions of at most outboxStep
// deletions.
func (s *Store) PruneNotifications(before time.Time) (int, error) {
	total := 0
	step := func(q string, args ...any) (int, error) {
		ctx, cancel := monitorCtx()
		defer cancel()
		tag, err := s.pool.Exec(ctx, q, args...)
		return int(tag.RowsAffected()), err
	}
	const closed = "state IN ('delivered', 'expired')"
	for {
		n, err := step(`DELETE FROM notifications WHERE (ns, seq) IN (
			SELECT ns, seq FROM notifications WHERE `+closed+` AND ns < $1 ORDER BY ns, seq LIMIT $2)`, before.UnixNano(), outboxStep)
		total += n
		if err != nil {
			return total, fmt.Errorf("prune notifications: %w", err)
		}
		if n < outboxStep {
			break
		}
	}
	for {
		ctx, cancel := monitorCtx()
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
			SELECT ns, seq FROM notifications WHERE `+closed+` ORDER BY ns, seq LIMIT $1)`, min(over, outboxStep))
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
