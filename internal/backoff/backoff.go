// Package backoff spaces out the attempts of a loop that retries: the
// agent reconnecting to helen, enrolling and renewing, and stage0
// restarting an agent that died.
package backoff

import (
	"cmp"
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

// The agent's fast retry while helen restarts (Restart): for at most
// RestartWindow after the sign of a restart, each wait drawn uniformly
// from [RestartRetryMin, RestartRetryMax]. 10,000 agents retry so at
// about 16,000 attempts a second, each agent at most 4 a second; a helen
// that stays down meets them for 30 s, then their backoff.
const (
	RestartWindow   = 30 * time.Second
	RestartRetryMin = 250 * time.Millisecond
	RestartRetryMax = time.Second
)

// Restart is the fast retry of a client whose server restarts, as a rule,
// when it ends a session (says it is shutting down, or is killed and the
// connection breaks): for a window after such a sign the client retries
// every fraction of a second, jittered, whatever its backoff grew to,
// rather than stay away for the backoff the refused dials of the restart
// grow. Past the window it backs off as always, and a sign opens a window
// only once until the server accepts a session again, so that a server
// that stays down, or refuses again and again, meets the backoff. Its
// zero value is ready, one window allowed; it is not safe for concurrent
// use.
type Restart struct {
	// Window, RetryMin and RetryMax: zero is RestartWindow,
	// RestartRetryMin and RestartRetryMax.
	Window, RetryMin, RetryMax time.Duration
	// Draw, when not nil, draws a wait from [lo, hi]; nil draws
	// uniformly.
	Draw func(lo, hi time.Duration) time.Duration
	// Clock tells the window's time; nil is the real clock.
	Clock clock.PassiveClock

	until time.Time // the end of the open window; zero: none opened
	spent bool      // a window opened since the last session accepted
}

// Accepted records that the server accepted a session: the next sign of
// a restart opens a window again.
func (r *Restart) Accepted() { r.spent = false }

// Sign records a sign that the server restarts. It opens the window,
// and reports whether it did, unless one opened since the last session
// accepted.
func (r *Restart) Sign() bool {
	if r.spent {
		return false
	}
	r.spent = true
	r.until = r.now().Add(cmp.Or(r.Window, RestartWindow))
	return true
}

// Next returns the wait before the next attempt and reports true while
// the window is open; false when it is not, and the caller backs off.
func (r *Restart) Next() (time.Duration, bool) {
	if r.until.IsZero() || !r.now().Before(r.until) {
		return 0, false
	}
	lo, hi := cmp.Or(r.RetryMin, RestartRetryMin), cmp.Or(r.RetryMax, RestartRetryMax)
	if r.Draw != nil {
		return r.Draw(lo, hi), true
	}
	return lo + rand.N(hi-lo+1), true
}

func (r *Restart) now() time.Time {
	if r.Clock == nil {
		return time.Now()
	}
	return r.Clock.Now()
}

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

// Again returns a wait drawn as Next's is, from the same ceiling, without
// counting an attempt: for a client of several servers, which tries each
// once before it backs off further (Next at the last).
func (b *Exponential) Again() time.Duration {
	ceil := b.Ceiling()
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
