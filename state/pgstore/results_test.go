package pgstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/pgtest"
	"github.com/equus-monitoring/equus/internal/wait"
	"github.com/equus-monitoring/equus/state"
)

// openURL opens a store on the database at url, closed when t ends.
func openURL(t *testing.T, url string, opt Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), url, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// at returns a fixed time plus d.
func at(d time.Duration) time.Time {
	return time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC).Add(d)
}

func newResult(agent, check, msg string, t time.Time) state.Result {
	return state.Result{Agent: agent, Check: check, Time: t, Status: "ok", Message: msg, DurationMS: 0.5}
}

// addAll adds results concurrently, so that they share commits.
func addAll(t testing.TB, s *Store, rs ...state.Result) {
	t.Helper()
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Go(func() {
			if err := s.AddResult(context.Background(), r); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

func msgs(rs []state.Result) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Message)
	}
	return out
}

// holdWriter makes s's writer stop before each commit until release is
// called, and send the size of each batch on the channel returned.
func holdWriter(s *Store) (sizes <-chan int, release func()) {
	gate := make(chan struct{})
	ch := make(chan int, 1000)
	s.writer.beforeCommit = func(n int) {
		ch <- n
		<-gate
	}
	var once sync.Once
	return ch, func() { once.Do(func() { close(gate) }) }
}

// primeWriter adds a result to s, whose writer is held, and waits until
// the writer holds it: the results after it queue.
func primeWriter(t *testing.T, s *Store, sizes <-chan int, done *sync.WaitGroup) {
	t.Helper()
	done.Go(func() {
		if err := s.AddResult(context.Background(), newResult("prime", "c", "first", at(-time.Hour))); err != nil {
			t.Error(err)
		}
	})
	if n := <-sizes; n != 1 {
		t.Fatalf("first batch of %d results, want 1", n)
	}
}

// waitQueued waits until n results are queued behind the held commit.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	wait.Until(t, fmt.Sprintf("%d results queued", n), 10*time.Second, time.Millisecond, func() bool {
		s.writer.mu.Lock()
		defer s.writer.mu.Unlock()
		return len(s.writer.queued) >= n
	})
}

// claim records a claim of agent by s, at epoch, as Claim does: the row
// in claims, and the epoch in s's memory.
func claim(t *testing.T, s *Store, agent string, epoch int64) {
	t.Helper()
	if _, err := s.pool.Exec(context.Background(), `INSERT INTO claims (agent, helen, epoch, held, at) VALUES ($1, $2, $3, true, now())
		ON CONFLICT (agent) DO UPDATE SET helen = excluded.helen, epoch = excluded.epoch, held = true`, agent, s.opt.Helen, epoch); err != nil {
		t.Fatal(err)
	}
	s.held.mu.Lock()
	if s.held.m == nil {
		s.held.m = map[string]int64{}
	}
	s.held.m[agent] = epoch
	s.held.mu.Unlock()
}

// TestAddResultFenced: once another helen has taken the claim of an
// agent this store holds, its results are refused with ErrFenced, to
// their callers only: the results of the same batch for other agents
// (one held still, one never claimed) land.
func TestAddResultFenced(t *testing.T) {
	s := openTest(t, Options{Helen: "helen-a"})
	claim(t, s, "web-1", 1)
	claim(t, s, "web-2", 4)
	addAll(t, s, newResult("web-1", "c", "before", at(0)))

	// Another helen claims web-1.
	if _, err := s.pool.Exec(context.Background(), `UPDATE claims SET helen = 'helen-b', epoch = 2 WHERE agent = 'web-1'`); err != nil {
		t.Fatal(err)
	}
	sizes, release := holdWriter(s)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer release()
	primeWriter(t, s, sizes, &wg)
	const each = 10
	errs := make(map[string][]error)
	var mu sync.Mutex
	for _, agent := range []string{"web-1", "web-2", "web-3"} {
		for i := range each {
			wg.Go(func() {
				err := s.AddResult(context.Background(), newResult(agent, "c", fmt.Sprint("after", i), at(time.Duration(i+1)*time.Second)))
				mu.Lock()
				errs[agent] = append(errs[agent], err)
				mu.Unlock()
			})
		}
	}
	waitQueued(t, s, 3*each)
	release()
	if n := <-sizes; n != 3*each {
		t.Fatalf("second batch of %d results, want %d: the test needs them in one", n, 3*each)
	}
	wg.Wait()
	for _, err := range errs["web-1"] {
		if !errors.Is(err, state.ErrFenced) {
			t.Errorf("web-1, claimed by another: %v, want ErrFenced", err)
		}
	}
	for _, agent := range []string{"web-2", "web-3"} {
		for _, err := range errs[agent] {
			if err != nil {
				t.Errorf("%s: %v", agent, err)
			}
		}
	}
	for agent, want := range map[string]int{"web-1": 1, "web-2": each, "web-3": each} {
		rs, err := s.History(agent, "", 0, time.Time{}, time.Time{})
		if err != nil || len(rs) != want {
			t.Errorf("%s: %d results stored (%v), want %d", agent, len(rs), err, want)
		}
	}
	if states, err := s.CheckStates("web-1"); err != nil || len(states) != 1 || states[0].Count != 1 || states[0].Result.Message != "before" {
		t.Errorf("web-1's state %+v, %v: want only what came before the claim was taken", states, err)
	}

	// A claim this store made again (a later epoch) is its own: the
	// store writes under the epoch it holds.
	claim(t, s, "web-1", 3)
	if err := s.AddResult(context.Background(), newResult("web-1", "c", "again", at(time.Minute))); err != nil {
		t.Errorf("web-1 claimed again: %v", err)
	}
}

// TestAddResultBatches: the results that come while a commit runs are
// committed together, in one batch.
func TestAddResultBatches(t *testing.T) {
	s := openTest(t, Options{})
	sizes, release := holdWriter(s)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer release()
	primeWriter(t, s, sizes, &wg)
	const n = 200
	for i := range n {
		wg.Go(func() {
			if err := s.AddResult(context.Background(), newResult(fmt.Sprintf("a%d", i%20), fmt.Sprint("c", i%3), fmt.Sprint(i), at(time.Duration(i)*time.Second))); err != nil {
				t.Error(err)
			}
		})
	}
	waitQueued(t, s, n)
	release()
	if got := <-sizes; got != n {
		t.Errorf("batch of %d, want %d", got, n)
	}
	wg.Wait()
	states, err := s.CheckStates("")
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, st := range states {
		total += st.Count
	}
	if total != n+1 {
		t.Errorf("%d results counted, want %d", total, n+1)
	}
}

// TestCommitErrorReachesEveryCaller: a batch that fails fails whole,
// and every caller of it is told.
func TestCommitErrorReachesEveryCaller(t *testing.T) {
	s := openTest(t, Options{})
	if _, err := s.pool.Exec(context.Background(), `ALTER TABLE results ADD CONSTRAINT no_poison CHECK (message <> 'poison')`); err != nil {
		t.Fatal(err)
	}
	sizes, release := holdWriter(s)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer release()
	primeWriter(t, s, sizes, &wg)
	var failed sync.Map
	for i := range 10 {
		msg := fmt.Sprint(i)
		if i == 5 {
			msg = "poison"
		}
		wg.Go(func() {
			failed.Store(msg, s.AddResult(context.Background(), newResult("a", "c", msg, at(time.Duration(i)*time.Second))) != nil)
		})
	}
	waitQueued(t, s, 10)
	release()
	wg.Wait()
	failed.Range(func(k, v any) bool {
		if !v.(bool) {
			t.Errorf("result %v of the failed batch acknowledged", k)
		}
		return true
	})
	if rs, _ := s.History("a", "", 0, time.Time{}, time.Time{}); len(rs) != 0 {
		t.Errorf("stored %v of a failed batch", msgs(rs))
	}
}

// TestCloseCommitsQueued: Close commits what is queued and answers its
// callers; a store opened again on the database finds it all.
func TestCloseCommitsQueued(t *testing.T) {
	url := pgtest.DB(t)
	s := openURL(t, url, Options{})
	sizes, release := holdWriter(s)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer release()
	primeWriter(t, s, sizes, &wg)
	const n = 50
	for i := range n {
		wg.Go(func() {
			if err := s.AddResult(context.Background(), newResult("a", "c", fmt.Sprint(i), at(time.Duration(i)*time.Second))); err != nil {
				t.Error(err)
			}
		})
	}
	waitQueued(t, s, n)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	release()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := s.AddResult(context.Background(), newResult("a", "c", "late", at(0))); !errors.Is(err, state.ErrClosed) {
		t.Errorf("AddResult after Close: %v, want ErrClosed", err)
	}
	s2 := openURL(t, url, Options{})
	if rs, err := s2.History("a", "", 0, time.Time{}, time.Time{}); err != nil || len(rs) != n {
		t.Errorf("%d results after Close, %v; want %d", len(rs), err, n)
	}
}

// TestPruneByCountOnWrite: a series holds at most HistoryMaxPerCheck
// results at every commit, its newest.
func TestPruneByCountOnWrite(t *testing.T) {
	s := openTest(t, Options{HistoryMaxPerCheck: 5})
	for batch := range 3 {
		var rs []state.Result
		for i := range 4 {
			n := batch*4 + i
			rs = append(rs, newResult("a", "cpu", fmt.Sprint(n), at(time.Duration(n)*time.Second)))
		}
		addAll(t, s, rs...)
	}
	got, err := s.History("a", "cpu", 0, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if m := msgs(got); fmt.Sprint(m) != "[11 10 9 8 7]" {
		t.Errorf("history = %v, want the newest 5", m)
	}
	states, err := s.CheckStates("a")
	if err != nil || len(states) != 1 || states[0].Count != 5 {
		t.Errorf("states = %+v, %v", states, err)
	}
}

// TestHistoryBoundPerSchedule: HistoryMaxPerCheck bounds each schedule
// of a check on its own.
func TestHistoryBoundPerSchedule(t *testing.T) {
	s := openTest(t, Options{HistoryMaxPerCheck: 3})
	rare := newResult("web-1", "disk", "rare", at(0))
	rare.Schedule = "disk-var"
	addAll(t, s, rare)
	for i := range 10 {
		r := newResult("web-1", "disk", fmt.Sprint(i), at(time.Duration(i+1)*time.Second))
		r.Schedule = "disk-root"
		addAll(t, s, r)
	}
	got, err := s.History("web-1", "disk", 0, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"9", "8", "7", "rare"}; !slices.Equal(msgs(got), want) {
		t.Errorf("history %v, want %v", msgs(got), want)
	}
}

// TestPruneByCount: a store opened with a lower bound brings the series
// down to it at Prune.
func TestPruneByCount(t *testing.T) {
	url := pgtest.DB(t)
	s := openURL(t, url, Options{})
	var rs []state.Result
	for i := range 10 {
		rs = append(rs, newResult("a", "cpu", fmt.Sprint(i), at(time.Duration(i)*time.Second)))
	}
	addAll(t, s, rs...)
	s = openURL(t, url, Options{HistoryMaxPerCheck: 3})
	n, err := s.Prune(at(time.Minute))
	if err != nil || n != 7 {
		t.Errorf("Prune = %d, %v; want 7", n, err)
	}
	got, err := s.History("a", "cpu", 0, time.Time{}, time.Time{})
	if err != nil || fmt.Sprint(msgs(got)) != "[9 8 7]" {
		t.Errorf("history = %v, %v; want the newest 3", msgs(got), err)
	}
	states, err := s.CheckStates("a")
	if err != nil || len(states) != 1 || states[0].Count != 3 || states[0].Result.Message != "9" {
		t.Errorf("states = %+v, %v", states, err)
	}
}

// TestPruneInSteps: a series with more old results than one step
// deletes is pruned whole, over several steps, and its agent's other
// series are left as they were.
func TestPruneInSteps(t *testing.T) {
	s := openTest(t, Options{HistoryMaxAge: time.Hour, HistoryMaxPerCheck: 1 << 20})
	const old = 2*pruneStep + 5
	batch := make([]state.Result, 0, 500)
	for i := range old {
		batch = append(batch, newResult("a", "cpu", fmt.Sprint(i), at(-2*time.Hour+time.Duration(i)*time.Millisecond)))
		if len(batch) == cap(batch) || i == old-1 {
			addAll(t, s, batch...)
			batch = batch[:0]
		}
	}
	addAll(t, s, newResult("a", "mem", "mem-old", at(-2*time.Hour)), newResult("a", "mem", "mem-new", at(0)))
	n, err := s.Prune(at(0))
	if err != nil || n != old+1 {
		t.Fatalf("Prune = %d, %v; want %d", n, err, old+1)
	}
	got, err := s.History("a", "", 0, time.Time{}, time.Time{})
	if err != nil || len(got) != 1 || got[0].Message != "mem-new" {
		t.Errorf("history after prune = %d results, %v; want mem-new alone", len(got), err)
	}
	states, err := s.CheckStates("a")
	if err != nil || len(states) != 1 || states[0].Result.Check != "mem" || states[0].Count != 1 {
		t.Errorf("states after prune = %+v, %v", states, err)
	}
}

// TestPruneWalksManySeries: pruning by age goes through more series
// than one step walks.
func TestPruneWalksManySeries(t *testing.T) {
	s := openTest(t, Options{HistoryMaxAge: time.Hour})
	var rs []state.Result
	for i := range pruneStep + 500 {
		rs = append(rs, newResult(fmt.Sprintf("a%04d", i), "cpu", "old", at(-2*time.Hour)))
	}
	for i := 0; i < len(rs); i += 500 {
		addAll(t, s, rs[i:min(i+500, len(rs))]...)
	}
	addAll(t, s, newResult("zz", "cpu", "new", at(0)))
	n, err := s.Prune(at(0))
	if err != nil || n != pruneStep+500 {
		t.Fatalf("Prune = %d, %v; want %d", n, err, pruneStep+500)
	}
	if latest, err := s.Latest(""); err != nil || len(latest) != 1 || latest[0].Agent != "zz" {
		t.Errorf("latest after prune: %d series, %v; want zz's alone", len(latest), err)
	}
}
