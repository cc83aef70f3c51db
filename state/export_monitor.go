package state

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// MonitorExport is the whole of what the store keeps of the monitor, as
// another store imports it (helen migrate): what the Store interface
// cannot give or take back whole (the keys of notifications, which their
// ids are made of, the silences' ids, the times schedules were made,
// notifications with their attempts and states). The events, which no
// count bounds, are ExportEvents'.
type MonitorExport struct {
	Schedules []Schedule // by name
	Statuses  []Status   // by agent, then schedule
	Down      map[string]time.Time
	Routes    []Route   // by name
	Silences  []Silence // by id
	Acks      []Ack     // by agent, then schedule
	// Notifications, oldest first, every state.
	Notifications []KeyedNotification
	// EventSeq and NotificationSeq are the last sequence numbers the keys
	// of events and of notifications took: the next ones are past them.
	EventSeq, NotificationSeq uint64
}

// KeyedEvent is an event and its place in the list of events.
type KeyedEvent struct {
	Key   ListKey
	Event Event
}

// KeyedNotification is a notification and its place in the outbox.
type KeyedNotification struct {
	Key          ListKey
	Notification Notification
}

func listKeyOf(k []byte) ListKey {
	return ListKey{Nanos: keyNanos(k), Seq: binary.BigEndian.Uint32(k[8:])}
}

// ExportMonitor returns the MonitorExport of the store, read in one
// transaction.
func (db *DB) ExportMonitor() (MonitorExport, error) {
	x := MonitorExport{Down: map[string]time.Time{}}
	err := db.view(func(tx *bolt.Tx) error {
		docs := func(bucket []byte, decode func(k, v []byte) error) error {
			return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
				if err := decode(k, v); err != nil {
					return fmt.Errorf("%s %q: %w", bucket, bytes.ReplaceAll(k, []byte{0}, []byte{' '}), err)
				}
				return nil
			})
		}
		// Records made before a field was are read with its default, as
		// the store's reads give them.
		err := docs(bucketSchedules, func(_, v []byte) error {
			s, err := decodeSchedule(v)
			x.Schedules = append(x.Schedules, s)
			return err
		})
		if err == nil {
			err = docs(bucketStatus, func(_, v []byte) error {
				var st Status
				err := json.Unmarshal(v, &st)
				x.Statuses = append(x.Statuses, st.withDefaults())
				return err
			})
		}
		if err == nil {
			err = docs(bucketDown, func(k, v []byte) error {
				x.Down[string(k)] = keyTime(v).UTC()
				return nil
			})
		}
		if err == nil {
			err = docs(bucketRoutes, func(_, v []byte) error {
				x.Routes = append(x.Routes, Route{})
				return json.Unmarshal(v, &x.Routes[len(x.Routes)-1])
			})
		}
		if err == nil {
			err = docs(bucketSilences, func(_, v []byte) error {
				x.Silences = append(x.Silences, Silence{})
				return json.Unmarshal(v, &x.Silences[len(x.Silences)-1])
			})
		}
		if err == nil {
			err = docs(bucketAcks, func(_, v []byte) error {
				x.Acks = append(x.Acks, Ack{})
				return json.Unmarshal(v, &x.Acks[len(x.Acks)-1])
			})
		}
		if err == nil {
			err = docs(bucketOutbox, func(k, v []byte) error {
				if len(k) != resultKeyLen {
					return fmt.Errorf("key of %d bytes", len(k))
				}
				x.Notifications = append(x.Notifications, KeyedNotification{Key: listKeyOf(k)})
				n := &x.Notifications[len(x.Notifications)-1].Notification
				if err := json.Unmarshal(v, n); err != nil {
					return err
				}
				n.ID = notificationID(k)
				return nil
			})
		}
		x.EventSeq, x.NotificationSeq = tx.Bucket(bucketEvents).Sequence(), tx.Bucket(bucketOutbox).Sequence()
		return err
	})
	if err != nil {
		return MonitorExport{}, fmt.Errorf("export: %w", err)
	}
	return x, nil
}

// ExportEvents calls each with the events, oldest first, batch of them at
// most a call (batch > 0), read in one transaction: with their keys,
// which their cursors are made of.
func (db *DB) ExportEvents(batch int, each func([]KeyedEvent) error) error {
	err := db.view(func(tx *bolt.Tx) error {
		evs := make([]KeyedEvent, 0, batch)
		err := tx.Bucket(bucketEvents).ForEach(func(k, v []byte) error {
			if len(k) != resultKeyLen {
				return fmt.Errorf("event key %x", k)
			}
			evs = append(evs, KeyedEvent{Key: listKeyOf(k)})
			if err := json.Unmarshal(v, &evs[len(evs)-1].Event); err != nil {
				return fmt.Errorf("event %x: %w", k, err)
			}
			if len(evs) < batch {
				return nil
			}
			err := each(evs)
			evs = evs[:0]
			return err
		})
		if err != nil || len(evs) == 0 {
			return err
		}
		return each(evs)
	})
	if err != nil {
		return fmt.Errorf("export events: %w", err)
	}
	return nil
}
