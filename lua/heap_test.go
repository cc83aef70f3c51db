package lua

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"runtime/metrics"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/result"
)

// heapBytes reads the watchdog's metric.
func heapBytes() uint64 {
	s := []metrics.Sample{{Name: heapMetric}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestHeapLimit runs a check that fills a table in a loop until it would
// hold 10 GB: the watchdog must end it, and a check running beside it, as
// unknown long before its timeout, and the process must give the memory
// back.
func TestHeapLimit(t *testing.T) {
	dir := t.TempDir()
	checks := map[string]string{
		"bomb": `return function()
			local t = {}
			for i = 1, 1e5 do t[i] = string.rep("x", 1e5) end
			return {status = "ok", message = #t} end`,
		"idle": `return function()
			local n = 0
			while true do n = n + 1 end end`,
		"trivial": `return function() return {status = "ok", message = "fine"} end`,
	}
	for name, code := range checks {
		if err := os.WriteFile(filepath.Join(dir, name+".lua"), []byte(code), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const limit = 64 << 20
	rt, _ := newTestRuntime(t, Options{Dir: dir, MaxHeap: limit})
	args := []byte(`{"_timeout_ms": 20000}`)

	var idle result.Doc
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		idle = rt.Run(context.Background(), "idle", args)
	}()
	start := time.Now()
	d := rt.Run(context.Background(), "bomb", args)
	took := time.Since(start)
	wg.Wait()
	t.Logf("bomb: %s %q after %v", d.Status, d.Message, took)

	want := regexp.MustCompile(`^memory limit exceeded \(heap (\d+) MiB > limit 64 MiB\)$`)
	m := want.FindStringSubmatch(d.Message)
	if d.Status != result.Unknown || m == nil {
		t.Fatalf("bomb: got %s %q, want unknown with %q", d.Status, d.Message, want)
	}
	if took > 5*time.Second {
		t.Errorf("bomb took %v", took)
	}
	if heap, _ := strconv.Atoi(m[1]); heap > 256 {
		t.Errorf("the heap reached %d MiB before the watchdog saw it", heap)
	}
	if idle.Status != result.Unknown || !want.MatchString(idle.Message) {
		t.Errorf("idle: got %s %q, want unknown with %q", idle.Status, idle.Message, want)
	}
	if n := len(rt.lib.Load().idle); n != 0 {
		t.Errorf("%d states of the canceled runs went back to the pool", n)
	}
	// The watchdog frees the memory once the runs have ended.
	deadline := time.Now().Add(5 * time.Second)
	for heapBytes() > 128<<20 {
		if time.Now().After(deadline) {
			t.Fatalf("the heap is still %d MiB", heapBytes()>>20)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Checks run again once the memory is back.
	if d := rt.Run(context.Background(), "trivial", nil); d.Status != result.OK {
		t.Errorf("trivial after the limit: got %s %q", d.Status, d.Message)
	}
}

// TestHeapLimitDisabled runs a check with the watchdog off: no limit, no
// goroutine.
func TestHeapLimitDisabled(t *testing.T) {
	rt, _ := newTestRuntime(t, Options{MaxHeap: -1})
	if rt.heap != nil {
		t.Fatal("a negative MaxHeap left a watchdog")
	}
	if d := rt.Run(context.Background(), "echo", nil); d.Status != result.OK {
		t.Errorf("got %s %q", d.Status, d.Message)
	}
}

// TestHeapWatchStops checks that the watchdog's goroutine ends soon after
// the last run, and starts again with the next.
func TestHeapWatchStops(t *testing.T) {
	w := newHeapWatch(1 << 40)
	defer w.close()
	running := func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.running
	}
	for range 2 {
		_, unwatch := w.watch(context.Background())
		if !running() {
			t.Fatal("no goroutine while a run is watched")
		}
		unwatch()
		deadline := time.Now().Add(2 * time.Second)
		for running() {
			if time.Now().After(deadline) {
				t.Fatal("the goroutine still runs with no run to watch")
			}
			time.Sleep(time.Millisecond)
		}
	}
}

func TestDefaultMaxHeap(t *testing.T) {
	if n := DefaultMaxHeap(); n <= 0 || n > maxDefaultHeap {
		t.Errorf("DefaultMaxHeap() = %d", n)
	}
}
