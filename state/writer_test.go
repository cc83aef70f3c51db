package state

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/testfs"
)

// TestWriterCommitsAtOnceWhenIdle: a result that finds the writer idle is
// committed alone and at once, however long ago the commit before was:
// each of these results waits for the one before, so that every batch
// holds one, and no timer of the writer's may hold any of them back (the
// context is what would end a wait for company that is not coming).
func TestWriterCommitsAtOnceWhenIdle(t *testing.T) {
	sizes := make(chan int, 100)
	db := openTest(t, Options{beforeCommit: func(n int) { sizes <- n }})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	const n = 20
	for i := range n {
		if err := db.AddResult(ctx, newResult("a", "c", fmt.Sprint(i), at(time.Duration(i)))); err != nil {
			t.Fatalf("result %d: %v", i, err)
		}
	}
	close(sizes)
	var got []int
	for s := range sizes {
		got = append(got, s)
	}
	if want := slices.Repeat([]int{1}, n); !slices.Equal(got, want) {
		t.Errorf("batches %v, want %v: one commit for each result", got, want)
	}
}

// TestWriterBatchesGrowUnderLoad: what is queued while a commit runs goes
// into the next commit, whole, up to BatchSize a transaction.
func TestWriterBatchesGrowUnderLoad(t *testing.T) {
	opt, sizes, release := holdWriter(Options{BatchSize: 64})
	db := openTest(t, opt)
	defer release()
	primeWriter(t, db, sizes)
	const queued = 200
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := range queued {
		wg.Go(func() {
			if err := db.AddResult(context.Background(), newResult("a", fmt.Sprintf("c%d", i%7), fmt.Sprint(i), at(time.Duration(i)))); err != nil {
				t.Error(err)
			}
		})
	}
	waitFor(t, func() bool { return db.Pending() == queued+1 })
	release()
	var got []int
	for total := 0; total < queued; {
		n := <-sizes
		got = append(got, n)
		total += n
	}
	// The queue was full at the release: its 64 go in one commit. The
	// callers that waited for room queue as each gather frees it, so how
	// many of them the next gathers find depends on how soon they run;
	// none may exceed BatchSize.
	if got[0] != 64 || slices.Max(got) > 64 {
		t.Errorf("batches after the held commit %v, want 64 first and none over 64", got)
	}
}

// TestAcknowledgedIsInFile: once AddResult has returned, its result is in
// the file itself: a copy of the file taken then, opened on its own, holds
// it. (TestCrash kills a process that writes; this looks at the file at the
// moment of each acknowledgement.)
func TestAcknowledgedIsInFile(t *testing.T) {
	db := openTest(t, Options{})
	if db.bolt.NoSync {
		t.Fatal("the store commits without fsync")
	}
	copyPath := filepath.Join(t.TempDir(), "copy.db")
	for i := range 5 {
		msg := fmt.Sprintf("acked-%d", i)
		if err := db.AddResult(t.Context(), newResult("a", "c", msg, at(time.Duration(i)))); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(db.Path())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(copyPath, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if !inFile(t, copyPath, "a", msg) {
			t.Errorf("%s acknowledged but not in the file", msg)
		}
	}
}

// inFile reports whether the database file at path (not open elsewhere)
// holds a result of agent with message msg.
func inFile(t *testing.T, path, agent, msg string) bool {
	t.Helper()
	db, err := Open(path, Options{PruneInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	return messages(t, db, agent)[msg]
}

// holdLeader returns options whose first caller to find no commit under
// way stops before it gathers the results queued behind it, until
// release is called; leading is closed once it is held there.
func holdLeader(opt Options) (_ Options, leading <-chan struct{}, release func()) {
	gate, held := make(chan struct{}), make(chan struct{})
	var once sync.Once
	opt.beforeGather = func() {
		once.Do(func() {
			close(held)
			<-gate
		})
	}
	var releaseOnce sync.Once
	return opt, held, func() { releaseOnce.Do(func() { close(gate) }) }
}

// waitHeld waits for ch to close, failing the test after a while.
func waitHeld(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("no caller committed its own result")
	}
}

// TestLeaderBatchOnDiskBeforeAnyReturns: a result that finds no commit
// under way is committed by its caller, and the results that queue
// before that caller gathers its batch join it: one transaction, and
// none of its callers returns before the whole batch is in the file.
func TestLeaderBatchOnDiskBeforeAnyReturns(t *testing.T) {
	opt, leading, release := holdLeader(Options{})
	sizes := make(chan int, 100)
	opt.beforeCommit = func(n int) { sizes <- n }
	db := openTest(t, opt)
	defer release()
	const joiners = 9
	copies := make([][]byte, joiners+1)
	errs := make([]error, joiners+1)
	var wg sync.WaitGroup
	defer wg.Wait()
	add := func(i int) {
		errs[i] = db.AddResult(context.Background(), newResult("a", "c", fmt.Sprint(i), at(time.Duration(i))))
		// The file as this caller is answered.
		copies[i], _ = os.ReadFile(db.Path())
	}
	wg.Go(func() { add(0) })
	waitHeld(t, leading)
	for i := 1; i <= joiners; i++ {
		wg.Go(func() { add(i) })
	}
	waitFor(t, func() bool { return db.Pending() == joiners+1 })
	release()
	wg.Wait()
	close(sizes)
	var got []int
	for n := range sizes {
		got = append(got, n)
	}
	if want := []int{joiners + 1}; !slices.Equal(got, want) {
		t.Errorf("batches %v, want %v: the queued results join the caller's commit", got, want)
	}
	copyPath := filepath.Join(t.TempDir(), "copy.db")
	for i, b := range copies {
		if errs[i] != nil {
			t.Fatalf("result %d: %v", i, errs[i])
		}
		if err := os.WriteFile(copyPath, b, 0o600); err != nil {
			t.Fatal(err)
		}
		for j := range joiners + 1 {
			if !inFile(t, copyPath, "a", fmt.Sprint(j)) {
				t.Errorf("caller %d answered before result %d of its batch was in the file", i, j)
			}
		}
	}
}

// TestCommitErrorReachesEveryCaller: when the disk fails the commit of a
// batch that a caller leads (a full disk here; an fsync's error leaves
// bolt's Commit the same way), every caller of the batch gets the error,
// none is acknowledged, and the store goes on once the disk has room.
func TestCommitErrorReachesEveryCaller(t *testing.T) {
	dir := testfs.Tmpfs(t, 1<<20)
	opt, leading, release := holdLeader(Options{PruneInterval: -1})
	sizes := make(chan int, 100)
	opt.beforeCommit = func(n int) { sizes <- n }
	db, err := Open(filepath.Join(dir, "helen.db"), opt)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	defer release()
	// Fill the disk, all but what the file has taken.
	ballast := filepath.Join(dir, "ballast")
	f, err := os.Create(ballast)
	if err != nil {
		t.Fatal(err)
	}
	for _, err = f.Write(make([]byte, 4096)); err == nil; _, err = f.Write(make([]byte, 4096)) {
	}
	f.Close()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling the disk: %v", err)
	}
	msg := strings.Repeat("m", 1000)
	const callers = 8
	errs := make([]error, callers)
	var wg sync.WaitGroup
	defer wg.Wait()
	add := func(i int) {
		errs[i] = db.AddResult(context.Background(), newResult("a", "big", fmt.Sprint(i, msg), at(time.Duration(i))))
	}
	wg.Go(func() { add(0) })
	waitHeld(t, leading)
	for i := 1; i < callers; i++ {
		wg.Go(func() { add(i) })
	}
	waitFor(t, func() bool { return db.Pending() == callers })
	release()
	wg.Wait()
	if n := <-sizes; n != callers {
		t.Errorf("a batch of %d, want the %d results as one", n, callers)
	}
	for i, err := range errs {
		if !errors.Is(err, syscall.ENOSPC) {
			t.Errorf("result %d of the failed batch: %v, want ENOSPC", i, err)
		}
	}
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	if err := db.AddResult(context.Background(), newResult("a", "big", "after", at(time.Hour))); err != nil {
		t.Fatalf("after the disk has room again: %v", err)
	}
	got := messages(t, db, "a")
	for i := range callers {
		if got[fmt.Sprint(i, msg)] {
			t.Errorf("result %d of the failed batch is stored", i)
		}
	}
	if !got["after"] {
		t.Error("the result after the failed batch is not stored")
	}
}
