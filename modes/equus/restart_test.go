package equus

import (
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/backoff"
	"github.com/equus-monitoring/equus/wire"
)

// TestShuttingDownWaitIsShort checks the wait after helen's
// shutting_down: drawn from the short restart ceiling whatever the
// backoff grew to, the backoff started over; a second one in a row backs
// off as any error does.
func TestShuttingDownWaitIsShort(t *testing.T) {
	var ceilings []time.Duration
	bo := &backoff.Exponential{Min: time.Second, Max: time.Minute, Jitter: func(c time.Duration) time.Duration {
		ceilings = append(ceilings, c)
		return c / 2
	}}
	failed := outcome{end: endFailed}
	shutting := outcome{end: endError, message: string(wire.CodeShuttingDown) + " helen shutting down"}
	for range 6 {
		retryWait(bo, failed, false)
	}
	if got := bo.Ceiling(); got != time.Minute {
		t.Fatalf("ceiling after 6 failures = %v, want the 1m cap", got)
	}
	ceilings = nil
	if got := retryWait(bo, shutting, false); got != backoff.RestartCeiling/2 {
		t.Errorf("wait after shutting_down = %v, want the jitter's draw under %v", got, backoff.RestartCeiling)
	}
	if got := bo.Ceiling(); got != time.Second {
		t.Errorf("ceiling after shutting_down = %v, want Min again", got)
	}
	// Helen still shutting down: the backoff counts it.
	if got := retryWait(bo, shutting, true); got != time.Second/2 {
		t.Errorf("wait after a second shutting_down = %v, want the backoff's", got)
	}
	want := []time.Duration{backoff.RestartCeiling, time.Second}
	if len(ceilings) != len(want) || ceilings[0] != want[0] || ceilings[1] != want[1] {
		t.Errorf("ceilings drawn = %v, want %v", ceilings, want)
	}
	// Other errors back off.
	bo.Reset()
	retryWait(bo, outcome{end: endError, message: string(wire.CodeNotAuthorized)}, false)
	if got := bo.Ceiling(); got != 2*time.Second {
		t.Errorf("ceiling after not_authorized = %v, want doubled", got)
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
