package update

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Install copies the binary src to target, the agent binary that stage0
// owns, unless target already holds the same bytes, and reports whether it
// wrote it. The copy is written next to target and renamed over it, so
// target is always a whole binary, the old one or the new; the directory
// of target is made (0700) if missing. src is only read: it is stage0's own
// executable, which a package manager may own. A src larger than MaxBinary
// is refused with ErrTooLarge.
func Install(src, target string) (bool, error) {
	in, err := os.Open(src)
	if err != nil {
		return false, fmt.Errorf("update: install: %w", err)
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return false, fmt.Errorf("update: install: %w", err)
	}
	if info.Size() > MaxBinary {
		return false, fmt.Errorf("update: install: %s: %d bytes: %w", src, info.Size(), ErrTooLarge)
	}
	if same, err := sameContent(in, info.Size(), target); err != nil {
		return false, fmt.Errorf("update: install: %w", err)
	} else if same {
		return false, nil
	}
	if _, err := in.Seek(0, io.SeekStart); err != nil {
		return false, fmt.Errorf("update: install: %w", err)
	}
	dir := filepath.Dir(target)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("update: install: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(target)+".install-*")
	if err != nil {
		return false, fmt.Errorf("update: install: %w", err)
	}
	defer os.Remove(tmp.Name()) // gone by the rename on success
	n, err := io.Copy(tmp, io.LimitReader(in, MaxBinary+1))
	if err == nil && n != info.Size() {
		err = fmt.Errorf("%s changed while it was copied (%d bytes, then %d)", src, info.Size(), n)
	}
	if err == nil {
		err = tmp.Chmod(0o755)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), target)
	}
	if err != nil {
		return false, fmt.Errorf("update: install %s to %s: %w", src, target, err)
	}
	return true, nil
}

// sameContent reports whether the file at path holds the size bytes r
// reads from its start. A missing file holds nothing.
func sameContent(r io.ReaderAt, size int64, path string) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() || info.Size() != size {
		return false, err
	}
	a, b := make([]byte, 64<<10), make([]byte, 64<<10)
	for off := int64(0); off < size; {
		n, err := r.ReadAt(a, off)
		if n == 0 && err != nil {
			return false, err
		}
		if _, err := io.ReadFull(f, b[:n]); err != nil {
			return false, err
		}
		if !bytes.Equal(a[:n], b[:n]) {
			return false, nil
		}
		off += int64(n)
	}
	return true, nil
}
