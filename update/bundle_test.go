package update

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/testfs"
)

// checkDir writes check files into a new folder.
func checkDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		writeFile(t, filepath.Join(dir, name), []byte(body), 0o644)
	}
	return dir
}

// tarNames lists the members of a bundle.
func tarNames(t *testing.T, data []byte) []string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var out []string
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, hdr.Name)
	}
}

func TestPackBundle(t *testing.T) {
	files := map[string]string{
		"load.lua":      "return {description = 'load'}",
		"disk.lua":      "return {description = 'disk'}",
		"README.txt":    "not a check",
		".hidden.lua":   "hidden",
		"bad name.lua":  "space",
		"sub/inner.lua": "in a subfolder",
	}
	dir := checkDir(t, files)
	if err := os.Symlink("load.lua", filepath.Join(dir, "link.lua")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "folder.lua"), 0o755); err != nil {
		t.Fatal(err)
	}
	data, sum, err := PackBundle(dir)
	if err != nil {
		t.Fatalf("PackBundle: %v", err)
	}
	if sum != sha(data) {
		t.Errorf("sha %s, want the SHA-256 of the data %s", sum, sha(data))
	}
	if got := tarNames(t, data); !slices.Equal(got, []string{"disk.lua", "load.lua"}) {
		t.Errorf("bundle holds %v, want disk.lua and load.lua", got)
	}

	// The same files elsewhere, written in another order at another
	// time with other modes, make the same bytes.
	other := t.TempDir()
	writeFile(t, filepath.Join(other, "load.lua"), []byte(files["load.lua"]), 0o600)
	writeFile(t, filepath.Join(other, "disk.lua"), []byte(files["disk.lua"]), 0o755)
	past := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	os.Chtimes(filepath.Join(other, "disk.lua"), past, past)
	data2, sum2, err := PackBundle(other)
	if err != nil {
		t.Fatal(err)
	}
	if sum2 != sum || !bytes.Equal(data2, data) {
		t.Errorf("same files, sha %s then %s", sum, sum2)
	}

	// One changed byte, another sha.
	writeFile(t, filepath.Join(other, "disk.lua"), []byte(files["disk.lua"]+" "), 0o644)
	if _, sum3, _ := PackBundle(other); sum3 == sum {
		t.Error("changed file, same sha")
	}

	if _, _, err := PackBundle(filepath.Join(dir, "missing")); err == nil {
		t.Error("PackBundle of a missing folder: no error")
	}
	if data, _, err := PackBundle(t.TempDir()); err != nil || len(tarNames(t, data)) != 0 {
		t.Errorf("PackBundle of an empty folder: %v", err)
	}
}

// installed returns the files of the bundle current at dest.
func installed(t *testing.T, dest string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, name := range names(t, dest) {
		out[name] = readFile(t, filepath.Join(dest, name))
	}
	return out
}

func equalFiles(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestInstallBundle(t *testing.T) {
	v1 := map[string]string{"load.lua": "v1 load", "disk.lua": "v1 disk"}
	v2 := map[string]string{"load.lua": "v2 load", "http.lua": "v2 http"}
	data1, sha1, _ := PackBundle(checkDir(t, v1))
	data2, sha2, _ := PackBundle(checkDir(t, v2))
	root := t.TempDir()
	dest := filepath.Join(root, "checks")

	if err := InstallBundle(data1, sha1, dest); err != nil {
		t.Fatalf("InstallBundle v1: %v", err)
	}
	if got := installed(t, dest); !equalFiles(got, v1) {
		t.Errorf("after v1: %v", got)
	}
	if link, err := os.Readlink(dest); err != nil || link != "checks."+sha1[:12] {
		t.Errorf("dest links to %q (%v), want checks.%s", link, err, sha1[:12])
	}
	// A reader holding the v1 folder open keeps reading v1 files until
	// it looks again.
	v1Dir, _ := filepath.EvalSymlinks(dest)

	if err := InstallBundle(data2, strings.ToUpper(sha2), dest); err != nil {
		t.Fatalf("InstallBundle v2: %v", err)
	}
	if got := installed(t, dest); !equalFiles(got, v2) {
		t.Errorf("after v2: %v", got)
	}
	if _, err := os.Stat(v1Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("old version %s still there: %v", v1Dir, err)
	}
	if got := names(t, root); !slices.Equal(got, []string{"checks", "checks." + sha2[:12]}) {
		t.Errorf("root holds %v", got)
	}

	// Installing the current bundle again changes nothing.
	if err := InstallBundle(data2, sha2, dest); err != nil {
		t.Fatalf("InstallBundle v2 again: %v", err)
	}
	if got := names(t, root); !slices.Equal(got, []string{"checks", "checks." + sha2[:12]}) {
		t.Errorf("root holds %v", got)
	}

	// Back to v1.
	if err := InstallBundle(data1, sha1, dest); err != nil || !equalFiles(installed(t, dest), v1) {
		t.Fatalf("InstallBundle v1 again: %v", err)
	}
}

func TestInstallBundleRefused(t *testing.T) {
	good := map[string]string{"load.lua": "good"}
	goodData, goodSHA, _ := PackBundle(checkDir(t, good))
	tooBig := func() []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		tw := tar.NewWriter(zw)
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "big.lua", Size: MaxBundle + 1, Mode: 0o644})
		tw.Flush() // the body never comes: the size alone is refused
		zw.Close()
		return buf.Bytes()
	}()
	tests := []struct {
		name    string
		data    []byte
		sha     string // "" for the data's own
		wantErr error
	}{
		{"bad-sha", goodData, sha([]byte("something else")), ErrChecksum},
		{"short-sha", goodData, goodSHA[:12], ErrChecksum},
		{"parent", tarGz(t, entry{name: "ok.lua", body: "x"}, entry{name: "../evil.lua", body: "x"}), "", nil},
		{"nested-parent", tarGz(t, entry{name: "a/../../evil.lua", body: "x"}), "", nil},
		{"absolute", tarGz(t, entry{name: "/tmp/evil.lua", body: "x"}), "", nil},
		{"subfolder", tarGz(t, entry{name: "sub/check.lua", body: "x"}), "", nil},
		{"dot-dot", tarGz(t, entry{name: "..", body: "x"}), "", nil},
		{"hidden", tarGz(t, entry{name: ".evil.lua", body: "x"}), "", nil},
		{"not-lua", tarGz(t, entry{name: "evil.sh", body: "x"}), "", nil},
		{"backslash", tarGz(t, entry{name: `..\evil.lua`, body: "x"}), "", nil},
		{"symlink", tarGz(t, entry{name: "evil.lua", typ: tar.TypeSymlink, link: "/etc/passwd"}), "", nil},
		{"hardlink", tarGz(t, entry{name: "evil.lua", typ: tar.TypeLink, link: "/etc/passwd"}), "", nil},
		{"folder", tarGz(t, entry{name: "evil.lua/", typ: tar.TypeDir}), "", nil},
		{"duplicate", tarGz(t, entry{name: "a.lua", body: "1"}, entry{name: "a.lua", body: "2"}), "", nil},
		{"too-large", tooBig, "", ErrTooLarge},
		{"not-gzip", []byte("plain text"), "", nil},
		{"truncated", goodData[:len(goodData)/2], "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			dest := filepath.Join(root, "checks")
			if err := InstallBundle(goodData, goodSHA, dest); err != nil {
				t.Fatal(err)
			}
			before := names(t, root)
			sum := tt.sha
			if sum == "" {
				sum = sha(tt.data)
			}
			err := InstallBundle(tt.data, sum, dest)
			if err == nil {
				t.Fatal("InstallBundle: no error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("InstallBundle: %v, want %v", err, tt.wantErr)
			}
			if got := installed(t, dest); !equalFiles(got, good) {
				t.Errorf("bundle after refusal: %v, want the old one", got)
			}
			if after := names(t, root); !slices.Equal(after, before) {
				t.Errorf("folder holds %v after refusal, had %v", after, before)
			}
			if _, err := os.Lstat(filepath.Join(filepath.Dir(root), "evil.lua")); err == nil {
				t.Error("a file escaped the bundle folder")
			}
		})
	}
}

func TestInstallBundleOverFolder(t *testing.T) {
	data, sum, _ := PackBundle(checkDir(t, map[string]string{"load.lua": "x"}))
	t.Run("empty", func(t *testing.T) {
		dest := filepath.Join(t.TempDir(), "checks")
		os.Mkdir(dest, 0o755)
		if err := InstallBundle(data, sum, dest); err != nil {
			t.Fatalf("InstallBundle over an empty folder: %v", err)
		}
		if _, err := os.Readlink(dest); err != nil {
			t.Errorf("dest is not a link: %v", err)
		}
	})
	t.Run("not-empty", func(t *testing.T) {
		root := t.TempDir()
		dest := filepath.Join(root, "checks")
		writeFile(t, filepath.Join(dest, "mine.lua"), []byte("an operator's own"), 0o644)
		err := InstallBundle(data, sum, dest)
		if err == nil || !strings.Contains(err.Error(), "not a bundle link") {
			t.Fatalf("InstallBundle over a folder of checks: %v", err)
		}
		if got := readFile(t, filepath.Join(dest, "mine.lua")); got != "an operator's own" {
			t.Error("the folder was changed")
		}
		if got := names(t, root); !slices.Equal(got, []string{"checks"}) {
			t.Errorf("root holds %v", got)
		}
	})
}

func TestInstallBundleCleansLeftovers(t *testing.T) {
	data, sum, _ := PackBundle(checkDir(t, map[string]string{"load.lua": "x"}))
	root := t.TempDir()
	dest := filepath.Join(root, "checks")
	// What an install cut short would leave, and what is not ours.
	for _, name := range []string{".checks.tmp-123", ".checks.link-0123456789ab", "checks.aaaaaaaaaaaa"} {
		os.Mkdir(filepath.Join(root, name), 0o755)
	}
	for _, name := range []string{"checks.txt", "checks.AAAAAAAAAAAA", "other.aaaaaaaaaaaa"} {
		writeFile(t, filepath.Join(root, name), nil, 0o644)
	}
	if err := InstallBundle(data, sum, dest); err != nil {
		t.Fatal(err)
	}
	want := []string{"checks", "checks." + sum[:12], "checks.AAAAAAAAAAAA", "checks.txt", "other.aaaaaaaaaaaa"}
	if got := names(t, root); !slices.Equal(got, want) {
		t.Errorf("root holds %v, want %v", got, want)
	}
}

// TestInstallBundleDiskFull: a bundle that does not fit on the disk is
// refused with the disk's error, and the installed one stays, whole.
func TestInstallBundleDiskFull(t *testing.T) {
	good := map[string]string{"load.lua": "return function() return {status = 'ok'} end"}
	goodData, goodSHA, err := PackBundle(checkDir(t, good))
	if err != nil {
		t.Fatal(err)
	}
	noise := make([]byte, 768<<10)
	rand.Read(noise)
	big := map[string]string{"load.lua": "-- v2", "big.lua": "-- " + base64.StdEncoding.EncodeToString(noise)}
	bigData, bigSHA, err := PackBundle(checkDir(t, big))
	if err != nil {
		t.Fatal(err)
	}
	root := testfs.Tmpfs(t, 512<<10)
	dest := filepath.Join(root, "checks")
	if err := InstallBundle(goodData, goodSHA, dest); err != nil {
		t.Fatal(err)
	}
	before := names(t, root)
	err = InstallBundle(bigData, bigSHA, dest)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("InstallBundle on a full disk: %v, want ENOSPC", err)
	}
	if got := installed(t, dest); !equalFiles(got, good) {
		t.Errorf("bundle after a full disk: %v, want the old one", got)
	}
	if after := names(t, root); !slices.Equal(after, before) {
		t.Errorf("folder holds %v after a full disk, had %v", after, before)
	}
}
