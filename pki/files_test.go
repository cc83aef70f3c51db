package pki

import (
	"bytes"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// checkMode fails the test unless path has exactly the permission bits.
func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s has mode %v, want %v", filepath.Base(path), got, want)
	}
}

func TestWritePEMFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "dir")
	path := filepath.Join(dir, "key.pem")
	for _, data := range []string{"first", "second, longer"} {
		if err := WritePEMFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != data {
			t.Fatalf("read %q, %v; want %q", got, err, data)
		}
	}
	checkMode(t, path, 0o600)
	checkMode(t, dir, 0o700)
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Fatalf("directory holds %v (%v), want only key.pem", entries, err)
	}
	if err := WritePEMFile(filepath.Join(dir, "missing", "x"+string(rune(0))), nil, 0o600); err == nil {
		t.Fatal("writing a bad path succeeded")
	}
}

func TestLoadOrCreateCA(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	checkMode(t, filepath.Join(dir, caKeyFile), 0o600)
	if !ca.Cert.IsCA || !ca.Cert.MaxPathLenZero {
		t.Fatalf("not a leaf-only CA: IsCA %v, MaxPathLenZero %v", ca.Cert.IsCA, ca.Cert.MaxPathLenZero)
	}
	if d := time.Until(ca.Cert.NotAfter); d < caLifetime-time.Hour {
		t.Fatalf("CA valid for %v, want %v", d, caLifetime)
	}
	again, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again.Pin() != ca.Pin() || !bytes.Equal(again.CertPEM, ca.CertPEM) {
		t.Fatal("second call made another CA")
	}
	// The loaded key must sign what the certificate verifies.
	certPEM, _, err := again.IssueClient("web-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	certs, err := ParseCertsPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	if err := certs[0].CheckSignatureFrom(ca.Cert); err != nil {
		t.Fatalf("loaded CA signs with another key: %v", err)
	}
}

func TestLoadOrCreateCABroken(t *testing.T) {
	other := testCA(t, "another CA")
	otherKey, err := keyPEMOf(other.Key)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		setup func(dir string)
	}{
		{"key-missing", func(dir string) { os.Remove(filepath.Join(dir, caKeyFile)) }},
		{"key-of-another-ca", func(dir string) { os.WriteFile(filepath.Join(dir, caKeyFile), otherKey, 0o600) }},
		{"cert-garbage", func(dir string) { os.WriteFile(filepath.Join(dir, caCertFile), []byte("junk"), 0o644) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := LoadOrCreateCA(dir); err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadFile(filepath.Join(dir, caCertFile))
			tt.setup(dir)
			if _, err := LoadOrCreateCA(dir); err == nil {
				t.Fatal("loaded a broken CA")
			}
			after, _ := os.ReadFile(filepath.Join(dir, caCertFile))
			if !bytes.Equal(before, after) && string(after) != "junk" {
				t.Fatal("a broken CA was replaced")
			}
		})
	}
}

// loadServer calls LoadOrCreateServer, checks the chain, the files and the
// key's mode, and returns the leaf and the pin of its key.
func loadServer(t *testing.T, dir string, ca *CA, sans []string) (*x509.Certificate, string) {
	t.Helper()
	cert, err := LoadOrCreateServer(dir, ca, sans)
	if err != nil {
		t.Fatal(err)
	}
	if len(cert.Certificate) != 2 || !bytes.Equal(cert.Certificate[1], ca.Cert.Raw) {
		t.Fatal("the chain is not leaf then CA")
	}
	onDisk, err := LoadKeyPair(filepath.Join(dir, serverCertFile), filepath.Join(dir, serverKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if !onDisk.Leaf.Equal(cert.Leaf) {
		t.Fatal("the files hold another certificate than the one returned")
	}
	checkMode(t, filepath.Join(dir, serverKeyFile), 0o600)
	return cert.Leaf, PublicKeyPin(cert.Leaf)
}

func TestLoadOrCreateServer(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	sans := []string{"helen.example", "127.0.0.1", "::1"}
	first, keyPin := loadServer(t, dir, ca, sans)
	opts := x509.VerifyOptions{Roots: ca.Pool(), DNSName: "helen.example", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if _, err := first.Verify(opts); err != nil {
		t.Fatalf("server certificate does not verify: %v", err)
	}

	same, _ := loadServer(t, dir, ca, []string{"::1", "HELEN.example", "127.0.0.1", "127.0.0.1"})
	if !same.Equal(first) {
		t.Fatal("reissued for the same names in another order or case")
	}

	changed, changedPin := loadServer(t, dir, ca, append(sans, "10.0.0.5"))
	if changed.Equal(first) {
		t.Fatal("not reissued when the names changed")
	}
	if !slices.ContainsFunc(changed.IPAddresses, func(ip net.IP) bool { return ip.Equal(net.ParseIP("10.0.0.5")) }) {
		t.Fatalf("new name missing: %v", changed.IPAddresses)
	}
	if changedPin != keyPin {
		t.Fatal("reissuing changed the server key")
	}

	// A certificate expiring within the renewal window is replaced.
	key, err := parseKeyPEM(mustRead(t, filepath.Join(dir, serverKeyFile)))
	if err != nil {
		t.Fatal(err)
	}
	old, err := ca.issueServer(key, sans, time.Now().Add(-leafLifetime+renewBefore/2))
	if err != nil {
		t.Fatal(err)
	}
	if err := WritePEMFile(filepath.Join(dir, serverCertFile), append(CertPEM(old.Leaf), ca.CertPEM...), 0o644); err != nil {
		t.Fatal(err)
	}
	renewed, _ := loadServer(t, dir, ca, sans)
	if renewed.Equal(old.Leaf) || time.Until(renewed.NotAfter) < leafLifetime-time.Hour {
		t.Fatalf("not renewed: expires %v", renewed.NotAfter)
	}

	// A new CA means a new certificate.
	other := testCA(t, "another CA")
	byOther, _ := loadServer(t, dir, other, sans)
	if byOther.CheckSignatureFrom(other.Cert) != nil {
		t.Fatal("not reissued by the new CA")
	}

	if _, err := LoadOrCreateServer(dir, ca, nil); err == nil {
		t.Fatal("issued a certificate with no names")
	}
}

func TestDefaultSANs(t *testing.T) {
	sans := DefaultSANs()
	for _, want := range []string{"localhost", "127.0.0.1", "::1"} {
		if !slices.Contains(sans, want) {
			t.Errorf("DefaultSANs() = %v, missing %s", sans, want)
		}
	}
	ca := testCA(t, "helen test CA")
	if _, err := ca.IssueServer(sans, time.Now()); err != nil {
		t.Fatal(err)
	}
}

func TestLoadKeyPairErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadKeyPair(filepath.Join(dir, "a.pem"), filepath.Join(dir, "a-key.pem")); err == nil {
		t.Fatal("loaded missing files")
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestCheckSAN: a name of the server certificate is also an address an
// agent dials and a word of the join command.
func TestCheckSAN(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"monitor.example.com", true},
		{"localhost", true},
		{"web_1", true},
		{"*.example.com", true},
		{"10.0.0.7", true},
		{"2001:db8::7", true},
		{strings.Repeat("a.", 126) + "a", true},
		{strings.Repeat("a.", 127) + "a", false}, // 255 bytes
		{"", false},
		{"a b", false},
		{"a/b", false},
		{"a:1", false},
		{"user@host", false},
		{"a;reboot", false},
		{"$(reboot)", false},
		{"'x'", false},
		{"héllo", false},
		{"a..b", false},
		{"a.", false},
		{".a", false},
		{"-a.example.com", false},
		{"a.*.com", false},
	}
	for _, tt := range tests {
		err := CheckSAN(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("CheckSAN(%q) = %v, want ok %v", tt.name, err, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "server certificate") {
			t.Errorf("CheckSAN(%q) = %v: does not say what the name is for", tt.name, err)
		}
		if _, _, err := splitSANs([]string{tt.name}); (err == nil) != tt.ok {
			t.Errorf("splitSANs(%q) = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}
