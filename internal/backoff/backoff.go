// Package backoff spaces out the attempts of a loop that retries: the
// agent reconnecting to helen, enrolling and renewing, and stage0
// restarting an agent that died.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"

	"k8s.io/utils/clock"
)

// Exponential is exponential backoff: the ceiling of the first wait is Min,
// each next one twice the last, up to Max, and Reset starts over from Min.
// Its zero value counts no attempt yet; it is not safe for concurrent use.
type Exponential struct {
	Min, Max time.Duration
	// Jitter, when not nil, draws each wait from its ceiling (FullJitter);
	// nil makes every wait its ceiling.
	Jitter func(ceiling time.Duration) time.Duration
	// Clock times Sleep and Wait; nil is the real clock.
	Clock clock.Clock

	// ceil is the ceiling of the next wait, 0 before the first (or after
	// Reset), which is Min.
	ceil time.Duration
}

// FullJitter draws a wait uniformly from [0, ceiling], so that agents cut
// off together (helen restarting) do not all come back in the same second.
func FullJitter(ceiling time.Duration) time.Duration { return rand.N(ceiling + 1) }

// RestartCeiling is the ceiling of the agent's wait after helen said it is
// shutting down (error shutting_down): helen is restarting, as a rule, and
// back within a second or two, so the agent comes back after a short wait
// drawn from [0, RestartCeiling] rather than after the backoff its
// earlier failures grew. Spread over it, 10,000 agents come back at 5,000
// a second, which helen's bound on handshakes at once then paces.
const RestartCeiling = 2 * time.Second

// Ceiling returns the longest the next wait may be: min(Max, Min*2^n)
// after n waits since the start or the last Reset.
func (b *Exponential) Ceiling() time.Duration {
	if b.ceil == 0 {
		return min(b.Min, b.Max)
	}
	return b.ceil
}

// Next returns the wait before the next attempt and counts the attempt.
func (b *Exponential) Next() time.Duration {
	ceil := b.Ceiling()
	// Doubled without overflowing: past Max/2, twice is past Max.
	if ceil > b.Max/2 {
		b.ceil = b.Max
	} else {
		b.ceil = 2 * ceil
	}
	if b.Jitter == nil {
		return ceil
	}
	return b.Jitter(ceil)
}

// Reset makes the next wait start from Min again.
func (b *Exponential) Reset() { b.ceil = 0 }

// Wait sleeps for the next wait (Next), or until ctx ends; it returns
// ctx.Err() in that case.
func (b *Exponential) Wait(ctx context.Context) error { return b.Sleep(ctx, b.Next()) }

// Sleep waits for d by the backoff's clock, or until ctx ends; it returns
// ctx.Err() in that case. It is for a caller that says how long it waits
// (Next) before it waits.
func (b *Exponential) Sleep(ctx context.Context, d time.Duration) error {
	clk := b.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	t := clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
