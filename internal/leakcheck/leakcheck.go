// Package leakcheck fails a test binary whose tests leave goroutines of
// the code under test running: servers, sessions, child waiters, a store's
// writer. Every package whose tests start goroutines calls Main (or Run)
// from its TestMain; Test checks a single test.
package leakcheck

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// mainWithin is how long Run waits for the goroutines of the code under
// test to end once the tests passed: a server closed by the last test may
// still be unwinding, more so under the race detector on a loaded machine.
const mainWithin = 5 * time.Second

// Main runs the tests of m, checks them as Run does, and exits with the
// code. Call it from TestMain.
func Main(m *testing.M, packages ...string) {
	os.Exit(Run(m, packages...))
}

// Run runs the tests of m and returns the exit code, for a TestMain that
// has to clean up before it exits. When they pass, it waits up to five
// seconds for every goroutine running code of the given packages (import
// path fragments such as "equus/pki.") to end, and fails the run with
// their stacks, written to standard error, if any remain.
func Run(m interface{ Run() int }, packages ...string) int {
	return run(m, os.Stderr, packages)
}

func run(m interface{ Run() int }, stderr io.Writer, packages []string) int {
	code := m.Run()
	if code != 0 {
		return code
	}
	deadline := time.Now().Add(mainWithin)
	left := LeftBehind(packages...)
	for len(left) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		left = LeftBehind(packages...)
	}
	if len(left) > 0 {
		fmt.Fprintf(stderr, "%d goroutines left behind:\n%s\n", len(left), strings.Join(left, "\n\n"))
		return 1
	}
	return 0
}

// LeftBehind returns the stacks of the goroutines that run (or were
// started by) code of the given packages, other than TestMain's own.
func LeftBehind(packages ...string) []string {
	var left []string
	for _, g := range goroutines() {
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

// Test fails t if it ends with goroutines that it started, once those
// that are ending have had up to within to end. Goroutines are told by
// their ids, not counted, so that one left behind is not hidden by an
// older one that ends meanwhile. Call it first in the test, so that its
// cleanup runs after every other; tests that use it do not run in
// parallel.
func Test(t testing.TB, within time.Duration) {
	before := make(map[string]bool)
	for _, g := range goroutines() {
		before[goroutineID(g)] = true
	}
	t.Cleanup(func() {
		deadline := time.Now().Add(within)
		for {
			var left []string
			for _, g := range goroutines() {
				if !before[goroutineID(g)] {
					left = append(left, g)
				}
			}
			if len(left) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("%d goroutines left behind:\n%s", len(left), strings.Join(left, "\n\n"))
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// goroutineID returns the id of the goroutine whose stack is g, from its
// first line "goroutine 12 [running]:".
func goroutineID(g string) string {
	id, _, _ := strings.Cut(strings.TrimPrefix(g, "goroutine "), " ")
	return id
}

// goroutines returns the stack of every goroutine.
func goroutines() []string {
	return strings.Split(stacks(), "\n\n")
}

// stacks returns the stacks of all goroutines.
func stacks() string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return string(buf[:n])
		}
		buf = make([]byte, 2*len(buf))
	}
}
