package state

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Schedule says which check helen runs, with which arguments, how often and
// on which agents, and how many results in a row confirm a problem.
type Schedule struct {
	Name    string          `json:"name"`
	Check   string          `json:"check"`
	Args    json.RawMessage `json:"args,omitempty"` // a JSON object, or empty
	Every   time.Duration   `json:"every"`
	Timeout time.Duration   `json:"timeout"`
	Agents  string          `json:"agents"` // a path.Match pattern of agent names
	// Attempts is how many problems in a row make a problem hard
	// (confirmed), 1 to MaxAttempts; RetryEvery how often the schedule
	// runs while a problem is soft, at most Every. Records written before
	// schedules had them read as 1 and Every (withDefaults).
	Attempts   int           `json:"attempts,omitempty"`
	RetryEvery time.Duration `json:"retry_every,omitempty"`
	Created    time.Time     `json:"created"`
	Updated    time.Time     `json:"updated"`
}

// MaxAttempts bounds a schedule's Attempts.
const MaxAttempts = 20

// withDefaults fills in what a record of a schedule made before its field
// existed lacks: one attempt, retried at the interval.
func (s Schedule) withDefaults() Schedule {
	if s.Attempts == 0 {
		s.Attempts = 1
	}
	if s.RetryEvery == 0 {
		s.RetryEvery = s.Every
	}
	return s
}

// decodeSchedule reads a stored schedule, defaults filled in.
func decodeSchedule(v []byte) (Schedule, error) {
	var s Schedule
	if err := json.Unmarshal(v, &s); err != nil {
		return Schedule{}, err
	}
	return s.withDefaults(), nil
}

// CheckSchedule returns s as PutSchedule stores it (its defaults filled
// in), or an error wrapping ErrInvalid that says what is wrong with it.
func CheckSchedule(s Schedule) (Schedule, error) {
	switch {
	case !validName(s.Name):
		return Schedule{}, fmt.Errorf("put schedule %q: %w: name", s.Name, ErrInvalid)
	case !validName(s.Check):
		return Schedule{}, fmt.Errorf("put schedule %s: %w: check %q", s.Name, ErrInvalid, s.Check)
	case s.Every <= 0:
		return Schedule{}, fmt.Errorf("put schedule %s: %w: interval %v", s.Name, ErrInvalid, s.Every)
	case len(s.Args) > 0 && !json.Valid(s.Args):
		return Schedule{}, fmt.Errorf("put schedule %s: %w: args are not JSON", s.Name, ErrInvalid)
	case s.Attempts < 0 || s.Attempts > MaxAttempts:
		return Schedule{}, fmt.Errorf("put schedule %s: %w: attempts %d, not 1 to %d", s.Name, ErrInvalid, s.Attempts, MaxAttempts)
	case s.RetryEvery < 0 || s.RetryEvery > s.Every:
		return Schedule{}, fmt.Errorf("put schedule %s: %w: retry interval %v, not up to the interval %v", s.Name, ErrInvalid, s.RetryEvery, s.Every)
	}
	return s.withDefaults(), nil
}

// PutSchedule creates the schedule s.Name or replaces it, keeping the
// creation time of the one it replaces.
func (db *DB) PutSchedule(s Schedule) error {
	s, err := CheckSchedule(s)
	if err != nil {
		return err
	}
	err = db.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSchedules)
		if v := b.Get([]byte(s.Name)); v != nil {
			var old Schedule
			if err := json.Unmarshal(v, &old); err != nil {
				return fmt.Errorf("decode schedule: %w", err)
			}
			s.Created = old.Created
		}
		v, err := json.Marshal(s)
		if err != nil {
			return fmt.Errorf("encode schedule: %w", err)
		}
		return b.Put([]byte(s.Name), v)
	})
	if err != nil {
		return fmt.Errorf("put schedule %s: %w", s.Name, err)
	}
	return nil
}

// Schedule returns the schedule called name, or ErrNotFound.
func (db *DB) Schedule(name string) (Schedule, error) {
	var s Schedule
	err := db.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketSchedules).Get([]byte(name))
		if v == nil {
			return ErrNotFound
		}
		var err error
		s, err = decodeSchedule(v)
		return err
	})
	if err != nil {
		return Schedule{}, fmt.Errorf("schedule %s: %w", name, err)
	}
	return s, nil
}

// Schedules returns every schedule, by name.
func (db *DB) Schedules() ([]Schedule, error) {
	var out []Schedule
	err := db.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSchedules).ForEach(func(k, v []byte) error {
			s, err := decodeSchedule(v)
			if err != nil {
				return fmt.Errorf("decode schedule %s: %w", k, err)
			}
			out = append(out, s)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("schedules: %w", err)
	}
	return out, nil
}

// DeleteSchedule removes the schedule called name and the statuses of its
// runs, or returns ErrNotFound.
func (db *DB) DeleteSchedule(name string) error {
	err := db.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSchedules)
		if b.Get([]byte(name)) == nil {
			return ErrNotFound
		}
		if err := b.Delete([]byte(name)); err != nil {
			return err
		}
		if err := db.deleteRollupsTx(tx, func(_, schedule string) bool { return schedule == name }); err != nil {
			return err
		}
		return deleteStatusesTx(tx, func(_, schedule string) bool { return schedule == name })
	})
	if err != nil {
		return fmt.Errorf("delete schedule %s: %w", name, err)
	}
	return nil
}
