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

	"github.com/equus-monitoring/equus/pki"
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
	h := startHelen(t, Config{})
	a := startAgent(t, h, "web-1", behavior{})
	a.ready()
	ac := adminFor(t, h)
	ctx := context.Background()

	fi, err := os.Stat(filepath.Join(h.dir, socketFile))
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
		var tok tokenResponse
		if err := ac.do(ctx, http.MethodPost, "/v1/tokens", tokenRequest{Uses: 2, TTL: Duration(time.Hour)}, &tok); err != nil {
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
		for _, req := range []tokenRequest{{Uses: 0, TTL: Duration(time.Hour)}, {Uses: 1, TTL: 0}} {
			if err := ac.do(ctx, http.MethodPost, "/v1/tokens", req, &tok); err == nil {
				t.Errorf("token %+v: no error", req)
			}
		}
	})

	t.Run("issue", func(t *testing.T) {
		var iss issueResponse
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
		b.ready()
		if err := ac.do(ctx, http.MethodPost, "/v1/agents/..%2Fetc/certificate", nil, &iss); err == nil {
			t.Error("issue ../etc: no error")
		}
	})

	t.Run("agents", func(t *testing.T) {
		var views []AgentView
		if err := ac.do(ctx, http.MethodGet, "/v1/agents", nil, &views); err != nil {
			t.Fatal(err)
		}
		byName := map[string]AgentView{}
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
			req   runRequest
			want  result.Status
			error string
		}{
			{"critical", "web-1", runRequest{Check: "disk", Args: json.RawMessage(`{"status":"critical"}`), Timeout: Duration(waitFor)}, result.Critical, ""},
			{"default-timeout", "web-1", runRequest{Check: "load"}, result.OK, ""},
			{"not-connected", "nobody", runRequest{Check: "load", Timeout: Duration(time.Second)}, "", "not connected"},
			{"bad-check", "web-1", runRequest{Check: "a b", Timeout: Duration(time.Second)}, "", "bad check name"},
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

	t.Run("revoke", func(t *testing.T) {
		var out map[string]string
		if err := ac.do(ctx, http.MethodPost, "/v1/agents/web-1/revoke", nil, &out); err != nil {
			t.Fatal(err)
		}
		ms, err := a.waitClosed()
		if last := lastMessage(ms); last.Kind != wire.KindError || last.Text != string(wire.CodeNotAuthorized) || !endedCleanly(err) {
			t.Fatalf("revoked agent got %+v then %v, want error not_authorized and the end", last, err)
		}
		rc := dialRaw(t, h, agentCert(t, h.srv, "web-1"), []string{wire.ALPN})
		rc.write("hello 1 1.0.0\n")
		rc.expectClosedWith(wire.CodeNotAuthorized)

		var views []AgentView
		if err := ac.do(ctx, http.MethodGet, "/v1/agents", nil, &views); err != nil {
			t.Fatal(err)
		}
		for _, v := range views {
			if v.Name == "web-1" && (!v.Revoked || v.Connected) {
				t.Errorf("web-1 after revocation: %+v", v)
			}
		}
		var iss issueResponse
		if err := ac.do(ctx, http.MethodPost, "/v1/agents/web-1/certificate", nil, &iss); err == nil {
			t.Error("issued a certificate for a revoked agent")
		}
		if err := ac.do(ctx, http.MethodPost, "/v1/agents/a%20b/revoke", nil, &out); err == nil {
			t.Error("revoke of a bad name: no error")
		}
	})
}

func TestAdminOffline(t *testing.T) {
	h := startHelen(t, Config{})
	a := startAgent(t, h, "web-1", behavior{})
	a.ready()
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

	db, err := openOffline(h.dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	b, err := newOfflineBackend(db, h.dir, "", errNotRunning)
	if err != nil {
		t.Fatal(err)
	}
	ac := inProcess(newAPI(db, b, 0))
	ctx := context.Background()
	var views []AgentView
	if err := ac.do(ctx, http.MethodGet, "/v1/agents", nil, &views); err != nil || len(views) != 1 || views[0].Connected {
		t.Fatalf("agents offline: %v %+v", err, views)
	}
	var rs []state.Result
	if err := ac.do(ctx, http.MethodGet, "/v1/history?agent=web-1&name=disk", nil, &rs); err != nil || len(rs) != 1 || rs[0].Status != "warning" {
		t.Fatalf("history offline: %v %+v", err, rs)
	}
	var doc result.Doc
	if err := ac.do(ctx, http.MethodPost, "/v1/agents/web-1/run", runRequest{Check: "load"}, &doc); err == nil || err.Error() != errNotRunning.Error() {
		t.Errorf("run offline: %v, want %v", err, errNotRunning)
	}
	join, err := offlineJoiner(h.dir)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := newToken(db, tokenRequest{Uses: 1, TTL: Duration(time.Hour)}, join)
	if err != nil || !strings.Contains(tok.Join, tok.Token) || !strings.Contains(tok.Join, h.srv.CA().Pin()) {
		t.Fatalf("token offline: %v %+v", err, tok)
	}
	if err := db.Enroll(tok.Token, state.Agent{Name: "new-1"}, time.Now()); err != nil {
		t.Fatalf("offline token unusable: %v", err)
	}
	tok, err = newToken(db, tokenRequest{Uses: 1, TTL: Duration(time.Hour), Agent: "web-1"}, join)
	if err != nil || tok.Agent != "web-1" || !strings.HasSuffix(tok.Join, " --name web-1") {
		t.Fatalf("token for web-1: %v %+v", err, tok)
	}
	if _, err := newToken(db, tokenRequest{Uses: 1, TTL: Duration(time.Hour), Agent: "two words"}, join); err == nil {
		t.Error("token for an agent name with a space: no error")
	}
	if err := db.Revoke("gone-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := newToken(db, tokenRequest{Uses: 1, TTL: Duration(time.Hour), Agent: "gone-1"}, join); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("token for a revoked agent: %v, want an error saying it is revoked", err)
	}
	ca, err := pki.LoadOrCreateCA(h.dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := issue(ca, db, "db-1"); err != nil {
		t.Fatalf("issue offline: %v", err)
	}
	if err := revoke(db, "db-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := issue(ca, db, "db-1"); err == nil {
		t.Fatal("issued offline for a revoked agent")
	}
	if _, err := openOffline(filepath.Join(h.dir, "missing"), 0); err == nil {
		t.Fatal("openOffline of a missing directory: no error")
	}
}
