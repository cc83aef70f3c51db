package state

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// noAutoCompact keeps the compactor goroutine out of a test that steps
// the compaction itself.
var noAutoCompact = compactBounds{At: 1 << 30, MaxLog: 1 << 30}

// model is what the store must answer, computed from the results in the
// order they were written, as if each went into its series at once.
type model struct {
	keep    int
	results []Result // in write order: the i-th has log sequence i+1
}

type modelEntry struct {
	key    []byte
	series string
	r      Result
}

// history returns an agent's results as HistoryPage orders them: the
// newest keep of each series, by key then series.
func (m model) history(agent string) []Result {
	bySeries := map[string][]modelEntry{}
	for i, r := range m.results {
		if r.Agent == agent {
			s := seriesName(r.Check, r.Schedule)
			bySeries[s] = append(bySeries[s], modelEntry{resultKey(r.Time.UnixNano(), uint32(i+1)), s, r})
		}
	}
	var all []modelEntry
	for _, es := range bySeries {
		slices.SortFunc(es, func(a, b modelEntry) int { return cmp.Compare(string(b.key), string(a.key)) })
		all = append(all, es[:min(len(es), m.keep)]...)
	}
	slices.SortFunc(all, func(a, b modelEntry) int {
		return cmp.Or(cmp.Compare(string(b.key), string(a.key)), cmp.Compare(a.series, b.series))
	})
	out := make([]Result, len(all))
	for i, e := range all {
		out[i] = e.r
	}
	return out
}

// states returns the CheckStates of every agent: latest by time (the later
// written of equal times), since the status of the latest last changed, count
// at most keep.
func (m model) states() []CheckState {
	type st struct {
		CheckState
		code string
	}
	byKey := map[string]*st{}
	for _, r := range m.results {
		k := string(latestKey(r.Agent, seriesName(r.Check, r.Schedule)))
		s := byKey[k]
		if s == nil {
			s = &st{CheckState: CheckState{Result: r, Since: r.Time}, code: r.Status}
			byKey[k] = s
		} else if !r.Time.Before(s.Result.Time) {
			if r.Status != s.code {
				s.Since = r.Time
			}
			s.Result, s.code = r, r.Status
		}
		s.Count = min(s.Count+1, m.keep)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]CheckState, len(keys))
	for i, k := range keys {
		out[i] = byKey[k].CheckState
	}
	return out
}

var modelAgents = []string{"a", "b", "c"}

// checkModel compares every read of db with the model: the whole history
// of each agent, the same by pages of 3 (cursors), with a filter, and the
// states.
func checkModel(t *testing.T, db *DB, m model, where string) {
	t.Helper()
	for _, agent := range modelAgents {
		want := m.history(agent)
		got, err := db.History(agent, "", 0, time.Time{}, time.Time{})
		if err != nil {
			t.Fatalf("%s: history %s: %v", where, agent, err)
		}
		if !sameResults(got, want) {
			t.Fatalf("%s: history of %s:\n got %v\nwant %v", where, agent, msgs(got), msgs(want))
		}
		var paged []Result
		for q := (Query{Limit: 3}); ; {
			rs, cursors, err := db.HistoryPage(agent, Filter{}, q)
			if err != nil {
				t.Fatalf("%s: page of %s: %v", where, agent, err)
			}
			paged = append(paged, rs...)
			if len(rs) < 3 {
				break
			}
			q.After = cursors[len(cursors)-1]
		}
		if !sameResults(paged, want) {
			t.Fatalf("%s: history of %s by pages:\n got %v\nwant %v", where, agent, msgs(paged), msgs(want))
		}
		var cpu []Result
		for _, r := range want {
			if r.Check == "cpu" {
				cpu = append(cpu, r)
			}
		}
		if got, err := db.History(agent, "cpu", 0, time.Time{}, time.Time{}); err != nil || !sameResults(got, cpu) {
			t.Fatalf("%s: history of %s cpu = %v, %v; want %v", where, agent, msgs(got), err, msgs(cpu))
		}
	}
	got, err := db.CheckStates("")
	if err != nil {
		t.Fatalf("%s: states: %v", where, err)
	}
	want := m.states()
	if len(got) != len(want) {
		t.Fatalf("%s: %d states, want %d", where, len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Result.Message != w.Result.Message || !g.Since.Equal(w.Since) || g.Count != w.Count {
			t.Fatalf("%s: state %d = %s since %v count %d, want %s since %v count %d", where, i,
				g.Result.Message, g.Since, g.Count, w.Result.Message, w.Since, w.Count)
		}
	}
}

func sameResults(got, want []Result) bool {
	return slices.EqualFunc(got, want, func(a, b Result) bool {
		return a.Message == b.Message && a.Agent == b.Agent && a.Check == b.Check && a.Schedule == b.Schedule
	})
}

// stepOnce makes one transaction of compaction, planned from the file
// alone, as a compactor just started after a crash would: it reports
// whether there was one.
func stepOnce(t *testing.T, db *DB) bool {
	t.Helper()
	var r round
	var plan []seriesPlan
	err := db.view(func(tx *bolt.Tx) (err error) {
		r, plan, err = db.planTx(tx, ^uint64(0))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case !r.active:
		return false
	case r.deleting:
		_, err = db.deleteStep(r)
	default:
		_, _, _, err = db.compactStep(r, plan)
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

// crashCopy returns a copy of db's file as a crash now would leave it:
// what the last commit wrote.
func crashCopy(t *testing.T, db *DB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "crashed.db")
	if err := db.view(func(tx *bolt.Tx) error { return tx.CopyFile(path, 0o600) }); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkCrashCopy opens a crash copy of db and compares it with the model,
// then compacts it whole and compares again.
func checkCrashCopy(t *testing.T, db *DB, m model, where string) {
	t.Helper()
	c, err := Open(crashCopy(t, db), Options{HistoryMaxPerCheck: m.keep, PruneInterval: -1, compact: noAutoCompact})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	checkModel(t, c, m, where+", reopened after a crash")
	if _, err := c.compactAll(nil); err != nil {
		t.Fatal(err)
	}
	checkModel(t, c, m, where+", reopened after a crash and compacted")
}

// Results split between the log and the series at every point of a
// compaction read the same: each step is a transaction planned from the
// file, so each point is also one a crash can leave, which the copy
// checks.
func TestLogMergedRead(t *testing.T) {
	times := []time.Duration{5, 1, 3, 3, 9, 2, 7, 7, 4, 8, 6, 0}
	statuses := []string{"ok", "ok", "critical", "ok", "warning", "warning", "ok", "critical", "ok", "ok", "unknown", "ok"}
	var rs []Result
	for i, d := range times {
		for j, agent := range []string{"a", "b"} {
			r := newResult(agent, []string{"cpu", "disk"}[(i+j)%2], fmt.Sprintf("%s%d", agent, i), at(d*time.Second))
			r.Status = statuses[i]
			if i%3 == 0 {
				r.Schedule = "often"
			}
			rs = append(rs, r)
		}
	}
	for _, tc := range []struct {
		name   string
		keep   int
		bounds compactBounds
	}{
		{"one-a-step", 1000, compactBounds{StepResults: 1, DeleteStep: 1}},
		{"series-a-step", 1000, compactBounds{StepSeries: 1, DeleteStep: 3}},
		{"bytes-a-step", 1000, compactBounds{StepBytes: 1}},
		{"small-rounds", 1000, compactBounds{Round: 5, StepResults: 2}},
		{"one-step", 1000, compactBounds{}},
		{"trimmed-one-a-step", 3, compactBounds{StepResults: 1, DeleteStep: 2}},
		{"trimmed-small-rounds", 2, compactBounds{Round: 7, StepSeries: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.bounds
			b.At, b.MaxLog = noAutoCompact.At, noAutoCompact.MaxLog
			db := openTest(t, Options{HistoryMaxPerCheck: tc.keep, PruneInterval: -1, compact: b})
			m := model{keep: tc.keep}
			for _, r := range rs {
				if err := db.AddResult(t.Context(), r); err != nil {
					t.Fatal(err)
				}
				m.results = append(m.results, r)
			}
			checkModel(t, db, m, "all in the log")
			for step := 1; stepOnce(t, db); step++ {
				where := fmt.Sprintf("after step %d", step)
				checkModel(t, db, m, where)
				checkCrashCopy(t, db, m, where)
			}
			if n := db.logLen.Load(); n != 0 {
				t.Errorf("log holds %d entries after compaction, want 0", n)
			}
			checkModel(t, reopen(t, db, Options{HistoryMaxPerCheck: tc.keep, PruneInterval: -1, compact: b}), m, "all moved, reopened")
		})
	}
}

// A randomized model: results (times colliding, out of order, statuses
// changing) written while compaction steps and reopenings come at random,
// the reads compared with the model after each, and a crash copy
// compared now and then.
func TestLogModel(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	keep := 1 + rng.IntN(8)
	bounds := compactBounds{
		At: noAutoCompact.At, MaxLog: noAutoCompact.MaxLog,
		Round: 1 + rng.IntN(20), StepResults: 1 + rng.IntN(6), StepSeries: 1 + rng.IntN(4), DeleteStep: 1 + rng.IntN(10),
	}
	t.Logf("keep %d, bounds %+v", keep, bounds)
	opt := Options{HistoryMaxPerCheck: keep, PruneInterval: -1, compact: bounds}
	db := openTest(t, opt)
	m := model{keep: keep}
	statuses := []string{"ok", "warning", "critical", "unknown"}
	for i := range 300 {
		switch n := rng.IntN(10); {
		case n < 6:
			r := newResult(modelAgents[rng.IntN(len(modelAgents))], []string{"cpu", "disk", "load"}[rng.IntN(3)],
				fmt.Sprint("r", i), at(time.Duration(rng.IntN(40))*time.Second))
			r.Status = statuses[rng.IntN(len(statuses))]
			r.Schedule = []string{"", "often"}[rng.IntN(2)]
			if err := db.AddResult(t.Context(), r); err != nil {
				t.Fatal(err)
			}
			m.results = append(m.results, r)
		case n < 9:
			stepOnce(t, db)
		default:
			db = reopen(t, db, opt)
		}
		checkModel(t, db, m, fmt.Sprintf("after op %d", i))
		if i%25 == 0 {
			checkCrashCopy(t, db, m, fmt.Sprintf("after op %d", i))
		}
	}
	for stepOnce(t, db) {
	}
	checkModel(t, db, m, "all moved")
}

// The compactor's transactions are bounded: a step moves at most
// StepResults results of at most StepSeries series, a deletion step
// deletes at most DeleteStep entries, and a round plans at most Round
// entries (its memory).
func TestCompactBounds(t *testing.T) {
	b := compactBounds{At: noAutoCompact.At, MaxLog: noAutoCompact.MaxLog, Round: 40, StepResults: 7, StepSeries: 3, DeleteStep: 11}
	db := openTest(t, Options{PruneInterval: -1, compact: b})
	for i := range 100 {
		r := newResult(modelAgents[i%3], fmt.Sprint("check", i%5), fmt.Sprint(i), at(time.Duration(i)*time.Second))
		if err := db.AddResult(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	visible := func() (n int, series map[string]bool) {
		series = map[string]bool{}
		err := db.view(func(tx *bolt.Tx) error {
			es, err := visibleLogTx(tx, "")
			for _, e := range es {
				series[e.latestKey()] = true
			}
			n = len(es)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return n, series
	}
	steps := 0
	for {
		var r round
		var plan []seriesPlan
		if err := db.view(func(tx *bolt.Tx) (err error) { r, plan, err = db.planTx(tx, ^uint64(0)); return err }); err != nil {
			t.Fatal(err)
		}
		if !r.active {
			break
		}
		planned := 0
		for _, sp := range plan {
			planned += len(sp.seqs)
		}
		if planned > b.Round {
			t.Fatalf("a round plans %d entries, more than Round %d", planned, b.Round)
		}
		beforeN, beforeSeries := visible()
		beforeLen := db.logLen.Load()
		if r.deleting {
			if _, err := db.deleteStep(r); err != nil {
				t.Fatal(err)
			}
			if d := beforeLen - db.logLen.Load(); d > int64(b.DeleteStep) {
				t.Fatalf("a deletion step deleted %d entries, more than %d", d, b.DeleteStep)
			}
		} else {
			if _, _, _, err := db.compactStep(r, plan); err != nil {
				t.Fatal(err)
			}
			afterN, afterSeries := visible()
			if moved := beforeN - afterN; moved > b.StepResults || moved < 1 {
				t.Fatalf("a step moved %d results, want 1 to %d", moved, b.StepResults)
			}
			touched := 0
			for s := range beforeSeries {
				if !afterSeries[s] {
					touched++
				}
			}
			if touched > b.StepSeries {
				t.Fatalf("a step finished %d series, more than %d", touched, b.StepSeries)
			}
		}
		steps++
	}
	if n, _ := visible(); n != 0 || db.logLen.Load() != 0 {
		t.Fatalf("%d visible, %d entries left after the rounds", n, db.logLen.Load())
	}
	if steps < 100/b.StepResults {
		t.Errorf("%d steps for 100 results of at most %d a step", steps, b.StepResults)
	}
}

// The writer holds results while the log holds MaxLog entries: every
// commit finds the log below it, and the compactor running on its own
// brings it down.
func TestLogFullWaits(t *testing.T) {
	var over []int64
	var db *DB
	db = openTest(t, Options{BatchSize: 4, PruneInterval: -1, compact: compactBounds{At: 8, MaxLog: 16, Round: 8, StepResults: 3},
		beforeCommit: func(int) {
			if n := db.logLen.Load(); n >= 16 {
				over = append(over, n)
			}
		}})
	m := model{keep: db.opt.HistoryMaxPerCheck}
	var rs []Result
	for i := range 200 {
		rs = append(rs, newResult(modelAgents[i%3], "cpu", fmt.Sprint(i), at(time.Duration(i)*time.Second)))
	}
	addAll(t, db, rs...)
	if len(over) > 0 {
		t.Errorf("commits with the log full: %v", over)
	}
	if n := db.logLen.Load(); n >= 16+4 {
		t.Errorf("log holds %d entries, want under MaxLog and a batch", n)
	}
	// addAll's order is not the model's; times are distinct, so the
	// histories do not depend on it (the states' since does).
	m.results = rs
	for _, agent := range modelAgents {
		got, err := db.History(agent, "", 0, time.Time{}, time.Time{})
		if want := m.history(agent); err != nil || !sameResults(got, want) {
			t.Errorf("history of %s = %v, %v; want %v", agent, msgs(got), err, msgs(want))
		}
	}
}
