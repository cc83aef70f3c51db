package state

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Forget removes what helen keeps of an agent's present, so that it no
// longer shows among the agents or the statuses: the status of every
// schedule on it and its mark as down, in one transaction with the
// events evs (the forgetting's). Its history stays, to be pruned in
// time, and so do a revocation (it is still refused) and its record,
// hidden (Forgotten), which keeps its name taken and its certificate
// pinned: a token made for no agent in particular cannot enroll the name,
// and a certificate that a later one replaced stays refused. An agent
// that connects again, or is given a certificate again, is remembered.
//
// Forget returns ErrNotFound when there is nothing to forget: the agent is
// unknown or forgotten already. It does not look at whether the agent is
// connected: helen does, where it knows.
func (db *DB) Forget(name string, at time.Time, evs ...Event) error {
	if err := checkAgent("forget", name); err != nil {
		return err
	}
	vals, err := encodeEvents(evs)
	if err != nil {
		return fmt.Errorf("forget %s: %w", name, err)
	}
	err = db.update(func(tx *bolt.Tx) error {
		rec, err := getAgentTx(tx, name)
		listed := err == nil && rec.Forgotten.IsZero()
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		// The statuses of the agent's schedules, found by their keys'
		// prefix; deleted after the walk, as a bucket must not change
		// under a cursor's feet.
		prefix := latestKey(name, "")
		var statuses [][]byte
		c := tx.Bucket(bucketStatus).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			statuses = append(statuses, bytes.Clone(k))
		}
		down := tx.Bucket(bucketDown)
		if !listed && len(statuses) == 0 && down.Get([]byte(name)) == nil {
			return ErrNotFound
		}
		for _, k := range statuses {
			if err := tx.Bucket(bucketStatus).Delete(k); err != nil {
				return err
			}
		}
		if err := down.Delete([]byte(name)); err != nil {
			return err
		}
		if err := db.deleteRollupsTx(tx, func(agent, _ string) bool { return agent == name }); err != nil {
			return err
		}
		if listed {
			setConnected(&rec, false, at)
			rec.Forgotten = at
			if err := putAgentTx(tx, name, rec); err != nil {
				return err
			}
		}
		_, err = putEventsTx(tx, evs, vals)
		return err
	})
	if err != nil {
		return fmt.Errorf("forget %s: %w", name, err)
	}
	return nil
}
