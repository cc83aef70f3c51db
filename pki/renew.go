package pki

import (
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// ErrRenewOtherName is returned, wrapped, by RenewCSR for a request that
// names another agent than the certificate renewed.
var ErrRenewOtherName = errors.New("pki: certificate request names another agent")

// ErrRenewSameKey is returned, wrapped, by RenewCSR for a request whose key
// is the key of the certificate renewed: a renewal brings a new key.
var ErrRenewSameKey = errors.New("pki: certificate request reuses the current key")

// RenewRequest is the body of a renewal, POST /v1/renew on helen's agents'
// port over mutual TLS with the agent's current certificate: a certificate
// request in PEM (NewCSR) for the same name and a new key. Helen answers
// with an EnrollResponse.
type RenewRequest struct {
	CSR string `json:"csr"`
}

// RenewAt returns when an agent should renew its certificate: once two
// thirds of its validity have passed, which leaves a third of it (four
// months of a year) to get through helen being away.
func RenewAt(leaf *x509.Certificate) time.Time {
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	return leaf.NotBefore.Add(life - life/3)
}

// RenewCSR signs the certificate request of an agent renewing its current
// certificate, which the caller has verified: the request must be for the
// same name (ErrRenewOtherName) and a new key (ErrRenewSameKey), and is
// otherwise taken as SignCSR takes it.
func (ca *CA) RenewCSR(csrPEM []byte, current *x509.Certificate, now time.Time) ([]byte, error) {
	csr, err := parseCSR(csrPEM)
	if err != nil {
		return nil, err
	}
	name := current.Subject.CommonName
	if csr.Subject.CommonName != name {
		return nil, fmt.Errorf("renew %s: %w: %q", name, ErrRenewOtherName, csr.Subject.CommonName)
	}
	if publicKeysEqual(current.PublicKey, csr.PublicKey) {
		return nil, fmt.Errorf("renew %s: %w", name, ErrRenewSameKey)
	}
	cert, err := ca.signClient(name, csr.PublicKey, now)
	if err != nil {
		return nil, fmt.Errorf("renew %s: %w", name, err)
	}
	return CertPEM(cert), nil
}
