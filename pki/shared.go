package pki

import (
	"errors"
	"fmt"
)

// A CA kept elsewhere than in a data directory (helens that share a
// store keep theirs there, its key sealed): its key in PEM, and the CA
// back from both PEMs.

// KeyPEM returns the CA's private key in PEM (PKCS #8).
func (ca *CA) KeyPEM() ([]byte, error) { return keyPEMOf(ca.Key) }

// ParseCA returns the CA of certPEM and keyPEM, which must go together.
func ParseCA(certPEM, keyPEM []byte) (*CA, error) {
	certs, err := ParseCertsPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("parse CA: %w", err)
	}
	cert := certs[0]
	if !cert.IsCA {
		return nil, errors.New("parse CA: certificate is not a CA")
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("parse CA: %w", err)
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, errors.New("parse CA: the key does not match the certificate")
	}
	return &CA{Cert: cert, Key: key, CertPEM: CertPEM(cert)}, nil
}
