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
	if spreadOffset("a", spread) != spreadOffset("a", spread) {
		t.Error("offset not stable")
	}
}
