package state

import (
	"os"

	bolt "go.etcd.io/bbolt"
)

// The file's written tail. bolt grows its file by truncating it longer,
// which leaves a hole, and the pages its commits then append land in that
// hole: each commit's fdatasync has the filesystem allocate their blocks
// and journal it, a second flush of metadata in the commit (on ext4 about
// 0.1 ms of a commit's 0.2 ms on an idle disk). So the writer keeps the
// file written with zeros, and synced, tailAhead bytes past the pages in
// use, writing more once fewer than tailLow remain: a commit then
// overwrites blocks already there, and bolt, which grows only a file
// shorter than it needs, never truncates it. What lies past bolt's pages
// in use is never read as data, so the zeros change nothing a reader sees,
// and a crash in the middle of writing them leaves a longer file of the
// same database. It is all done inside the writer's write transaction,
// which is the only one that may allocate pages meanwhile, and from the
// file's own size, so never over a page bolt has written.
const (
	tailAhead = 4 << 20 // bytes written ahead of the pages in use
	tailLow   = 1 << 20 // what may remain before more is written
)

// tail is the writer's handle on the file, for the zeros; nil where the
// file could not be opened for them, and the tail is then left to bolt.
type tail struct {
	f    *os.File
	size int64 // the file's size when last seen; it only grows
	off  bool  // a write of zeros failed: leave the tail to bolt
}

func openTail(path string) *tail {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return nil
	}
	return &tail{f: f}
}

func (t *tail) close() {
	if t != nil {
		t.f.Close()
	}
}

// keep writes zeros past the end of the file, and syncs them, when fewer
// than tailLow bytes of it lie past the pages tx uses. It is best effort:
// a file it could not extend (a full disk) is cut back to where it was,
// bolt grows it as before, and the writer's commits go on.
func (t *tail) keep(tx *bolt.Tx) {
	if t == nil || t.off {
		return
	}
	used := tx.Size()
	if t.size-used >= tailLow {
		return
	}
	fi, err := t.f.Stat() // bolt may have grown it since
	if err != nil {
		t.off = true
		return
	}
	t.size = fi.Size()
	if t.size-used >= tailLow {
		return
	}
	to := used + tailAhead
	zeros := make([]byte, 1<<20)
	for at := t.size; at < to; at += int64(len(zeros)) {
		if _, err := t.f.WriteAt(zeros[:min(int64(len(zeros)), to-at)], at); err != nil {
			t.fail()
			return
		}
	}
	if err := t.f.Sync(); err != nil {
		t.fail()
		return
	}
	t.size = to
}

// fail cuts off what a failed write of zeros added and stops writing more.
func (t *tail) fail() {
	t.off = true
	_ = t.f.Truncate(t.size)
}
