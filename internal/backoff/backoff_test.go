package backoff

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	"github.com/equus-monitoring/equus/internal/leakcheck"
	"github.com/equus-monitoring/equus/internal/wait"
)

func TestMain(m *testing.M) { leakcheck.Main(m, "equus/internal/backoff.") }

// The agent's backoff: full jitter under ceilings that double.
func TestFullJitter(t *testing.T) {
	b := &Exponential{Min: 10 * time.Millisecond, Max: 100 * time.Millisecond, Jitter: FullJitter}
	ceilings := []time.Duration{10, 20, 40, 80, 100, 100, 100}
	for i, c := range ceilings {
		ceil := c * time.Millisecond
		if got := b.Ceiling(); got != ceil {
			t.Errorf("ceiling %d = %v, want %v", i, got, ceil)
		}
		d := b.Next()
		if d < 0 || d > ceil {
			t.Errorf("wait %d = %v, want within [0, %v]", i, d, ceil)
		}
	}
	b.Reset()
	// Full jitter: over many draws, the first waits stay under min and
	// spread over it.
	var most time.Duration
	for range 200 {
		b.Reset()
		d := b.Next()
		if d > b.Min {
			t.Fatalf("first wait %v after reset, want at most %v", d, b.Min)
		}
		most = max(most, d)
	}
	if most < b.Min/2 {
		t.Errorf("first waits all under %v: no jitter over the range", most)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	long := &Exponential{Min: time.Hour, Max: time.Hour, Jitter: FullJitter}
	long.Next()
	if err := long.Wait(ctx); err == nil {
		t.Error("wait ignored a cancelled context")
	}
}

// stage0's backoff: no jitter, every wait its ceiling.
func TestNoJitter(t *testing.T) {
	b := Exponential{Min: time.Second, Max: 60 * time.Second}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60}
	for i, w := range want {
		if got := b.Next(); got != w*time.Second {
			t.Fatalf("wait %d: %s, want %s", i, got, w*time.Second)
		}
	}
	b.Reset()
	if got := b.Next(); got != time.Second {
		t.Fatalf("after reset: %s, want 1s", got)
	}
}

// Jitter is given each ceiling in turn, and its answer is the wait.
func TestJitterGivenCeilings(t *testing.T) {
	var given []time.Duration
	b := Exponential{Min: 3, Max: 20, Jitter: func(ceil time.Duration) time.Duration {
		given = append(given, ceil)
		return ceil - 1
	}}
	var waits []time.Duration
	for range 5 {
		waits = append(waits, b.Next())
	}
	b.Reset()
	waits = append(waits, b.Next())
	wantGiven := []time.Duration{3, 6, 12, 20, 20, 3}
	for i := range wantGiven {
		if i >= len(given) || given[i] != wantGiven[i] || waits[i] != wantGiven[i]-1 {
			t.Fatalf("Jitter given %v, waits %v; want given %v, each wait one less", given, waits, wantGiven)
		}
	}
}

// Again draws from the ceiling Next would, without raising it: a client
// of three servers waits under 1 s before each of the first round, and
// under 2 s before each of the next.
func TestAgain(t *testing.T) {
	var given []time.Duration
	b := Exponential{Min: time.Second, Max: 4 * time.Second, Jitter: func(ceil time.Duration) time.Duration {
		given = append(given, ceil)
		return ceil / 2
	}}
	waits := []time.Duration{b.Again(), b.Again(), b.Next(), b.Again(), b.Again(), b.Next(), b.Again()}
	want := []time.Duration{1, 1, 1, 2, 2, 2, 4}
	for i, w := range want {
		if given[i] != w*time.Second || waits[i] != w*time.Second/2 {
			t.Fatalf("ceilings %v, waits %v; want ceilings %v seconds, each wait half", given, waits, want)
		}
	}
	plain := Exponential{Min: time.Second, Max: time.Minute}
	if a, n, a2 := plain.Again(), plain.Next(), plain.Again(); a != time.Second || n != time.Second || a2 != 2*time.Second {
		t.Errorf("no jitter: Again %v, Next %v, Again %v; want 1s, 1s, 2s", a, n, a2)
	}
}

// A Min above Max waits Max; ceilings near the largest duration stop at
// Max instead of doubling past it into negative waits.
func TestBounds(t *testing.T) {
	tests := []struct {
		name     string
		min, max time.Duration
	}{
		{"min-above-max", time.Minute, time.Second},
		{"huge-max", time.Second, math.MaxInt64},
		{"huge-odd-max", 3, math.MaxInt64/2 + 1},
		{"huge-both", math.MaxInt64 / 3, math.MaxInt64},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := Exponential{Min: tc.min, Max: tc.max}
			last := time.Duration(0)
			for i := range 100 {
				d := b.Next()
				if d <= 0 || d > tc.max || d < last {
					t.Fatalf("wait %d = %v after %v; want rising within (0, %v]", i, d, last, tc.max)
				}
				last = d
			}
			if last != tc.max {
				t.Errorf("after 100 waits %v, want Max %v", last, tc.max)
			}
		})
	}
}

// Wait sleeps by the backoff's clock for the wait it draws, no less.
func TestWaitByClock(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Now())
	b := &Exponential{Min: time.Minute, Max: time.Hour, Clock: clk}
	b.Next()
	done := make(chan error, 1)
	go func() { done <- b.Wait(context.Background()) }()
	wait.Until(t, "Wait to set its timer", 10*time.Second, time.Millisecond, clk.HasWaiters)
	clk.Step(2*time.Minute - time.Nanosecond)
	if !clk.HasWaiters() {
		t.Fatal("Wait's timer fired before the 2-minute wait had passed")
	}
	clk.Step(time.Nanosecond)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return once its wait had passed")
	}
}

// Sleep ends with the context's error when the context ends first.
func TestSleepCancelled(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Now())
	b := &Exponential{Clock: clk}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Sleep(ctx, time.Second) }()
	wait.Until(t, "Sleep to set its timer", 10*time.Second, time.Millisecond, clk.HasWaiters)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Sleep: %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Sleep did not return once its context ended")
	}
	if clk.HasWaiters() {
		t.Error("Sleep left its timer set")
	}
}
