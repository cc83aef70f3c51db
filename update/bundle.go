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

	"aead.dev/minisign"
)

// MaxBundle bounds a check bundle, both its tar.gz and the files in it.
const MaxBundle = 32 << 20

// maxBundleFiles bounds the number of files in a check bundle.
const maxBundleFiles = 4096

// The check directory's manifest and its signature, which the operator
// makes where the checks are written, offline: the manifest in the format
// of sha256sum (`sha256sum *.lua > SHA256SUMS`), one line for each check
// file, and its minisign signature (`minisign -Sm SHA256SUMS`). Helen packs
// both into the bundle, and an agent with an update key installs only a
// bundle whose manifest its key signed and whose files are those the
// manifest lists, each with its SHA-256.
const (
	BundleManifest  = "SHA256SUMS"
	BundleSignature = BundleManifest + ".minisig"
	// maxManifest bounds the manifest: a line of 64 hex digits, two
	// spaces and a name of at most 100 bytes for each of maxBundleFiles.
	maxManifest = maxBundleFiles * 168
)

// ErrManifest means that the files of a check bundle are not those its
// manifest lists: one is missing, extra, or has another SHA-256.
var ErrManifest = errors.New("update: check bundle does not match its manifest")

// PackBundle returns a tar.gz of the *.lua files directly in dir, and of
// its manifest and signature (BundleManifest, BundleSignature) where it has
// them, and its hex SHA-256. Subdirectories, links, and files whose names
// are not plain check names (see InstallBundle) are left out. The archive
// is the same bytes for the same files: they are sorted by name and carry
// no time, owner or mode of their own.
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
		if !e.Type().IsRegular() || !validBundleName(e.Name()) {
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

// validBundleName reports whether name is a file a bundle may hold: a
// check, or the manifest or its signature.
func validBundleName(name string) bool {
	return validCheckName(name) || name == BundleManifest || name == BundleSignature
}

// InstallBundle checks that data has the hex SHA-256 sha and that its files
// are those its manifest lists, where it has one (see BundleManifest); when
// key is not nil the manifest is required, and so is its signature by key.
// It then unpacks the bundle into a
// new directory beside dest and makes that directory current in one step:
// dest is a symbolic link to dest.<first 12 hex digits of sha>, replaced by
// renaming a new link over it. The bundle may hold only regular files with
// plain check names (see PackBundle), no more than MaxBundle bytes in all.
// Older versions are removed once the new one is current. On error dest is
// left as it was. An empty directory at dest is replaced; any other
// directory there is refused. Calls for one dest must not run at once.
func InstallBundle(data []byte, sha, dest string, key *minisign.PublicKey) error {
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); !strings.EqualFold(got, sha) {
		return fmt.Errorf("update: bundle sha256 %s, want %s: %w", got, sha, ErrChecksum)
	}
	if len(data) > MaxBundle {
		return fmt.Errorf("update: bundle of %d bytes: %w", len(data), ErrTooLarge)
	}
	files, err := readBundle(data)
	if err != nil {
		return fmt.Errorf("update: bundle: %w", err)
	}
	if err := verifyBundle(files, key); err != nil {
		return err
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
	if err := writeBundle(files, tmp); err != nil {
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

// bundleFile is one file of a check bundle.
type bundleFile struct {
	name string
	body []byte
}

// readBundle returns the files of the bundle data, which may hold only
// regular files with the names validBundleName allows, each once, no more
// than maxBundleFiles of them and MaxBundle bytes in all.
func readBundle(data []byte) ([]bundleFile, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(zr)
	var files []bundleFile
	seen := map[string]bool{}
	var total int64
	for count := 1; ; count++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files, nil
		}
		if err != nil {
			return nil, err
		}
		if hdr.Typeflag != tar.TypeReg || !validBundleName(hdr.Name) {
			return nil, fmt.Errorf("refusing %q (type %q): only plain *.lua files and their manifest", hdr.Name, hdr.Typeflag)
		}
		if seen[hdr.Name] {
			return nil, fmt.Errorf("refusing %q: in the bundle twice", hdr.Name)
		}
		seen[hdr.Name] = true
		if total += hdr.Size; total > MaxBundle || count > maxBundleFiles {
			return nil, fmt.Errorf("files: %w", ErrTooLarge)
		}
		body, err := io.ReadAll(io.LimitReader(tr, hdr.Size))
		if err != nil {
			return nil, err
		}
		files = append(files, bundleFile{name: hdr.Name, body: body})
	}
}

// VerifyBundle checks a packed bundle as InstallBundle does before it
// installs it: its files are those its manifest lists, and with a key the
// manifest is signed by it.
func VerifyBundle(data []byte, key *minisign.PublicKey) error {
	files, err := readBundle(data)
	if err != nil {
		return fmt.Errorf("update: bundle: %w", err)
	}
	return verifyBundle(files, key)
}

// verifyBundle checks files against their manifest, where there is one,
// and, when key is not nil, the manifest's signature, which is then
// required. The signature is checked before the manifest is read.
func verifyBundle(files []bundleFile, key *minisign.PublicKey) error {
	var manifest, sig []byte
	var hasManifest, hasSig bool
	for _, f := range files {
		switch f.name {
		case BundleManifest:
			manifest, hasManifest = f.body, true
		case BundleSignature:
			sig, hasSig = f.body, true
		}
	}
	switch {
	case key != nil && !hasManifest:
		return fmt.Errorf("update: bundle: no %s, which the update key must sign: %w", BundleManifest, ErrSignature)
	case key != nil && !hasSig:
		return fmt.Errorf("update: bundle: no %s: %w", BundleSignature, ErrSignature)
	case key != nil && !minisign.Verify(*key, manifest, sig):
		return fmt.Errorf("update: bundle: %s does not verify with key %X: %w", BundleSignature, key.ID(), ErrSignature)
	case !hasManifest && hasSig:
		return fmt.Errorf("update: bundle: a %s without its %s: %w", BundleSignature, BundleManifest, ErrManifest)
	case !hasManifest:
		return nil
	case len(manifest) > maxManifest:
		return fmt.Errorf("update: bundle: %s of %d bytes: %w", BundleManifest, len(manifest), ErrTooLarge)
	}
	want, err := ParseChecksums(bytes.NewReader(manifest))
	if err != nil {
		return fmt.Errorf("update: bundle: %s: %w: %w", BundleManifest, err, ErrManifest)
	}
	for name := range want {
		if !validCheckName(name) {
			return fmt.Errorf("update: bundle: %s lists %q, not a check file name: %w", BundleManifest, name, ErrManifest)
		}
	}
	for _, f := range files {
		if f.name == BundleManifest || f.name == BundleSignature {
			continue
		}
		sum, ok := want[f.name]
		if !ok {
			return fmt.Errorf("update: bundle: %s is not in %s: %w", f.name, BundleManifest, ErrManifest)
		}
		if got := sha256.Sum256(f.body); hex.EncodeToString(got[:]) != sum {
			return fmt.Errorf("update: bundle: %s: sha256 %x, %s says %s: %w", f.name, got, BundleManifest, sum, ErrManifest)
		}
		delete(want, f.name)
	}
	for name := range want {
		return fmt.Errorf("update: bundle: %s lists %s, which the bundle lacks: %w", BundleManifest, name, ErrManifest)
	}
	return nil
}

// writeBundle writes files into dir.
func writeBundle(files []bundleFile, dir string) error {
	for _, f := range files {
		if err := writeNew(filepath.Join(dir, f.name), bytes.NewReader(f.body)); err != nil {
			return err
		}
	}
	return syncDir(dir)
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
