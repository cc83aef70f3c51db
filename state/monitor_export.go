package state

import (
	"fmt"
)

// What another implementation of Store (the PostgreSQL one) checks and
// makes of the monitor's records as this one does, so that the two
// cannot drift: CheckSchedule, CheckStatus, CheckEvent, CheckSilence,
// CheckAck and these.

// CheckRoute returns an error wrapping ErrInvalid that says what is wrong
// with r as a route to store, or nil.
func CheckRoute(r Route) error {
	if err := r.validate(); err != nil {
		return fmt.Errorf("put route %q: %w", r.Name, err)
	}
	return nil
}

// NewNotifications checks the notifications of en and returns them as
// AddEventsWithNotifications stores them, pending, but for their ids and
// their event's cursor.
func NewNotifications(en EventNotifications) ([]Notification, error) {
	return newNotifications(en)
}

// Check returns an error wrapping ErrInvalid that says what is wrong with
// r as a record of RecordAttempt(s), or nil.
func (r AttemptRecord) Check() error {
	_, err := r.check()
	return err
}

// CapAttempt returns a with its answer and error cut to MaxAnswer bytes,
// as RecordAttempt keeps them.
func CapAttempt(a Attempt) Attempt {
	a.Answer = capText(a.Answer, MaxAnswer, "")
	a.Error = capText(a.Error, MaxAnswer, "")
	return a
}

// Key is the place of an event or a notification in its list: the Unix
// nanoseconds of its time, then a sequence number. Events' cursors and
// notifications' ids are made of it.
type Key struct {
	Nanos int64
	Seq   uint32
}

// Cursor returns the cursor of EventsPage and NotificationQuery for the
// item at k.
func (k Key) Cursor() string { return encodeCursor(resultKey(k.Nanos, k.Seq), "") }

// NotificationID returns the id of the notification at k.
func (k Key) NotificationID() string { return notificationID(resultKey(k.Nanos, k.Seq)) }

// ParseCursor returns the key of an event's or notification's cursor, an
// error wrapping ErrInvalid for one no list gave; "" is the zero Key and
// false.
func ParseCursor(c string) (Key, bool, error) {
	k, series, err := decodeCursor(c)
	switch {
	case err != nil:
		return Key{}, false, err
	case k == nil:
		return Key{}, false, nil
	case series != "":
		return Key{}, false, fmt.Errorf("%w: cursor %q", ErrInvalid, c)
	}
	return Key{keyNanos(k), uint32(k[8])<<24 | uint32(k[9])<<16 | uint32(k[10])<<8 | uint32(k[11])}, true, nil
}

// ParseNotificationID returns the key of a notification's id, or an error
// wrapping ErrInvalid.
func ParseNotificationID(id string) (Key, error) {
	k, err := notificationKey(id)
	if err != nil {
		return Key{}, err
	}
	return Key{keyNanos(k), uint32(k[8])<<24 | uint32(k[9])<<16 | uint32(k[10])<<8 | uint32(k[11])}, nil
}
