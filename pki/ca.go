package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// File names in a CA directory.
const (
	caCertFile = "ca.pem"
	caKeyFile  = "ca-key.pem"
)

const (
	caLifetime   = 10 * 365 * 24 * time.Hour
	leafLifetime = 365 * 24 * time.Hour
	// backdate starts each certificate's validity a little in the past, so
	// a peer whose clock lags does not refuse a certificate just made: an
	// hour, or a hundredth of a shorter certificate's lifetime, so that
	// the moment to renew it (RenewAt) still lies ahead.
	backdate = time.Hour
	// MinClientLifetime is the shortest agent certificate lifetime a CA
	// issues (CA.SetClientLifetime).
	MinClientLifetime = time.Second
)

// ErrBadLifetime is returned, wrapped, for an agent certificate lifetime
// shorter than MinClientLifetime.
var ErrBadLifetime = errors.New("pki: bad certificate lifetime")

// CA is helen's certificate authority. Its methods may be called from many
// goroutines at once.
type CA struct {
	Cert    *x509.Certificate // the self-signed CA certificate
	Key     crypto.Signer     // its private key
	CertPEM []byte            // Cert, PEM-encoded, as agents get it
	// clientLife is how long the agent certificates it issues are valid;
	// zero means a year. SetClientLifetime sets it before the CA is used.
	clientLife time.Duration
}

// SetClientLifetime sets how long the agent certificates the CA issues are
// valid: zero for the default of a year, else at least MinClientLifetime.
// Call it before the CA is used from other goroutines.
func (ca *CA) SetClientLifetime(d time.Duration) error {
	if d != 0 && d < MinClientLifetime {
		return fmt.Errorf("%w: %v, want at least %v", ErrBadLifetime, d, MinClientLifetime)
	}
	ca.clientLife = d
	return nil
}

// clientLifetime returns the lifetime of the agent certificates it issues.
func (ca *CA) clientLifetime() time.Duration {
	if ca.clientLife > 0 {
		return ca.clientLife
	}
	return leafLifetime
}

// NewCA makes a CA with a new ECDSA P-256 key, valid for ten years from now.
// It may sign only end-entity certificates (path length zero).
func NewCA(commonName string, now time.Time) (*CA, error) {
	key, err := newKey()
	if err != nil {
		return nil, fmt.Errorf("new CA: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, fmt.Errorf("new CA: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(caLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("new CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("new CA: %w", err)
	}
	return &CA{Cert: cert, Key: key, CertPEM: CertPEM(cert)}, nil
}

// HasCA reports whether dir holds a CA: whether LoadOrCreateCA would load
// one rather than make one.
func HasCA(dir string) (bool, error) {
	_, err := os.Stat(filepath.Join(dir, caCertFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("CA: %w", err)
	}
	return true, nil
}

// CAFiles returns the names of the CA's files in a data directory.
func CAFiles() []string { return []string{caCertFile, caKeyFile} }

// LoadCA loads the CA from dir/ca.pem and dir/ca-key.pem, which must be
// there (an error wrapping fs.ErrNotExist otherwise): for what uses a
// helen's CA but must never make one.
func LoadCA(dir string) (*CA, error) {
	certPath := filepath.Join(dir, caCertFile)
	certPEM, ok, err := readOptional(certPath)
	switch {
	case err != nil:
		return nil, fmt.Errorf("load CA: %w", err)
	case !ok:
		return nil, fmt.Errorf("load CA: no %s: %w", certPath, fs.ErrNotExist)
	}
	return loadCA(certPEM, filepath.Join(dir, caKeyFile))
}

// LoadOrCreateCA loads the CA from dir/ca.pem and dir/ca-key.pem, or, when
// ca.pem does not exist, creates a CA and writes both (the key 0600, the
// directory 0700). A certificate without its key is an error: making a new
// CA then would silently cut off every enrolled agent.
func LoadOrCreateCA(dir string) (*CA, error) {
	certPath := filepath.Join(dir, caCertFile)
	keyPath := filepath.Join(dir, caKeyFile)
	certPEM, ok, err := readOptional(certPath)
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	if ok {
		return loadCA(certPEM, keyPath)
	}
	ca, err := NewCA("Equus helen CA", time.Now())
	if err != nil {
		return nil, err
	}
	kp, err := keyPEMOf(ca.Key)
	if err != nil {
		return nil, fmt.Errorf("new CA: %w", err)
	}
	// The key goes first: a crash in between leaves no certificate, so the
	// next start makes a new CA instead of finding one without its key.
	if err := WritePEMFile(keyPath, kp, 0o600); err != nil {
		return nil, fmt.Errorf("new CA: %w", err)
	}
	if err := WritePEMFile(certPath, ca.CertPEM, 0o644); err != nil {
		return nil, fmt.Errorf("new CA: %w", err)
	}
	return ca, nil
}

func loadCA(certPEM []byte, keyPath string) (*CA, error) {
	certs, err := ParseCertsPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	cert := certs[0]
	if !cert.IsCA {
		return nil, errors.New("load CA: certificate is not a CA")
	}
	keyData, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	key, err := parseKeyPEM(keyData)
	if err != nil {
		return nil, fmt.Errorf("load CA %s: %w", keyPath, err)
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, fmt.Errorf("load CA: %s does not match the certificate", keyPath)
	}
	return &CA{Cert: cert, Key: key, CertPEM: CertPEM(cert)}, nil
}

// Pin returns the CA's pin: "sha256:" and the hex SHA-256 of its DER bytes.
func (ca *CA) Pin() string { return Fingerprint(ca.Cert) }

// Pool returns a new pool holding only the CA certificate.
func (ca *CA) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return pool
}

// sign makes a certificate from tmpl for pub, signed by the CA, and returns
// it parsed. It fills in the serial number and the validity window: from
// now (backdated) for lifetime.
func (ca *CA) sign(tmpl *x509.Certificate, pub crypto.PublicKey, now time.Time, lifetime time.Duration) (*x509.Certificate, error) {
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = now.Add(-min(backdate, lifetime/100))
	tmpl.NotAfter = now.Add(lifetime)
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		// A leaf outliving its CA would fail verification anyway; saying so
		// in the certificate lets LoadOrCreateServer notice in time.
		tmpl.NotAfter = ca.Cert.NotAfter
	}
	tmpl.BasicConstraintsValid = true
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

func newKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

// newSerial returns a random positive 128-bit serial number.
func newSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	n, err := rand.Int(rand.Reader, limit)
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

// publicKeysEqual reports whether two public keys are the same key.
func publicKeysEqual(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}
