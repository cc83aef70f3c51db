// Package wait holds the one polling loop the tests share: wait until a
// condition holds, failing the test when it does not in time.
package wait

import (
	"testing"
	"time"
)

// Until calls cond every interval until it holds, and fails t with what it
// waited for when within has passed first.
func Until(t testing.TB, what string, within, every time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(every)
	}
}
