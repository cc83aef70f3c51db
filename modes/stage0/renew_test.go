package stage0

import (
	"context"
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/modes/equus"
	"github.com/equus-monitoring/equus/pki"
)

// TestSyncPresentsRenewedCertificate: every sync presents the certificate
// in the agent's files as they are then, so one the agent renewed in place
// is used from the next sync on, also when the agent was stopped in the
// middle of writing it.
func TestSyncPresentsRenewedCertificate(t *testing.T) {
	h := newFakeHelen(t)
	a := newTestAgent(t, h, agentScript("1.0.0", silentBody))
	s := newSupervisor(a.config(t, h, "1.0.0"), testLogger(t, &logRecorder{}))
	certFile, keyFile := filepath.Join(a.data, "agent.pem"), filepath.Join(a.data, "agent-key.pem")
	presented := func() string {
		t.Helper()
		if !s.enrolled() {
			t.Fatal("stage0 does not take the agent as enrolled")
		}
		s.sync(context.Background())
		var fp string
		h.change(func(h *fakeHelen) { fp = h.presented })
		return fp
	}
	first, err := pki.LoadKeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if got := presented(); got != pki.Fingerprint(first.Leaf) {
		t.Fatalf("first sync presented %s, want the agent's certificate", got)
	}

	renewed := issue(t, h)
	if err := pki.ReplaceKeyPair(certFile, keyFile, renewed.certPEM, renewed.keyPEM); err != nil {
		t.Fatal(err)
	}
	if got := presented(); got != renewed.fp {
		t.Fatalf("sync after the renewal presented %s, want the renewed %s", got, renewed.fp)
	}

	// Stopped between the key and the certificate: the new key is in
	// place and the new certificate beside the old one.
	again := issue(t, h)
	if err := os.WriteFile(certFile+".next", again.certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, again.keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := presented(); got != again.fp {
		t.Fatalf("sync after an interrupted renewal presented %s, want %s", got, again.fp)
	}
}

type issuedPair struct {
	certPEM, keyPEM []byte
	fp              string
}

func issue(t *testing.T, h *fakeHelen) issuedPair {
	t.Helper()
	certPEM, keyPEM, err := h.ca.IssueClient("web-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return issuedPair{certPEM, keyPEM, pki.Fingerprint(c.Leaf)}
}

// TestRunStopsOnExpiredCertificate: an agent that exits because its
// certificate has expired is not restarted; Run ends with ErrCertExpired,
// and does not first sync with the expired certificate.
func TestRunStopsOnExpiredCertificate(t *testing.T) {
	skipWithoutShell(t)
	h := newFakeHelen(t)
	dir := t.TempDir()
	a := newTestAgent(t, h, agentScript("1.0.0", countingBody(dir, "exit 4")))
	certPEM, keyPEM, err := h.ca.IssueClient("web-1", time.Now().Add(-2*365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := pki.ReplaceKeyPair(filepath.Join(a.data, "agent.pem"), filepath.Join(a.data, "agent-key.pem"), certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	rec := &logRecorder{}
	done := make(chan error, 1)
	go func() { done <- Run(context.Background(), a.config(t, h, "1.0.0"), testLogger(t, rec)) }()
	select {
	case err := <-done:
		if !errors.Is(err, equus.ErrCertExpired) {
			t.Fatalf("Run = %v, want ErrCertExpired", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not end")
	}
	if n := readInt(filepath.Join(dir, "count")); n != 1 {
		t.Errorf("the agent was started %d times, want once", n)
	}
	if n := h.count("/v1/bundle"); n != 0 {
		t.Errorf("stage0 synced %d times with an expired certificate", n)
	}
	if rec.count("certificate has expired") != 1 {
		t.Error("stage0 did not say why it stopped")
	}
}
