package state

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/testfs"
	"github.com/equus-monitoring/equus/internal/wait"
	bolt "go.etcd.io/bbolt"
)

func newResult(agent, check, msg string, t time.Time) Result {
	return Result{Agent: agent, Check: check, Time: t, Status: "ok", Message: msg, DurationMS: 0.5}
}

// messages returns the messages of every stored result of an agent.
func messages(t *testing.T, db *DB, agent string) map[string]bool {
	t.Helper()
	rs, err := db.History(agent, "", 0, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	m := make(map[string]bool, len(rs))
	for _, r := range rs {
		m[r.Message] = true
	}
	return m
}

func TestDurableAcrossReopen(t *testing.T) {
	db := openTest(t, Options{})
	const writers, each = 16, 25
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				msg := fmt.Sprintf("%d-%d", w, i)
				if err := db.AddResult(t.Context(), newResult("a", fmt.Sprintf("c%d", w%4), msg, time.Now())); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	db = reopen(t, db, Options{})
	got := messages(t, db, "a")
	if len(got) != writers*each {
		t.Errorf("%d results after reopen, want %d", len(got), writers*each)
	}
}

// holdWriter returns options whose writer stops before its first commit
// until release is called, and a channel that gets the size of each
// batch: a test queues results behind the held commit.
func holdWriter(opt Options) (_ Options, sizes <-chan int, release func()) {
	gate := make(chan struct{})
	ch := make(chan int, 1000)
	opt.beforeCommit = func(n int) {
		ch <- n
		<-gate
	}
	var once sync.Once
	return opt, ch, func() { once.Do(func() { close(gate) }) }
}

// primeWriter adds a result to a DB whose writer is held (holdWriter),
// and waits until the writer holds it: the results after it queue.
func primeWriter(t *testing.T, db *DB, sizes <-chan int) {
	t.Helper()
	go db.AddResult(context.Background(), newResult("a", "c", "first", at(-time.Hour)))
	if n := <-sizes; n != 1 {
		t.Fatalf("first batch of %d results, want 1", n)
	}
}

func TestCloseFlushes(t *testing.T) {
	opt, sizes, release := holdWriter(Options{})
	db := openTest(t, opt)
	defer release()
	primeWriter(t, db, sizes)
	const n = 50
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = db.AddResult(context.Background(), newResult("a", "c", fmt.Sprint(i), at(time.Duration(i))))
		})
	}
	waitFor(t, func() bool { return db.Pending() == n+1 })
	before := txID(t, db.bolt)
	closed := make(chan error)
	go func() { closed <- db.Close() }()
	// Close stops new results before the held commit ends.
	waitFor(t, func() bool {
		db.mu.Lock()
		defer db.mu.Unlock()
		return db.closed
	})
	release()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if n := <-sizes; n != 50 {
		t.Errorf("Close committed a batch of %d, want the 50 queued", n)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("result %d: %v", i, err)
		}
	}
	if err := db.AddResult(context.Background(), newResult("a", "c", "late", at(0))); !errors.Is(err, ErrClosed) {
		t.Errorf("AddResult after Close = %v, want ErrClosed", err)
	}
	b, err := bolt.Open(db.Path(), 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if after := txID(t, b); after != before+2 {
		t.Errorf("%d transactions for the held result and %d queued, want two", after-before, n)
	}
	b.Close()
	db2, err := Open(db.Path(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if got := messages(t, db2, "a"); len(got) != n+1 {
		t.Errorf("%d results after Close, want %d", len(got), n)
	}
}

func TestAddResultContext(t *testing.T) {
	opt, sizes, release := holdWriter(Options{})
	db := openTest(t, opt)
	defer release()
	primeWriter(t, db, sizes)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := db.AddResult(ctx, newResult("a", "c", "cancelled", at(0))); !errors.Is(err, context.Canceled) {
		t.Errorf("AddResult with a cancelled context = %v", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := db.AddResult(ctx, newResult("a", "c", "slow", at(1))); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("AddResult past its deadline = %v", err)
	}
	// Not acknowledged, but queued: Close still commits it.
	release()
	db = reopen(t, db, Options{})
	got := messages(t, db, "a")
	if !got["slow"] || got["cancelled"] || len(got) != 2 {
		t.Errorf("stored %v, want only the queued result", got)
	}
}

func TestOpenLocked(t *testing.T) {
	db := openTest(t, Options{})
	start := time.Now()
	db2, err := Open(db.Path(), Options{OpenTimeout: 100 * time.Millisecond})
	if err == nil {
		db2.Close()
		t.Fatal("second Open of the same file succeeded")
	}
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "another process") {
		t.Errorf("second Open: %v, want ErrLocked", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("second Open took %v", d)
	}
}

func TestOpenNewFile(t *testing.T) {
	db := openTest(t, Options{})
	fi, err := os.Stat(db.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	size, err := db.Size()
	if err != nil || size <= 0 {
		t.Errorf("Size = %d, %v", size, err)
	}
}

func TestSchemaVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "helen.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = b.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySchema, binary.BigEndian.AppendUint64(nil, schemaVersion+1))
	})
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	if db, err := Open(path, Options{}); !errors.Is(err, ErrSchema) {
		if err == nil {
			db.Close()
		}
		t.Errorf("Open of a newer schema = %v, want ErrSchema", err)
	}
}

// The crash test: a child process (this test binary, told so by crashEnv)
// writes results and prints the message of each acknowledged one; it is
// killed with SIGKILL mid-stream; every printed result must be in the file.

const crashEnv = "EQUUS_STATE_CRASH_DB"

func crashChild(path string) int {
	db, err := Open(path, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var mu sync.Mutex
	// Bounded, so that a child whose parent died does not run forever.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				msg := fmt.Sprintf("%d-%d", w, i)
				if err := db.AddResult(ctx, newResult("crash", fmt.Sprintf("w%d", w), msg, time.Now())); err != nil {
					continue
				}
				mu.Lock()
				fmt.Fprintln(os.Stdout, msg) // one write: a whole line or nothing
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	db.Close()
	return 0
}

func TestCrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "helen.db")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})

	lines := make(chan string)
	go func() {
		defer close(lines)
		r := bufio.NewReader(out)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return // a line cut short was not acknowledged
			}
			lines <- strings.TrimSuffix(line, "\n")
		}
	}()
	var acked []string
	timeout := time.After(10 * time.Second)
	for len(acked) < 500 {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("child ended early after %d results: %s", len(acked), stderr.String())
			}
			acked = append(acked, line)
		case <-timeout:
			t.Fatalf("only %d results in 10s: %s", len(acked), stderr.String())
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	for line := range lines {
		acked = append(acked, line)
	}
	killed = true
	if err := cmd.Wait(); err == nil {
		t.Fatal("child exited cleanly; it was meant to be killed mid-stream")
	}

	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer checkFile(t, path)
	defer db.Close()
	got := messages(t, db, "crash")
	missing := 0
	for _, msg := range acked {
		if !got[msg] {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged results lost", missing, len(acked))
	}
	t.Logf("%d acknowledged results, %d stored", len(acked), len(got))
}

// txID returns the id of the last committed transaction.
func txID(t *testing.T, b *bolt.DB) int {
	t.Helper()
	var id int
	if err := b.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil }); err != nil {
		t.Fatal(err)
	}
	return id
}

// waitFor polls cond until it holds, failing the test after a while.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	wait.Until(t, "the condition", 5*time.Second, time.Millisecond, cond)
}

// TestDiskFull: when the disk fills up, AddResult fails with the disk's
// error instead of acknowledging, and every result it did acknowledge is
// there when the database is opened again.
func TestDiskFull(t *testing.T) {
	dir := testfs.Tmpfs(t, 1<<20)
	path := filepath.Join(dir, "helen.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	msg := strings.Repeat("m", 1000)
	acked := map[string]bool{}
	var failed error
	for i := 0; i < 10000 && failed == nil; i++ {
		id := fmt.Sprintf("%05d", i)
		failed = db.AddResult(context.Background(), newResult("a", "big", id+msg, at(time.Duration(i)*time.Second)))
		if failed == nil {
			acked[id] = true
		}
	}
	if !errors.Is(failed, syscall.ENOSPC) {
		t.Fatalf("AddResult on a full disk: %v, want ENOSPC", failed)
	}
	// The writer goes on: a smaller result may still fit, and is then as
	// safe as the others.
	if err := db.AddResult(context.Background(), newResult("a", "big", "after", at(-time.Hour))); err == nil {
		acked["after"] = true
	}
	db.Close() // may fail on a full disk; what matters is what was acknowledged
	t.Logf("%d results acknowledged before the disk was full: %v", len(acked), failed)

	db, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rs, err := db.History("a", "big", 0, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		delete(acked, r.Message[:5])
	}
	if len(acked) > 0 {
		t.Errorf("%d acknowledged results lost", len(acked))
	}
	if err := db.bolt.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	}); err != nil {
		t.Errorf("database check after a full disk: %v", err)
	}
}
