package pki

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// ErrBadPin is returned, wrapped, for a pin that is not "sha256:<64 hex>".
var ErrBadPin = errors.New("pki: bad pin")

const pinPrefix = "sha256:"

// Fingerprint returns "sha256:" and the hex SHA-256 of the certificate's DER
// bytes. For a CA certificate, this is its pin.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return pinPrefix + hex.EncodeToString(sum[:])
}

// ParsePin returns the 32-byte digest of a pin written "sha256:<64 hex>".
// Hex digits may be of either case; the prefix must be lowercase.
func ParsePin(pin string) ([]byte, error) {
	rest, ok := strings.CutPrefix(pin, pinPrefix)
	if !ok {
		return nil, fmt.Errorf("%w %q: want %s<64 hex digits>", ErrBadPin, pin, pinPrefix)
	}
	if len(rest) != 2*sha256.Size {
		return nil, fmt.Errorf("%w %q: want 64 hex digits after %s, got %d", ErrBadPin, pin, pinPrefix, len(rest))
	}
	sum, err := hex.DecodeString(rest)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %w", ErrBadPin, pin, err)
	}
	return sum, nil
}

// matchesPin reports whether the certificate's DER hashes to the digest.
func matchesPin(cert *x509.Certificate, digest []byte) bool {
	sum := sha256.Sum256(cert.Raw)
	return string(sum[:]) == string(digest)
}

// PublicKeyPin returns the pin of the certificate's public key in the form
// curl's --pinnedpubkey takes: "sha256//" and the base64 SHA-256 of the
// SubjectPublicKeyInfo. LoadOrCreateServer keeps helen's server key across
// reissues, so this pin of the server certificate stays the same.
func PublicKeyPin(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return "sha256//" + base64.StdEncoding.EncodeToString(sum[:])
}
