package lua

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"

	"github.com/shirou/gopsutil/v4/mem"
)

// The heap watchdog. Lua code that fills a table in a loop grows the Go
// heap step by step, and nothing in gopher-lua bounds it: a check can take
// gigabytes, and Go ends a process that runs out of memory, long before
// the check's timeout. So while a check runs, a goroutine samples the size
// of the heap every few milliseconds, and when it passes the limit cancels
// every running check: which state holds the memory can't be told cheaply,
// and ending them all is what keeps the agent alive.

// heapMetric is the memory of the heap's objects, live or not yet swept:
// read without stopping the world, unlike runtime.ReadMemStats.
const heapMetric = "/memory/classes/heap/objects:bytes"

// heapInterval is how often the watchdog samples the heap.
const heapInterval = 5 * time.Millisecond

// maxDefaultHeap is the ceiling of the default Options.MaxHeap.
const maxDefaultHeap = 1 << 30

// errHeapLimit is what a run canceled by the watchdog ends with; its
// cause, a *heapLimitError, says by how much.
var errHeapLimit = errors.New("memory limit exceeded")

// heapLimitError is the cause of a run canceled because the heap passed
// Options.MaxHeap; it matches errHeapLimit with errors.Is.
type heapLimitError struct {
	Heap, Limit uint64 // bytes
}

func (e *heapLimitError) Error() string {
	const mib = 1 << 20
	// The heap rounded up, so that it never reads as equal to the limit.
	return fmt.Sprintf("%v (heap %d MiB > limit %d MiB)", errHeapLimit, (e.Heap+mib-1)/mib, e.Limit/mib)
}

func (e *heapLimitError) Unwrap() error { return errHeapLimit }

// DefaultMaxHeap is the heap limit of a Runtime whose Options.MaxHeap is
// 0: 1 GiB, or a quarter of the machine's memory when that is less.
func DefaultMaxHeap() int64 {
	if vm, err := mem.VirtualMemory(); err == nil && vm.Total > 0 && vm.Total/4 < maxDefaultHeap {
		return int64(vm.Total / 4)
	}
	return maxDefaultHeap
}

// heapWatch is the watchdog of a Runtime. Its goroutine runs only while
// at least one run is watched.
type heapWatch struct {
	limit uint64
	wg    sync.WaitGroup

	mu       sync.Mutex
	runs     map[*watched]struct{}
	running  bool // the goroutine is running
	freeing  bool // runs were canceled: free memory once they have ended
	lastFree time.Time
	closed   bool
	stop     chan struct{} // closed by close
}

// watched is a run under the watchdog.
type watched struct {
	cancel   context.CancelCauseFunc
	canceled bool // by the watchdog
}

// newHeapWatch returns a watchdog for limit bytes, or nil (no watchdog)
// for a negative limit.
func newHeapWatch(limit int64) *heapWatch {
	if limit < 0 {
		return nil
	}
	return &heapWatch{limit: uint64(limit), runs: map[*watched]struct{}{}, stop: make(chan struct{})}
}

// watch returns a context that the watchdog cancels, with a
// *heapLimitError as its cause, when the heap passes the limit, and the
// function to call when the run has ended and its state is let go.
func (w *heapWatch) watch(ctx context.Context) (context.Context, func()) {
	if w == nil {
		return ctx, func() {}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	r := &watched{cancel: cancel}
	w.mu.Lock()
	w.runs[r] = struct{}{}
	if !w.running && !w.closed {
		w.running = true
		w.wg.Add(1)
		go w.loop()
	}
	w.mu.Unlock()
	return ctx, func() {
		w.mu.Lock()
		delete(w.runs, r)
		w.mu.Unlock()
		cancel(nil)
	}
}

// close stops the goroutine and waits for it.
func (w *heapWatch) close() {
	if w == nil {
		return
	}
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.stop)
	}
	w.mu.Unlock()
	w.wg.Wait()
}

// loop samples the heap until no run is left to watch.
func (w *heapWatch) loop() {
	defer w.wg.Done()
	tick := time.NewTicker(heapInterval)
	defer tick.Stop()
	sample := []metrics.Sample{{Name: heapMetric}}
	for {
		select {
		case <-w.stop:
			w.mu.Lock()
			w.running = false
			w.mu.Unlock()
			return
		case <-tick.C:
		}
		metrics.Read(sample)
		var heap uint64
		if sample[0].Value.Kind() == metrics.KindUint64 {
			heap = sample[0].Value.Uint64()
		}
		free, exit := w.check(heap)
		if free {
			// The canceled runs' states are garbage now: give their
			// memory back rather than keep the peak for good.
			debug.FreeOSMemory()
		}
		if exit {
			return
		}
	}
}

// check acts on one sample of the heap: it cancels the runs when heap
// passes the limit, and reports whether to free memory now (the canceled
// runs have all ended) and whether the goroutine is done (no run left).
func (w *heapWatch) check(heap uint64) (free, exit bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.freeing:
		for r := range w.runs {
			if r.canceled {
				return false, false // not until they have let go
			}
		}
		w.freeing = false
		// Not more than once a second, should the heap stay above the
		// limit for reasons of its own: a forced collection is costly.
		if time.Since(w.lastFree) >= time.Second {
			free = true
			w.lastFree = time.Now()
		}
		// This sample predates the collection: judge the next one.
	case heap > w.limit && len(w.runs) > 0:
		err := &heapLimitError{Heap: heap, Limit: w.limit}
		for r := range w.runs {
			r.canceled = true
			r.cancel(err)
		}
		w.freeing = true
		return false, false
	}
	if len(w.runs) == 0 {
		w.running = false
		return free, true
	}
	return free, false
}

// heapExceeded returns the *heapLimitError that canceled ctx, or nil.
func heapExceeded(ctx context.Context) error {
	if err := context.Cause(ctx); errors.Is(err, errHeapLimit) {
		return err
	}
	return nil
}
