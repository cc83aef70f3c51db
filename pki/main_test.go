package pki

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the run when goroutines started by the tests (servers,
// connections) outlive them.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		deadline := time.Now().Add(5 * time.Second)
		left := leftBehind()
		for len(left) > 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
			left = leftBehind()
		}
		if len(left) > 0 {
			fmt.Fprintf(os.Stderr, "%d goroutines left behind:\n%s\n", len(left), strings.Join(left, "\n\n"))
			code = 1
		}
	}
	os.Exit(code)
}

// leftBehind returns the stacks of goroutines that run this package's code,
// other than TestMain's own.
func leftBehind() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var left []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "equus/pki.") && !strings.Contains(g, "pki.TestMain") {
			left = append(left, g)
		}
	}
	return left
}
