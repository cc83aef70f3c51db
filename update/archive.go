package update

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
)

// OpenBinary returns the equus binary of asset a, its size and its hex
// SHA-256: the file itself for a raw binary, or the binary taken out of a
// tar.gz or zip archive, held in memory. It first checks that the file
// still has the SHA-256 that a states, so that what helen serves is what it
// discovered.
func OpenBinary(a Asset) (io.ReadCloser, int64, string, error) {
	sum, size, err := hashFile(a.Path)
	if err != nil {
		return nil, 0, "", fmt.Errorf("update: %w", err)
	}
	if a.SHA256 != "" && sum != a.SHA256 {
		return nil, 0, "", fmt.Errorf("update: %s changed on disk: sha256 %s, want %s: %w", a.Path, sum, a.SHA256, ErrChecksum)
	}
	if a.Binary == "" {
		if size > MaxBinary {
			return nil, 0, "", fmt.Errorf("update: %s: %d bytes: %w", a.Path, size, ErrTooLarge)
		}
		f, err := os.Open(a.Path)
		if err != nil {
			return nil, 0, "", fmt.Errorf("update: %w", err)
		}
		return f, size, sum, nil
	}
	var bin []byte
	switch kind, _ := kindOf(a.Name); kind {
	case kindTarGz:
		bin, err = fromTarGz(a.Path, a.Binary)
	case kindZip:
		bin, err = fromZip(a.Path, a.Binary)
	default:
		err = fmt.Errorf("not a tar.gz or zip archive")
	}
	if err != nil {
		return nil, 0, "", fmt.Errorf("update: %s: %w", a.Name, err)
	}
	h := sha256.Sum256(bin)
	return io.NopCloser(bytes.NewReader(bin)), int64(len(bin)), hex.EncodeToString(h[:]), nil
}

var errNoBinary = errors.New("no such binary in the archive")

// fromTarGz reads the regular file whose base name is bin out of the
// tar.gz archive at p.
func fromTarGz(p, bin string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: %w", bin, errNoBinary)
		}
		if err != nil {
			return nil, err
		}
		if hdr.Typeflag != tar.TypeReg || path.Base(hdr.Name) != bin {
			continue
		}
		return readBinary(tr, hdr.Size)
	}
}

// fromZip reads the regular file whose base name is bin out of the zip
// archive at p.
func fromZip(p, bin string) ([]byte, error) {
	zr, err := zip.OpenReader(p)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	for _, f := range zr.File {
		if !f.Mode().IsRegular() || path.Base(f.Name) != bin {
			continue
		}
		if f.UncompressedSize64 > MaxBinary {
			return nil, fmt.Errorf("%s: %d bytes: %w", f.Name, f.UncompressedSize64, ErrTooLarge)
		}
		rc, err := f.Open()
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return readBinary(rc, int64(f.UncompressedSize64))
	}
	return nil, fmt.Errorf("%s: %w", bin, errNoBinary)
}

// readBinary reads a binary of the stated size, no more than MaxBinary.
func readBinary(r io.Reader, size int64) ([]byte, error) {
	if size > MaxBinary {
		return nil, fmt.Errorf("%d bytes: %w", size, ErrTooLarge)
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	// A zip entry's checksum is checked at its end.
	if _, err := r.Read(make([]byte, 1)); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return buf, nil
}
