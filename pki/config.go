package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/equus-monitoring/equus/agentname"
)

// ErrPinMismatch is returned, wrapped, when no certificate matches a pin.
var ErrPinMismatch = errors.New("pki: no CA certificate matches the pin")

// ErrPinNotResolved is returned, wrapped, by ClientConfig for a Trust that
// has a pin but no CA yet: call Trust.Resolve first.
var ErrPinNotResolved = errors.New("pki: pinned CA not fetched yet (call Trust.Resolve)")

// ServerConfig returns the TLS configuration of helen's agents' port. It
// asks for a client certificate and, when one is presented, verifies it
// against the CA (ClientAuth usage, validity) and refuses the handshake if
// it fails; a client without one (enrollment) gets through, and AgentName
// then returns ErrNoClientCert. alpn lists the protocols served, in order of
// preference. TLS 1.2 at least.
func ServerConfig(ca *CA, cert tls.Certificate, alpn []string) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    ca.Pool(),
		NextProtos:   slices.Clone(alpn),
	}
}

// ErrNoClientCert is returned by AgentName for a connection whose client
// presented no certificate.
var ErrNoClientCert = errors.New("pki: no client certificate")

// AgentName returns the agent name of a connection: the Common Name of the
// client certificate the server verified. It returns ErrNoClientCert when
// the client presented none, and agentname.Check's error when the name
// breaks the rule of agent names (a certificate of helen's CA signed some
// other way than by helen).
func AgentName(state tls.ConnectionState) (string, error) {
	if len(state.VerifiedChains) == 0 || len(state.VerifiedChains[0]) == 0 {
		return "", ErrNoClientCert
	}
	name := state.VerifiedChains[0][0].Subject.CommonName
	if err := agentname.Check(name); err != nil {
		return "", fmt.Errorf("client certificate: %w", err)
	}
	return name, nil
}

// Trust says how an agent recognises helen: by a CA file, by a pin of the
// CA certificate, or both (the file must then match the pin).
type Trust struct {
	// CAFile is a PEM file holding helen's CA certificate.
	CAFile string
	// Pin is "sha256:<hex>" of helen's CA certificate's DER bytes.
	Pin string
	// CA is helen's CA certificate once known. Resolve sets it from the
	// pin; when set, CAFile is not read.
	CA *x509.Certificate
}

// ClientConfig returns the TLS configuration of an agent talking to helen:
// helen's certificate is verified the ordinary way against helen's CA as
// the only root, for serverName (when empty, crypto/tls and net/http take
// the host of the address dialed). cert, when not nil, is presented as the
// agent's certificate. A Trust with only a pin must be resolved first.
func ClientConfig(trust Trust, serverName string, cert *tls.Certificate, alpn []string) (*tls.Config, error) {
	roots, err := trust.roots()
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		RootCAs:    roots,
		ServerName: serverName,
		NextProtos: slices.Clone(alpn),
	}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return cfg, nil
}

// roots returns the pool of helen's CA, checked against the pin if any.
func (t Trust) roots() (*x509.CertPool, error) {
	var digest []byte
	if t.Pin != "" {
		var err error
		if digest, err = ParsePin(t.Pin); err != nil {
			return nil, err
		}
	}
	var certs []*x509.Certificate
	switch {
	case t.CA != nil:
		certs = []*x509.Certificate{t.CA}
	case t.CAFile != "":
		data, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		if certs, err = ParseCertsPEM(data); err != nil {
			return nil, fmt.Errorf("CA file %s: %w", t.CAFile, err)
		}
	case t.Pin != "":
		return nil, ErrPinNotResolved
	default:
		return nil, errors.New("pki: no CA file or pin to trust helen by")
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		if digest == nil || matchesPin(c, digest) {
			pool.AddCert(c)
			if digest != nil {
				return pool, nil
			}
		}
	}
	if digest != nil {
		return nil, fmt.Errorf("%w %s", ErrPinMismatch, t.Pin)
	}
	return pool, nil
}
