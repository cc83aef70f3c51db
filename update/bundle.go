package update

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// MaxBundle bounds a check bundle, both its tar.gz and the files in it.
const MaxBundle = 32 << 20

// maxBundleFiles bounds the number of files in a check bundle.
const maxBundleFiles = 4096

// PackBundle returns a tar.gz of the *.lua files directly in dir and its
// hex SHA-256. Subdirectories, links, and files whose names are not plain
// check names (see InstallBundle) are left out. The archive is the same
// bytes for the same files: they are sorted by name and carry no time, owner
// or mode of their own.
func PackBundle(dir string) (data []byte, sha string, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, "", fmt.Errorf("update: bundle: %w", err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf) // a zero header: no name, no time
	tw := tar.NewWriter(zw)
	var total int64
	count := 0
	for _, e := range entries { // os.ReadDir sorts by name
		if !e.Type().IsRegular() || !validCheckName(e.Name()) {
			continue
		}
		body, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, "", fmt.Errorf("update: bundle: %w", err)
		}
		total += int64(len(body))
		if count++; total > MaxBundle || count > maxBundleFiles {
			return nil, "", fmt.Errorf("update: bundle %s: %w", dir, ErrTooLarge)
		}
		hdr := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     e.Name(),
			Mode:     0o644,
			Size:     int64(len(body)),
			ModTime:  time.Unix(0, 0),
			Format:   tar.FormatUSTAR,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, "", fmt.Errorf("update: bundle: %w", err)
		}
		if _, err := tw.Write(body); err != nil {
			return nil, "", fmt.Errorf("update: bundle: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, "", fmt.Errorf("update: bundle: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, "", fmt.Errorf("update: bundle: %w", err)
	}
	sum := sha256.Sum256(buf.Bytes())
	return buf.Bytes(), hex.EncodeToString(sum[:]), nil
}

// validCheckName reports whether name is a plain check file name: letters,
// digits, '_', '-' and '.', not starting with '.', ending in ".lua", short
// enough for a plain tar header.
func validCheckName(name string) bool {
	if len(name) <= len(".lua") || len(name) > 100 || name[0] == '.' || !strings.HasSuffix(name, ".lua") {
		return false
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.'
		if !ok {
			return false
		}
	}
	return true
}

// InstallBundle checks that data has the hex SHA-256 sha, unpacks it into a
// new directory beside dest and makes that directory current in one step:
// dest is a symbolic link to dest.<first 12 hex digits of sha>, replaced by
// renaming a new link over it. The bundle may hold only regular files with
// plain check names (see PackBundle), no more than MaxBundle bytes in all.
// Older versions are removed once the new one is current. On error dest is
// left as it was. An empty directory at dest is replaced; any other
// directory there is refused. Calls for one dest must not run at once.
func InstallBundle(data []byte, sha, dest string) error {
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); !strings.EqualFold(got, sha) {
		return fmt.Errorf("update: bundle sha256 %s, want %s: %w", got, sha, ErrChecksum)
	}
	if len(data) > MaxBundle {
		return fmt.Errorf("update: bundle of %d bytes: %w", len(data), ErrTooLarge)
	}
	dest = filepath.Clean(dest)
	parent, base := filepath.Dir(dest), filepath.Base(dest)
	version := base + "." + strings.ToLower(sha[:12])
	if cur, err := os.Readlink(dest); err == nil && cur == version {
		if fi, err := os.Stat(dest); err == nil && fi.IsDir() {
			return removeOldBundles(parent, base, version)
		}
	}
	tmp, err := os.MkdirTemp(parent, "."+base+".tmp-")
	if err != nil {
		return fmt.Errorf("update: bundle: %w", err)
	}
	defer os.RemoveAll(tmp) // gone by rename on success
	if err := unpackBundle(data, tmp); err != nil {
		return fmt.Errorf("update: bundle: %w", err)
	}
	versionPath := filepath.Join(parent, version)
	if err := os.RemoveAll(versionPath); err != nil { // a leftover, not current
		return fmt.Errorf("update: bundle: %w", err)
	}
	if err := os.Rename(tmp, versionPath); err != nil {
		return fmt.Errorf("update: bundle: %w", err)
	}
	if err := clearPlainDir(dest); err != nil {
		os.RemoveAll(versionPath)
		return err
	}
	if err := swapLink(dest, version); err != nil {
		os.RemoveAll(versionPath)
		return fmt.Errorf("update: bundle: %w", err)
	}
	return removeOldBundles(parent, base, version)
}

// clearPlainDir removes dest when it is an empty directory (one made before
// bundles were installed), and refuses any other directory.
func clearPlainDir(dest string) error {
	fi, err := os.Lstat(dest)
	if err != nil || !fi.IsDir() {
		return nil
	}
	if err := os.Remove(dest); err != nil {
		return fmt.Errorf("update: bundle: %s is a directory, not a bundle link: %w", dest, err)
	}
	return nil
}

// unpackBundle writes the files of a bundle into dir.
func unpackBundle(data []byte, dir string) error {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	var total int64
	for count := 1; ; count++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return syncDir(dir)
		}
		if err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeReg || !validCheckName(hdr.Name) {
			return fmt.Errorf("refusing %q (type %q): only plain *.lua files", hdr.Name, hdr.Typeflag)
		}
		if total += hdr.Size; total > MaxBundle || count > maxBundleFiles {
			return fmt.Errorf("files: %w", ErrTooLarge)
		}
		if err := writeNew(filepath.Join(dir, hdr.Name), tr); err != nil {
			return err
		}
	}
}

// writeNew writes r to a file that must not exist yet.
func writeNew(name string, r io.Reader) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// swapLink points the link dest at target by renaming a new link over it.
func swapLink(dest, target string) error {
	tmp := filepath.Join(filepath.Dir(dest), "."+filepath.Base(dest)+".link-"+target)
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, dest); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(dest))
}

// removeOldBundles removes the versions of the bundle at parent/base other
// than keep, and what an interrupted install left.
func removeOldBundles(parent, base, keep string) error {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return fmt.Errorf("update: bundle: %w", err)
	}
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if name == keep || !isBundleLeftover(base, name) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(parent, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("update: bundle: removing old versions: %w", err)
	}
	return nil
}

// isBundleLeftover reports whether name is a version directory of the
// bundle base (base.<12 hex digits>) or a temporary name of its install.
func isBundleLeftover(base, name string) bool {
	if rest, ok := strings.CutPrefix(name, base+"."); ok {
		_, err := hex.DecodeString(rest)
		return len(rest) == 12 && err == nil && rest == strings.ToLower(rest)
	}
	return strings.HasPrefix(name, "."+base+".tmp-") || strings.HasPrefix(name, "."+base+".link-")
}

// syncDir flushes a directory's entries to disk.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
