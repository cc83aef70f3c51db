package helen

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/server"
	"github.com/equus-monitoring/equus/modes/helen/web"
	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/wire"
)

// adminFor connects to the admin socket of h.
func adminFor(t testing.TB, h *testHelen) *adminClient {
	t.Helper()
	ac, err := dialAdmin(h.dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ac.close)
	return ac
}

func TestAdminSocket(t *testing.T) {
	h := startHelen(t, server.Config{})
	a := startAgent(t, h, "web-1", behavior{})
	a.Ready()
	ac := adminFor(t, h)
	ctx := context.Background()

	fi, err := os.Stat(filepath.Join(h.dir, server.SocketFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("admin socket mode %v, want a socket of mode 0600", fi.Mode())
	}

	t.Run("only-the-api", func(t *testing.T) {
		// The endpoints the socket served beside the API are gone: a
		// command of an earlier version says so.
		for _, path := range []string{"/token", "/issue", "/agents", "/history", "/revoke", "/forget", "/run", "/reload"} {
			var out map[string]any
			err := ac.do(ctx, http.MethodPost, path, map[string]string{"name": "web-1"}, &out)
			if err == nil || !strings.Contains(err.Error(), "no such endpoint: POST "+path) {
				t.Errorf("POST %s: %v, want no such endpoint", path, err)
			}
		}
	})

	t.Run("token", func(t *testing.T) {
		var tok web.TokenResponse
		if err := ac.do(ctx, http.MethodPost, "/v1/tokens", web.TokenRequest{Uses: 2, TTL: web.Duration(time.Hour)}, &tok); err != nil {
			t.Fatal(err)
		}
		if tok.Token == "" || tok.Uses != 2 || !strings.Contains(tok.Join, "--token "+tok.Token) ||
			time.Until(tok.Expires) < 59*time.Minute || time.Until(tok.Expires) > time.Hour {
			t.Fatalf("token answer %+v", tok)
		}
		if !strings.Contains(tok.Join, h.srv.CA().Pin()) || !strings.Contains(tok.Join, h.addr()) {
			t.Errorf("join command %q lacks the CA pin or helen's address", tok.Join)
		}
		hc := httpsClient(t, h, nil)
		for _, name := range []string{"new-1", "new-2"} {
			csr, _ := newCSR(t, name)
			if code, _ := enroll(t, hc, h, tok.Token, csr); code != http.StatusOK {
				t.Fatalf("enroll %s with the token: %d", name, code)
			}
		}
		for _, req := range []web.TokenRequest{{Uses: 0, TTL: web.Duration(time.Hour)}, {Uses: 1, TTL: 0}} {
			if err := ac.do(ctx, http.MethodPost, "/v1/tokens", req, &tok); err == nil {
				t.Errorf("token %+v: no error", req)
			}
		}
	})

	t.Run("issue", func(t *testing.T) {
		var iss web.IssueResponse
		if err := ac.do(ctx, http.MethodPost, "/v1/agents/db-1/certificate", nil, &iss); err != nil {
			t.Fatal(err)
		}
		cert, err := tls.X509KeyPair([]byte(iss.Cert), []byte(iss.Key))
		if err != nil {
			t.Fatal(err)
		}
		if iss.Name != "db-1" || iss.CA != string(h.srv.CA().CertPEM) {
			t.Fatalf("issue answer names %q", iss.Name)
		}
		b := startAgentWith(t, h, "db-1", &cert, behavior{})
		b.Ready()
		if err := ac.do(ctx, http.MethodPost, "/v1/agents/..%2Fetc/certificate", nil, &iss); err == nil {
			t.Error("issue ../etc: no error")
		}
	})

	t.Run("agents", func(t *testing.T) {
		var views []web.AgentView
		if err := ac.do(ctx, http.MethodGet, "/v1/agents", nil, &views); err != nil {
			t.Fatal(err)
		}
		byName := map[string]web.AgentView{}
		for _, v := range views {
			byName[v.Name] = v
		}
		if v := byName["web-1"]; !v.Connected || v.Revoked || v.Version != "1.0.0" {
			t.Errorf("web-1: %+v", v)
		}
		if v, ok := byName["new-1"]; !ok || v.Connected {
			t.Errorf("enrolled, never connected new-1: %+v", v)
		}
	})

	t.Run("run", func(t *testing.T) {
		tests := []struct {
			name  string
			agent string
			req   web.RunRequest
			want  result.Status
			error string
		}{
			{"critical", "web-1", web.RunRequest{Check: "disk", Args: json.RawMessage(`{"status":"critical"}`), Timeout: web.Duration(waitFor)}, result.Critical, ""},
			{"default-timeout", "web-1", web.RunRequest{Check: "load"}, result.OK, ""},
			{"not-connected", "nobody", web.RunRequest{Check: "load", Timeout: web.Duration(time.Second)}, "", "not connected"},
			{"bad-check", "web-1", web.RunRequest{Check: "a b", Timeout: web.Duration(time.Second)}, "", "bad check name"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var doc result.Doc
				err := ac.do(ctx, http.MethodPost, "/v1/agents/"+tt.agent+"/run", tt.req, &doc)
				if tt.error != "" {
					if err == nil || !strings.Contains(err.Error(), tt.error) {
						t.Fatalf("error %v, want one saying %q", err, tt.error)
					}
					return
				}
				if err != nil || doc.Status != tt.want {
					t.Fatalf("got %+v %v, want %s", doc, err, tt.want)
				}
			})
		}
	})

	t.Run("history", func(t *testing.T) {
		history := func(agent, check string, limit int) ([]state.Result, error) {
			q := url.Values{"agent": {agent}, "check": {check}}
			if limit > 0 {
				q.Set("limit", fmt.Sprint(limit))
			}
			var rs []state.Result
			err := ac.do(ctx, http.MethodGet, "/v1/history?"+q.Encode(), nil, &rs)
			return rs, err
		}
		rs, err := history("web-1", "disk", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) != 1 || rs[0].Status != "critical" || rs[0].Check != "disk" {
			t.Fatalf("history of disk: %+v", rs)
		}
		rs, err = history("web-1", "", 0)
		if err != nil || len(rs) < 3 { // equus.info, disk, load
			t.Fatalf("history of every check: %v %+v", err, rs)
		}
		if _, err := history("", "", 0); err == nil {
			t.Error("history with no agent: no error")
		}
	})

	// A batch of runs: each answered in the order asked, a failed one
	// beside the others, and every result in the history by the answer.
	t.Run("runs", func(t *testing.T) {
		statuses := []string{"ok", "warning", "critical", "unknown", "ok"}
		var req web.RunsRequest
		for _, st := range statuses {
			req.Runs = append(req.Runs, web.RunRequest{Check: "cpu", Args: json.RawMessage(`{"status":"` + st + `"}`), Timeout: web.Duration(waitFor)})
		}
		req.Runs = append(req.Runs, web.RunRequest{Check: "a b"})
		var out []web.RunOutcome
		if err := ac.do(ctx, http.MethodPost, "/v1/agents/web-1/runs", req, &out); err != nil {
			t.Fatal(err)
		}
		if len(out) != len(req.Runs) {
			t.Fatalf("%d outcomes for %d runs", len(out), len(req.Runs))
		}
		for i, st := range statuses {
			if out[i].Result == nil || string(out[i].Result.Status) != st || out[i].Error != "" {
				t.Errorf("run %d: %+v, want status %s", i, out[i], st)
			}
		}
		if last := out[len(out)-1]; last.Result != nil || !strings.Contains(last.Error, "bad check name") {
			t.Errorf("run of a bad check name: %+v", last)
		}
		var rs []state.Result
		if err := ac.do(ctx, http.MethodGet, "/v1/history?agent=web-1&check=cpu", nil, &rs); err != nil {
			t.Fatal(err)
		}
		if len(rs) != len(statuses) {
			t.Errorf("%d results of cpu in the history, want %d", len(rs), len(statuses))
		}
		for _, n := range []int{0, web.MaxRuns + 1} {
			err := ac.do(ctx, http.MethodPost, "/v1/agents/web-1/runs", web.RunsRequest{Runs: make([]web.RunRequest, n)}, &out)
			if err == nil || !strings.Contains(err.Error(), "give 1 to") {
				t.Errorf("%d runs: %v, want refused", n, err)
			}
		}
	})

	t.Run("revoke", func(t *testing.T) {
		var out map[string]string
		if err := ac.do(ctx, http.MethodPost, "/v1/agents/web-1/revoke", nil, &out); err != nil {
			t.Fatal(err)
		}
		ms, err := a.WaitClosed()
		if last := lastMessage(ms); last.Kind != wire.KindError || last.Text != string(wire.CodeNotAuthorized) || !endedCleanly(err) {
			t.Fatalf("revoked agent got %+v then %v, want error not_authorized and the end", last, err)
		}
		rc := dialRaw(t, h, agentCert(t, h.srv, "web-1"), []string{wire.ALPN})
		rc.Write("hello 1 1.0.0\n")
		rc.ExpectClosedWith(wire.CodeNotAuthorized)

		var views []web.AgentView
		if err := ac.do(ctx, http.MethodGet, "/v1/agents", nil, &views); err != nil {
			t.Fatal(err)
		}
		for _, v := range views {
			if v.Name == "web-1" && (!v.Revoked || v.Connected) {
				t.Errorf("web-1 after revocation: %+v", v)
			}
		}
		var iss web.IssueResponse
		if err := ac.do(ctx, http.MethodPost, "/v1/agents/web-1/certificate", nil, &iss); err == nil {
			t.Error("issued a certificate for a revoked agent")
		}
		if err := ac.do(ctx, http.MethodPost, "/v1/agents/a%20b/revoke", nil, &out); err == nil {
			t.Error("revoke of a bad name: no error")
		}
	})
}

func TestAdminOffline(t *testing.T) {
	h := startHelen(t, server.Config{})
	a := startAgent(t, h, "web-1", behavior{})
	a.Ready()
	runCheck(t, h, "web-1", "disk", `{"status":"warning"}`)
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if err := h.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := dialAdmin(h.dir); !errors.Is(err, errNotRunning) {
		t.Fatalf("dialAdmin with helen stopped: %v, want errNotRunning", err)
	}

	off, err := server.OpenOffline(h.dir, 0, "", errNotRunning)
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	ac := inProcess(off.Handler())
	ctx := context.Background()
	var views []web.AgentView
	if err := ac.do(ctx, http.MethodGet, "/v1/agents", nil, &views); err != nil || len(views) != 1 || views[0].Connected {
		t.Fatalf("agents offline: %v %+v", err, views)
	}
	var rs []state.Result
	if err := ac.do(ctx, http.MethodGet, "/v1/history?agent=web-1&name=disk", nil, &rs); err != nil || len(rs) != 1 || rs[0].Status != "warning" {
		t.Fatalf("history offline: %v %+v", err, rs)
	}
	var doc result.Doc
	if err := ac.do(ctx, http.MethodPost, "/v1/agents/web-1/run", web.RunRequest{Check: "load"}, &doc); err == nil || err.Error() != errNotRunning.Error() {
		t.Errorf("run offline: %v, want %v", err, errNotRunning)
	}
	if _, err := server.OpenOffline(filepath.Join(h.dir, "missing"), 0, "", errNotRunning); err == nil {
		t.Fatal("OpenOffline of a missing directory: no error")
	}
}
