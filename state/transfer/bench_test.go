package transfer

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/pgtest"
	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/state/pgstore"
)

// BenchmarkCopyResults: the history's copy, in results moved per second,
// of 100 agents' 1,000 results each (100,000), with a metric.
//
//	go test -run '^$' -bench CopyResults -benchtime 3x ./state/transfer/
func BenchmarkCopyResults(b *testing.B) {
	const agents, each = 100, 1000
	ctx := context.Background()
	db, err := state.Open(filepath.Join(b.TempDir(), "helen.db"), state.Options{PruneInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	start := time.Now().UTC().Add(-each * time.Minute)
	var wg sync.WaitGroup
	errs := make(chan error, agents)
	for a := range agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				r := state.Result{Agent: fmt.Sprintf("web-%d", a), Check: "load", Schedule: "load",
					Time: start.Add(time.Duration(i) * time.Minute), Status: "ok", Message: fmt.Sprintf("load %d", i),
					DurationMS: 1.5, Metrics: []state.Metric{{Name: "load1", Value: float64(i)}}}
				if err := db.AddResult(ctx, r); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		pg, err := pgstore.Open(ctx, pgtest.DB(b), pgstore.Options{PruneInterval: -1})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0 := time.Now()
		if err := Copy(ctx, db, pg, func(string, string) {}); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(agents*each)/time.Since(t0).Seconds(), "results/s")
		b.StopTimer()
		pg.Close()
		b.StartTimer()
	}
}
