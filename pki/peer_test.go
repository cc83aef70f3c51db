package pki

import (
	"bytes"
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testPeerCert(t testing.TB, ca *CA, id string) tls.Certificate {
	t.Helper()
	cert, err := ca.IssuePeer(id, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// TestPeerHandshake: over real TLS on loopback, a helen's peer listener
// takes a helen of its CA and no other certificate, and a helen takes
// the peer it meant to reach and no other.
func TestPeerHandshake(t *testing.T) {
	ca := testCA(t, "shared")
	other := testCA(t, "other")
	b := testPeerCert(t, ca, "helen-b")
	server, err := ca.IssueServer([]string{PeerServerName("helen-b"), "localhost"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		serverCert tls.Certificate // the listener's
		client     *tls.Certificate
		want       string // the helen the client means to reach
		ok         bool
	}{
		{"peer", b, ptr(testPeerCert(t, ca, "helen-a")), "helen-b", true},
		{"agent-certificate", b, ptr(testClientCert(t, ca, "web-1", time.Now())), "helen-b", false},
		{"helen-server-certificate", b, &server, "helen-b", false},
		{"no-certificate", b, nil, "helen-b", false},
		{"peer-of-another-ca", b, ptr(testPeerCert(t, other, "helen-a")), "helen-b", false},
		{"another-helen-answers", testPeerCert(t, ca, "helen-c"), ptr(testPeerCert(t, ca, "helen-a")), "helen-b", false},
		// helen's server certificate for the peer name of helen-b: the
		// name is right, but it does not name a helen.
		{"server-certificate-answers", server, ptr(testPeerCert(t, ca, "helen-a")), "helen-b", false},
		{"peer-of-another-ca-answers", testPeerCert(t, other, "helen-b"), ptr(testPeerCert(t, ca, "helen-a")), "helen-b", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, PeerServerConfig(ca, tt.serverCert, []string{"h2"}))
			cfg := PeerClientConfig(ca, b, tt.want, []string{"h2"})
			cfg.Certificates = nil
			if tt.client != nil {
				cfg.Certificates = []tls.Certificate{*tt.client}
			}
			_, cs, err := talk(t, srv.addr, cfg)
			seen := srv.next(t)
			if tt.ok {
				if err != nil || seen.err != nil {
					t.Fatalf("client: %v, server: %v", err, seen.err)
				}
				if id, err := PeerOf(seen.state); err != nil || id != "helen-a" {
					t.Errorf("server sees helen %q (%v), want helen-a", id, err)
				}
				if id, err := PeerOf(cs); err != nil || id != "helen-b" {
					t.Errorf("client sees helen %q (%v), want helen-b", id, err)
				}
				return
			}
			if err == nil && seen.err == nil {
				t.Fatal("handshake succeeded")
			}
		})
	}
}

func TestPeerID(t *testing.T) {
	ca := testCA(t, "ca")
	if id, err := PeerID(testPeerCert(t, ca, "db.example.com").Leaf); err != nil || id != "db.example.com" {
		t.Errorf("PeerID = %q, %v", id, err)
	}
	agent := testClientCert(t, ca, "web-1", time.Now())
	if _, err := PeerID(agent.Leaf); !errors.Is(err, ErrNotPeer) {
		t.Errorf("agent's certificate: %v, want ErrNotPeer", err)
	}
	server, _ := ca.IssueServer([]string{"localhost"}, time.Now())
	if _, err := PeerID(server.Leaf); !errors.Is(err, ErrNotPeer) {
		t.Errorf("server certificate: %v, want ErrNotPeer", err)
	}
}

func TestCheckHelenID(t *testing.T) {
	for _, tt := range []struct {
		id string
		ok bool
	}{
		{"helen-1", true},
		{"db.example.com", true},
		{"h_1", true},
		{"", false},
		{"*.example.com", false},
		{"a b", false},
		{"a:b", false},
		{"a/b", false},
		{"-a", false},
		{"a..b", false},
		{strings.Repeat("a", 63), true},
		{strings.Repeat("a", 64), false},
		{strings.Repeat("a.", (maxHelenID-1)/2) + "a", true}, // maxHelenID bytes
		{strings.Repeat("a.", (maxHelenID-1)/2) + "aa", false},
	} {
		err := CheckHelenID(tt.id)
		if tt.ok != (err == nil) {
			t.Errorf("CheckHelenID(%q) = %v, want ok %v", tt.id, err, tt.ok)
		}
	}
	if _, err := testCA(t, "ca").IssuePeer("a b", time.Now()); err == nil {
		t.Error("IssuePeer of a bad ID succeeded")
	}
}

// TestLoadOrCreatePeer: made once, loaded as it is after, reissued with
// the same key for another ID or another CA.
func TestLoadOrCreatePeer(t *testing.T) {
	dir := t.TempDir()
	ca := testCA(t, "ca")
	first, err := LoadOrCreatePeer(dir, ca, "helen-a")
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, peerKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	again, err := LoadOrCreatePeer(dir, ca, "helen-a")
	if err != nil || !bytes.Equal(again.Certificate[0], first.Certificate[0]) {
		t.Fatalf("second load reissued (%v)", err)
	}
	renamed, err := LoadOrCreatePeer(dir, ca, "helen-b")
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := PeerID(renamed.Leaf); id != "helen-b" {
		t.Errorf("reissued for %q", id)
	}
	if !publicKeysEqual(renamed.Leaf.PublicKey, first.Leaf.PublicKey) {
		t.Error("reissue changed the key")
	}
	ca2 := testCA(t, "ca2")
	moved, err := LoadOrCreatePeer(dir, ca2, "helen-b")
	if err != nil {
		t.Fatal(err)
	}
	if moved.Leaf.CheckSignatureFrom(ca2.Cert) != nil {
		t.Error("not reissued by the new CA")
	}
	if _, err := LoadOrCreatePeer(dir, ca2, ""); err == nil {
		t.Error("an empty ID was taken")
	}
}
