package state

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The outbox: every notification is written in the transaction of the
// event that causes it, so that no crash can leave an event without its
// notifications or a notification without its event, and delivery
// workers take them from there. A notification is for one receiver of one
// route, about one schedule on one agent (or the agent itself); those of
// one such group are delivered in the order they were made, one at a time,
// so that a receiver that was down sees a problem before its recovery.
//
// Buckets (buckets.go):
//
//	outbox        key  -> the JSON of Notification, every state
//	outbox-open   key  -> group: those not delivered nor expired, oldest first
//	outbox-queue  group key -> nil: the same by group, oldest first
//	outbox-due    next key -> group: the head of each group, by its next attempt
//	outbox-count  state -> how many there are in it (8 big-endian bytes)
//
// key is resultKey(created, sequence); group is outboxGroup(agent,
// schedule, route, receiver); next is the time of the next attempt, 8
// big-endian bytes of Unix nanoseconds. outbox-due holds exactly the
// oldest open notification of each group, so NextDue reads only what is
// due.

// Bounds of the outbox.
const (
	// MaxNotificationDoc is the most bytes of a notification's document:
	// it is made from an event whose fields are capped (Cap), so a bigger
	// one is a bug, refused with ErrInvalid.
	MaxNotificationDoc = 64 << 10
	// MaxAttemptsKept is how many attempts a notification keeps, the last
	// ones; AttemptCount counts them all.
	MaxAttemptsKept = 10
	// MaxAnswer is the most bytes kept of a receiver's answer and of an
	// attempt's error, each.
	MaxAnswer = 1 << 10
	// MaxNotificationsKept is the default of Options.NotificationsKept,
	// the most delivered and expired notifications kept: Prune drops the oldest beyond, and any older
	// than HistoryMaxAge. Those not delivered are never dropped: Expire
	// records them expired once past their age.
	MaxNotificationsKept = 100_000
)

// NotificationState is where a notification is in its delivery.
type NotificationState string

const (
	NotifyPending   NotificationState = "pending"   // not tried yet
	NotifyRetrying  NotificationState = "retrying"  // tried, failed, to be tried again
	NotifyDelivered NotificationState = "delivered" // a receiver took it
	NotifyExpired   NotificationState = "expired"   // not delivered within its age (Expire)
)

// Open reports whether a notification in state s is still to be delivered.
func (s NotificationState) Open() bool { return s == NotifyPending || s == NotifyRetrying }

// Attempt is one try at delivering a notification.
type Attempt struct {
	Time   time.Time `json:"time"`
	Answer string    `json:"answer,omitempty"` // what the receiver said, at most MaxAnswer bytes
	Error  string    `json:"error,omitempty"`  // why it failed, at most MaxAnswer bytes
}

// Notification is one delivery to one receiver of one route, as the outbox
// keeps it.
type Notification struct {
	// ID names the notification, and its delivery to a receiver (the
	// idempotency key): 24 hexadecimal digits.
	ID string `json:"id"`
	// Event is the cursor of the event that caused it (EventsPage), ""
	// for a notification of no event.
	Event    string          `json:"event,omitempty"`
	Agent    string          `json:"agent"`
	Schedule string          `json:"schedule,omitempty"` // "" for one about the agent itself
	Route    string          `json:"route"`
	Receiver int             `json:"receiver"` // the index of the receiver in the route's list
	Doc      json.RawMessage `json:"doc"`      // the notification's document, as the route's engine made it
	Created  time.Time       `json:"created"`

	State        NotificationState `json:"state"`
	NextAt       time.Time         `json:"next_at"`            // the next attempt's time, while open
	Attempts     []Attempt         `json:"attempts,omitempty"` // the last MaxAttemptsKept
	AttemptCount int               `json:"attempt_count"`
	Ended        time.Time         `json:"ended,omitzero"` // delivered or expired at
}

// LastError returns the error of the last attempt, "" for none.
func (n Notification) LastError() string {
	if len(n.Attempts) == 0 {
		return ""
	}
	return n.Attempts[len(n.Attempts)-1].Error
}

// Outgoing is a notification to store with an event.
type Outgoing struct {
	Route    string
	Receiver int
	Doc      json.RawMessage
	// Agent and Schedule default to the event's; Created to its time. A
	// notification of no event must have Agent and Created.
	Agent, Schedule string
	Created         time.Time
}

// EventNotifications is an event and the notifications it causes, stored
// together. An Event with no Agent is no event: its notifications are
// stored alone (an acknowledgement's, say).
type EventNotifications struct {
	Event  Event
	Notify []Outgoing
}

// Outcome is what an attempt at a delivery came to.
type Outcome int

const (
	// Delivered: the receiver took it.
	Delivered Outcome = iota + 1
	// Retry: it failed; try again at the time given.
	Retry
	// GiveUp: it failed as any retry would (the receiver refused it): it
	// ends expired at the attempt's time, its error kept with the
	// attempt, and the next of its group takes its place.
	GiveUp
)

// outboxGroup is the key of the group of a notification: agent NUL
// schedule NUL route NUL receiver (4 big-endian bytes). Names hold no NUL
// and the receiver's width is fixed, so no group's key is a prefix of
// another's queue keys.
func outboxGroup(agent, schedule, route string, receiver int) []byte {
	k := make([]byte, 0, len(agent)+len(schedule)+len(route)+7)
	k = append(append(append(k, agent...), 0), schedule...)
	k = append(append(append(k, 0), route...), 0)
	return binary.BigEndian.AppendUint32(k, uint32(receiver))
}

func notificationID(key []byte) string { return hex.EncodeToString(key) }

func notificationKey(id string) ([]byte, error) {
	k, err := hex.DecodeString(id)
	if err != nil || len(k) != resultKeyLen {
		return nil, fmt.Errorf("%w: notification id %q", ErrInvalid, id)
	}
	return k, nil
}

func dueKey(next time.Time, key []byte) []byte {
	return append(binary.BigEndian.AppendUint64(nil, uint64(next.UnixNano())), key...)
}

// claims are the groups whose head NextDue gave to a worker, until it
// records an attempt or releases it. They are the process's own: after a
// restart nothing is in flight.
type claims struct {
	mu      sync.Mutex
	byGroup map[string]string // the id given out, by group
	byID    map[string]string // the group, by id given out
}

// AddEventsWithNotifications stores events and their notifications in
// one transaction: either all of them are stored or none. Concurrent
// callers share a transaction.
func (db *DB) AddEventsWithNotifications(ens ...EventNotifications) error {
	var evs []Event
	for _, en := range ens {
		if en.Event.Agent != "" {
			evs = append(evs, en.Event)
		}
	}
	vals, err := encodeEvents(evs)
	if err != nil {
		return err
	}
	outs := make([][]Notification, len(ens))
	for i, en := range ens {
		if outs[i], err = newNotifications(en); err != nil {
			return fmt.Errorf("add notifications: %w", err)
		}
	}
	// Should Batch run this twice, the first run's transaction was rolled
	// back, sequence numbers included, so nothing is written twice.
	err = db.batch(func(tx *bolt.Tx) error {
		evKeys, err := putEventsTx(tx, evs, vals)
		if err != nil {
			return err
		}
		for i, en := range ens {
			ref := ""
			if en.Event.Agent != "" {
				ref, evKeys = encodeCursor(evKeys[0], ""), evKeys[1:]
			}
			for _, n := range outs[i] {
				n.Event = ref
				if err := putNotificationTx(tx, n); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("add events with notifications: %w", err)
	}
	return nil
}

// newNotifications checks the notifications of en and returns them as
// they are stored, but for their keys and their event's.
func newNotifications(en EventNotifications) ([]Notification, error) {
	out := make([]Notification, len(en.Notify))
	for i, o := range en.Notify {
		n := Notification{
			Agent: o.Agent, Schedule: o.Schedule, Route: o.Route, Receiver: o.Receiver,
			Doc: o.Doc, Created: o.Created, State: NotifyPending,
		}
		if n.Agent == "" {
			n.Agent, n.Schedule = en.Event.Agent, en.Event.Schedule
		}
		if n.Created.IsZero() {
			n.Created = en.Event.Time
		}
		n.NextAt = n.Created
		switch {
		case checkAgent("notification", n.Agent) != nil:
			return nil, fmt.Errorf("%w: agent %q", ErrInvalid, n.Agent)
		case n.Schedule != "" && !validName(n.Schedule):
			return nil, fmt.Errorf("%w: schedule %q", ErrInvalid, n.Schedule)
		case !validName(n.Route):
			return nil, fmt.Errorf("%w: route %q", ErrInvalid, n.Route)
		case n.Receiver < 0 || n.Receiver >= MaxReceivers:
			return nil, fmt.Errorf("%w: receiver %d", ErrInvalid, n.Receiver)
		case len(n.Doc) > MaxNotificationDoc:
			return nil, fmt.Errorf("%w: document of %d bytes, at most %d", ErrInvalid, len(n.Doc), MaxNotificationDoc)
		case !json.Valid(n.Doc):
			return nil, fmt.Errorf("%w: document is not JSON", ErrInvalid)
		case n.Created.Before(time.Unix(0, 0)):
			return nil, fmt.Errorf("%w: created %v", ErrInvalid, n.Created)
		}
		out[i] = n
	}
	return out, nil
}

// putNotificationTx writes a new notification and queues it.
func putNotificationTx(tx *bolt.Tx, n Notification) error {
	b := tx.Bucket(bucketOutbox)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	key := resultKey(n.Created.UnixNano(), uint32(seq))
	n.ID = notificationID(key)
	group := outboxGroup(n.Agent, n.Schedule, n.Route, n.Receiver)
	if err := putRecordTx(b, key, n); err != nil {
		return err
	}
	if err := tx.Bucket(bucketOutboxOpen).Put(key, group); err != nil {
		return err
	}
	q := tx.Bucket(bucketOutboxQueue)
	// The group's head before this one, whose place it may take (if
	// it was made earlier, as an event of an earlier time can come late).
	old, _ := headTx(q, group)
	if err := q.Put(append(bytes.Clone(group), key...), nil); err != nil {
		return err
	}
	if old != nil && bytes.Compare(old, key) < 0 {
		return countTx(tx, NotifyPending, 1)
	}
	if old != nil {
		prev, err := getNotificationTx(b, old)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketOutboxDue).Delete(dueKey(prev.NextAt, old)); err != nil {
			return err
		}
	}
	if err := tx.Bucket(bucketOutboxDue).Put(dueKey(n.NextAt, key), group); err != nil {
		return err
	}
	return countTx(tx, NotifyPending, 1)
}

// headTx returns the key of the oldest open notification of group, nil
// for none.
func headTx(q *bolt.Bucket, group []byte) ([]byte, error) {
	k, _ := q.Cursor().Seek(group)
	if k == nil || !bytes.HasPrefix(k, group) || len(k) != len(group)+resultKeyLen {
		return nil, nil
	}
	return bytes.Clone(k[len(group):]), nil
}

func putRecordTx(b *bolt.Bucket, key []byte, n Notification) error {
	v, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("encode notification: %w", err)
	}
	return b.Put(key, v)
}

func getNotificationTx(b *bolt.Bucket, key []byte) (Notification, error) {
	v := b.Get(key)
	if v == nil {
		return Notification{}, ErrNotFound
	}
	var n Notification
	if err := json.Unmarshal(v, &n); err != nil {
		return Notification{}, fmt.Errorf("decode notification %x: %w", key, err)
	}
	return n, nil
}

// countTx adds delta to the count of notifications in state s.
func countTx(tx *bolt.Tx, s NotificationState, delta int64) error {
	b := tx.Bucket(bucketOutboxCount)
	var n int64
	if v := b.Get([]byte(s)); len(v) == 8 {
		n = int64(binary.BigEndian.Uint64(v))
	}
	return b.Put([]byte(s), binary.BigEndian.AppendUint64(nil, uint64(max(0, n+delta))))
}

// closeTx takes an open notification out of the queue, its group's next
// one taking its place as the head, and puts it in state s.
func closeTx(tx *bolt.Tx, key []byte, n *Notification, s NotificationState, at time.Time) error {
	group := outboxGroup(n.Agent, n.Schedule, n.Route, n.Receiver)
	if err := tx.Bucket(bucketOutboxOpen).Delete(key); err != nil {
		return err
	}
	q := tx.Bucket(bucketOutboxQueue)
	if err := q.Delete(append(bytes.Clone(group), key...)); err != nil {
		return err
	}
	due := tx.Bucket(bucketOutboxDue)
	// Deleting what is not there does nothing: the head's entry goes,
	// any other had none.
	if err := due.Delete(dueKey(n.NextAt, key)); err != nil {
		return err
	}
	if err := countTx(tx, n.State, -1); err != nil {
		return err
	}
	n.State, n.Ended = s, at
	if next, err := headTx(q, group); err != nil {
		return err
	} else if next != nil {
		nn, err := getNotificationTx(tx.Bucket(bucketOutbox), next)
		if err != nil {
			return err
		}
		if err := due.Put(dueKey(nn.NextAt, next), group); err != nil {
			return err
		}
	}
	return countTx(tx, s, 1)
}
