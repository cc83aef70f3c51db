package pki

import (
	"crypto/tls"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

var testALPN = []string{"h2", "http/1.1", "equus/1"}

// mtlsSetup is helen's side: a CA, its server certificate for 127.0.0.1,
// a running server and a CA file for agents.
func mtlsSetup(t *testing.T) (*CA, *testServer, string) {
	t.Helper()
	ca := testCA(t, "helen test CA")
	cert, err := ca.IssueServer([]string{"localhost", "127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, ServerConfig(ca, cert, testALPN))
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := WritePEMFile(caFile, ca.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return ca, srv, caFile
}

func TestMutualTLS(t *testing.T) {
	ca, srv, caFile := mtlsSetup(t)
	other := testCA(t, "another CA")
	now := time.Now()
	serverCert, err := ca.IssueServer([]string{"web-1"}, now)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cert *tls.Certificate
		// force sends the certificate even when its issuer is not one the
		// server asked for, as a hostile client would.
		force   bool
		want    string // what the server writes: the agent name, or "-"
		refused bool
	}{
		{"valid", ptr(testClientCert(t, ca, "web-1", now)), false, "web-1", false},
		{"no-certificate", nil, false, "-", false},
		// crypto/tls does not send a certificate of an issuer the server
		// did not name: the agent comes in anonymous.
		{"other-ca", ptr(testClientCert(t, other, "web-1", now)), false, "-", false},
		{"other-ca-forced", ptr(testClientCert(t, other, "web-1", now)), true, "", true},
		{"other-ca-same-subject", ptr(testClientCert(t, testCA(t, "helen test CA"), "web-1", now)), false, "", true},
		{"expired", ptr(testClientCert(t, ca, "web-1", now.Add(-2*leafLifetime))), false, "", true},
		{"not-yet-valid", ptr(testClientCert(t, ca, "web-1", now.Add(2*backdate))), false, "", true},
		{"server-usage-only", &serverCert, true, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ClientConfig(Trust{CAFile: caFile}, "127.0.0.1", tt.cert, []string{"equus/1"})
			if err != nil {
				t.Fatal(err)
			}
			if tt.force {
				cfg.Certificates = nil
				cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
					return tt.cert, nil
				}
			}
			got, st, err := talk(t, srv.addr, cfg)
			seen := srv.next(t)
			if tt.refused {
				if err == nil || seen.err == nil {
					t.Fatalf("accepted: client err %v, server err %v, got %q", err, seen.err, got)
				}
				return
			}
			if err != nil || seen.err != nil {
				t.Fatalf("client err %v, server err %v", err, seen.err)
			}
			if got != tt.want {
				t.Errorf("server saw agent %q, want %q", got, tt.want)
			}
			if st.NegotiatedProtocol != "equus/1" {
				t.Errorf("ALPN %q, want equus/1", st.NegotiatedProtocol)
			}
		})
	}
}

func TestServerRequiringCertificate(t *testing.T) {
	ca, _, caFile := mtlsSetup(t)
	cert, err := ca.IssueServer([]string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	scfg := ServerConfig(ca, cert, nil)
	scfg.ClientAuth = tls.RequireAndVerifyClientCert
	srv := startServer(t, scfg)
	other := testCA(t, "another CA")
	tests := []struct {
		name string
		cert *tls.Certificate
		ok   bool
	}{
		{"valid", ptr(testClientCert(t, ca, "db-2", time.Now())), true},
		{"none", nil, false},
		{"other-ca", ptr(testClientCert(t, other, "db-2", time.Now())), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ClientConfig(Trust{CAFile: caFile}, "127.0.0.1", tt.cert, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, _, err := talk(t, srv.addr, cfg)
			seen := srv.next(t)
			if ok := err == nil && seen.err == nil; ok != tt.ok {
				t.Fatalf("accepted %v, want %v (client %v, server %v)", ok, tt.ok, err, seen.err)
			}
			if tt.ok && got != "db-2" {
				t.Fatalf("agent %q, want db-2", got)
			}
		})
	}
}

func TestServerRefusesOldTLS(t *testing.T) {
	_, srv, caFile := mtlsSetup(t)
	cfg, err := ClientConfig(Trust{CAFile: caFile}, "127.0.0.1", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MinVersion = tls.VersionTLS10
	cfg.MaxVersion = tls.VersionTLS11
	if _, _, err := talk(t, srv.addr, cfg); err == nil {
		t.Fatal("TLS 1.1 handshake succeeded")
	}
	srv.next(t)
}

func TestClientRefusesServer(t *testing.T) {
	_, srv, caFile := mtlsSetup(t)
	other := testCA(t, "another CA")
	otherFile := filepath.Join(t.TempDir(), "other.pem")
	if err := WritePEMFile(otherFile, other.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		caFile     string
		serverName string
	}{
		{"other-ca", otherFile, "127.0.0.1"},
		{"wrong-host", caFile, "helen.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ClientConfig(Trust{CAFile: tt.caFile}, tt.serverName, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = talk(t, srv.addr, cfg)
			if !isVerifyError(err) {
				t.Fatalf("got %v, want a verification error", err)
			}
			srv.next(t)
		})
	}
}

func TestClientConfigTrust(t *testing.T) {
	ca := testCA(t, "helen test CA")
	other := testCA(t, "another CA")
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := WritePEMFile(caFile, ca.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	bothFile := filepath.Join(dir, "both.pem")
	if err := WritePEMFile(bothFile, append(other.CertPEM, ca.CertPEM...), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		trust Trust
		want  error // nil: a config; errAny: some error
	}{
		{"file", Trust{CAFile: caFile}, nil},
		{"file-and-pin", Trust{CAFile: caFile, Pin: ca.Pin()}, nil},
		{"pin-picks-from-file", Trust{CAFile: bothFile, Pin: ca.Pin()}, nil},
		{"file-other-pin", Trust{CAFile: caFile, Pin: other.Pin()}, ErrPinMismatch},
		{"ca-and-pin", Trust{CA: ca.Cert, Pin: ca.Pin()}, nil},
		{"ca-other-pin", Trust{CA: ca.Cert, Pin: other.Pin()}, ErrPinMismatch},
		{"pin-only", Trust{Pin: ca.Pin()}, ErrPinNotResolved},
		{"bad-pin", Trust{CAFile: caFile, Pin: "sha256:00"}, ErrBadPin},
		{"nothing", Trust{}, errAny},
		{"missing-file", Trust{CAFile: filepath.Join(dir, "none.pem")}, errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ClientConfig(tt.trust, "helen", nil, nil)
			switch {
			case tt.want == nil && err != nil:
				t.Fatalf("error %v", err)
			case tt.want == nil:
				if cfg.RootCAs == nil || cfg.MinVersion < tls.VersionTLS12 {
					t.Fatalf("weak config: %+v", cfg)
				}
			case err == nil:
				t.Fatalf("no error, want %v", tt.want)
			case tt.want != errAny && !errors.Is(err, tt.want):
				t.Fatalf("error %v, want %v", err, tt.want)
			}
		})
	}
}

var errAny = errors.New("any error")

func TestAgentNameNone(t *testing.T) {
	if name, err := AgentName(tls.ConnectionState{}); !errors.Is(err, ErrNoClientCert) {
		t.Fatalf("AgentName of no certificate = %q, %v; want ErrNoClientCert", name, err)
	}
}

func ptr[T any](v T) *T { return &v }
