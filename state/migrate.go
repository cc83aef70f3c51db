package state

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// migrations[v] brings a file of schema version v to version v+1, in the
// transaction of Open that then records the new version: a migration that
// fails leaves the file as it was.
var migrations = map[uint64]func(tx *bolt.Tx) error{
	// Version 2 keeps a schedule's results apart from the other results
	// of its check (seriesName). A version 1 bucket of results is named
	// by its check, which holds no NUL (validName): it is already the
	// version 2 bucket of that check's results without a schedule, which
	// is what its results are (they never named one). Nothing to rewrite;
	// the version says that a program reading the file must know buckets
	// named check NUL schedule.
	1: func(*bolt.Tx) error { return nil },
	// Version 3 writes results first to the log bucket, from which the
	// compactor moves them into their series; a file may be closed with
	// results still in the log. Nothing to rewrite (the log bucket is
	// made on open); the version keeps a program that knows only the
	// series from opening a file whose newest results it would not see.
	2: func(*bolt.Tx) error { return nil },
}

// migrateTx brings a file of version from to schemaVersion.
func migrateTx(tx *bolt.Tx, from uint64) error {
	if from == schemaVersion {
		return nil
	}
	for v := from; v < schemaVersion; v++ {
		m, ok := migrations[v]
		if !ok {
			return fmt.Errorf("%w: no migration from version %d", ErrSchema, v)
		}
		if err := m(tx); err != nil {
			return fmt.Errorf("migrate from schema version %d: %w", v, err)
		}
	}
	return tx.Bucket(bucketMeta).Put(keySchema, binary.BigEndian.AppendUint64(nil, schemaVersion))
}
