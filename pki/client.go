package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/equus-monitoring/equus/agentname"
)

// ErrBadName is returned, wrapped, for an agent name that breaks the one
// rule of agent names (agentname.Check); it is agentname.ErrInvalid.
var ErrBadName = agentname.ErrInvalid

// ErrBadCSR is returned, wrapped, for a certificate request that does not
// parse, is not signed by its own key, or has a key helen does not accept.
var ErrBadCSR = errors.New("pki: bad certificate request")

// maxCSRSize bounds the PEM request SignCSR reads; a real one is under 1 KiB.
const maxCSRSize = 16 << 10

// IssueClient makes an agent certificate with a new key, valid for the
// CA's client lifetime (a year unless SetClientLifetime said otherwise):
// Common Name name, ClientAuth only.
func (ca *CA) IssueClient(name string, now time.Time) (certPEM, keyPEM []byte, err error) {
	if err := agentname.Check(name); err != nil {
		return nil, nil, fmt.Errorf("issue: %w", err)
	}
	key, err := newKey()
	if err != nil {
		return nil, nil, fmt.Errorf("issue %s: %w", name, err)
	}
	cert, err := ca.signClient(name, key.Public(), now)
	if err != nil {
		return nil, nil, fmt.Errorf("issue %s: %w", name, err)
	}
	kp, err := keyPEMOf(key)
	if err != nil {
		return nil, nil, fmt.Errorf("issue %s: %w", name, err)
	}
	return CertPEM(cert), kp, nil
}

func (ca *CA) signClient(name string, pub crypto.PublicKey, now time.Time) (*x509.Certificate, error) {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	return ca.sign(tmpl, pub, now, ca.clientLifetime())
}

// SignCSR signs a PEM certificate request from an enrolling agent and
// returns the PEM certificate and the agent's name, the request's Common
// Name. The request must be signed by its own key and name a valid agent.
// Everything else it asks for (names, extensions, usages) is ignored: the
// certificate is an agent certificate like IssueClient's.
func (ca *CA) SignCSR(csrPEM []byte, now time.Time) (certPEM []byte, name string, err error) {
	csr, err := parseCSR(csrPEM)
	if err != nil {
		return nil, "", err
	}
	name = csr.Subject.CommonName
	if err := agentname.Check(name); err != nil {
		return nil, "", fmt.Errorf("sign request: %w", err)
	}
	cert, err := ca.signClient(name, csr.PublicKey, now)
	if err != nil {
		return nil, "", fmt.Errorf("sign request for %s: %w", name, err)
	}
	return CertPEM(cert), name, nil
}

func parseCSR(csrPEM []byte) (*x509.CertificateRequest, error) {
	if len(csrPEM) > maxCSRSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrBadCSR, len(csrPEM), maxCSRSize)
	}
	block, _ := pem.Decode(csrPEM)
	if block == nil || block.Type != pemCSR {
		return nil, fmt.Errorf("%w: no PEM %q block", ErrBadCSR, pemCSR)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadCSR, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadCSR, err)
	}
	if err := acceptableKey(csr.PublicKey); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadCSR, err)
	}
	return csr, nil
}

// acceptableKey refuses keys too weak, or of a kind TLS would not use.
func acceptableKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return fmt.Errorf("ECDSA curve %s not accepted", k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return fmt.Errorf("RSA key of %d bits, want at least 2048", k.N.BitLen())
		}
	default:
		return fmt.Errorf("key type %T not accepted", pub)
	}
	return nil
}

// NewCSR makes an ECDSA P-256 key and a certificate request for the agent
// name, and returns both PEM-encoded.
func NewCSR(name string) (csrPEM, keyPEM []byte, err error) {
	if err := agentname.Check(name); err != nil {
		return nil, nil, fmt.Errorf("certificate request: %w", err)
	}
	key, err := newKey()
	if err != nil {
		return nil, nil, fmt.Errorf("certificate request for %s: %w", name, err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: name},
	}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate request for %s: %w", name, err)
	}
	kp, err := keyPEMOf(key)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate request for %s: %w", name, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemCSR, Bytes: der}), kp, nil
}
