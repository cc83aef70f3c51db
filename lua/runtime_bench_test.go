package lua

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/equus-monitoring/equus/result"
)

// benchRuntime opens a runtime on a directory with a trivial check.
func benchRuntime(b *testing.B) *Runtime {
	b.Helper()
	dir := b.TempDir()
	src := `return { description = "trivial", run = function(args) return { status = "ok", message = "fine" } end }`
	if err := os.WriteFile(filepath.Join(dir, "trivial.lua"), []byte(src), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bare.lua"), []byte(mustRead(b, "testdata/checks/bare.lua")), 0o600); err != nil {
		b.Fatal(err)
	}
	rt, err := newRuntime(Options{Dir: dir}, builtinFS)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(rt.Close)
	return rt
}

func mustRead(b *testing.B, path string) []byte {
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	return data
}

func runOK(b *testing.B, rt *Runtime, name string, args []byte) {
	if d := rt.Run(context.Background(), name, args); d.Status != result.OK && d.Status != result.Warning {
		b.Fatalf("%s: %+v", name, d)
	}
}

// BenchmarkRun is one run of a trivial check with a warm pool.
func BenchmarkRun(b *testing.B) {
	rt := benchRuntime(b)
	runOK(b, rt, "trivial", nil) // warm the pool
	b.ReportAllocs()
	for b.Loop() {
		runOK(b, rt, "trivial", nil)
	}
}

// BenchmarkRunArgsMetrics runs a check with args and two metrics.
func BenchmarkRunArgsMetrics(b *testing.B) {
	rt := benchRuntime(b)
	args := []byte(`{"n":0.5,"_timeout_ms":5000}`)
	runOK(b, rt, "bare", args)
	b.ReportAllocs()
	for b.Loop() {
		runOK(b, rt, "bare", args)
	}
}

// BenchmarkRunParallel runs the trivial check from 2, 16 and 64
// goroutines at once.
func BenchmarkRunParallel(b *testing.B) {
	for _, n := range []int{2, 16, 64} {
		b.Run(fmt.Sprintf("goroutines=%d", n), func(b *testing.B) {
			rt := benchRuntime(b)
			runOK(b, rt, "trivial", nil)
			b.ReportAllocs()
			// RunParallel starts parallelism*GOMAXPROCS goroutines.
			b.SetParallelism(max(1, n/runtime.GOMAXPROCS(0)))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					runOK(b, rt, "trivial", nil)
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checks/s")
		})
	}
}

// BenchmarkNewState is the cost of a cold run's state: a sandbox with
// every Go module preloaded.
func BenchmarkNewState(b *testing.B) {
	rt := benchRuntime(b)
	b.ReportAllocs()
	for b.Loop() {
		rt.newState().close()
	}
}
