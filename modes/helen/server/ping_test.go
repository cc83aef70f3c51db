package server

import (
	"fmt"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/wire"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestVersionGate(t *testing.T) {
	tests := []struct {
		name     string
		helen    string
		disabled bool
		agent    string
		reload   bool
	}{
		{"older-agent", "2.0.0", false, "1.0.0", true},
		{"older-agent-updates-disabled", "2.0.0", true, "1.0.0", false},
		{"same-version", "2.0.0", false, "2.0.0", false},
		{"newer-agent", "2.0.0", false, "2.1.0", false},
		{"prerelease-agent", "2.0.0", false, "2.0.0-rc.1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := startHelen(t, Config{Version: tt.helen, UpdateDisabled: tt.disabled})
			rc := dialRaw(t, h, agentCert(t, h.srv, "web-1"), []string{wire.ALPN})
			rc.Write("hello 1 " + tt.agent + "\n")
			if tt.reload {
				got, err := rc.ReadAll()
				if err != nil || string(got) != "reload\n" {
					t.Fatalf("helen sent %q (%v), want exactly reload and the end", got, err)
				}
				return
			}
			m, err := wire.NewReader(rc.C).Read()
			if err != nil || m.Kind != wire.KindCheck || m.Name != "equus.info" {
				t.Fatalf("first message %+v, %v; want check equus.info", m, err)
			}
		})
	}
}

// TestPing: an idle agent that answers gets a ping every interval and
// stays; one that answers nothing is closed after two pings unanswered.
// The pings run on a fake clock, stepped once helen waits on it.
func TestPing(t *testing.T) {
	const every = time.Minute
	clk := newFakeClock()
	h := startHelen(t, Config{PingInterval: every, DownAfter: 3 * every, hubClock: clk})
	live := startAgent(t, h, "live", behavior{})
	live.Ready()
	mute := startAgent(t, h, "mute", behavior{Mute: true})
	poll(t, "mute to get equus.info", func() bool { return mute.CountChecks("equus.info") == 1 })

	// Each interval the live agent answers its ping at once; the mute one
	// is pinged, misses the interval it has to answer, is pinged again
	// and misses again.
	for i, mutePings := range []int{1, 1, 2} {
		waitTimers(t, clk, 2)
		clk.Step(every)
		poll(t, fmt.Sprintf("ping %d to the live agent, %d to the mute one", i+1, mutePings), func() bool {
			return live.CountChecks("equus.ping") == i+1 && mute.CountChecks("equus.ping") == mutePings
		})
	}
	waitTimers(t, clk, 2)
	clk.Step(every)
	ms, err := mute.WaitClosed()
	if !endedCleanly(err) {
		t.Errorf("mute agent's connection ended with %v", err)
	}
	var pings int
	for _, m := range ms {
		if m.Kind == wire.KindCheck && m.Name == "equus.ping" {
			pings++
			if len(m.Blob) != 0 {
				t.Errorf("ping with args %q", m.Blob)
			}
		}
	}
	if pings != 2 {
		t.Errorf("mute agent closed after %d pings, want 2", pings)
	}
	poll(t, "mute marked disconnected", func() bool {
		a, err := h.srv.DB().Agent("mute")
		return err == nil && !a.Connected
	})
	if live.Closed() {
		t.Fatal("helen closed the live agent")
	}
	// Pings are helen's own business: not kept in the history.
	if rs, _ := h.srv.DB().History("live", "equus.ping", 0, time.Time{}, time.Time{}); len(rs) != 0 {
		t.Errorf("%d pings in the history", len(rs))
	}
}

// TestNoPingWhenBusy checks that an agent that talks gets no ping: ten
// times, the clock moves most of an interval and the agent answers a
// check, and helen never pings it.
func TestNoPingWhenBusy(t *testing.T) {
	const every = time.Minute
	clk := newFakeClock()
	h := startHelen(t, Config{PingInterval: every, DownAfter: 3 * every, hubClock: clk})
	a := startAgent(t, h, "web-1", behavior{})
	a.Ready()
	for range 10 {
		waitTimers(t, clk, 1)
		clk.Step(every * 9 / 10)
		runCheck(t, h, "web-1", "load", "")
	}
	waitTimers(t, clk, 1)
	if n := a.CountChecks("equus.ping"); n != 0 {
		t.Fatalf("a busy agent got %d pings", n)
	}
	// Idle from now: the next interval brings one.
	clk.Step(every)
	poll(t, "a ping once idle", func() bool { return a.CountChecks("equus.ping") == 1 })
}

// waitTimers waits until n timers wait on clk: the pingers armed, so that
// a step of the clock reaches them.
func waitTimers(t *testing.T, clk *clocktesting.FakeClock, n int) {
	t.Helper()
	poll(t, fmt.Sprintf("%d timers armed", n), func() bool { return clk.Waiters() == n })
}

// TestRunPingNotStored checks that Run of equus.ping answers without
// keeping the pong, while other checks are kept.
func TestRunPingNotStored(t *testing.T) {
	h := startHelen(t, Config{})
	a := startAgent(t, h, "web-1", behavior{Silent: map[string]bool{"equus.ping": true}})
	a.Ready()
	doc, err := h.srv.Run(t.Context(), "web-1", "equus.ping", nil, 200*time.Millisecond)
	if err != nil || doc.Status != "unknown" {
		t.Fatalf("unanswered ping: %+v %v, want status unknown", doc, err)
	}
	b := startAgent(t, h, "web-2", behavior{})
	b.Ready()
	if doc := runCheck(t, h, "web-2", "equus.ping", ""); doc.Status != "ok" {
		t.Fatalf("ping: %+v", doc)
	}
	for _, agent := range []string{"web-1", "web-2"} {
		if rs, _ := h.srv.DB().History(agent, "equus.ping", 0, time.Time{}, time.Time{}); len(rs) != 0 {
			t.Errorf("%s: %d pings in the history", agent, len(rs))
		}
	}
}
