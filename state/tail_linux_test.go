package state

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestWriterTailWritten: past the pages in use, the file is written (no
// hole) and synced ahead, so that the pages the writer's commits append
// overwrite blocks the filesystem has, instead of a hole left by bolt's
// truncations that each commit's fdatasync has to allocate. The results
// are large enough to grow the file a few times; the database reads back
// the same after a reopen, zeros and all.
func TestWriterTailWritten(t *testing.T) {
	db := openTest(t, Options{})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	msg := strings.Repeat("x", 2000)
	const n = 3000 // about 6 MiB of results, past tailAhead
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				errs <- db.AddResult(ctx, newResult("a", "c", fmt.Sprint(i, msg), at(time.Duration(i))))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	used, err := db.Size()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(db.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size()-used < tailLow {
		t.Errorf("the file has %d bytes past the %d in use, want at least %d", fi.Size()-used, used, tailLow)
	}
	hole, err := unix.Seek(int(f.Fd()), used, unix.SEEK_HOLE)
	if err != nil {
		t.Fatal(err)
	}
	if hole < fi.Size() {
		t.Errorf("a hole at %d, past the %d bytes in use and before the end of the file at %d: commits there allocate blocks", hole, used, fi.Size())
	}
	db = reopen(t, db, Options{})
	rs, err := db.History("a", "c", 0, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != n {
		t.Errorf("%d results read back after a reopen, want %d", len(rs), n)
	}
}
