package hub

import (
	"fmt"
	"testing"
	"time"
)

func TestSpreadOffset(t *testing.T) {
	const spread = 10 * time.Second
	var buckets [10]int
	for i := range 1000 {
		off := spreadOffset(fmt.Sprintf("agent-%d", i), spread)
		if off < 0 || off >= spread {
			t.Fatalf("offset %s outside [0, %s)", off, spread)
		}
		buckets[off*10/spread]++
	}
	for i, n := range buckets {
		if n < 50 || n > 150 {
			t.Errorf("bucket %d holds %d of 1000 offsets: not spread (%v)", i, n, buckets)
		}
	}
	// Stable across restarts and helens: a function of the name alone,
	// FNV-1a of it modulo the spread.
	if got, want := spreadOffset("web-1", 2*time.Minute), 57264849439*time.Nanosecond; got != want {
		t.Errorf("offset of web-1 in 2m = %v, want %v", got, want)
	}
}
