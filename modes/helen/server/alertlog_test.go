package server

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/logtest"
	"github.com/equus-monitoring/equus/modes/helen/web"
	"github.com/equus-monitoring/equus/state"
)

// TestServeLogsAlerting: helen serve logs, at info and once each, a hard
// change of status (of a schedule on the monitor's fake clock, and of an
// agent going down), a silence added and removed, an acknowledgement
// given and taken back, and a delivery that failed (a receiver that
// answers 500), each line with what an operator looks for in it.
func TestServeLogsAlerting(t *testing.T) {
	type contains string // a field's value that holds this
	receiver := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		http.Error(w, "receiver broken", http.StatusInternalServerError)
	}))
	receiver.StartTLS()
	t.Cleanup(receiver.Close)
	roots := (&webhookReceiver{srv: receiver}).roots()

	var logs logtest.Buffer
	log := slog.New(slog.NewJSONHandler(io.MultiWriter(&logs, logtest.Writer{T: t}), &slog.HandlerOptions{Level: slog.LevelInfo}))
	const downAfter = 30 * time.Second
	clk := newFakeClock()
	h := startHelen(t, Config{Log: log, monitorClock: clk, receiverRoots: roots, DownAfter: downAfter})
	c := newOpsClient(t, h)
	route := web.RouteView{Name: "ops", Receivers: []web.ReceiverView{
		{Kind: state.KindWebhook, Webhook: &web.WebhookView{URL: receiver.URL + "/hook"}},
	}}
	if code, data := c.Do("POST", "/v1/routes", c.Token, route); code != http.StatusOK {
		t.Fatalf("POST /v1/routes: %d %s", code, data)
	}
	agent := startAgent(t, h, "web-1", behavior{})
	agent.Ready()
	const every = time.Minute
	if _, err := h.srv.PutSchedule(state.Schedule{Name: "disk", Check: "disk", Every: every, Agents: "web-1",
		Args: []byte(`{"status":"critical"}`)}); err != nil {
		t.Fatal(err)
	}

	// one waits for the one line of msg, and checks its fields.
	one := func(msg string, want map[string]any) {
		t.Helper()
		poll(t, "the log line "+msg, func() bool { return len(logtest.WithMsg(logs.Lines(t), msg)) > 0 })
		lines := logtest.WithMsg(logs.Lines(t), msg)
		if len(lines) != 1 {
			t.Errorf("%d lines %q, want 1: %v", len(lines), msg, lines)
			return
		}
		if lines[0]["level"] != "INFO" {
			t.Errorf("line %q at %v, want INFO", msg, lines[0]["level"])
		}
		for k, v := range want {
			got := fmt.Sprint(lines[0][k])
			if sub, ok := v.(contains); ok && strings.Contains(got, string(sub)) {
				continue
			}
			if got != fmt.Sprint(v) {
				t.Errorf("line %q: %s=%q, want %q (%v)", msg, k, got, v, lines[0])
			}
		}
	}

	settleMonitor(t, clk, monitorTickers+1)
	clk.Step(every)
	one("hard change", map[string]any{"agent": "web-1", "schedule": "disk", "from": "ok", "to": "critical"})
	// The problem goes to the receiver, which answers 500: retried later,
	// on the fake clock, which the test does not move meanwhile.
	one("notification failed", map[string]any{"agent": "web-1", "schedule": "disk", "route": "ops", "receiver": 0, "attempt": 1,
		"err": contains(receiver.URL + "/hook: 500 Internal Server Error")})

	end := clk.Now().Add(time.Hour)
	var s state.Silence
	if code, data := c.Do("POST", "/v1/silences", c.Token, web.SilenceRequest{Agents: "web-*", Schedules: "disk", End: end,
		Comment: "disk swap", Author: "alice"}); code != http.StatusOK || json.Unmarshal(data, &s) != nil {
		t.Fatalf("POST /v1/silences: %d %s", code, data)
	}
	one("silence added", map[string]any{"silence": s.ID, "author": "alice", "agents": "web-*", "schedules": "disk", "comment": "disk swap"})
	if code, data := c.Do("DELETE", "/v1/silences/"+s.ID, c.Token, nil); code != http.StatusOK {
		t.Fatalf("DELETE silence: %d %s", code, data)
	}
	// Removing it again is refused, and logs nothing.
	if code, _ := c.Do("DELETE", "/v1/silences/"+s.ID, c.Token, nil); code != http.StatusNotFound {
		t.Errorf("DELETE the silence again: %d, want 404", code)
	}
	one("silence removed", map[string]any{"silence": s.ID})

	if code, data := c.Do("POST", "/v1/acks", c.Token, web.AckRequest{Agent: "web-1", Schedule: "disk", Comment: "on it", Author: "bob"}); code != http.StatusOK {
		t.Fatalf("POST /v1/acks: %d %s", code, data)
	}
	one("acknowledged", map[string]any{"agent": "web-1", "schedule": "disk", "author": "bob", "comment": "on it"})
	if code, data := c.Do("DELETE", "/v1/acks/web-1/disk", c.Token, nil); code != http.StatusOK {
		t.Fatalf("DELETE /v1/acks: %d %s", code, data)
	}
	one("acknowledgement removed", map[string]any{"agent": "web-1", "schedule": "disk"})

	// The agent goes, and is down once its grace period is over.
	agent.Close()
	poll(t, "web-1 down", func() bool {
		if len(logtest.WithMsg(logs.Lines(t), "agent down")) > 0 {
			return true
		}
		clk.Step(time.Second)
		return false
	})
	one("agent down", map[string]any{"agent": "web-1", "from": "up", "to": "down"})
	// And a hard change is still one line: the agent down made none for
	// its schedule.
	one("hard change", map[string]any{"agent": "web-1", "schedule": "disk"})
}
