package state

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Ack is an acknowledgement of the problem of a schedule on an agent
// (Schedule "": of the agent being down): who took it, why and when. It
// stops re-notifications until the problem recovers, when the caller
// clears it (Unack).
type Ack struct {
	Agent    string    `json:"agent"`
	Schedule string    `json:"schedule,omitempty"`
	Author   string    `json:"author,omitempty"`
	Comment  string    `json:"comment"`
	Time     time.Time `json:"time"`
}

// MaxAcks is the most acknowledgements kept (one a schedule on an agent
// at most): Ack refuses a new one beyond with ErrFull.
const MaxAcks = 100_000

// CheckAck reports what is wrong with a as an acknowledgement to store,
// an error wrapping ErrInvalid.
func CheckAck(a Ack) error {
	if err := checkAgent("ack", a.Agent); err != nil {
		return err
	}
	switch {
	case a.Schedule != "" && !validName(a.Schedule):
		return fmt.Errorf("ack %s: %w: schedule %q", a.Agent, ErrInvalid, a.Schedule)
	case a.Comment == "" || !validText(a.Comment):
		return fmt.Errorf("ack %s %s: %w: a comment of 1 to %d bytes of UTF-8 is needed", a.Agent, a.Schedule, ErrInvalid, MaxComment)
	case !validText(a.Author):
		return fmt.Errorf("ack %s %s: %w: author", a.Agent, a.Schedule, ErrInvalid)
	}
	return nil
}

// Ack stores a, replacing the acknowledgement of the same agent and
// schedule.
func (db *DB) Ack(a Ack) error { return db.AckWithNotifications(a) }

// AckWithNotifications stores a, as Ack does, and the notifications
// that tell it, in one transaction: either all of them are stored or
// none. Each notification must have its Agent and Created (it is of no
// event).
func (db *DB) AckWithNotifications(a Ack, notify ...Outgoing) error {
	if err := CheckAck(a); err != nil {
		return err
	}
	v, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("ack %s %s: %w", a.Agent, a.Schedule, err)
	}
	outs, err := newNotifications(EventNotifications{Notify: notify})
	if err != nil {
		return fmt.Errorf("ack %s %s: %w", a.Agent, a.Schedule, err)
	}
	err = db.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAcks)
		k := latestKey(a.Agent, a.Schedule)
		if b.Get(k) == nil {
			if n := b.Stats().KeyN; n >= MaxAcks {
				return fmt.Errorf("%w: %d acknowledgements already, at most %d", ErrFull, n, MaxAcks)
			}
		}
		if err := b.Put(k, v); err != nil {
			return err
		}
		for _, n := range outs {
			if err := putNotificationTx(tx, n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ack %s %s: %w", a.Agent, a.Schedule, err)
	}
	db.notifyChanged()
	return nil
}

// Unack removes the acknowledgement of a schedule on an agent, or returns
// ErrNotFound.
func (db *DB) Unack(agent, schedule string) error {
	err := db.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAcks)
		k := latestKey(agent, schedule)
		if b.Get(k) == nil {
			return ErrNotFound
		}
		return b.Delete(k)
	})
	if err != nil {
		return fmt.Errorf("unack %s %s: %w", agent, schedule, err)
	}
	db.notifyChanged()
	return nil
}

// Acks returns every acknowledgement, by agent then schedule.
func (db *DB) Acks() ([]Ack, error) {
	var out []Ack
	err := db.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAcks).ForEach(func(k, v []byte) error {
			var a Ack
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("decode ack %q: %w", k, err)
			}
			out = append(out, a)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("acks: %w", err)
	}
	return out, nil
}
