package state

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
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

// TestWriterBatchesGrowUnderLoad: what comes in while a commit runs goes
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
	if want := []int{64, 64, 64, 8}; !slices.Equal(got, want) {
		t.Errorf("batches after the held commit %v, want %v", got, want)
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
