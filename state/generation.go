package state

// NotifyGeneration returns a number that every write of a route, a
// silence or an acknowledgement changes (by this process, on this store):
// a reader that keeps them in memory reads them again only when it has
// moved, so that a decision costs an atomic load rather than a read of the
// store.
func (db *DB) NotifyGeneration() uint64 { return db.notifyGen.Load() }

// notifyChanged marks a write of routes, silences or acknowledgements.
func (db *DB) notifyChanged() { db.notifyGen.Add(1) }
