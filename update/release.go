package update

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
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
// platform helen runs on. An empty exe means the running executable.
func Self(version, exe string) (Release, error) {
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return Release{}, fmt.Errorf("update: own executable: %w", err)
		}
	}
	sum, size, err := hashFile(exe)
	if err != nil {
		return Release{}, fmt.Errorf("update: own executable: %w", err)
	}
	a := Asset{
		OS:     runtime.GOOS,
		Arch:   runtime.GOARCH,
		Name:   filepath.Base(exe),
		Path:   exe,
		SHA256: sum,
		Size:   size,
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
