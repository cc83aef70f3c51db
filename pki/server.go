package pki

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// File names of helen's server certificate.
const (
	serverCertFile = "server.pem"
	serverKeyFile  = "server-key.pem"
)

// renewBefore is how long before expiry LoadOrCreateServer reissues.
const renewBefore = 30 * 24 * time.Hour

// IssueServer makes helen's server certificate with a new key, valid for a
// year: ServerAuth, with sans as DNS names or IP addresses. The chain holds
// the leaf and then the CA, which an agent that knows only the pin needs.
func (ca *CA) IssueServer(sans []string, now time.Time) (tls.Certificate, error) {
	key, err := newKey()
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue server certificate: %w", err)
	}
	return ca.issueServer(key, sans, now)
}

func (ca *CA) issueServer(key crypto.Signer, sans []string, now time.Time) (tls.Certificate, error) {
	dns, ips, err := splitSANs(sans)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue server certificate: %w", err)
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: sans[0]},
		DNSNames:    dns,
		IPAddresses: ips,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	cert, err := ca.sign(tmpl, key.Public(), now, leafLifetime)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue server certificate: %w", err)
	}
	return tls.Certificate{
		Certificate: [][]byte{cert.Raw, ca.Cert.Raw},
		PrivateKey:  key,
		Leaf:        cert,
	}, nil
}

// maxDNSName is the longest DNS name CheckSAN accepts, in bytes.
const maxDNSName = 253

// CheckSAN reports what keeps name from being a name of helen's server
// certificate, which is also an address agents dial and a word of the join
// command: an IP address, or a DNS name of labels of ASCII letters, digits,
// '-' and '_' joined by dots, at most 253 bytes, whose first label may be
// "*" (a wildcard).
func CheckSAN(name string) error {
	if net.ParseIP(name) != nil {
		return nil
	}
	bad := func(why string) error {
		return fmt.Errorf("bad name %q for the server certificate: %s (want an IP address or a DNS name of A-Z a-z 0-9 - _ and dots)", name, why)
	}
	if name == "" {
		return bad("empty")
	}
	if len(name) > maxDNSName {
		return bad(fmt.Sprintf("%d bytes, more than %d", len(name), maxDNSName))
	}
	for i, label := range strings.Split(name, ".") {
		switch {
		case label == "":
			return bad("an empty label")
		case label == "*" && i == 0:
			continue
		case label[0] == '-':
			return bad(fmt.Sprintf("label %q starts with '-'", label))
		}
		for _, c := range []byte(label) {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return bad(fmt.Sprintf("%q is not allowed", c))
			}
		}
	}
	return nil
}

// splitSANs sorts names into DNS names and IP addresses.
func splitSANs(sans []string) ([]string, []net.IP, error) {
	if len(sans) == 0 {
		return nil, nil, errors.New("no names")
	}
	var dns []string
	var ips []net.IP
	for _, s := range sans {
		if err := CheckSAN(s); err != nil {
			return nil, nil, err
		}
		if ip := net.ParseIP(s); ip != nil {
			ips = append(ips, ip)
			continue
		}
		dns = append(dns, s)
	}
	return dns, ips, nil
}

// sanKey returns the set of names a certificate is for, or would be for, in
// a canonical order, so that two lists can be compared.
func sanKey(dns []string, ips []net.IP) []string {
	var key []string
	for _, d := range dns {
		key = append(key, "dns:"+strings.ToLower(d))
	}
	for _, ip := range ips {
		key = append(key, "ip:"+ip.String())
	}
	slices.Sort(key)
	return slices.Compact(key)
}

// LoadServer loads helen's server certificate from dir/server.pem and
// dir/server-key.pem as it is, for what must not issue one.
func LoadServer(dir string) (tls.Certificate, error) {
	cert, err := LoadKeyPair(filepath.Join(dir, serverCertFile), filepath.Join(dir, serverKeyFile))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("server certificate: %w", err)
	}
	return cert, nil
}

// LoadOrCreateServer loads helen's server certificate from dir/server.pem
// and dir/server-key.pem, and issues a new one when there is none, when its
// names differ from sans, when it expires within 30 days or when another CA
// signed it. A reissued certificate keeps the existing key, so that the
// public key pin printed for curl (PublicKeyPin) stays valid.
func LoadOrCreateServer(dir string, ca *CA, sans []string) (tls.Certificate, error) {
	certPath := filepath.Join(dir, serverCertFile)
	keyPath := filepath.Join(dir, serverKeyFile)
	dns, ips, err := splitSANs(sans)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("server certificate: %w", err)
	}
	now := time.Now()
	key, kept, err := keyAt(keyPath, "server certificate")
	if err != nil {
		return tls.Certificate{}, err
	}
	if kept {
		cert, err := LoadKeyPair(certPath, keyPath)
		if err == nil && serverCertCurrent(cert, ca, sanKey(dns, ips), now) {
			return cert, nil
		}
		// A missing or unreadable certificate is reissued: the key is what
		// matters, and it is still good.
	}
	cert, err := ca.issueServer(key, sans, now)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := ca.writeChain(certPath, cert, "server certificate"); err != nil {
		return tls.Certificate{}, err
	}
	return cert, nil
}

// keyAt reads the key at keyPath or, where there is none, makes one and
// writes it there, readable by its owner alone; kept reports that it was
// there. what names the certificate the key is for, in errors.
func keyAt(keyPath, what string) (key crypto.Signer, kept bool, err error) {
	keyData, ok, err := readOptional(keyPath)
	switch {
	case err != nil:
		return nil, false, fmt.Errorf("%s: %w", what, err)
	case ok:
		if key, err = parseKeyPEM(keyData); err != nil {
			return nil, false, fmt.Errorf("%s %s: %w", what, keyPath, err)
		}
		return key, true, nil
	}
	if key, err = newKey(); err != nil {
		return nil, false, fmt.Errorf("%s: %w", what, err)
	}
	kp, err := keyPEMOf(key)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", what, err)
	}
	if err := WritePEMFile(keyPath, kp, 0o600); err != nil {
		return nil, false, fmt.Errorf("%s: %w", what, err)
	}
	return key, false, nil
}

// writeChain writes cert, the CA's certificate after it, to certPath.
func (ca *CA) writeChain(certPath string, cert tls.Certificate, what string) error {
	if err := WritePEMFile(certPath, append(CertPEM(cert.Leaf), ca.CertPEM...), 0o644); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// serverCertCurrent reports whether cert can be served as is: this CA
// signed it and it alone follows it in the chain, it is for exactly the
// wanted names, and it does not expire within renewBefore.
func serverCertCurrent(cert tls.Certificate, ca *CA, want []string, now time.Time) bool {
	leaf := cert.Leaf
	if len(cert.Certificate) != 2 || !bytes.Equal(cert.Certificate[1], ca.Cert.Raw) {
		return false
	}
	if leaf.CheckSignatureFrom(ca.Cert) != nil {
		return false
	}
	if now.Add(renewBefore).After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		return false
	}
	return slices.Equal(sanKey(leaf.DNSNames, leaf.IPAddresses), want)
}

// DefaultSANs returns the names helen's server certificate has when none
// are configured: the host name, localhost and the loopback addresses.
func DefaultSANs() []string {
	sans := []string{"localhost", "127.0.0.1", "::1"}
	if host, err := os.Hostname(); err == nil && host != "" && host != "localhost" && CheckSAN(host) == nil && !strings.HasPrefix(host, "*") {
		sans = append([]string{host}, sans...)
	}
	return sans
}
