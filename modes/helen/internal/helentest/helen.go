package helentest

import (
	"context"
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/result"
)

// Helen is a helen a test started, as the helpers here need it: each
// package's tests start theirs their own way (with the server's exported
// configuration, or with its test hooks) and hand it over.
type Helen interface {
	AgentsAddr() string // the agents' port
	OpsAddr() string    // the operators' port
	CA() *pki.CA
	AdminToken() string
	Run(ctx context.Context, agent, check string, args []byte, timeout time.Duration) (result.Doc, error)
}

// StartAgentOn connects an agent named name, with a certificate from h's
// CA, to h and says hello (StartAgent).
func StartAgentOn(t testing.TB, h Helen, name string, beh Behavior) *Agent {
	t.Helper()
	return StartAgent(t, h.AgentsAddr(), h.CA(), name, beh)
}

// StartAgentWithOn is StartAgentOn with the certificate given.
func StartAgentWithOn(t testing.TB, h Helen, name string, cert *tls.Certificate, beh Behavior) *Agent {
	t.Helper()
	return StartAgentWith(t, h.AgentsAddr(), h.CA(), name, cert, beh)
}

// AgentCertOf issues an agent certificate from the CA of srv.
func AgentCertOf(t testing.TB, srv interface{ CA() *pki.CA }, name string) *tls.Certificate {
	t.Helper()
	return AgentCert(t, srv.CA(), name)
}

// DialTLSTo is DialTLS to h's agents' port.
func DialTLSTo(t testing.TB, h Helen, cert *tls.Certificate, alpn []string) (*tls.Conn, error) {
	t.Helper()
	return DialTLS(t, h.AgentsAddr(), h.CA(), cert, alpn)
}

// DialRawTo is DialRaw to h's agents' port.
func DialRawTo(t testing.TB, h Helen, cert *tls.Certificate, alpn []string) *RawConn {
	t.Helper()
	return DialRaw(t, h.AgentsAddr(), h.CA(), cert, alpn)
}

// HTTPSClientOf is a client of h's agents' HTTPS endpoints presenting cert
// (none when nil).
func HTTPSClientOf(t testing.TB, h Helen, cert *tls.Certificate) *http.Client {
	t.Helper()
	return HTTPSClient(t, h.CA(), cert)
}

// GetFrom fetches path from h's agents' port with hc.
func GetFrom(t testing.TB, hc *http.Client, h Helen, path string) (int, []byte) {
	t.Helper()
	return Get(t, hc, h.AgentsAddr(), path)
}

// OpsClientOf is a client of h's operators' port.
func OpsClientOf(t testing.TB, h Helen) *OpsClient {
	t.Helper()
	return NewOpsClient(t, h.OpsAddr(), h.CA(), h.AdminToken())
}

// BrowserOf is a client of h's operators' port that keeps cookies and does
// not follow redirects.
func BrowserOf(t testing.TB, h Helen) *OpsClient {
	t.Helper()
	return Browser(t, h.OpsAddr(), h.CA(), h.AdminToken())
}

// EnrollAt posts an enrollment request to h.
func EnrollAt(t testing.TB, hc *http.Client, h Helen, token string, csr []byte) (int, pki.EnrollResponse) {
	t.Helper()
	return Enroll(t, hc, h.AgentsAddr(), token, csr)
}

// RunCheck is h.Run with the test's context and a generous timeout,
// failing the test on an error.
func RunCheck(t testing.TB, h Helen, agent, check, args string) result.Doc {
	t.Helper()
	doc, err := h.Run(context.Background(), agent, check, []byte(args), WaitFor)
	if err != nil {
		t.Fatalf("run %s on %s: %v", check, agent, err)
	}
	return doc
}

// Executable writes a small stand-in for helen's own binary, so that
// offering it does not hash the test binary, and returns its path.
func Executable(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "equus")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}
