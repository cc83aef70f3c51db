package update

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"aead.dev/minisign"
)

// MaxBinary is the largest equus binary an agent accepts.
const MaxBinary = 256 << 20

// Offer is helen's answer to GET /v1/update: the version it offers and
// where to fetch the binary for the asking agent's platform.
type Offer struct {
	Version string `json:"version"`
	OS      string `json:"os"`
	Arch    string `json:"arch"`
	// SHA256 is the hex SHA-256 of the binary served at URL.
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	// URL is the path of the binary on helen's agents' port, such as
	// /v1/update/binary?os=linux&arch=amd64.
	URL string `json:"url"`
	// Signature is the minisign signature text of the binary, where the
	// release signed it.
	Signature string `json:"signature,omitempty"`
}

// Download fetches url with client into a new temporary file in dir and
// returns its path. It reads no more than the offered size, and checks the
// size and SHA-256 the offer states and, when key is not nil, the offer's
// minisign signature. The file is executable; on error none is left. The
// errors ErrChecksum, ErrTooLarge and ErrSignature come wrapped with
// context.
func Download(ctx context.Context, client *http.Client, url string, o Offer, key *minisign.PublicKey, dir string) (path string, err error) {
	sig, err := checkOffer(o, key)
	if err != nil {
		return "", fmt.Errorf("update: download: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", fmt.Errorf("update: download: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("update: download: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("update: download %s: %s", url, resp.Status)
	}
	if resp.ContentLength > o.Size {
		return "", fmt.Errorf("update: download %s: %d bytes, offered %d: %w", url, resp.ContentLength, o.Size, ErrTooLarge)
	}

	f, err := os.CreateTemp(dir, ".equus-download-*")
	if err != nil {
		return "", fmt.Errorf("update: download: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	h := sha256.New()
	mr := minisign.NewReader(io.TeeReader(resp.Body, h))
	n, err := io.Copy(f, io.LimitReader(mr, o.Size+1))
	switch {
	case err != nil:
		return "", fmt.Errorf("update: download %s: %w", url, err)
	case n > o.Size:
		return "", fmt.Errorf("update: download %s: more than the offered %d bytes: %w", url, o.Size, ErrTooLarge)
	case n < o.Size:
		return "", fmt.Errorf("update: download %s: %d bytes, offered %d: %w", url, n, o.Size, ErrChecksum)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != strings.ToLower(o.SHA256) {
		return "", fmt.Errorf("update: download %s: sha256 %s, offered %s: %w", url, sum, o.SHA256, ErrChecksum)
	}
	if key != nil {
		if err = verifySignature(*key, sig, []byte(o.Signature), mr, f); err != nil {
			return "", fmt.Errorf("update: download %s: %w", url, err)
		}
	}
	if err = f.Chmod(0o755); err != nil {
		return "", fmt.Errorf("update: download: %w", err)
	}
	if err = f.Sync(); err != nil {
		return "", fmt.Errorf("update: download: %w", err)
	}
	if err = f.Close(); err != nil {
		return "", fmt.Errorf("update: download: %w", err)
	}
	return f.Name(), nil
}

// checkOffer refuses an offer that Download cannot check the binary
// against before anything is fetched: no size or SHA-256, a size past
// MaxBinary, or, when key is not nil, a signature that does not parse. It
// returns the signature, parsed when key is not nil.
func checkOffer(o Offer, key *minisign.PublicKey) (minisign.Signature, error) {
	var sig minisign.Signature
	if o.Size > MaxBinary {
		return sig, fmt.Errorf("offer of %d bytes: %w", o.Size, ErrTooLarge)
	}
	if o.Size <= 0 || !validSHA256(o.SHA256) {
		return sig, fmt.Errorf("offer without a valid size and sha256")
	}
	if key != nil {
		if err := sig.UnmarshalText([]byte(o.Signature)); err != nil {
			return sig, fmt.Errorf("offer signature: %v: %w", err, ErrSignature)
		}
	}
	return sig, nil
}

// verifySignature checks the signature of the downloaded file f. A
// pre-hashed signature (what minisign makes by default) is checked against
// the digest mr took while reading; a legacy one needs the whole file.
func verifySignature(key minisign.PublicKey, sig minisign.Signature, text []byte, mr *minisign.Reader, f *os.File) error {
	var ok bool
	if sig.Algorithm == minisign.HashEdDSA {
		ok = mr.Verify(key, text)
	} else {
		msg, err := os.ReadFile(f.Name())
		if err != nil {
			return err
		}
		ok = minisign.Verify(key, msg, text)
	}
	if !ok {
		return fmt.Errorf("key %X: %w", key.ID(), ErrSignature)
	}
	return nil
}

// ParsePublicKey parses a minisign public key: the content of a minisign.pub
// file, or just its base64 line.
func ParsePublicKey(s string) (*minisign.PublicKey, error) {
	var key minisign.PublicKey
	if err := key.UnmarshalText([]byte(strings.TrimSpace(s))); err != nil {
		return nil, fmt.Errorf("update: public key: %w", err)
	}
	return &key, nil
}

// LoadPublicKey parses a minisign public key given as text (see
// ParsePublicKey) or as the name of a file holding it.
func LoadPublicKey(s string) (*minisign.PublicKey, error) {
	key, err := ParsePublicKey(s)
	if err == nil {
		return key, nil
	}
	data, ferr := os.ReadFile(s)
	if ferr != nil {
		if errors.Is(ferr, os.ErrNotExist) {
			return nil, err
		}
		return nil, ferr
	}
	return ParsePublicKey(string(data))
}
