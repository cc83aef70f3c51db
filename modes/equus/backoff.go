package equus

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff is exponential backoff with full jitter: the n-th wait is drawn
// uniformly from [0, min(max, min*2^n)], so that agents cut off together
// (helen restarting) do not all come back in the same second.
type backoff struct {
	min, max time.Duration
	n        int
}

// next returns the wait before the next attempt and counts the attempt.
func (b *backoff) next() time.Duration {
	ceil := b.ceiling()
	if ceil < b.max {
		b.n++
	}
	return rand.N(ceil + 1)
}

// ceiling returns the longest the next wait may be.
func (b *backoff) ceiling() time.Duration {
	ceil := b.min
	for i := 0; i < b.n && ceil < b.max; i++ {
		ceil *= 2
	}
	return min(ceil, b.max)
}

// reset makes the next wait start from min again.
func (b *backoff) reset() { b.n = 0 }

// wait sleeps for the next wait, or until ctx ends; it returns ctx.Err()
// in that case.
func (b *backoff) wait(ctx context.Context) error { return sleep(ctx, b.next()) }

// sleep waits for d, or until ctx ends; it returns ctx.Err() in that case.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
