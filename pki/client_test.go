package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"net"
	"testing"
	"time"
)

func TestSignCSRRoundTrip(t *testing.T) {
	ca := testCA(t, "helen test CA")
	now := time.Now()
	csrPEM, keyPEM, err := NewCSR("web-1")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, name, err := ca.SignCSR(csrPEM, now)
	if err != nil {
		t.Fatal(err)
	}
	if name != "web-1" {
		t.Fatalf("name %q, want web-1", name)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatalf("the certificate does not go with the request's key: %v", err)
	}
	checkAgentCert(t, ca, pair.Leaf, "web-1", now)
}

func TestIssueClient(t *testing.T) {
	ca := testCA(t, "helen test CA")
	now := time.Now()
	certPEM, keyPEM, err := ca.IssueClient("db-2", now)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	checkAgentCert(t, ca, pair.Leaf, "db-2", now)
	if _, _, err := ca.IssueClient("../db", now); !errors.Is(err, ErrBadName) {
		t.Fatalf("IssueClient(../db): %v, want ErrBadName", err)
	}
}

// checkAgentCert checks that leaf is an agent certificate for name: signed
// by ca, for client authentication only, valid for a year from now.
func checkAgentCert(t testing.TB, ca *CA, leaf *x509.Certificate, name string, now time.Time) {
	t.Helper()
	if leaf.Subject.CommonName != name {
		t.Errorf("CN %q, want %q", leaf.Subject.CommonName, name)
	}
	if leaf.IsCA {
		t.Error("an agent certificate is a CA")
	}
	opts := x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if _, err := leaf.Verify(opts); err != nil {
		t.Errorf("does not verify for client auth: %v", err)
	}
	opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	if _, err := leaf.Verify(opts); err == nil {
		t.Error("an agent certificate verifies for server auth")
	}
	if d := leaf.NotAfter.Sub(now); d < leafLifetime-time.Minute || d > leafLifetime+time.Minute {
		t.Errorf("valid for %v, want %v", d, leafLifetime)
	}
}

// rawCSR makes a PEM certificate request with any key and template.
func rawCSR(t *testing.T, key any, tmpl *x509.CertificateRequest) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemCSR, Bytes: der})
}

func TestSignCSRRefuses(t *testing.T) {
	ca := testCA(t, "helen test CA")
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	named := func(cn string) *x509.CertificateRequest {
		return &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}
	}
	good := rawCSR(t, p256, named("web-1"))

	// Tampered: change the CN inside the signed bytes, keep the signature.
	block, _ := pem.Decode(good)
	der := bytes.Replace(block.Bytes, []byte("web-1"), []byte("web-2"), 1)
	if bytes.Equal(der, block.Bytes) {
		t.Fatal("CN not found in the request")
	}
	tampered := pem.EncodeToMemory(&pem.Block{Type: pemCSR, Bytes: der})

	tests := []struct {
		name string
		csr  []byte
		want error
	}{
		{"bad-cn-slash", rawCSR(t, p256, named("a/b")), ErrBadName},
		{"bad-cn-dot", rawCSR(t, p256, named(".x")), ErrBadName},
		{"bad-cn-empty", rawCSR(t, p256, named("")), ErrBadName},
		{"tampered", tampered, ErrBadCSR},
		{"weak-rsa", rawCSR(t, rsa1024, named("web-1")), ErrBadCSR},
		{"curve-p224", rawCSR(t, p224, named("web-1")), ErrBadCSR},
		{"not-pem", []byte("web-1"), ErrBadCSR},
		{"certificate-not-request", ca.CertPEM, ErrBadCSR},
		{"garbage-der", pem.EncodeToMemory(&pem.Block{Type: pemCSR, Bytes: []byte{0x30, 0x03, 1, 2, 3}}), ErrBadCSR},
		{"too-big", append(bytes.Repeat([]byte("#"), maxCSRSize), good...), ErrBadCSR},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert, name, err := ca.SignCSR(tt.csr, time.Now())
			if !errors.Is(err, tt.want) {
				t.Fatalf("SignCSR = %q, %v; want %v", name, err, tt.want)
			}
			if cert != nil {
				t.Fatal("a certificate came with the error")
			}
		})
	}
}

func TestSignCSRIgnoresRequestedExtras(t *testing.T) {
	ca := testCA(t, "helen test CA")
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	csr := rawCSR(t, key, &x509.CertificateRequest{
		Subject:     pkix.Name{CommonName: "edge-7", Organization: []string{"evil"}},
		DNSNames:    []string{"helen.example"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	})
	now := time.Now()
	certPEM, name, err := ca.SignCSR(csr, now)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := ParseCertsPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	leaf := certs[0]
	if name != "edge-7" || len(leaf.DNSNames) != 0 || len(leaf.IPAddresses) != 0 || len(leaf.Subject.Organization) != 0 {
		t.Fatalf("name %q, certificate subject %v, DNS %v, IPs %v", name, leaf.Subject, leaf.DNSNames, leaf.IPAddresses)
	}
	checkAgentCert(t, ca, leaf, "edge-7", now)
}

func TestNewCSRBadName(t *testing.T) {
	if _, _, err := NewCSR("-x"); !errors.Is(err, ErrBadName) {
		t.Fatalf("NewCSR(-x): %v, want ErrBadName", err)
	}
}
