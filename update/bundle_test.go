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
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"aead.dev/minisign"

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

	if err := InstallBundle(data1, sha1, dest, nil); err != nil {
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

	if err := InstallBundle(data2, strings.ToUpper(sha2), dest, nil); err != nil {
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
	if err := InstallBundle(data2, sha2, dest, nil); err != nil {
		t.Fatalf("InstallBundle v2 again: %v", err)
	}
	if got := names(t, root); !slices.Equal(got, []string{"checks", "checks." + sha2[:12]}) {
		t.Errorf("root holds %v", got)
	}

	// Back to v1.
	if err := InstallBundle(data1, sha1, dest, nil); err != nil || !equalFiles(installed(t, dest), v1) {
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
			if err := InstallBundle(goodData, goodSHA, dest, nil); err != nil {
				t.Fatal(err)
			}
			before := names(t, root)
			sum := tt.sha
			if sum == "" {
				sum = sha(tt.data)
			}
			err := InstallBundle(tt.data, sum, dest, nil)
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
		if err := InstallBundle(data, sum, dest, nil); err != nil {
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
		err := InstallBundle(data, sum, dest, nil)
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
	if err := InstallBundle(data, sum, dest, nil); err != nil {
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
	if err := InstallBundle(goodData, goodSHA, dest, nil); err != nil {
		t.Fatal(err)
	}
	before := names(t, root)
	err = InstallBundle(bigData, bigSHA, dest, nil)
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

// manifest returns the SHA256SUMS of files, as `sha256sum *.lua` writes it.
func manifest(files map[string]string) []byte {
	var names []string
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	var b strings.Builder
	for _, name := range names {
		b.WriteString(sha([]byte(files[name])) + "  " + name + "\n")
	}
	return []byte(b.String())
}

// signedCheckDir writes files into a new folder with their manifest,
// signed by priv as the minisign tool signs by default.
func signedCheckDir(t *testing.T, files map[string]string, priv minisign.PrivateKey) string {
	t.Helper()
	dir := checkDir(t, files)
	m := manifest(files)
	writeFile(t, filepath.Join(dir, BundleManifest), m, 0o644)
	writeFile(t, filepath.Join(dir, BundleSignature), signHashed(t, priv, m), 0o644)
	return dir
}

// An agent with an update key installs a bundle whose manifest the key
// signed and whose files are the manifest's, and keeps the bundle it has
// when helen serves one that is unsigned, signed by another key, or whose
// files differ from the signed manifest; without a key, a bundle with a
// manifest must still match it.
func TestInstallBundleSigned(t *testing.T) {
	pub, priv := newKey(t)
	_, other := newKey(t)
	good := map[string]string{"load.lua": "v1 load", "disk.lua": "v1 disk"}
	next := map[string]string{"load.lua": "v2 load", "http.lua": "v2 http"}
	// edit changes a signed check folder after it was signed.
	edit := func(f func(dir string)) func(t *testing.T) string {
		return func(t *testing.T) string {
			dir := signedCheckDir(t, next, priv)
			f(dir)
			return dir
		}
	}
	tests := []struct {
		name string
		dir  func(t *testing.T) string
		key  bool
		// wantErr is the error, nil when the bundle is installed.
		wantErr error
		wantMsg string
	}{
		{"signed", func(t *testing.T) string { return signedCheckDir(t, next, priv) }, true, nil, ""},
		{"signed-legacy", func(t *testing.T) string {
			dir := checkDir(t, next)
			writeFile(t, filepath.Join(dir, BundleManifest), manifest(next), 0o644)
			writeFile(t, filepath.Join(dir, BundleSignature), minisign.Sign(priv, manifest(next)), 0o644)
			return dir
		}, true, nil, ""},
		{"signed-no-key", func(t *testing.T) string { return signedCheckDir(t, next, priv) }, false, nil, ""},
		{"unsigned-no-key", func(t *testing.T) string { return checkDir(t, next) }, false, nil, ""},
		{"unsigned", func(t *testing.T) string { return checkDir(t, next) }, true, ErrSignature, "no SHA256SUMS"},
		{"manifest-unsigned", edit(func(dir string) { os.Remove(filepath.Join(dir, BundleSignature)) }), true, ErrSignature, "no SHA256SUMS.minisig"},
		{"other-key", func(t *testing.T) string { return signedCheckDir(t, next, other) }, true, ErrSignature, "does not verify"},
		{"tampered", edit(func(dir string) {
			os.WriteFile(filepath.Join(dir, "http.lua"), []byte("v2 http, and more"), 0o644)
		}), true, ErrManifest, "http.lua: sha256"},
		{"tampered-no-key", edit(func(dir string) {
			os.WriteFile(filepath.Join(dir, "http.lua"), []byte("v2 http, and more"), 0o644)
		}), false, ErrManifest, "http.lua: sha256"},
		{"extra-file", edit(func(dir string) {
			os.WriteFile(filepath.Join(dir, "evil.lua"), []byte("os.exit()"), 0o644)
		}), true, ErrManifest, "evil.lua is not in SHA256SUMS"},
		{"missing-file", edit(func(dir string) { os.Remove(filepath.Join(dir, "http.lua")) }), true, ErrManifest, "lists http.lua, which the bundle lacks"},
		{"manifest-edited", edit(func(dir string) {
			m := manifest(map[string]string{"load.lua": "v2 load", "http.lua": "evil"})
			os.WriteFile(filepath.Join(dir, BundleManifest), m, 0o644)
			os.WriteFile(filepath.Join(dir, "http.lua"), []byte("evil"), 0o644)
		}), true, ErrSignature, "does not verify"},
		{"signature-without-manifest", edit(func(dir string) { os.Remove(filepath.Join(dir, BundleManifest)) }), false, ErrManifest, "without its SHA256SUMS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var key *minisign.PublicKey
			if tt.key {
				key = &pub
			}
			root := t.TempDir()
			dest := filepath.Join(root, "checks")
			data, sum, err := PackBundle(signedCheckDir(t, good, priv))
			if err != nil {
				t.Fatal(err)
			}
			if err := InstallBundle(data, sum, dest, key); err != nil {
				t.Fatalf("InstallBundle of the first, signed bundle: %v", err)
			}
			before := names(t, root)

			data, sum, err = PackBundle(tt.dir(t))
			if err != nil {
				t.Fatal(err)
			}
			if verr := VerifyBundle(data, key); !errors.Is(verr, tt.wantErr) {
				t.Errorf("VerifyBundle: %v, want %v", verr, tt.wantErr)
			}
			err = InstallBundle(data, sum, dest, key)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("InstallBundle: %v", err)
				}
				got := installed(t, dest)
				for name, body := range next {
					if got[name] != body {
						t.Errorf("installed %s: %q, want %q", name, got[name], body)
					}
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("InstallBundle: %v, want %v saying %q", err, tt.wantErr, tt.wantMsg)
			}
			got := installed(t, dest)
			for name, body := range good {
				if got[name] != body {
					t.Errorf("after the refusal %s is %q, want the old %q", name, got[name], body)
				}
			}
			if after := names(t, root); !slices.Equal(after, before) {
				t.Errorf("folder holds %v after refusal, had %v", after, before)
			}
		})
	}
}

// A bundle already installed is verified again before it counts as
// current: an agent given a key refuses the unsigned bundle it has.
func TestInstallBundleSameBundleWithKey(t *testing.T) {
	pub, _ := newKey(t)
	data, sum, _ := PackBundle(checkDir(t, map[string]string{"load.lua": "x"}))
	dest := filepath.Join(t.TempDir(), "checks")
	if err := InstallBundle(data, sum, dest, nil); err != nil {
		t.Fatal(err)
	}
	if err := InstallBundle(data, sum, dest, &pub); !errors.Is(err, ErrSignature) {
		t.Fatalf("InstallBundle of the installed, unsigned bundle with a key: %v, want ErrSignature", err)
	}
}

// The manifest a bundle may carry is bounded, and lists only check files.
func TestInstallBundleBadManifest(t *testing.T) {
	for _, tt := range []struct {
		name, manifest string
	}{
		{"path", sha([]byte("x")) + "  ../load.lua\n"},
		{"not-lua", sha([]byte("x")) + "  run.sh\n"},
		{"malformed", "load.lua\n"},
		{"too-large", strings.Repeat(sha([]byte("x"))+"  load.lua\n", maxManifest/75+1)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data := tarGz(t, entry{name: "load.lua", body: "x"}, entry{name: BundleManifest, body: tt.manifest})
			dest := filepath.Join(t.TempDir(), "checks")
			err := InstallBundle(data, sha(data), dest, nil)
			if !errors.Is(err, ErrManifest) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("InstallBundle: %v, want the manifest refused", err)
			}
			if _, err := os.Lstat(dest); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("something installed: %v", err)
			}
		})
	}
}

// A check directory signed with the stock tools, as the README says
// (sha256sum and minisign), is a bundle an agent with the key installs.
func TestInstallBundleSignedWithMinisignTool(t *testing.T) {
	for _, tool := range []string{"minisign", "sha256sum"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	keys := t.TempDir()
	pubFile, keyFile := filepath.Join(keys, "minisign.pub"), filepath.Join(keys, "minisign.key")
	run := func(dir, name string, args ...string) []byte {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s %v: %v", name, args, err)
		}
		return out
	}
	run(keys, "minisign", "-G", "-W", "-p", pubFile, "-s", keyFile)
	dir := checkDir(t, map[string]string{"load.lua": "return {}", "disk.lua": "return {}"})
	writeFile(t, filepath.Join(dir, BundleManifest), run(dir, "sh", "-c", "sha256sum *.lua"), 0o644)
	run(dir, "minisign", "-Sm", BundleManifest, "-s", keyFile)

	pub, err := minisign.PublicKeyFromFile(pubFile)
	if err != nil {
		t.Fatal(err)
	}
	data, sum, err := PackBundle(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := InstallBundle(data, sum, filepath.Join(t.TempDir(), "checks"), &pub); err != nil {
		t.Fatalf("InstallBundle of a directory signed with minisign: %v", err)
	}
}
