package pki

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

const (
	pemCert = "CERTIFICATE"
	pemKey  = "PRIVATE KEY"
	pemCSR  = "CERTIFICATE REQUEST"
)

// WritePEMFile writes data to path atomically: it writes a temporary file in
// the same directory with the given mode, syncs it and renames it over path,
// so a reader sees the old contents or the new, never a part. The parent
// directory is created with mode 0700 when missing.
func WritePEMFile(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// CreateTemp makes the file 0600, so a key is never readable by others,
	// not even for a moment.
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	err = f.Chmod(mode)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// CertPEM returns the certificate PEM-encoded.
func CertPEM(cert *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: pemCert, Bytes: cert.Raw})
}

// ParseCertsPEM returns every certificate in PEM data, in order, and an
// error when there is none or one does not parse.
func ParseCertsPEM(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != pemCert {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate: %w", err)
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return certs, nil
}

// keyPEMOf encodes a private key as PKCS #8.
func keyPEMOf(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemKey, Bytes: der}), nil
}

// parseKeyPEM decodes the first private key in PEM data: PKCS #8, or the
// older EC and RSA forms.
func parseKeyPEM(data []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no PEM private key found")
		}
		var key any
		var err error
		switch block.Type {
		case pemKey:
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("parse key: %w", err)
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("parse key: %T cannot sign", key)
		}
		return signer, nil
	}
}

// LoadKeyPair reads a certificate chain and its private key from PEM files,
// with the leaf parsed into the result's Leaf. It finishes a ReplaceKeyPair
// that stopped between the key and the certificate: when the key does not
// go with certFile but with the new certificate left beside it, that one
// takes certFile's place.
func LoadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	cert, err := loadKeyPair(certFile, keyFile)
	if err == nil {
		return cert, nil
	}
	next := nextCertPath(certFile)
	if _, serr := os.Stat(next); serr != nil {
		return cert, err
	}
	cert, nerr := loadKeyPair(next, keyFile)
	if nerr != nil {
		return cert, err
	}
	if rerr := os.Rename(next, certFile); rerr != nil {
		return tls.Certificate{}, fmt.Errorf("load key pair %s: finish its replacement: %w", certFile, rerr)
	}
	return cert, nil
}

// ReplaceKeyPair puts a new certificate and key in place of the pair in
// certFile and keyFile, each file keeping its mode (0600 for a file not
// there yet), so that a crash at any point leaves a pair that LoadKeyPair
// loads: the old one, or the new one. The certificate is written beside
// certFile first (certFile + ".next"), then the key replaces keyFile, then
// the certificate is renamed over certFile; every write is atomic
// (WritePEMFile). An error before the key is replaced leaves the old pair
// as it was; an error after leaves the new key with its certificate beside
// certFile, which LoadKeyPair puts in place.
func ReplaceKeyPair(certFile, keyFile string, certPEM, keyPEM []byte) error {
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return fmt.Errorf("replace key pair %s: %w", certFile, err)
	}
	next := nextCertPath(certFile)
	if err := WritePEMFile(next, certPEM, modeOf(certFile)); err != nil {
		return fmt.Errorf("replace key pair: %w", err)
	}
	if err := WritePEMFile(keyFile, keyPEM, modeOf(keyFile)); err != nil {
		os.Remove(next)
		return fmt.Errorf("replace key pair: %w", err)
	}
	if err := os.Rename(next, certFile); err != nil {
		return fmt.Errorf("replace key pair %s: %w", certFile, err)
	}
	// The pair is in place; syncing the directory only hastens its
	// durability, so its failure is no failure of the replacement.
	syncDir(filepath.Dir(certFile))
	return nil
}

// nextCertPath is where ReplaceKeyPair writes a new certificate first.
func nextCertPath(certFile string) string { return certFile + ".next" }

// modeOf returns the permission bits of path, or 0600 when it cannot
// tell (the file is not there yet).
func modeOf(path string) os.FileMode {
	fi, err := os.Stat(path)
	if err != nil {
		return 0o600
	}
	return fi.Mode().Perm()
}

// syncDir asks for the renames in dir to be made durable.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

func loadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("load key pair %s, %s: %w", certFile, keyFile, err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return tls.Certificate{}, fmt.Errorf("load key pair %s: %w", certFile, err)
		}
	}
	return cert, nil
}

// readOptional returns the file's contents and whether it exists.
func readOptional(path string) ([]byte, bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return data, true, nil
}
