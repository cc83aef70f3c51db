package state

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// view, update and batch are the store's transaction boundary: every
// transaction the package makes goes through one of them. bbolt trusts the
// file it maps: a damaged page makes it panic (an assertion, an index out
// of range) or read past the end of the mapping (a fault, which
// SetPanicOnFault turns into a panic, as its documentation suggests for
// memory-mapped files). Here such a panic becomes an error wrapping
// ErrCorrupt that names the file, so a caller reports it instead of the
// process dying with a stack trace, or a handler's recover hiding it.
// bbolt rolls the transaction back on the way out (its own deferred
// rollback runs first), so the database stays usable for what is not
// damaged.

func (db *DB) view(fn func(*bolt.Tx) error) (err error) {
	defer db.recoverCorrupt(&err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	return db.bolt.View(fn)
}

func (db *DB) update(fn func(*bolt.Tx) error) (err error) {
	defer db.recoverCorrupt(&err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	return db.bolt.Update(fn)
}

// batch is bolt's Batch with fn guarded where it runs, on the goroutine
// that commits the batch: a panic of fn there fails fn alone, which bolt
// then runs again on its own in the caller's goroutine (guarded again),
// and the caller gets the error. A panic in the commit of a batch itself
// happens on bolt's goroutine, out of reach.
func (db *DB) batch(fn func(*bolt.Tx) error) (err error) {
	defer db.recoverCorrupt(&err)
	err = db.bolt.Batch(func(tx *bolt.Tx) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = corruptError(db.path, panicDetail(r))
			}
		}()
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
		return fn(tx)
	})
	if errors.Is(err, ErrCorrupt) {
		db.reportCorrupt(err)
	}
	return err
}

// recoverCorrupt, deferred, turns a panic into an error wrapping ErrCorrupt.
func (db *DB) recoverCorrupt(err *error) {
	if r := recover(); r != nil {
		*err = corruptError(db.path, panicDetail(r))
		db.reportCorrupt(*err)
	}
}

func (db *DB) reportCorrupt(err error) {
	if db.opt.OnCorrupt != nil {
		db.opt.OnCorrupt(err)
	}
}

// corruptError is the error of a damaged file.
func corruptError(path, detail string) error {
	return fmt.Errorf("%w: %s: %s; restore the file from a backup", ErrCorrupt, path, detail)
}

// panicDetail describes a recovered panic and the function it happened in,
// so that a bug in this package (rather than a damaged page) can still be
// told apart. Called from a deferred function, the panicking frames are
// still on the stack.
func panicDetail(r any) string {
	pcs := make([]uintptr, 32)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(3, pcs)])
	for {
		f, more := frames.Next()
		// Past the runtime and bbolt's assertion helper, to where it failed.
		if f.Function != "" && !strings.HasPrefix(f.Function, "runtime.") && !strings.HasSuffix(f.Function, "common.Assert") {
			return fmt.Sprintf("%v (in %s)", r, f.Function)
		}
		if !more {
			return fmt.Sprint(r)
		}
	}
}
