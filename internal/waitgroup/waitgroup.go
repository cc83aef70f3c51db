// Package waitgroup waits for a sync.WaitGroup with a bound on the wait.
package waitgroup

import (
	"sync"
	"time"
)

// Within waits for wg for d at most, and reports whether it was done. A
// wait that timed out leaves a goroutine waiting for wg, which ends when
// wg does.
func Within(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}
