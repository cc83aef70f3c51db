package server

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/monitor"
	"github.com/equus-monitoring/equus/modes/helen/web"
	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/wire"
)

func TestAPIRefusesWithoutToken(t *testing.T) {
	h := startHelen(t, Config{})
	c := newOpsClient(t, h)
	for _, path := range []string{"/v1/agents", "/v1/status", "/v1/schedules", "/v1/events", "/v1/history?agent=a", "/v1/nothing"} {
		for name, token := range map[string]string{
			"none":   "",
			"wrong":  c.Token[:len(c.Token)-1] + "x",
			"prefix": c.Token[:8],
			"longer": c.Token + "x",
		} {
			code, data := c.Do(http.MethodGet, path, token, nil)
			if code != http.StatusUnauthorized || !isJSONError(data) {
				t.Errorf("GET %s with %s token: %d %s, want 401 and a JSON error", path, name, code, data)
			}
		}
	}
	code, data := c.Do(http.MethodPost, "/v1/schedules", "", web.ScheduleView{Name: "x", Check: "load", Every: web.Duration(time.Minute)})
	if code != http.StatusUnauthorized || !isJSONError(data) {
		t.Errorf("POST without token: %d %s", code, data)
	}
	if len(h.srv.Schedules()) != 0 {
		t.Error("a schedule was added without the token")
	}

	// Nor does any action of the API act without it.
	a := startAgent(t, h, "web-1", behavior{})
	a.Ready()
	for _, rq := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/v1/tokens", map[string]any{"uses": 1, "ttl": "1h"}},
		{"POST", "/v1/agents/web-2/certificate", nil},
		{"POST", "/v1/agents/web-1/revoke", nil},
		{"DELETE", "/v1/agents/web-1", nil},
		{"POST", "/v1/agents/web-1/run", map[string]any{"check": "load"}},
		{"POST", "/v1/agents/web-1/reload", nil},
	} {
		code, data := c.Do(rq.method, rq.path, "", rq.body)
		if code != http.StatusUnauthorized || !isJSONError(data) {
			t.Errorf("%s %s without token: %d %s, want 401 and a JSON error", rq.method, rq.path, code, data)
		}
	}
	db := h.srv.DB()
	if toks, err := db.Tokens(); err != nil || len(toks) != 0 {
		t.Errorf("tokens made without the token: %v %v", toks, err)
	}
	if _, err := db.Agent("web-2"); err == nil {
		t.Error("a certificate was issued without the token")
	}
	if revoked, err := db.Revoked("web-1"); err != nil || revoked {
		t.Errorf("web-1 revoked without the token: %v %v", revoked, err)
	}
	if rs, err := db.History("web-1", "load", 0, time.Time{}, time.Time{}); err != nil || len(rs) != 0 {
		t.Errorf("a check ran without the token: %v %v", rs, err)
	}
	for _, m := range a.Received() {
		if m.Kind == wire.KindReload {
			t.Error("the agent was told to reload without the token")
		}
	}
}

func TestAPI(t *testing.T) {
	h := startHelen(t, Config{})
	c := newOpsClient(t, h)
	a := startAgent(t, h, "web-1", behavior{})
	a.Ready()

	var sch web.ScheduleView
	code, data := c.Do(http.MethodPost, "/v1/schedules", c.Token,
		map[string]any{"name": "load", "check": "load", "every": "1s", "args": map[string]string{"status": "warning"}})
	if code != http.StatusOK || json.Unmarshal(data, &sch) != nil {
		t.Fatalf("POST /v1/schedules: %d %s", code, data)
	}
	// The timeout is the default's or the interval's, the shorter.
	if sch.Every != web.Duration(time.Second) || sch.Agents != "*" || sch.Timeout != web.Duration(time.Second) {
		t.Errorf("schedule = %+v", sch)
	}
	var list []web.ScheduleView
	c.Get("/v1/schedules", &list)
	if len(list) != 1 || list[0].Name != "load" {
		t.Errorf("GET /v1/schedules = %+v", list)
	}
	for _, bad := range []any{
		map[string]any{"name": "x", "check": "load"},
		map[string]any{"name": "x y", "check": "load", "every": "1s"},
		map[string]any{"name": "x", "check": "load", "every": "soon"},
		map[string]any{"name": "x", "check": "load", "every": "100ms"},
		map[string]any{"name": "x", "check": "load", "every": "10s", "timeout": "30s"},
		map[string]any{"name": "x", "check": "nosuchcheck", "every": "1m"},
		"not an object",
	} {
		if code, data := c.Do(http.MethodPost, "/v1/schedules", c.Token, bad); code != http.StatusBadRequest || !isJSONError(data) {
			t.Errorf("POST %v: %d %s, want 400 and a JSON error", bad, code, data)
		}
	}

	poll(t, "two results and an event", func() bool {
		rs, _ := h.srv.DB().History("web-1", "load", 0, time.Time{}, time.Time{})
		evs, _ := h.srv.DB().Events(time.Time{}, time.Time{}, 0)
		return len(rs) >= 2 && len(evs) == 1
	})
	var sts []monitor.StatusView
	c.Get("/v1/status", &sts)
	if len(sts) != 1 || sts[0].Agent != "web-1" || sts[0].Status.Status != "warning" {
		t.Errorf("GET /v1/status = %+v", sts)
	}
	var agents []web.AgentView
	c.Get("/v1/agents", &agents)
	if len(agents) != 1 || agents[0].Name != "web-1" || !agents[0].Connected {
		t.Errorf("GET /v1/agents = %+v", agents)
	}
	var rs []state.Result
	c.Get("/v1/history?agent=web-1&check=load&since=1h&limit=2", &rs)
	if len(rs) != 2 || rs[0].Check != "load" || rs[0].Status != "warning" {
		t.Errorf("GET /v1/history = %+v", rs)
	}
	c.Get("/v1/history?agent=web-1&until="+time.Now().Add(-time.Hour).Format(time.RFC3339), &rs)
	if len(rs) != 0 {
		t.Errorf("GET /v1/history until an hour ago = %+v", rs)
	}
	var evs []state.Event
	c.Get("/v1/events?since=1h", &evs)
	if len(evs) != 1 || evs[0].To != "warning" {
		t.Errorf("GET /v1/events = %+v", evs)
	}
	for _, path := range []string{"/v1/history", "/v1/history?agent=a&since=yesterday", "/v1/events?limit=0"} {
		if code, data := c.Do(http.MethodGet, path, c.Token, nil); code != http.StatusBadRequest || !isJSONError(data) {
			t.Errorf("GET %s: %d %s, want 400 and a JSON error", path, code, data)
		}
	}
	if code, data := c.Do(http.MethodGet, "/v1/nothing", c.Token, nil); code != http.StatusNotFound || !isJSONError(data) {
		t.Errorf("GET /v1/nothing: %d %s, want 404 and a JSON error", code, data)
	}

	if code, data := c.Do(http.MethodDelete, "/v1/schedules/load", c.Token, nil); code != http.StatusOK {
		t.Errorf("DELETE: %d %s", code, data)
	}
	if code, data := c.Do(http.MethodDelete, "/v1/schedules/load", c.Token, nil); code != http.StatusNotFound || !isJSONError(data) {
		t.Errorf("second DELETE: %d %s, want 404", code, data)
	}
	c.Get("/v1/schedules", &list)
	if len(list) != 0 {
		t.Errorf("schedules after DELETE = %+v", list)
	}
}

func TestAdminTokenFile(t *testing.T) {
	dir := t.TempDir()
	h := startHelen(t, Config{DataDir: dir})
	token, created := h.srv.AdminToken()
	if !created || len(token) < 20 {
		t.Fatalf("first start: token %q created %v", token, created)
	}
	fi, err := os.Stat(filepath.Join(dir, AdminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("admin-token mode %v, want 0600", fi.Mode().Perm())
	}
	h.stop()
	h.srv.Close()
	h2 := startHelen(t, Config{DataDir: dir})
	again, created := h2.srv.AdminToken()
	if created || again != token {
		t.Errorf("second start: token %q created %v, want the first one kept", again, created)
	}
}

func TestMetricsAuth(t *testing.T) {
	for _, auth := range []bool{false, true} {
		h := startHelen(t, Config{MetricsAuth: auth})
		c := newOpsClient(t, h)
		code, data := c.Do(http.MethodGet, "/metrics", "", nil)
		if auth && (code != http.StatusUnauthorized || !isJSONError(data)) {
			t.Errorf("--metrics-auth, no token: %d", code)
		}
		if !auth && (code != http.StatusOK || !strings.Contains(string(data), "helen_agents_connected")) {
			t.Errorf("open /metrics: %d", code)
		}
		if code, _ := c.Do(http.MethodGet, "/metrics", c.Token, nil); code != http.StatusOK {
			t.Errorf("metrics-auth %v, with token: %d", auth, code)
		}
	}
}
