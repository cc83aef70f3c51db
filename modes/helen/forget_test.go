package helen

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/server"
	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/wire"
)

// agentsIn returns which of names the lines of a list name as their
// agent.
func agentsIn(items []map[string]any, key string) map[string]int {
	n := map[string]int{}
	for _, it := range items {
		if s, ok := it[key].(string); ok {
			n[s]++
		}
	}
	return n
}

// eventsTo returns the events of agent whose To is to.
func eventsTo(t *testing.T, db state.Store, agent, to string) []state.Event {
	t.Helper()
	evs, err := db.Events(time.Time{}, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []state.Event
	for _, ev := range evs {
		if ev.Agent == agent && ev.To == to {
			out = append(out, ev)
		}
	}
	return out
}

// TestForget: helen forget NAME forgets an agent revoked or not connected
// (its statuses, its line among the agents, its grace period, with an
// event), keeps its history, and refuses a connected agent or an unknown
// name changing nothing; online and offline. Revoking is an event too.
func TestForget(t *testing.T) {
	h := startHelen(t, server.Config{DownAfter: time.Hour})
	c := newOpsClient(t, h)
	db := h.srv.DB()
	agents := map[string]*fakeAgent{}
	for _, name := range []string{"web-1", "web-2", "web-3"} {
		agents[name] = startAgent(t, h, name, behavior{})
		agents[name].Ready()
	}
	for _, name := range []string{"s1", "s2"} {
		if _, err := h.srv.PutSchedule(state.Schedule{Name: name, Check: "c", Every: 50 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
	}
	poll(t, "a status of every schedule on every agent", func() bool { return len(h.srv.Statuses(false)) == 6 })
	data := "--data=" + h.dir
	status := func() map[string]int {
		var list []map[string]any
		c.Get("/v1/status", &list)
		return agentsIn(list, "agent")
	}
	listed := func() map[string]int {
		var list []map[string]any
		c.Get("/v1/agents", &list)
		return agentsIn(list, "name")
	}

	// Connected, or unknown: refused, nothing changes.
	for _, tt := range []struct{ name, says string }{{"web-1", "connected"}, {"nobody", "no such agent"}, {"bad name", "bad agent name"}} {
		out, code := helenCLI(t, "forget", data, tt.name)
		if code == 0 || !strings.Contains(out, tt.says) {
			t.Errorf("forget %s: exit %d, %q; want an error saying %q", tt.name, code, out, tt.says)
		}
	}
	if n := status(); n["web-1"] != 2 || listed()["web-1"] != 1 || len(eventsTo(t, db, "web-1", "forgotten")) != 0 {
		t.Errorf("a refused forget changed something: statuses %v, agents %v", n, listed())
	}

	// Disconnected, in its grace period: forgotten.
	agents["web-2"].Close()
	poll(t, "web-2 disconnected", func() bool { _, ok := h.srv.Hub().Session("web-2"); return !ok })
	if out, code := helenCLI(t, "forget", data, "web-2"); code != 0 || !strings.Contains(out, "forgot web-2") {
		t.Fatalf("forget web-2: exit %d, %q", code, out)
	}
	if n := status(); n["web-2"] != 0 || n["web-1"] != 2 {
		t.Errorf("statuses after forget web-2: %v", n)
	}
	if n := listed(); n["web-2"] != 0 || n["web-1"] != 1 {
		t.Errorf("agents after forget web-2: %v", n)
	}
	var rs []map[string]any
	c.Get("/v1/history?agent=web-2", &rs)
	if len(rs) == 0 {
		t.Error("forget removed web-2's history")
	}
	if evs := eventsTo(t, db, "web-2", "forgotten"); len(evs) != 1 || evs[0].From != "down" {
		t.Errorf("events of forget web-2: %+v", evs)
	}
	if h.srv.Monitor().Waiting("web-2") {
		t.Error("web-2's grace period goes on after it was forgotten: it would be declared down")
	}
	if _, code := helenCLI(t, "forget", data, "web-2"); code == 0 {
		t.Error("forget of a forgotten agent succeeded")
	}

	// Revoked while connected: an event, and it may be forgotten at once,
	// while its session may still be ending.
	if out, code := helenCLI(t, "revoke", data, "web-3"); code != 0 {
		t.Fatalf("revoke web-3: exit %d, %q", code, out)
	}
	if evs := eventsTo(t, db, "web-3", "revoked"); len(evs) != 1 || evs[0].From != "up" {
		t.Errorf("events of revoke web-3: %+v", evs)
	}
	if out, code := helenCLI(t, "forget", data, "web-3"); code != 0 {
		t.Fatalf("forget web-3: exit %d, %q", code, out)
	}
	if _, err := agents["web-3"].WaitClosed(); err != nil && !endedCleanly(err) {
		t.Logf("web-3 closed: %v", err)
	}
	poll(t, "web-3's session gone", func() bool { _, ok := h.srv.Hub().Session("web-3"); return !ok })
	if n := status(); n["web-3"] != 0 {
		t.Errorf("statuses of web-3 after forget: %v", n)
	}
	if evs := eventsTo(t, db, "web-3", "forgotten"); len(evs) != 1 || evs[0].From != "revoked" {
		t.Errorf("events of forget web-3: %+v", evs)
	}
	rc := dialRaw(t, h, agentCert(t, h.srv, "web-3"), []string{wire.ALPN})
	rc.Write("hello 1 1.0.0\n")
	rc.ExpectClosedWith(wire.CodeNotAuthorized)

	// web-2 connects again: back, as new.
	agents["web-2"] = startAgent(t, h, "web-2", behavior{})
	agents["web-2"].Ready()
	poll(t, "web-2's statuses back", func() bool { return status()["web-2"] == 2 })
	if listed()["web-2"] != 1 {
		t.Errorf("web-2 not among the agents once back: %v", listed())
	}

	// The admin socket's answers.
	a := adminFor(t, h)
	for name, want := range map[string]int{"web-1": http.StatusConflict, "nobody": http.StatusNotFound} {
		req, _ := http.NewRequest(http.MethodDelete, "http://helen/v1/agents/"+name, nil)
		resp, err := a.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("DELETE /v1/agents/%s: %d, want %d", name, resp.StatusCode, want)
		}
	}

	// Offline, with no helen, no agent is connected.
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if err := h.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if out, code := helenCLI(t, "forget", data, "web-1"); code != 0 {
		t.Fatalf("forget web-1 offline: exit %d, %q", code, out)
	}
	if out, code := helenCLI(t, "forget", data, "web-1"); code == 0 || !strings.Contains(out, "no such agent") {
		t.Errorf("forget web-1 offline again: exit %d, %q", code, out)
	}
	out, _ := helenCLI(t, "status", data)
	if strings.Contains(out, "web-1") || !strings.Contains(out, "web-2") {
		t.Errorf("status offline after forget web-1:\n%s", out)
	}
	out, _ = helenCLI(t, "agents", data)
	if strings.Contains(out, "web-1") || strings.Contains(out, "web-3") {
		t.Errorf("agents offline after forget web-1:\n%s", out)
	}
	for range 2 {
		if out, code := helenCLI(t, "revoke", data, "web-2"); code != 0 {
			t.Fatalf("revoke web-2 offline: exit %d, %q", code, out)
		}
	}
	if evs := eventsOffline(t, h.dir, "web-2", "revoked"); len(evs) != 1 || evs[0].From != "down" {
		t.Errorf("events of revoking web-2 twice offline: %+v, want one", evs)
	}
	out, _ = helenCLI(t, "events", data)
	for _, want := range []string{"web-3  agent  UP -> REVOKED", "web-3  agent  REVOKED -> FORGOTTEN", "web-1  agent  DOWN -> FORGOTTEN", "web-2  agent  DOWN -> REVOKED"} {
		if !strings.Contains(out, want) {
			t.Errorf("events lack %q:\n%s", want, out)
		}
	}
}

// eventsOffline returns the events of agent whose To is to, from the
// database of a helen stopped.
func eventsOffline(t *testing.T, dir, agent, to string) []state.Event {
	t.Helper()
	db, err := state.Open(filepath.Join(dir, server.DBFile), state.Options{Existing: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	return eventsTo(t, db, agent, to)
}
