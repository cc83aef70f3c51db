package pki

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"
)

// Resolve returns t ready for ClientConfig. A Trust with a CA or a CA file
// is returned as it is; one with only a pin gets its CA from FetchCA.
// Keep the result (or write its CA to a file with CertPEM) rather than
// resolving before every connection.
func (t Trust) Resolve(ctx context.Context, addr, serverName string) (Trust, error) {
	if t.CA != nil || t.CAFile != "" || t.Pin == "" {
		return t, nil
	}
	ca, err := FetchCA(ctx, addr, serverName, t.Pin)
	if err != nil {
		return t, err
	}
	t.CA = ca
	return t, nil
}

// FetchCA gets helen's CA certificate from the server at addr and checks it
// against the pin, without trusting anything on the way.
//
// It makes one TLS handshake whose root pool is empty, so the client
// refuses every chain, as it should; crypto/tls then reports the refused
// chain in a CertificateVerificationError. The certificate in it whose
// fingerprint equals the pin is helen's CA, provided the server's leaf
// verifies against it for serverName (empty: the host of addr), for server
// authentication, now. The connection ends in the handshake, so nothing is
// ever sent to or read from an unverified server.
func FetchCA(ctx context.Context, addr, serverName, pin string) (*x509.Certificate, error) {
	digest, err := ParsePin(pin)
	if err != nil {
		return nil, err
	}
	if serverName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("fetch CA from %s: %w", addr, err)
		}
		serverName = host
	}
	d := tls.Dialer{Config: &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: serverName,
		RootCAs:    x509.NewCertPool(), // empty: trust nothing
	}}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err == nil {
		// Unreachable with an empty pool; never use the connection anyway.
		conn.Close()
		return nil, fmt.Errorf("fetch CA from %s: server chain verified with no roots", addr)
	}
	var verr *tls.CertificateVerificationError
	if !errors.As(err, &verr) {
		return nil, fmt.Errorf("fetch CA from %s: %w", addr, err)
	}
	ca, err := pinnedCA(verr.UnverifiedCertificates, digest, serverName, time.Now())
	if err != nil {
		return nil, fmt.Errorf("fetch CA from %s: %w", addr, err)
	}
	return ca, nil
}

// pinnedCA finds the CA matching the pin in a presented chain, leaf first,
// and verifies the leaf against it as the only root.
func pinnedCA(chain []*x509.Certificate, digest []byte, serverName string, now time.Time) (*x509.Certificate, error) {
	if len(chain) == 0 {
		return nil, errors.New("server sent no certificate")
	}
	var ca *x509.Certificate
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		if ca == nil && c.IsCA && matchesPin(c, digest) {
			ca = c
			continue
		}
		inter.AddCert(c)
	}
	if ca == nil {
		return nil, ErrPinMismatch
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	_, err := chain[0].Verify(x509.VerifyOptions{
		DNSName:       serverName,
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return nil, fmt.Errorf("server certificate does not verify against the pinned CA: %w", err)
	}
	return ca, nil
}
