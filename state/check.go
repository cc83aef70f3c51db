package state

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// CheckReport says how the consistency check of Open went.
type CheckReport struct {
	// Skipped reports whether no check ran (Options.CheckTimeout < 0).
	Skipped bool
	// Finished reports whether every part was checked within
	// Options.CheckTimeout. A check that ran out of time found nothing
	// wrong in the parts it checked, and says nothing of the others.
	Finished bool
	// Parts is how many parts the file was checked in, Checked how many
	// of them were.
	Parts, Checked int
	// Took is how long the check took.
	Took time.Duration
	// Timeout is the time it had.
	Timeout time.Duration
}

// maxProblems is how many of the problems a check finds its error lists.
const maxProblems = 5

// DefaultCheckWhole is the largest file the check of Open checks in one
// part (Options.CheckWhole): bbolt checks 256 MiB of pages in well under
// the check's default minute.
const DefaultCheckWhole = 256 << 20

// bbolt's check cannot be stopped once started, and must not run beside a
// writer. A file of at most Options.CheckWhole bytes is checked whole, in
// one part; a larger one, to be bounded in time, is checked in parts, each with
// bolt's own Tx.Check from the part's root page, and the deadline is
// looked at between parts: a check takes at most its timeout plus one
// part. A part is a top-level bucket, or for the results (most of the
// file) the bucket of one agent, whose size HistoryMaxPerCheck bounds.
// What the parts leave out is what ties them together (the pages of the
// root and results buckets themselves, a page reachable from two parts,
// a page reachable from none); reading those pages fails loudly anyway, at
// the transaction boundary. Each part is read whole (readPart) before
// bbolt checks it.

// checkPart is one part of the file to check: a bucket and its root page,
// or (bucket nil) the whole file.
type checkPart struct {
	name   string
	bucket *bolt.Bucket
	root   uint64
}

// checkFile runs the consistency check, before any writer uses the file.
// It returns an error wrapping ErrCorrupt when the check finds a problem.
func (db *DB) checkFile() (rep CheckReport, err error) {
	rep.Timeout = db.opt.CheckTimeout
	if db.opt.CheckTimeout < 0 {
		rep.Skipped = true
		return rep, nil
	}
	start := db.opt.now()
	deadline := start.Add(db.opt.CheckTimeout)
	var problems []string
	total := 0
	note := func(part string, err error) {
		total++
		if len(problems) < maxProblems {
			// A page the check could not read it reports as a
			// recovered panic.
			problems = append(problems, part+": "+strings.TrimPrefix(err.Error(), "panic: "))
		}
	}
	err = db.view(func(tx *bolt.Tx) error {
		if db.opt.CheckWhole >= 0 && tx.Size() <= db.opt.CheckWhole {
			rep.Parts, rep.Checked = 1, 1
			if err := readFile(tx); err != nil {
				note("the file", err)
				return nil
			}
			for err := range tx.Check() {
				note("the file", err)
			}
			return nil
		}
		parts := checkParts(tx)
		rep.Parts = len(parts)
		for _, p := range parts {
			if !db.opt.now().Before(deadline) {
				return nil
			}
			rep.Checked++
			if err := readPart(p.bucket); err != nil {
				note(p.name, err)
				continue
			}
			for err := range tx.Check(bolt.WithPageId(p.root)) {
				note(p.name, err)
			}
		}
		return nil
	})
	rep.Took = db.opt.now().Sub(start)
	rep.Finished = rep.Checked == rep.Parts
	if err != nil {
		return rep, err
	}
	if total > 0 {
		more := ""
		if total > len(problems) {
			more = fmt.Sprintf(" (and %d more)", total-len(problems))
		}
		return rep, corruptError(db.path, "the consistency check failed: "+strings.Join(problems, "; ")+more)
	}
	return rep, nil
}

// checkSize refuses a file shorter than the database its meta page
// describes (cut short by a copy or a full disk): reading its missing pages
// would fault.
func checkSize(tx *bolt.Tx) error {
	fi, err := os.Stat(tx.DB().Path())
	if err != nil {
		return err
	}
	if fi.Size() < tx.Size() {
		return corruptError(tx.DB().Path(), fmt.Sprintf("the file has %d bytes where its database has %d: it was cut short", fi.Size(), tx.Size()))
	}
	return nil
}

// checkParts lists the parts to check, the small buckets first, as they
// come, then the agents' results.
func checkParts(tx *bolt.Tx) []checkPart {
	var parts, results []checkPart
	add := func(list *[]checkPart, name string, b *bolt.Bucket) {
		// An inline bucket (root 0) lives in its parent's page, and
		// holds no bucket.
		if root := uint64(b.RootPage()); root != 0 {
			*list = append(*list, checkPart{name, b, root})
		}
	}
	_ = tx.ForEach(func(name []byte, b *bolt.Bucket) error {
		if string(name) != string(bucketResults) {
			add(&parts, string(name), b)
			return nil
		}
		return b.ForEachBucket(func(agent []byte) error {
			add(&results, string(name)+"/"+string(agent), b.Bucket(agent))
			return nil
		})
	})
	return append(parts, results...)
}

// readPart reads every page of a bucket and of the buckets in it, and the
// first and last byte of every key, on the goroutine of the transaction,
// where a page out of the mapping is a panic (see view), recovered here.
// bbolt's check runs on a goroutine of its own, where such a fault would
// end the process: it is given only parts read whole before. (The keys of
// branch pages, which a cursor does not read, stay its own risk.)
func readPart(b *bolt.Bucket) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errors.New(panicDetail(r))
		}
	}()
	readBucket(b)
	return nil
}

// readFile reads every bucket of tx as readPart does.
func readFile(tx *bolt.Tx) error {
	return tx.ForEach(func(_ []byte, b *bolt.Bucket) error { return readPart(b) })
}

// readBucket returns a byte of no meaning, so that its reads are not
// optimized away.
func readBucket(b *bolt.Bucket) byte {
	var x byte
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) > 0 {
			// The mapping is contiguous: if both ends of a key are
			// in it, so is all of it.
			x ^= k[0] ^ k[len(k)-1]
		}
		if v == nil {
			if nested := b.Bucket(k); nested != nil {
				x ^= readBucket(nested)
			}
		}
	}
	return x
}
