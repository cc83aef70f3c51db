// Package state is helen's store: agents, enrollment tokens, revocations and
// check results, kept in one bbolt file in helen's data directory.
//
// Every write of results goes through one background writer that groups the
// results of many concurrent callers into one transaction (group commit), so
// that thousands of agents cost one fsync per batch rather than one per
// result. The writer commits at once what it has, and what comes in while a
// commit runs goes into the next: a result that finds the writer idle is
// written at once, and under load batches grow with the load. AddResult returns only once its result is committed: a
// result acknowledged to anyone is on disk.
//
// Results live in nested buckets results/<agent>/<check>, keyed by the
// result's time as 8 big-endian bytes of Unix nanoseconds followed by a 4-byte
// sequence, so byte order is time order and a cursor reads history in order.
// The latest result of each check, with the time its status last changed and
// the number of results kept, is in the latest bucket under agent\x00check.
//
// Store is the interface helen is written against, so that a distributed
// backend can take the place of *DB when one machine is no longer enough.
package state
