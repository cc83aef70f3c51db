package helen

import (
	"testing"
	"time"

	"github.com/equus-monitoring/equus/wire"
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
			rc.write("hello 1 " + tt.agent + "\n")
			if tt.reload {
				got, err := rc.readAll()
				if err != nil || string(got) != "reload\n" {
					t.Fatalf("helen sent %q (%v), want exactly reload and the end", got, err)
				}
				return
			}
			m, err := wire.NewReader(rc.c).Read()
			if err != nil || m.Kind != wire.KindCheck || m.Name != "equus.info" {
				t.Fatalf("first message %+v, %v; want check equus.info", m, err)
			}
		})
	}
}

func TestPing(t *testing.T) {
	h := startHelen(t, Config{PingInterval: 100 * time.Millisecond})
	live := startAgent(t, h, "live", behavior{})
	live.ready()
	mute := startAgent(t, h, "mute", behavior{Mute: true})
	poll(t, "mute to get equus.info", func() bool { return mute.countChecks("equus.info") == 1 })

	poll(t, "pings to the live agent", func() bool { return live.countChecks("equus.ping") >= 3 })
	start := time.Now()
	ms, err := mute.waitClosed()
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
	t.Logf("mute agent closed %s after the live one had its third ping", time.Since(start))
	poll(t, "mute marked disconnected", func() bool {
		a, err := h.srv.DB().Agent("mute")
		return err == nil && !a.Connected
	})
	if live.closed() {
		t.Fatal("helen closed the live agent")
	}
	// Pings are helen's own business: not kept in the history.
	if rs, _ := h.srv.DB().History("live", "equus.ping", 0, time.Time{}, time.Time{}); len(rs) != 0 {
		t.Errorf("%d pings in the history", len(rs))
	}
}

// TestNoPingWhenBusy checks that an agent that talks gets no ping.
func TestNoPingWhenBusy(t *testing.T) {
	h := startHelen(t, Config{PingInterval: 300 * time.Millisecond})
	a := startAgent(t, h, "web-1", behavior{})
	a.ready()
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		runCheck(t, h, "web-1", "load", "")
		time.Sleep(20 * time.Millisecond)
	}
	if n := a.countChecks("equus.ping"); n != 0 {
		t.Fatalf("a busy agent got %d pings", n)
	}
}

// TestRunPingNotStored checks that Run of equus.ping answers without
// keeping the pong, while other checks are kept.
func TestRunPingNotStored(t *testing.T) {
	h := startHelen(t, Config{})
	a := startAgent(t, h, "web-1", behavior{Silent: map[string]bool{"equus.ping": true}})
	a.ready()
	doc, err := h.srv.Run(t.Context(), "web-1", "equus.ping", nil, 200*time.Millisecond)
	if err != nil || doc.Status != "unknown" {
		t.Fatalf("unanswered ping: %+v %v, want status unknown", doc, err)
	}
	b := startAgent(t, h, "web-2", behavior{})
	b.ready()
	if doc := runCheck(t, h, "web-2", "equus.ping", ""); doc.Status != "ok" {
		t.Fatalf("ping: %+v", doc)
	}
	for _, agent := range []string{"web-1", "web-2"} {
		if rs, _ := h.srv.DB().History(agent, "equus.ping", 0, time.Time{}, time.Time{}); len(rs) != 0 {
			t.Errorf("%s: %d pings in the history", agent, len(rs))
		}
	}
}
