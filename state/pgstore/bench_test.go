package pgstore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/pgtest"
)

// BenchmarkAddResult measures the writer with concurrent callers, each
// waiting for its result to be committed before sending the next, as an
// agent's session does: writers=1 is the latency of one result alone,
// writers=1000 a helen with a thousand agents' sessions writing at once.
// Each writer is an agent with 8 checks, whose series fill up to
// HistoryMaxPerCheck (held at 100 here, so that the trimming on write,
// which a helen does once its series are full, is in the measure). The
// batch= figure is the mean size of a commit.
func BenchmarkAddResult(b *testing.B) {
	for _, writers := range []int{1, 64, 1000} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s := openBench(b, Options{HistoryMaxPerCheck: 100, PruneInterval: -1})
			var commits atomic.Int64
			s.writer.beforeCommit = func(int) { commits.Add(1) }
			var next atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					agent := fmt.Sprintf("agent%04d", w)
					for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
						r := newResult(agent, fmt.Sprintf("check%d", i%8), "load 0.42", time.Unix(0, 1e18+i*1000))
						if err := s.AddResult(context.Background(), r); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "results/s")
			b.ReportMetric(float64(b.N)/float64(max(1, commits.Load())), "batch")
		})
	}
}

// BenchmarkAddResultHelens is BenchmarkAddResult's writers=1000 spread
// over three stores on one database, as three helens of 333 agents each.
func BenchmarkAddResultHelens(b *testing.B) {
	const helens, writers = 3, 1000
	url := pgtest.DB(b)
	var stores []*Store
	var commits atomic.Int64
	for range helens {
		s := openBenchURL(b, url, Options{HistoryMaxPerCheck: 100, PruneInterval: -1})
		s.writer.beforeCommit = func(int) { commits.Add(1) }
		stores = append(stores, s)
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for w := range writers {
		s := stores[w%helens]
		wg.Go(func() {
			agent := fmt.Sprintf("agent%04d", w)
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				r := newResult(agent, fmt.Sprintf("check%d", i%8), "load 0.42", time.Unix(0, 1e18+i*1000))
				if err := s.AddResult(context.Background(), r); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "results/s")
	b.ReportMetric(float64(b.N)/float64(max(1, commits.Load())), "batch")
}

func openBench(b *testing.B, opt Options) *Store {
	b.Helper()
	return openBenchURL(b, pgtest.DB(b), opt)
}

func openBenchURL(b *testing.B, url string, opt Options) *Store {
	b.Helper()
	s, err := Open(context.Background(), url, opt)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}
