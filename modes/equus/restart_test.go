package equus

import (
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	"github.com/equus-monitoring/equus/internal/backoff"
	"github.com/equus-monitoring/equus/wire"
)

// TestRestartWindow follows the waits of an agent through helen's
// restarts on a fake clock: after shutting_down, and after an accepted
// session's connection broke (helen killed), it retries within
// [RestartRetryMin, RestartRetryMax] whatever the backoff grew to, also
// when the dials fail and when helen still says shutting_down; past the
// window it backs off from the start, and a sign opens no window again
// until helen accepted a session.
func TestRestartWindow(t *testing.T) {
	clk := testingclock.NewFakePassiveClock(time.Unix(1e9, 0))
	var draws [][2]time.Duration
	rs := &backoff.Restart{Clock: clk, Draw: func(lo, hi time.Duration) time.Duration {
		draws = append(draws, [2]time.Duration{lo, hi})
		return hi
	}}
	bo := &backoff.Exponential{Min: time.Second, Max: time.Minute} // no jitter: each wait its ceiling
	refused := outcome{end: endUnreachable}
	broke := outcome{end: endFailed}
	brokeAccepted := outcome{end: endFailed, checks: 3}
	shutting := outcome{end: endError, message: string(wire.CodeShuttingDown) + " helen shutting down"}
	shuttingAccepted := shutting
	shuttingAccepted.checks = 1
	refusedCert := outcome{end: endError, message: string(wire.CodeNotAuthorized)}
	fast := backoff.RestartRetryMax
	steps := []struct {
		name    string
		o       outcome
		advance time.Duration // on the clock before o
		want    time.Duration
	}{
		{"unreachable at start backs off", refused, 0, time.Second},
		{"and grows", refused, 0, 2 * time.Second},
		{"a session not accepted breaking backs off", broke, 0, 4 * time.Second},
		{"grown", refused, 0, 8 * time.Second},
		{"grown more", refused, 0, 16 * time.Second},
		{"shutting_down opens the window", shuttingAccepted, 0, fast},
		{"refused in it", refused, time.Second, fast},
		{"still shutting_down in it", shutting, time.Second, fast},
		{"broken handshake in it", broke, time.Second, fast},
		{"not_authorized backs off, from the start", refusedCert, 0, time.Second},
		{"refused near its end", refused, backoff.RestartWindow - 4*time.Second, fast},
		{"past it the backoff again", refused, 2 * time.Second, 2 * time.Second},
		{"shutting_down again opens none", shutting, 0, 4 * time.Second},
		{"a killed helen's broken session opens it again", brokeAccepted, 0, fast},
		{"refused in that one", refused, 10 * time.Second, fast},
		{"past it", refused, backoff.RestartWindow, time.Second},
	}
	for _, s := range steps {
		clk.SetTime(clk.Now().Add(s.advance))
		if got := retryWait(bo, rs, &rotation{}, s.o); got != s.want {
			t.Errorf("%s: wait %v, want %v", s.name, got, s.want)
		}
	}
	for _, d := range draws {
		if d != [2]time.Duration{backoff.RestartRetryMin, backoff.RestartRetryMax} {
			t.Fatalf("drawn from %v, want [RestartRetryMin, RestartRetryMax]", d)
		}
	}
	if len(draws) != 7 {
		t.Errorf("%d fast waits drawn, want 7", len(draws))
	}
}

// TestShuttingDownReconnectsSoon runs the agent with a backoff of an
// hour: after helen's shutting_down it is back within the short restart
// wait all the same.
func TestShuttingDownReconnectsSoon(t *testing.T) {
	checkGoroutines(t)
	p := newTestPKI(t)
	h := startHelen(t, p)
	cfg := testConfig(t, p, h)
	cfg.BackoffMin, cfg.BackoffMax = time.Hour, time.Hour
	startAgent(t, cfg)
	hc := h.accept()
	hc.send(wire.Error(wire.CodeShuttingDown))
	hc.waitClosed()
	hc2 := h.accept() // fails the test past waitFor, far past the restart wait
	hc2.send(wire.Check("equus.ping", 1, nil))
	parseResult(t, hc2.next(), 1, "equus.ping")
}
