package equus

import (
	"context"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	b := &backoff{min: 10 * time.Millisecond, max: 100 * time.Millisecond}
	ceilings := []time.Duration{10, 20, 40, 80, 100, 100, 100}
	for i, c := range ceilings {
		ceil := c * time.Millisecond
		if got := b.ceiling(); got != ceil {
			t.Errorf("ceiling %d = %v, want %v", i, got, ceil)
		}
		d := b.next()
		if d < 0 || d > ceil {
			t.Errorf("wait %d = %v, want within [0, %v]", i, d, ceil)
		}
	}
	b.reset()
	// Full jitter: over many draws, the first waits stay under min and
	// spread over it.
	var most time.Duration
	for range 200 {
		b.reset()
		d := b.next()
		if d > b.min {
			t.Fatalf("first wait %v after reset, want at most %v", d, b.min)
		}
		most = max(most, d)
	}
	if most < b.min/2 {
		t.Errorf("first waits all under %v: no jitter over the range", most)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	long := &backoff{min: time.Hour, max: time.Hour}
	long.n = 1
	if err := long.wait(ctx); err == nil {
		t.Error("wait ignored a cancelled context")
	}
}
