package wait

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// recorder is a testing.TB that keeps what Fatalf says instead of ending
// the test.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	panic(r)
}

func TestUntil(t *testing.T) {
	n := 0
	Until(t, "three calls", time.Second, time.Millisecond, func() bool { n++; return n == 3 })
	if n != 3 {
		t.Errorf("cond called %d times, want 3", n)
	}

	r := &recorder{TB: t}
	start := time.Now()
	func() {
		defer func() {
			if p := recover(); p != r {
				panic(p)
			}
		}()
		Until(r, "never", 50*time.Millisecond, time.Millisecond, func() bool { return false })
	}()
	if !strings.Contains(r.failed, "timed out after 50ms waiting for never") || time.Since(start) < 50*time.Millisecond {
		t.Errorf("Until of a condition that never holds: failed %q after %v", r.failed, time.Since(start))
	}
}
