package state

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BenchmarkAddResult measures the writer with concurrent callers, each
// waiting for its result to be committed before sending the next, as an
// agent's session does. writers=1 is the latency of one result alone; with
// 64 every batch holds at most 64 results; with 1024 (closer to a helen
// with thousands of agents) batches grow and the disk sets the pace. The
// batch= figure is the mean size of a transaction. The results the log
// holds at the end are moved into their series within the measure.
func BenchmarkAddResult(b *testing.B) {
	for _, writers := range []int{1, 64, 1024} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			benchAddResult(b, writers)
		})
	}
}

func benchAddResult(b *testing.B, writers int) {
	var commits atomic.Int64
	db := openTest(b, Options{beforeCommit: func(int) { commits.Add(1) }})
	var next atomic.Int64
	b.ReportAllocs()
	before := db.bolt.Stats().TxStats
	b.ResetTimer()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			agent := fmt.Sprintf("agent%04d", w)
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				r := newResult(agent, fmt.Sprintf("check%d", i%8), "load 0.42", time.Unix(0, 1e18+i))
				if err := db.AddResult(context.Background(), r); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	// What the log still holds moved into the series, in the time and
	// the pages measured: a result's whole cost.
	if _, err := db.compactAll(nil); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "results/s")
	b.ReportMetric(float64(b.N)/float64(commits.Load()), "batch")
	// What the commits wrote, in bytes of pages a result: the measure of
	// a layout, and one that the load of the machine does not move.
	after := db.bolt.Stats().TxStats
	b.ReportMetric(float64(after.GetPageAlloc()-before.GetPageAlloc())/float64(b.N), "page-B/result")
}

// BenchmarkHistory reads the newest 100 of a check's 10,000 results.
func BenchmarkHistory(b *testing.B) {
	db := openTest(b, Options{})
	fill(b, db, "a", "cpu", 10000)
	b.ReportAllocs()
	for b.Loop() {
		rs, err := db.History("a", "cpu", 100, time.Time{}, time.Time{})
		if err != nil || len(rs) != 100 {
			b.Fatal(len(rs), err)
		}
	}
}

// fill writes n results of one check in a few transactions, the way the
// writer does, and moves them into their series.
func fill(b *testing.B, db *DB, agent, check string, n int) {
	b.Helper()
	for start := 0; start < n; start += db.opt.BatchSize {
		var batch []*pending
		for i := start; i < min(n, start+db.opt.BatchSize); i++ {
			nanos := 1e18 + int64(i)*1e9
			v, err := encodeResult(newResult(agent, check, "load 0.42", time.Unix(0, nanos)))
			if err != nil {
				b.Fatal(err)
			}
			batch = append(batch, &pending{entry: encodeLog(agent, check, nanos, 0, v)})
		}
		if err := db.update(func(tx *bolt.Tx) error { return appendLogTx(tx, batch) }); err != nil {
			b.Fatal(err)
		}
		db.logLen.Add(int64(len(batch)))
	}
	if _, err := db.compactAll(nil); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkPruneWhileWriting prunes 200,000 old results (20 checks of
// 10,000) while one caller keeps adding results, and reports the longest
// that caller waited for a result to be committed: what pruning costs the
// results coming in meanwhile.
func BenchmarkPruneWhileWriting(b *testing.B) {
	const checks, each = 20, 10000
	var worst time.Duration
	pruned := 0
	for range b.N {
		b.StopTimer()
		db := openTest(b, Options{HistoryMaxAge: time.Hour, HistoryMaxPerCheck: each, PruneInterval: -1})
		for c := range checks {
			fill(b, db, "a", fmt.Sprintf("check%d", c), each)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				if err := db.AddResult(context.Background(), newResult("b", "cpu", "now", time.Now())); err != nil {
					b.Error(err)
					return
				}
				worst = max(worst, time.Since(start))
			}
		})
		b.StartTimer()
		n, err := db.Prune(time.Now())
		b.StopTimer()
		close(stop)
		wg.Wait()
		if err != nil || n != checks*each {
			b.Fatalf("Prune = %d, %v; want %d", n, err, checks*each)
		}
		pruned += n
	}
	b.ReportMetric(float64(pruned)/b.Elapsed().Seconds(), "pruned/s")
	b.ReportMetric(float64(worst)/float64(time.Millisecond), "worst-write-ms")
}

// BenchmarkCheckCert measures the smallest read transaction helen makes,
// the one of every agent's connection: what a transaction costs beyond its
// work.
func BenchmarkCheckCert(b *testing.B) {
	db := openTest(b, Options{PruneInterval: -1})
	if err := db.PinCert("web-1", "fp", at(0)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := db.CheckCert("web-1", "fp"); err != nil {
			b.Fatal(err)
		}
	}
}
