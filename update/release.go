package update

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"

	"aead.dev/minisign"
)

// Asset is one platform's file of a release, as helen finds it on disk.
type Asset struct {
	OS, Arch string
	// Name is the file name in the release (a binary or an archive).
	Name string
	// Path is where the file is on helen.
	Path string
	// Binary is, for an archive, the name of the equus binary inside it;
	// empty for a raw binary.
	Binary string
	// SHA256 is the hex SHA-256 of the file at Path, checked against the
	// release's checksums where it has them.
	SHA256 string
	// Size is the size of the file at Path in bytes.
	Size int64
	// Sig is the minisign signature of the file at Path, where the release
	// has a .minisig for it; nil otherwise.
	Sig []byte
}

// BinarySignature returns the minisign signature text of the equus binary
// itself: Sig for a raw binary, and "" for an archive, whose signature
// vouches for the archive and not for the binary an agent receives.
func (a Asset) BinarySignature() string {
	if a.Binary != "" {
		return ""
	}
	return string(a.Sig)
}

// Release is one version of equus and its files, one for each platform.
type Release struct {
	Version string
	Assets  []Asset
	// Refused are the files Discover found for a platform and did not
	// offer, each with the reason.
	Refused []Refusal
}

// has reports whether r offers a file for goos/goarch.
func (r Release) has(goos, goarch string) bool {
	_, ok := r.Find(goos, goarch)
	return ok
}

// Find returns the asset for the platform goos/goarch.
func (r Release) Find(goos, goarch string) (Asset, bool) {
	for _, a := range r.Assets {
		if a.OS == goos && a.Arch == goarch {
			return a, true
		}
	}
	return Asset{}, false
}

// Self returns helen's own executable exe as the release version, for the
// platform helen runs on. An empty exe means the running executable. When
// key is not nil, exe+".minisig" must be its signature by key.
func Self(version, exe string, key *minisign.PublicKey) (Release, error) {
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return Release{}, fmt.Errorf("update: own executable: %w", err)
		}
	}
	sig, err := readSig(exe)
	if err != nil {
		return Release{}, fmt.Errorf("update: own executable: %w", err)
	}
	if key != nil && sig == nil {
		return Release{}, fmt.Errorf("update: own executable %s: %w: %w", exe, errNoSignature, ErrSignature)
	}
	sum, size, err := hashSigned(exe, key, sig)
	if err != nil {
		return Release{}, fmt.Errorf("update: own executable %s: %w", exe, err)
	}
	a := Asset{
		OS:     runtime.GOOS,
		Arch:   runtime.GOARCH,
		Name:   filepath.Base(exe),
		Path:   exe,
		SHA256: sum,
		Size:   size,
		Sig:    sig,
	}
	return Release{Version: version, Assets: []Asset{a}}, nil
}

// hashFile returns the hex SHA-256 and the size of the file at path.
func hashFile(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// hashSigned returns the hex SHA-256 and the size of the file at path and,
// when key is not nil, checks that sig is its minisign signature by key. A
// pre-hashed signature (what the minisign tool makes by default) is checked
// while the file is hashed; a legacy one needs the whole file in memory, so
// the file may then be no larger than MaxBinary.
func hashSigned(path string, key *minisign.PublicKey, sig []byte) (string, int64, error) {
	if key == nil {
		return hashFile(path)
	}
	var s minisign.Signature
	if err := s.UnmarshalText(sig); err != nil {
		return "", 0, fmt.Errorf("%s.minisig: %v: %w", filepath.Base(path), err, ErrSignature)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	mr := minisign.NewReader(io.TeeReader(f, h))
	var whole bytes.Buffer
	var w io.Writer = io.Discard
	if s.Algorithm != minisign.HashEdDSA {
		w = &whole
	}
	n, err := io.Copy(w, io.LimitReader(mr, MaxBinary+1))
	if err != nil {
		return "", 0, fmt.Errorf("read %s: %w", path, err)
	}
	if n > MaxBinary {
		return "", 0, fmt.Errorf("%s: more than %d bytes: %w", path, MaxBinary, ErrTooLarge)
	}
	var ok bool
	if s.Algorithm == minisign.HashEdDSA {
		ok = mr.Verify(*key, sig)
	} else {
		ok = minisign.Verify(*key, whole.Bytes(), sig)
	}
	if !ok {
		return "", 0, fmt.Errorf("%s.minisig does not verify with key %X: %w", filepath.Base(path), key.ID(), ErrSignature)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
