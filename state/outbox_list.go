package state

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// NotificationQuery selects a page of notifications, newest first (by
// the time they were made).
type NotificationQuery struct {
	Query
	// State, when set, selects the notifications in it.
	State NotificationState
	// Agent, when set, selects the notifications about it.
	Agent string
}

// Notifications returns a page of the notifications q selects, newest
// first, and for each the cursor of those before it, which the next page
// begins from (q.After). Pending and retrying ones are read from the
// index of those still open, so that listing them does not go through
// every delivered one.
func (db *DB) Notifications(q NotificationQuery) ([]Notification, []string, error) {
	afterKey, _, err := decodeCursor(q.After)
	if err != nil {
		return nil, nil, fmt.Errorf("notifications: %w", err)
	}
	switch q.State {
	case "", NotifyPending, NotifyRetrying, NotifyDelivered, NotifyExpired:
	default:
		return nil, nil, fmt.Errorf("notifications: %w: state %q", ErrInvalid, q.State)
	}
	var low []byte
	if !q.Since.IsZero() {
		low = boundKey(q.Since)
	}
	high := below(q.Until, afterKey)
	var out []Notification
	var cursors []string
	err = db.view(func(tx *bolt.Tx) error {
		out, cursors = nil, nil
		b := tx.Bucket(bucketOutbox)
		index := b
		if q.State.Open() {
			index = tx.Bucket(bucketOutboxOpen)
		}
		c := index.Cursor()
		var k []byte
		if high == nil {
			k, _ = c.Last()
		} else if k, _ = c.Seek(high); k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
		for ; k != nil && (q.Limit <= 0 || len(out) < q.Limit) && bytes.Compare(k, low) >= 0; k, _ = c.Prev() {
			n, err := getNotificationTx(b, k)
			if err != nil {
				return err
			}
			if (q.State != "" && n.State != q.State) || (q.Agent != "" && n.Agent != q.Agent) {
				continue
			}
			out = append(out, n)
			cursors = append(cursors, encodeCursor(k, ""))
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("notifications: %w", err)
	}
	return out, cursors, nil
}

// OutboxStats is the outbox as /metrics shows it.
type OutboxStats struct {
	// Count is how many notifications are kept in each state.
	Count map[NotificationState]int
	// OldestOpen is when the oldest notification not yet delivered (nor
	// expired) was made; zero when there is none.
	OldestOpen time.Time
}

// OutboxStats returns the counts of the outbox, which every write keeps,
// and the time of its oldest open notification.
func (db *DB) OutboxStats() (OutboxStats, error) {
	st := OutboxStats{Count: map[NotificationState]int{}}
	err := db.view(func(tx *bolt.Tx) error {
		for _, s := range []NotificationState{NotifyPending, NotifyRetrying, NotifyDelivered, NotifyExpired} {
			st.Count[s] = countOf(tx, s)
		}
		if k, _ := tx.Bucket(bucketOutboxOpen).Cursor().First(); k != nil {
			st.OldestOpen = time.Unix(0, keyNanos(k))
		}
		return nil
	})
	if err != nil {
		return OutboxStats{}, fmt.Errorf("outbox stats: %w", err)
	}
	return st, nil
}

func countOf(tx *bolt.Tx, s NotificationState) int {
	v := tx.Bucket(bucketOutboxCount).Get([]byte(s))
	if len(v) != 8 {
		return 0
	}
	return int(keyNanos(v))
}

// PruneNotifications deletes the delivered and expired notifications made
// before before, and the oldest of them beyond Options.NotificationsKept, and
// returns how many. Those still open stay whatever their age: Expire ends
// them. It works in transactions of at most pruneStep deletions; Prune
// runs it with the cutoff of HistoryMaxAge.
func (db *DB) PruneNotifications(before time.Time) (int, error) {
	limit := before.UnixNano()
	total := 0
	var from []byte
	for {
		n, done := 0, false
		err := db.update(func(tx *bolt.Tx) error {
			n, done = 0, false
			kept := countOf(tx, NotifyDelivered) + countOf(tx, NotifyExpired)
			b := tx.Bucket(bucketOutbox)
			open := tx.Bucket(bucketOutboxOpen)
			c := b.Cursor()
			k, v := c.First()
			if from != nil {
				k, v = c.Seek(from)
			}
			for ; n < pruneStep; k, v = c.Seek(from) {
				if k == nil || (keyNanos(k) >= limit && kept <= db.opt.NotificationsKept) {
					done = true
					return nil
				}
				from = keyAfter(k)
				if open.Get(k) != nil {
					continue
				}
				var rec struct {
					State NotificationState `json:"state"`
				}
				if err := json.Unmarshal(v, &rec); err != nil {
					return fmt.Errorf("decode notification %x: %w", k, err)
				}
				if err := b.Delete(k); err != nil {
					return err
				}
				if err := countTx(tx, rec.State, -1); err != nil {
					return err
				}
				kept--
				n++
			}
			return nil
		})
		total += n
		if err != nil {
			return total, fmt.Errorf("prune notifications: %w", err)
		}
		if done {
			return total, nil
		}
	}
}
