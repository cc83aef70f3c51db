package pki

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestClientLifetime(t *testing.T) {
	ca := testCA(t, "helen test CA")
	if err := ca.SetClientLifetime(time.Second / 2); !errors.Is(err, ErrBadLifetime) {
		t.Fatalf("SetClientLifetime(500ms) = %v, want ErrBadLifetime", err)
	}
	now := time.Now()
	for _, life := range []time.Duration{3 * time.Second, time.Hour, 8760 * time.Hour} {
		if err := ca.SetClientLifetime(life); err != nil {
			t.Fatal(err)
		}
		leaf := testClientCert(t, ca, "web-1", now).Leaf
		if got := leaf.NotAfter.Sub(now); got < life-time.Second || got > life {
			t.Errorf("lifetime %v: valid for %v from now", life, got)
		}
		// The moment to renew lies ahead however short the lifetime, and
		// about two thirds of the way.
		at := RenewAt(leaf)
		if !at.After(now) || !at.Before(leaf.NotAfter) {
			t.Errorf("lifetime %v: renew at %v, not between now %v and expiry %v", life, at, now, leaf.NotAfter)
		}
		// Certificates tell time in whole seconds.
		slack := max(life/50, time.Second)
		if got, want := at.Sub(now), 2*life/3; got < want-slack || got > want+slack {
			t.Errorf("lifetime %v: renew %v from now, want about %v", life, got, want)
		}
	}
	// The server certificate keeps its year whatever agents get.
	srv, err := ca.IssueServer([]string{"localhost"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if d := srv.Leaf.NotAfter.Sub(now); d < leafLifetime-time.Minute {
		t.Errorf("server certificate valid for %v with a short client lifetime", d)
	}
}

func TestRenewCSR(t *testing.T) {
	ca := testCA(t, "helen test CA")
	now := time.Now()
	current := testClientCert(t, ca, "web-1", now.Add(-time.Hour))
	csrPEM, keyPEM, err := NewCSR("web-1")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := ca.RenewCSR(csrPEM, current.Leaf, now)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatalf("the renewed certificate does not go with the new key: %v", err)
	}
	checkAgentCert(t, ca, pair.Leaf, "web-1", now)

	other, _, err := NewCSR("db-2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.RenewCSR(other, current.Leaf, now); !errors.Is(err, ErrRenewOtherName) {
		t.Errorf("request for another name: %v, want ErrRenewOtherName", err)
	}
	sameKey := rawCSR(t, current.PrivateKey, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "web-1"}})
	if _, err := ca.RenewCSR(sameKey, current.Leaf, now); !errors.Is(err, ErrRenewSameKey) {
		t.Errorf("request with the current key: %v, want ErrRenewSameKey", err)
	}
	if _, err := ca.RenewCSR([]byte("junk"), current.Leaf, now); !errors.Is(err, ErrBadCSR) {
		t.Errorf("junk request: %v, want ErrBadCSR", err)
	}
}

// pairFiles writes a certificate and key for name to dir with the given
// modes and returns their paths and contents.
func pairFiles(t *testing.T, ca *CA, dir string, certMode, keyMode os.FileMode) (certFile, keyFile string, certPEM, keyPEM []byte) {
	t.Helper()
	certPEM, keyPEM, err := ca.IssueClient("web-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "agent.pem"), filepath.Join(dir, "agent-key.pem")
	if err := WritePEMFile(certFile, certPEM, certMode); err != nil {
		t.Fatal(err)
	}
	if err := WritePEMFile(keyFile, keyPEM, keyMode); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, certPEM, keyPEM
}

func TestReplaceKeyPair(t *testing.T) {
	ca := testCA(t, "helen test CA")
	dir := t.TempDir()
	certFile, keyFile, _, _ := pairFiles(t, ca, dir, 0o640, 0o600)
	newCert, newKey, err := ca.IssueClient("web-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := ReplaceKeyPair(certFile, keyFile, newCert, newKey); err != nil {
		t.Fatal(err)
	}
	got, err := LoadKeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Leaf.Raw, mustLeaf(t, newCert).Raw) {
		t.Fatal("the files do not hold the new certificate")
	}
	checkMode(t, certFile, 0o640)
	checkMode(t, keyFile, 0o600)
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Fatalf("directory holds %v, want the two files", entries)
	}

	// A certificate that does not go with the key is refused before
	// anything is written.
	other, _, err := ca.IssueClient("web-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := ReplaceKeyPair(certFile, keyFile, other, newKey); err == nil {
		t.Fatal("replaced the pair with a certificate of another key")
	}
	checkPair(t, certFile, keyFile, newCert, newKey)
}

// TestReplaceKeyPairFails checks that a replacement that cannot write the
// new certificate leaves the old pair byte for byte.
func TestReplaceKeyPairFails(t *testing.T) {
	ca := testCA(t, "helen test CA")
	dir := t.TempDir()
	certFile, keyFile, oldCert, oldKey := pairFiles(t, ca, dir, 0o600, 0o600)
	// A directory where the new certificate goes first: the rename onto
	// it fails, even for root.
	if err := os.MkdirAll(filepath.Join(nextCertPath(certFile), "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	newCert, newKey, err := ca.IssueClient("web-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := ReplaceKeyPair(certFile, keyFile, newCert, newKey); err == nil {
		t.Fatal("ReplaceKeyPair succeeded without a place for the certificate")
	}
	checkPair(t, certFile, keyFile, oldCert, oldKey)
}

// TestLoadKeyPairFinishesReplacement checks the crash between the key and
// the certificate: the new key beside the old certificate, and the new
// certificate in its place beside it.
func TestLoadKeyPairFinishesReplacement(t *testing.T) {
	ca := testCA(t, "helen test CA")
	dir := t.TempDir()
	certFile, keyFile, _, _ := pairFiles(t, ca, dir, 0o600, 0o600)
	newCert, newKey, err := ca.IssueClient("web-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := WritePEMFile(nextCertPath(certFile), newCert, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WritePEMFile(keyFile, newKey, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := LoadKeyPair(certFile, keyFile)
	if err != nil {
		t.Fatalf("the interrupted replacement was not finished: %v", err)
	}
	if !bytes.Equal(got.Leaf.Raw, mustLeaf(t, newCert).Raw) {
		t.Fatal("loaded another certificate than the new one")
	}
	checkPair(t, certFile, keyFile, newCert, newKey)
	if _, err := os.Stat(nextCertPath(certFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the new certificate is still beside: %v", err)
	}

	// A stale new certificate beside a pair that loads is left alone.
	stale, _, err := ca.IssueClient("web-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := WritePEMFile(nextCertPath(certFile), stale, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeyPair(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	checkPair(t, certFile, keyFile, newCert, newKey)
}

// mustLeaf parses the first certificate of PEM data.
func mustLeaf(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	certs, err := ParseCertsPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	return certs[0]
}

// checkPair fails the test unless the files hold exactly certPEM and keyPEM.
func checkPair(t *testing.T, certFile, keyFile string, certPEM, keyPEM []byte) {
	t.Helper()
	c, err := os.ReadFile(certFile)
	if err != nil || !bytes.Equal(c, certPEM) {
		t.Errorf("%s changed (%v)", filepath.Base(certFile), err)
	}
	k, err := os.ReadFile(keyFile)
	if err != nil || !bytes.Equal(k, keyPEM) {
		t.Errorf("%s changed (%v)", filepath.Base(keyFile), err)
	}
}
