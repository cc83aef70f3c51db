package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/web"
	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/wire"
)

func TestEnroll(t *testing.T) {
	h := startHelen(t, Config{})
	hc := httpsClient(t, h, nil)
	db := h.srv.DB()
	tokenFor := func(agent string, uses int, ttl time.Duration, now time.Time) string {
		secret, _, err := db.CreateToken(state.TokenSpec{Uses: uses, TTL: ttl, Agent: agent}, now)
		if err != nil {
			t.Fatal(err)
		}
		return secret
	}
	token := func(uses int, ttl time.Duration, now time.Time) string { return tokenFor("", uses, ttl, now) }
	if err := db.Revoke("gone", time.Now()); err != nil {
		t.Fatal(err)
	}
	once := token(1, time.Hour, time.Now())
	spared := token(1, time.Hour, time.Now())
	expired := token(1, time.Minute, time.Now().Add(-time.Hour))
	many := token(10, time.Hour, time.Now())
	forWeb1 := tokenFor("web-1", 1, time.Hour, time.Now())

	tests := []struct {
		name  string
		token string
		csr   string // the agent name in the request; "" for a bad request
		want  int
	}{
		{"first-use", once, "web-1", http.StatusOK},
		{"second-use", once, "web-2", http.StatusUnauthorized},
		{"expired", expired, "web-3", http.StatusUnauthorized},
		{"unknown", "no-such-token", "web-4", http.StatusUnauthorized},
		{"bad-csr", spared, "", http.StatusBadRequest},
		{"revoked-name", spared, "gone", http.StatusForbidden},
		{"token-spared-by-refusals", spared, "web-5", http.StatusOK},
		// A token for no agent in particular enrolls new names only: a
		// token holder cannot take over an enrolled agent's name.
		{"known-name", many, "web-1", http.StatusConflict},
		{"token-for-another-agent", forWeb1, "web-6", http.StatusForbidden},
		// A token made for an agent enrolls it again, as when its
		// machine was set up anew.
		{"token-for-the-agent", forWeb1, "web-1", http.StatusOK},
		{"new-name-after-refusals", many, "web-7", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			csr := []byte("-----BEGIN CERTIFICATE REQUEST-----\nnot one\n-----END CERTIFICATE REQUEST-----\n")
			var key []byte
			if tt.csr != "" {
				csr, key = newCSR(t, tt.csr)
			}
			code, er := enroll(t, hc, h, tt.token, csr)
			if code != tt.want {
				t.Fatalf("status %d, want %d", code, tt.want)
			}
			if code != http.StatusOK {
				return
			}
			checkEnrolled(t, h, tt.csr, er, key)
		})
	}
}

// checkEnrolled checks an enrollment answer: a client certificate for
// name from helen's CA, with which the agent then connects and works.
func checkEnrolled(t *testing.T, h *testHelen, name string, er pki.EnrollResponse, key []byte) {
	t.Helper()
	certs, err := pki.ParseCertsPEM([]byte(er.Cert))
	if err != nil {
		t.Fatal(err)
	}
	leaf := certs[0]
	if leaf.Subject.CommonName != name || er.Name != name {
		t.Fatalf("certificate for %q (answer names %q), want %q", leaf.Subject.CommonName, er.Name, name)
	}
	if er.CA != string(h.srv.CA().CertPEM) {
		t.Error("the answer's CA is not helen's")
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: h.srv.CA().Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("certificate does not verify as a client of helen's CA: %v", err)
	}
	if _, err := h.srv.DB().Agent(name); err != nil {
		t.Errorf("enrolled agent not recorded: %v", err)
	}
	cert, err := tls.X509KeyPair([]byte(er.Cert), key)
	if err != nil {
		t.Fatal(err)
	}
	a := startAgentWith(t, h, name, &cert, behavior{})
	a.Ready()
	if doc := runCheck(t, h, name, "load", ""); doc.Status != result.OK {
		t.Fatalf("run on the enrolled agent: %+v", doc)
	}
	a.Close()
}

func TestAgentsPortHTTPS(t *testing.T) {
	h := startHelen(t, Config{})
	hc := httpsClient(t, h, nil)
	for _, path := range []string{"/healthz", "/bootstrap.sh"} {
		resp, err := hc.Get("https://" + h.addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s", path, resp.Status)
		}
	}
	// The agents' endpoints want an agent's certificate.
	resp, err := hc.Get("https://" + h.addr() + "/v1/bundle")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /v1/bundle with no certificate: %s", resp.Status)
	}
	resp, err = httpsClient(t, h, agentCert(t, h.srv, "web-1")).Get("https://" + h.addr() + "/v1/bundle")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("GET /v1/bundle as an agent, with no checks directory: %s", resp.Status)
	}
}

// TestReenrollReplacesCertificate: once an agent enrolls again (its machine
// set up anew) or helen issues it a new certificate, its old certificate
// gets neither a session nor the agents' endpoints.
func TestReenrollReplacesCertificate(t *testing.T) {
	h := startHelen(t, Config{})
	hc := httpsClient(t, h, nil)
	db := h.srv.DB()
	enrollWith := func(agent string) tls.Certificate {
		t.Helper()
		secret, _, err := db.CreateToken(state.TokenSpec{Uses: 1, TTL: time.Hour, Agent: agent}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		csr, key := newCSR(t, "web-1")
		code, er := enroll(t, hc, h, secret, csr)
		if code != http.StatusOK {
			t.Fatalf("enroll: %d", code)
		}
		cert, err := tls.X509KeyPair([]byte(er.Cert), key)
		if err != nil {
			t.Fatal(err)
		}
		return cert
	}
	first := enrollWith("")
	a := startAgentWith(t, h, "web-1", &first, behavior{})
	a.Ready()

	// The agent connected with the first certificate is let go.
	second := enrollWith("web-1")
	ms, err := a.WaitClosed()
	if last := lastMessage(ms); last.Kind != wire.KindError || last.Text != string(wire.CodeNotAuthorized) || !endedCleanly(err) {
		t.Fatalf("agent with the replaced certificate got %+v then %v, want error not_authorized and the end", last, err)
	}
	refused := func(what string, cert *tls.Certificate) {
		t.Helper()
		rc := dialRaw(t, h, cert, []string{wire.ALPN})
		rc.Write("hello 1 1.0.0\n")
		rc.ExpectClosedWith(wire.CodeNotAuthorized)
		resp, err := httpsClient(t, h, cert).Get("https://" + h.addr() + "/v1/bundle")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("GET /v1/bundle with %s: %s, want 403", what, resp.Status)
		}
	}
	refused("the first certificate", &first)
	a = startAgentWith(t, h, "web-1", &second, behavior{})
	a.Ready()
	a.Close()

	// helen issue, through the admin socket, replaces it in turn.
	a = startAgentWith(t, h, "web-1", &second, behavior{})
	a.Ready()
	var resp web.IssueResponse
	if err := adminFor(t, h).do(context.Background(), http.MethodPost, "/v1/agents/web-1/certificate", nil, &resp); err != nil {
		t.Fatal(err)
	}
	if ms, _ := a.WaitClosed(); lastMessage(ms).Text != string(wire.CodeNotAuthorized) {
		t.Errorf("agent with the replaced certificate got %+v, want error not_authorized", lastMessage(ms))
	}
	refused("the enrolled certificate", &second)
	third, err := tls.X509KeyPair([]byte(resp.Cert), []byte(resp.Key))
	if err != nil {
		t.Fatal(err)
	}
	a = startAgentWith(t, h, "web-1", &third, behavior{})
	a.Ready()
	if doc := runCheck(t, h, "web-1", "load", ""); doc.Status != result.OK {
		t.Fatalf("run with the issued certificate: %+v", doc)
	}
}
