package state

import "time"

// FlushGraphs writes the graphs' points held in memory, as the flush
// every RollupFlushInterval does: the store suite's storetest.Flusher.
func (db *DB) FlushGraphs(now time.Time) error { return db.flushRollups(now) }
