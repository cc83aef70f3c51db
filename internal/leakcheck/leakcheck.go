// Package leakcheck fails a test binary whose tests leave goroutines of
// the code under test running: servers, sessions, child waiters.
package leakcheck

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Main runs the tests of m and exits. When they pass, it waits up to five
// seconds for every goroutine running code of the given packages (import
// path fragments such as "equus/pki.") to end, and fails the run with
// their stacks if any remain. Call it from TestMain.
func Main(m *testing.M, packages ...string) {
	code := m.Run()
	if code == 0 {
		deadline := time.Now().Add(5 * time.Second)
		left := LeftBehind(packages...)
		for len(left) > 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
			left = LeftBehind(packages...)
		}
		if len(left) > 0 {
			fmt.Fprintf(os.Stderr, "%d goroutines left behind:\n%s\n", len(left), strings.Join(left, "\n\n"))
			code = 1
		}
	}
	os.Exit(code)
}

// LeftBehind returns the stacks of the goroutines that run (or were
// started by) code of the given packages, other than TestMain's own.
func LeftBehind(packages ...string) []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var left []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, ".TestMain(") {
			continue
		}
		for _, p := range packages {
			if strings.Contains(g, p) {
				left = append(left, g)
				break
			}
		}
	}
	return left
}

// Test fails t if it ends with more goroutines than it began with, once
// those that are ending have had up to within to end. Call it first in the
// test, so that its cleanup runs after every other.
func Test(t testing.TB, within time.Duration) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(within)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Errorf("%d goroutines left behind (%d before):\n%s", runtime.NumGoroutine()-before, before, buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}
