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

// Ack stores a, replacing the acknowledgement of the same agent and
// schedule.
func (db *DB) Ack(a Ack) error {
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
	v, err := json.Marshal(a)
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
		return b.Put(k, v)
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
