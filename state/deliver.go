package state

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// What delivery workers do with the outbox: take what is due (NextDue),
// send it, and record how it went (RecordAttempt), or give it back
// (Release).

// NextDue returns at most limit notifications (every one due, when limit
// <= 0) whose next attempt is at or before now, the heads of their groups
// by time of next attempt, and holds each group for its worker until it
// records an attempt (RecordAttempt) or releases it (Release): meanwhile
// no other call of NextDue gives out a notification of that group (agent,
// schedule, route and receiver). So two workers never send two
// notifications of one group at once, and a group's notifications go out
// in the order they were made. A claim has no time limit, so no clock,
// stepped or not, can hand a notification in flight out again; it lives
// in memory only, so after a crash what was in flight is due again.
func (db *DB) NextDue(now time.Time, limit int) ([]Notification, error) {
	db.claims.mu.Lock()
	defer db.claims.mu.Unlock()
	if db.claims.byGroup == nil {
		db.claims.byGroup, db.claims.byID = map[string]string{}, map[string]string{}
	}
	var out []Notification
	var groups []string
	err := db.view(func(tx *bolt.Tx) error {
		out, groups = nil, nil
		b := tx.Bucket(bucketOutbox)
		c := tx.Bucket(bucketOutboxDue).Cursor()
		end := now.UnixNano()
		for k, group := c.First(); k != nil && keyNanos(k) <= end && (limit <= 0 || len(out) < limit); k, group = c.Next() {
			if _, held := db.claims.byGroup[string(group)]; held {
				continue
			}
			n, err := getNotificationTx(b, k[8:])
			if err != nil {
				return err
			}
			out = append(out, n)
			groups = append(groups, string(group))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("next due: %w", err)
	}
	for i, n := range out {
		db.claims.byGroup[groups[i]] = n.ID
		db.claims.byID[n.ID] = groups[i]
	}
	return out, nil
}

// release ends the claim of NextDue that notification id holds, if any.
func (db *DB) release(id string) {
	db.claims.mu.Lock()
	defer db.claims.mu.Unlock()
	if g, ok := db.claims.byID[id]; ok {
		delete(db.claims.byID, id)
		delete(db.claims.byGroup, g)
	}
}

// Release gives back a notification NextDue gave out that no attempt was
// recorded for (its worker is stopping, or the record failed): its group
// may be given out again at once. It reads nothing from the store, so it
// cannot fail to end the claim.
func (db *DB) Release(id string) error {
	if _, err := notificationKey(id); err != nil {
		return fmt.Errorf("release: %w", err)
	}
	db.release(id)
	return nil
}

// Notification returns the notification id, or ErrNotFound.
func (db *DB) Notification(id string) (Notification, error) {
	key, err := notificationKey(id)
	if err != nil {
		return Notification{}, err
	}
	var n Notification
	err = db.view(func(tx *bolt.Tx) (err error) {
		n, err = getNotificationTx(tx.Bucket(bucketOutbox), key)
		return err
	})
	if err != nil {
		return Notification{}, fmt.Errorf("notification %s: %w", id, err)
	}
	return n, nil
}

// RecordAttempt records an attempt at delivering notification id and what
// it came to: Delivered, Retry at nextAt, or GiveUp. It ends the claim of
// NextDue on its group. The attempt's answer and error are cut to
// MaxAnswer bytes, and only the last MaxAttemptsKept attempts are kept.
// An attempt at a notification delivered already is recorded and changes
// nothing else; one delivered after it expired is delivered. Concurrent
// callers share a transaction.
func (db *DB) RecordAttempt(id string, a Attempt, outcome Outcome, nextAt time.Time) error {
	r := AttemptRecord{ID: id, Attempt: a, Outcome: outcome, NextAt: nextAt}
	key, err := r.check()
	if err != nil {
		return fmt.Errorf("record attempt: %w", err)
	}
	err = db.batch(func(tx *bolt.Tx) error { return recordAttemptTx(tx, key, r) })
	if err != nil {
		return fmt.Errorf("record attempt %s: %w", id, err)
	}
	db.release(id)
	return nil
}

// AttemptRecord is an attempt at a delivery and what it came to, as
// RecordAttempt takes them.
type AttemptRecord struct {
	ID      string
	Attempt Attempt
	Outcome Outcome
	NextAt  time.Time // of the next attempt, for Retry
}

// check returns the key of r's notification, or an error wrapping
// ErrInvalid.
func (r AttemptRecord) check() ([]byte, error) {
	key, err := notificationKey(r.ID)
	switch {
	case err != nil:
		return nil, err
	case r.Outcome != Delivered && r.Outcome != Retry && r.Outcome != GiveUp:
		return nil, fmt.Errorf("%s: %w: outcome %d", r.ID, ErrInvalid, r.Outcome)
	case r.Outcome == Retry && r.NextAt.Before(time.Unix(0, 0)):
		return nil, fmt.Errorf("%s: %w: next attempt at %v", r.ID, ErrInvalid, r.NextAt)
	}
	return key, nil
}

// RecordAttempts records attempts as RecordAttempt does, all in one
// transaction (one commit for a batch of deliveries), and ends their
// claims once it is committed. An invalid record makes it record none
// (ErrInvalid). A record of a notification no longer stored is left out
// and the others recorded: the error then wraps ErrNotFound and names it.
// Any other error records none, and the claims are kept: the caller
// releases them.
func (db *DB) RecordAttempts(recs ...AttemptRecord) error {
	keys := make([][]byte, len(recs))
	for i, r := range recs {
		var err error
		if keys[i], err = r.check(); err != nil {
			return fmt.Errorf("record attempts: %w", err)
		}
	}
	var missing []error
	err := db.update(func(tx *bolt.Tx) error {
		missing = nil
		for i, r := range recs {
			err := recordAttemptTx(tx, keys[i], r)
			switch {
			case errors.Is(err, ErrNotFound):
				missing = append(missing, fmt.Errorf("%s: %w", r.ID, err))
			case err != nil:
				return fmt.Errorf("%s: %w", r.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record attempts: %w", err)
	}
	for _, r := range recs {
		db.release(r.ID)
	}
	if len(missing) > 0 {
		return fmt.Errorf("record attempts: %w", errors.Join(missing...))
	}
	return nil
}

// recordAttemptTx records r, the notification of key's.
func recordAttemptTx(tx *bolt.Tx, key []byte, r AttemptRecord) error {
	a, outcome, nextAt := r.Attempt, r.Outcome, r.NextAt
	a.Answer = capText(a.Answer, MaxAnswer, "")
	a.Error = capText(a.Error, MaxAnswer, "")
	b := tx.Bucket(bucketOutbox)
	n, err := getNotificationTx(b, key)
	if err != nil {
		return err
	}
	n.Attempts = append(n.Attempts, a)
	if len(n.Attempts) > MaxAttemptsKept {
		n.Attempts = n.Attempts[len(n.Attempts)-MaxAttemptsKept:]
	}
	n.AttemptCount++
	switch {
	case outcome == Delivered && n.State.Open():
		if err := closeTx(tx, key, &n, NotifyDelivered, a.Time); err != nil {
			return err
		}
	case outcome == Delivered && n.State == NotifyExpired:
		if err := countTx(tx, NotifyExpired, -1); err != nil {
			return err
		}
		if err := countTx(tx, NotifyDelivered, 1); err != nil {
			return err
		}
		n.State, n.Ended = NotifyDelivered, a.Time
	case outcome == GiveUp && n.State.Open():
		if err := closeTx(tx, key, &n, NotifyExpired, a.Time); err != nil {
			return err
		}
	case outcome == Retry && n.State.Open():
		if err := retryTx(tx, key, &n, nextAt); err != nil {
			return err
		}
	}
	return putRecordTx(b, key, n)
}

// retryTx moves an open notification to retrying at nextAt, and its
// group's entry of outbox-due with it when it is the head.
func retryTx(tx *bolt.Tx, key []byte, n *Notification, nextAt time.Time) error {
	if n.State != NotifyRetrying {
		if err := countTx(tx, n.State, -1); err != nil {
			return err
		}
		if err := countTx(tx, NotifyRetrying, 1); err != nil {
			return err
		}
	}
	group := outboxGroup(n.Agent, n.Schedule, n.Route, n.Receiver)
	head, err := headTx(tx.Bucket(bucketOutboxQueue), group)
	if err != nil {
		return err
	}
	if bytes.Equal(head, key) {
		due := tx.Bucket(bucketOutboxDue)
		if err := due.Delete(dueKey(n.NextAt, key)); err != nil {
			return err
		}
		if err := due.Put(dueKey(nextAt, key), group); err != nil {
			return err
		}
	}
	n.State, n.NextAt = NotifyRetrying, nextAt
	return nil
}

// Expire records as expired every notification not delivered that was
// made more than maxAge before now (--notify-max-age), and returns how
// many. They stay listed, as every delivered one does, until Prune. It
// works in transactions of at most pruneStep notifications.
func (db *DB) Expire(now time.Time, maxAge time.Duration) (int, error) {
	if maxAge <= 0 {
		return 0, fmt.Errorf("expire: %w: age %v", ErrInvalid, maxAge)
	}
	cutoff := now.Add(-maxAge).UnixNano()
	total := 0
	for {
		n := 0
		err := db.update(func(tx *bolt.Tx) error {
			n = 0
			b := tx.Bucket(bucketOutbox)
			c := tx.Bucket(bucketOutboxOpen).Cursor()
			for k, _ := c.First(); k != nil && keyNanos(k) < cutoff && n < pruneStep; k, _ = c.First() {
				key := bytes.Clone(k)
				rec, err := getNotificationTx(b, key)
				if err != nil {
					return err
				}
				if err := closeTx(tx, key, &rec, NotifyExpired, now); err != nil {
					return err
				}
				if err := putRecordTx(b, key, rec); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		total += n
		if err != nil {
			return total, fmt.Errorf("expire: %w", err)
		}
		if n < pruneStep {
			return total, nil
		}
	}
}
