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
// tar.gz or zip archive, held in memory. The file is opened once, and what
// is returned is what was hashed and found to have the SHA-256 that a
// states, so that what helen serves is what it verified: a file changed or
// replaced on disk since is refused with ErrChecksum.
func OpenBinary(a Asset) (io.ReadCloser, int64, string, error) {
	f, err := os.Open(a.Path)
	if err != nil {
		return nil, 0, "", fmt.Errorf("update: %w", err)
	}
	if a.Binary == "" {
		rc, size, sum, err := openRaw(f, a)
		if err != nil {
			f.Close()
			return nil, 0, "", err
		}
		return rc, size, sum, nil
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxBinary+1))
	f.Close()
	if err != nil {
		return nil, 0, "", fmt.Errorf("update: %w", err)
	}
	if len(data) > MaxBinary {
		return nil, 0, "", fmt.Errorf("update: %s: more than %d bytes: %w", a.Path, MaxBinary, ErrTooLarge)
	}
	if err := a.sameAs(sha256.Sum256(data)); err != nil {
		return nil, 0, "", err
	}
	var bin []byte
	switch kind, _ := kindOf(a.Name); kind {
	case kindTarGz:
		bin, err = fromTarGz(bytes.NewReader(data), a.Binary)
	case kindZip:
		bin, err = fromZip(bytes.NewReader(data), int64(len(data)), a.Binary)
	default:
		err = fmt.Errorf("not a tar.gz or zip archive")
	}
	if err != nil {
		return nil, 0, "", fmt.Errorf("update: %s: %w", a.Name, err)
	}
	h := sha256.Sum256(bin)
	return io.NopCloser(bytes.NewReader(bin)), int64(len(bin)), hex.EncodeToString(h[:]), nil
}

// openRaw hashes the raw binary f of a and returns it, rewound, to be read
// up to the size it had.
func openRaw(f *os.File, a Asset) (io.ReadCloser, int64, string, error) {
	h := sha256.New()
	size, err := io.Copy(h, io.LimitReader(f, MaxBinary+1))
	if err != nil {
		return nil, 0, "", fmt.Errorf("update: read %s: %w", a.Path, err)
	}
	if size > MaxBinary {
		return nil, 0, "", fmt.Errorf("update: %s: more than %d bytes: %w", a.Path, MaxBinary, ErrTooLarge)
	}
	if err := a.sameAs([sha256.Size]byte(h.Sum(nil))); err != nil {
		return nil, 0, "", err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, 0, "", fmt.Errorf("update: %w", err)
	}
	rc := struct {
		io.Reader
		io.Closer
	}{io.LimitReader(f, size), f}
	return rc, size, hex.EncodeToString(h.Sum(nil)), nil
}

// sameAs checks that sum is the SHA-256 a states, where it states one.
func (a Asset) sameAs(sum [sha256.Size]byte) error {
	if got := hex.EncodeToString(sum[:]); a.SHA256 != "" && got != a.SHA256 {
		return fmt.Errorf("update: %s changed on disk: sha256 %s, verified as %s: %w", a.Path, got, a.SHA256, ErrChecksum)
	}
	return nil
}

var errNoBinary = errors.New("no such binary in the archive")

// fromTarGz reads the regular file whose base name is bin out of the
// tar.gz archive r.
func fromTarGz(r io.Reader, bin string) ([]byte, error) {
	zr, err := gzip.NewReader(r)
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
// archive r of size bytes.
func fromZip(r io.ReaderAt, size int64, bin string) ([]byte, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, err
	}
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
