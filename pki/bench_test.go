package pki

import (
	"context"
	"crypto/tls"
	"path/filepath"
	"testing"
	"time"
)

func BenchmarkSignCSR(b *testing.B) {
	ca := testCA(b, "helen bench CA")
	csr, _, err := NewCSR("web-1")
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ca.SignCSR(csr, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIssueClient(b *testing.B) {
	ca := testCA(b, "helen bench CA")
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ca.IssueClient("web-1", now); err != nil {
			b.Fatal(err)
		}
	}
}

// benchTLS returns a running helen-like server and an agent's client
// configuration with its certificate.
func benchTLS(b *testing.B) (*CA, *testServer, *tls.Config) {
	ca := testCA(b, "helen bench CA")
	cert, err := ca.IssueServer([]string{"127.0.0.1"}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	srv := startServer(b, ServerConfig(ca, cert, []string{"equus/1"}))
	client := testClientCert(b, ca, "web-1", time.Now())
	cfg, err := ClientConfig(Trust{CA: ca.Cert}, "127.0.0.1", &client, []string{"equus/1"})
	if err != nil {
		b.Fatal(err)
	}
	return ca, srv, cfg
}

// BenchmarkMutualHandshake measures one full TLS 1.3 mutual handshake on
// loopback, both sides in this process: the cost of an agent (re)connecting.
func BenchmarkMutualHandshake(b *testing.B) {
	_, srv, cfg := benchTLS(b)
	b.ReportAllocs()
	for b.Loop() {
		if name, _, err := talk(b, srv.addr, cfg); err != nil || name != "web-1" {
			b.Fatalf("talk: %q, %v", name, err)
		}
	}
}

// BenchmarkResolvePin measures fetching the CA by pin (the probing
// handshake an agent with only --ca-pin makes once).
func BenchmarkResolvePin(b *testing.B) {
	ca, srv, _ := benchTLS(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (Trust{Pin: ca.Pin()}).Resolve(ctx, srv.addr, "127.0.0.1"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoadOrCreateServer(b *testing.B) {
	dir := b.TempDir()
	ca, err := LoadOrCreateCA(filepath.Join(dir, "ca"))
	if err != nil {
		b.Fatal(err)
	}
	sans := []string{"helen.example", "127.0.0.1"}
	if _, err := LoadOrCreateServer(dir, ca, sans); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := LoadOrCreateServer(dir, ca, sans); err != nil {
			b.Fatal(err)
		}
	}
}
