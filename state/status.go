package state

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/equus-monitoring/equus/agentname"
	"github.com/equus-monitoring/equus/result"
	bolt "go.etcd.io/bbolt"
)

// Status is the state of one schedule on one agent: what its last result
// said, since when, and what it said before; whether that is confirmed
// (hard) or not yet (soft), and whether it flaps.
type Status struct {
	Agent    string    `json:"agent"`
	Schedule string    `json:"schedule"`
	Check    string    `json:"check"`
	Status   string    `json:"status"`             // ok warning critical unknown
	Since    time.Time `json:"since"`              // when Status became what it is
	Previous string    `json:"previous,omitempty"` // the status before, "" for none
	Message  string    `json:"message"`            // of the last result
	// LongOutput is the last result's lines of detail after the message.
	LongOutput string    `json:"long_output,omitempty"`
	Time       time.Time `json:"time"`              // of the last result
	Metrics    []Metric  `json:"metrics,omitempty"` // of the last result

	// StateType is Soft while a problem is not confirmed yet, Hard
	// otherwise; Attempt is how many results in a row were problems
	// (warning, critical, unknown), counted up to MaxAttempts, the
	// schedule's Attempts (1 for ok). HardStatus is the last confirmed
	// status, what notifications go by. A record made before statuses had
	// them is hard (there was no soft) at attempt 1 of 1.
	StateType   string `json:"state_type,omitempty"`
	Attempt     int    `json:"attempt,omitempty"`
	MaxAttempts int    `json:"max_attempts,omitempty"`
	HardStatus  string `json:"hard_status,omitempty"`
	// FlapWindow is the last FlapWindow results, bit 0 the newest: a bit
	// is set for a result whose status differs from the one before.
	// FlapPercent is its weighted share of changes (as Icinga 2 counts
	// it); Flapping whether the schedule flaps on the agent.
	FlapWindow  uint32  `json:"flap_window,omitempty"`
	FlapPercent float64 `json:"flap_percent,omitempty"`
	Flapping    bool    `json:"flapping,omitempty"`
}

// The state types of a status.
const (
	Soft = "soft"
	Hard = "hard"
)

// FlapWindow is how many results of a schedule on an agent the measure of
// flapping looks at.
const FlapWindow = 20

// withDefaults fills in what a record of a status made before its field
// existed lacks: it was hard, confirmed by one result.
func (st Status) withDefaults() Status {
	if st.StateType == "" {
		st.StateType = Hard
	}
	if st.HardStatus == "" {
		st.HardStatus = st.Status
	}
	st.Attempt = max(st.Attempt, 1)
	st.MaxAttempts = max(st.MaxAttempts, 1)
	return st
}

// CheckStatus returns st as PutStatuses stores it and Statuses reads it
// back, its message, long output and metrics capped (Cap, CapLongOutput)
// and its defaults filled in, or an error wrapping ErrInvalid that says
// what is wrong with it.
func CheckStatus(st Status) (Status, error) {
	switch {
	case !agentname.Valid(st.Agent) || !validName(st.Schedule):
		return Status{}, fmt.Errorf("put status %q %q: %w: name", st.Agent, st.Schedule, ErrInvalid)
	case !result.Status(st.Status).Valid():
		return Status{}, fmt.Errorf("put status %s %s: %w: status %q", st.Agent, st.Schedule, ErrInvalid, st.Status)
	case st.HardStatus != "" && !result.Status(st.HardStatus).Valid():
		return Status{}, fmt.Errorf("put status %s %s: %w: hard status %q", st.Agent, st.Schedule, ErrInvalid, st.HardStatus)
	case st.StateType != "" && st.StateType != Soft && st.StateType != Hard:
		return Status{}, fmt.Errorf("put status %s %s: %w: state type %q", st.Agent, st.Schedule, ErrInvalid, st.StateType)
	case st.FlapWindow >= 1<<FlapWindow:
		return Status{}, fmt.Errorf("put status %s %s: %w: flap window %#x of more than %d results", st.Agent, st.Schedule, ErrInvalid, st.FlapWindow, FlapWindow)
	}
	st.Message, st.Metrics = Cap(st.Message, st.Metrics)
	st.LongOutput = CapLongOutput(st.LongOutput)
	return st.withDefaults(), nil
}

// PutStatuses stores statuses, each replacing the one of its agent and
// schedule, with message, long output and metrics capped (Cap,
// CapLongOutput). Concurrent callers share a transaction.
func (db *DB) PutStatuses(sts ...Status) error {
	vals := make([][]byte, len(sts))
	for i, st := range sts {
		st, err := CheckStatus(st)
		if err != nil {
			return err
		}
		v, err := json.Marshal(st)
		if err != nil {
			return fmt.Errorf("put status %s %s: %w: %w", st.Agent, st.Schedule, ErrInvalid, err)
		}
		vals[i] = v
	}
	// Batch may run the function twice; Put of the same values is idempotent.
	err := db.batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketStatus)
		for i, st := range sts {
			if err := b.Put(latestKey(st.Agent, st.Schedule), vals[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("put statuses: %w", err)
	}
	return nil
}

// Statuses returns the stored statuses of an agent ("" for every agent), by
// agent then schedule.
func (db *DB) Statuses(agent string) ([]Status, error) {
	var out []Status
	err := db.view(func(tx *bolt.Tx) error {
		var prefix []byte
		if agent != "" {
			prefix = latestKey(agent, "")
		}
		c := tx.Bucket(bucketStatus).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var st Status
			if err := json.Unmarshal(v, &st); err != nil {
				return fmt.Errorf("decode status %q: %w", k, err)
			}
			out = append(out, st.withDefaults())
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("statuses %s: %w", agent, err)
	}
	return out, nil
}

// DeleteStatus removes the status of a schedule on an agent, if any.
func (db *DB) DeleteStatus(agent, schedule string) error {
	return db.DeleteStatuses([]StatusKey{{Agent: agent, Schedule: schedule}})
}

// StatusKey names the status of a schedule on an agent.
type StatusKey struct{ Agent, Schedule string }

// DeleteStatuses removes the statuses of keys that exist, in one
// transaction however many there are.
func (db *DB) DeleteStatuses(keys []StatusKey) error {
	if len(keys) == 0 {
		return nil
	}
	err := db.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketStatus)
		for _, k := range keys {
			if err := b.Delete(latestKey(k.Agent, k.Schedule)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if len(keys) == 1 {
			return fmt.Errorf("delete status %s %s: %w", keys[0].Agent, keys[0].Schedule, err)
		}
		return fmt.Errorf("delete %d statuses: %w", len(keys), err)
	}
	return nil
}

// deleteStatusesTx removes the statuses for which match is true.
func deleteStatusesTx(tx *bolt.Tx, match func(agent, schedule string) bool) error {
	b := tx.Bucket(bucketStatus)
	var doomed [][]byte
	err := b.ForEach(func(k, _ []byte) error {
		agent, schedule, ok := bytes.Cut(k, []byte{0})
		if ok && match(string(agent), string(schedule)) {
			doomed = append(doomed, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Deleted after the walk: a bucket must not change under ForEach.
	for _, k := range doomed {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// SetAgentDown records that an agent was declared down at at, or, with a
// zero at, that it is up again.
func (db *DB) SetAgentDown(agent string, at time.Time) error {
	if err := checkAgent("set agent down", agent); err != nil {
		return err
	}
	err := db.batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDown)
		if at.IsZero() {
			return b.Delete([]byte(agent))
		}
		return b.Put([]byte(agent), timeKey(at))
	})
	if err != nil {
		return fmt.Errorf("set agent down %s: %w", agent, err)
	}
	return nil
}

// AgentsDown returns the agents declared down, with the time each was.
func (db *DB) AgentsDown() (map[string]time.Time, error) {
	down := map[string]time.Time{}
	err := db.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDown).ForEach(func(k, v []byte) error {
			down[string(k)] = keyTime(v)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("agents down: %w", err)
	}
	return down, nil
}
