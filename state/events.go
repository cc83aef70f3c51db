package state

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/equus-monitoring/equus/agentname"
)

// Event is a change: of the status of a schedule on an agent (From and To
// are statuses, From "" for a first result), or of an agent itself
// (Schedule "", From and To among "up", "down", "revoked" and "forgotten").
//
// A schedule's event is a result that changed its status (soft or hard),
// confirmed a problem (From and To the same, HardChange), or began or
// ended its flapping (Flap). What it asks to be told is Decisions.
type Event struct {
	Time     time.Time `json:"time"`
	Agent    string    `json:"agent"`
	Schedule string    `json:"schedule,omitempty"`
	Check    string    `json:"check,omitempty"`
	From     string    `json:"from"`
	To       string    `json:"to"`
	Message  string    `json:"message"`

	// StateType, Attempt and MaxAttempts are the status's after the
	// result (Status).
	StateType   string `json:"state_type,omitempty"`
	Attempt     int    `json:"attempt,omitempty"`
	MaxAttempts int    `json:"max_attempts,omitempty"`
	// HardChange reports whether the result changed the confirmed status,
	// from HardFrom to To.
	HardChange bool   `json:"hard_change,omitempty"`
	HardFrom   string `json:"hard_from,omitempty"`
	// Flapping reports whether the schedule flaps on the agent after the
	// result, FlapPercent by how much; Flap is FlapStarted or FlapEnded
	// when the result began or ended that.
	Flapping    bool    `json:"flapping,omitempty"`
	FlapPercent float64 `json:"flap_percent,omitempty"`
	Flap        string  `json:"flap,omitempty"`

	// Session is a shell session's, for its start and end (To
	// EventSessionStarted or EventSessionEnded).
	Session *Session `json:"session,omitempty"`
}

// The To of an agent's event that is a shell session's start or end.
const (
	EventSessionStarted = "session-started"
	EventSessionEnded   = "session-ended"
)

// Session is what an event says of a shell session: who opened it on the
// agent, as which user, to run what, and at its end for how long and how
// it ended.
type Session struct {
	ID      string   `json:"id"`
	Who     string   `json:"who"`
	User    string   `json:"user,omitempty"`    // "" is the agent's own
	Command []string `json:"command,omitempty"` // none is the user's login shell
	// Duration, ExitStatus, Signal and Error are the end's: the exit
	// status when the command exited, the signal that killed it, or
	// what ended the session otherwise.
	Duration   time.Duration `json:"duration,omitempty"`
	ExitStatus *int          `json:"exit_status,omitempty"`
	Signal     string        `json:"signal,omitempty"`
	Error      string        `json:"error,omitempty"`
}

// The values of Event.Flap.
const (
	FlapStarted = "started"
	FlapEnded   = "ended"
)

// The decisions of an event (Decisions).
const (
	// DecisionHardChange: the confirmed status changed, From HardFrom to
	// To (ok: a recovery), and the schedule does not flap.
	DecisionHardChange = "hard_change"
	// DecisionFlappingStart: the schedule began to flap on the agent; the
	// hard changes that follow until DecisionFlappingEnd notify no one.
	DecisionFlappingStart = "flapping_start"
	// DecisionFlappingEnd: it stopped flapping; To is its status now, and
	// the event's HardChange whether this same result changed it.
	DecisionFlappingEnd = "flapping_end"
)

// Decisions returns what ev asks to be told, in order: none for a soft
// change or a hard change while flapping, one for a hard change or the
// start or end of flapping, and at most two, the end of flapping then a
// hard change, when the result that ended flapping also confirmed a
// problem.
func (ev Event) Decisions() []string {
	var out []string
	switch ev.Flap {
	case FlapStarted:
		out = append(out, DecisionFlappingStart)
	case FlapEnded:
		out = append(out, DecisionFlappingEnd)
	}
	if ev.HardChange && !ev.Flapping {
		out = append(out, DecisionHardChange)
	}
	return out
}

// AddEvents appends events, with messages capped (Cap). Their keys are their times then a sequence
// number, so that byte order is time order and events of the same instant
// are all kept. Concurrent callers share a transaction.
func (db *DB) AddEvents(evs ...Event) error {
	vals, err := encodeEvents(evs)
	if err != nil {
		return err
	}
	// Should Batch run this twice, the first run's transaction was rolled
	// back, sequence numbers included, so nothing is written twice.
	err = db.batch(func(tx *bolt.Tx) error {
		_, err := putEventsTx(tx, evs, vals)
		return err
	})
	if err != nil {
		return fmt.Errorf("add events: %w", err)
	}
	return nil
}

// CheckEvent returns ev as AddEvents stores it, its message capped (Cap),
// or an error wrapping ErrInvalid that says what is wrong with it.
func CheckEvent(ev Event) (Event, error) {
	if !agentname.Valid(ev.Agent) {
		return Event{}, fmt.Errorf("add event: %w: agent %q", ErrInvalid, ev.Agent)
	}
	if ev.Time.Before(time.Unix(0, 0)) {
		return Event{}, fmt.Errorf("add event: %w: time %v", ErrInvalid, ev.Time)
	}
	ev.Message, _ = Cap(ev.Message, nil)
	return ev, nil
}

// encodeEvents checks events and returns their stored forms, capped.
func encodeEvents(evs []Event) ([][]byte, error) {
	vals := make([][]byte, len(evs))
	for i, ev := range evs {
		ev, err := CheckEvent(ev)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(ev)
		if err != nil {
			return nil, fmt.Errorf("add event: %w: %w", ErrInvalid, err)
		}
		vals[i] = v
	}
	return vals, nil
}

// putEventsTx writes events in the stored forms of encodeEvents and
// returns their keys.
func putEventsTx(tx *bolt.Tx, evs []Event, vals [][]byte) ([][]byte, error) {
	b := tx.Bucket(bucketEvents)
	keys := make([][]byte, len(evs))
	for i, ev := range evs {
		seq, err := b.NextSequence()
		if err != nil {
			return nil, err
		}
		keys[i] = resultKey(ev.Time.UnixNano(), uint32(seq))
		if err := b.Put(keys[i], vals[i]); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// Events returns the events with since <= Time < until, oldest first: the
// newest limit of them when limit > 0. A zero since or until is no bound.
func (db *DB) Events(since, until time.Time, limit int) ([]Event, error) {
	evs, _, err := db.EventsPage(Query{Since: since, Until: until, Limit: limit})
	slices.Reverse(evs)
	return evs, err
}

// EventsPage is Events by pages, newest first: the events older than
// q.After, and for each the cursor of the events before it, which the next
// page begins from.
func (db *DB) EventsPage(q Query) ([]Event, []string, error) {
	afterKey, _, err := decodeCursor(q.After)
	if err != nil {
		return nil, nil, fmt.Errorf("events: %w", err)
	}
	var low []byte
	if !q.Since.IsZero() {
		low = boundKey(q.Since)
	}
	var out []Event
	var cursors []string
	err = db.view(func(tx *bolt.Tx) error {
		found := scanBackTx(tx.Bucket(bucketEvents), "", q.Limit, low, below(q.Until, afterKey), nil)
		out = make([]Event, len(found))
		cursors = make([]string, len(found))
		for i, e := range found {
			if err := json.Unmarshal(e.value, &out[i]); err != nil {
				return fmt.Errorf("decode event %x: %w", e.key, err)
			}
			cursors[i] = encodeCursor(e.key, "")
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("events: %w", err)
	}
	return out, cursors, nil
}

// PruneEvents deletes the events older than before and returns how many.
func (db *DB) PruneEvents(before time.Time) (int, error) {
	n := 0
	err := db.update(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEvents).Cursor()
		n = 0
		limit := before.UnixNano()
		for k, _ := c.First(); k != nil && keyNanos(k) < limit; k, _ = c.First() {
			if err := c.Delete(); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	return n, nil
}
