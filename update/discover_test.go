package update

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"aead.dev/minisign"
)

// dist is a fake goreleaser dist folder.
type dist struct {
	t    *testing.T
	dir  string
	sums []string // checksums.txt lines
}

func newDist(t *testing.T) *dist {
	return &dist{t: t, dir: filepath.Join(t.TempDir(), "dist")}
}

// add writes a release file and lists it in checksums.txt.
func (d *dist) add(name string, data []byte) {
	writeFile(d.t, filepath.Join(d.dir, name), data, 0o755)
	d.sums = append(d.sums, sha(data)+"  "+name)
}

func (d *dist) writeChecksums(name string) {
	writeFile(d.t, filepath.Join(d.dir, name), []byte(strings.Join(d.sums, "\n")+"\n"), 0o644)
}

func binary(version, platform string) []byte {
	return []byte(fmt.Sprintf("#!/bin/sh\necho equus %s %s\n", version, platform))
}

func TestDiscoverNames(t *testing.T) {
	_, priv := newKey(t)
	d := newDist(t)
	// An older release and a release candidate of the same version.
	d.add("equus_1.2.0_linux_amd64.tar.gz", tarGz(t, entry{name: "equus", body: "old"}))
	d.add("equus_1.2.3-rc.1_linux_amd64.tar.gz", tarGz(t, entry{name: "equus", body: "rc"}))
	// The release.
	d.add("equus_1.2.3_linux_amd64.tar.gz", tarGz(t,
		entry{name: "README.md", body: "read me"},
		entry{name: "equus", body: string(binary("1.2.3", "linux/amd64"))}))
	d.add("equus_1.2.3_linux_amd64v3.tar.gz", tarGz(t, entry{name: "equus", body: "v3"}))
	d.add("equus_1.2.3_windows_amd64.zip", zipOf(t, entry{name: "equus_1.2.3_windows_amd64/equus.exe", body: "MZ windows"}))
	d.add("equus_1.2.3_linux_armv7.tar.gz", tarGz(t, entry{name: "equus", body: "armv7"}))
	d.add("equus_1.2.3_linux_armv6.tar.gz", tarGz(t, entry{name: "equus", body: "armv6"}))
	d.add("equus_1.2.3_linux_arm64.tar.gz", tarGz(t, entry{name: "equus", body: "arm64 archived"}))
	arm64 := binary("1.2.3", "linux/arm64")
	d.add("equus_1.2.3_linux_arm64", arm64)
	arm64Sig := minisign.Sign(priv, arm64)
	writeFile(t, filepath.Join(d.dir, "equus_1.2.3_linux_arm64.minisig"), arm64Sig, 0o644)
	d.add("equus_1.2.3_darwin_arm64", binary("1.2.3", "darwin/arm64"))
	// Files that are not offered.
	d.add("equus_1.2.3_amd64.deb", []byte("deb"))
	d.add("equus_1.2.3_linux_amd64.sbom.json", []byte("{}"))
	d.add("equus_1.2.3_linux_amd64.tar.xz", []byte("xz"))
	d.add("equus_1.2.3_plan10_amd64", []byte("no such OS"))
	d.add("other_1.2.3_linux_amd64", []byte("another project"))
	d.add("equus_9.9_linux_amd64", []byte("not a semantic version"))
	d.add("equus_latest_linux_amd64", []byte("not a version"))
	d.writeChecksums("equus_1.2.3_checksums.txt")
	writeFile(t, filepath.Join(d.dir, "config.yaml"), []byte("project_name: equus\n"), 0o644)

	rel, err := Discover(d.dir, nil)
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	if rel.Version != "1.2.3" {
		t.Errorf("version %q, want 1.2.3", rel.Version)
	}
	want := map[string]struct{ name, binary string }{
		"linux/amd64":   {"equus_1.2.3_linux_amd64.tar.gz", "equus"},
		"linux/arm":     {"equus_1.2.3_linux_armv6.tar.gz", "equus"},
		"linux/arm64":   {"equus_1.2.3_linux_arm64", ""},
		"darwin/arm64":  {"equus_1.2.3_darwin_arm64", ""},
		"windows/amd64": {"equus_1.2.3_windows_amd64.zip", "equus.exe"},
	}
	if len(rel.Assets) != len(want) {
		t.Errorf("%d assets, want %d: %+v", len(rel.Assets), len(want), rel.Assets)
	}
	for platform, w := range want {
		goos, goarch, _ := strings.Cut(platform, "/")
		a, ok := rel.Find(goos, goarch)
		if !ok {
			t.Errorf("no asset for %s", platform)
			continue
		}
		if a.Name != w.name || a.Binary != w.binary {
			t.Errorf("%s: %s (binary %q), want %s (binary %q)", platform, a.Name, a.Binary, w.name, w.binary)
		}
		data, err := os.ReadFile(a.Path)
		if err != nil {
			t.Fatal(err)
		}
		if a.SHA256 != sha(data) || a.Size != int64(len(data)) {
			t.Errorf("%s: sha256 %s size %d, want %s %d", platform, a.SHA256, a.Size, sha(data), len(data))
		}
	}
	if a, _ := rel.Find("linux", "arm64"); string(a.Sig) != string(arm64Sig) || a.BinarySignature() != string(arm64Sig) {
		t.Errorf("linux/arm64 signature %q, want the .minisig", a.Sig)
	}
	if _, ok := rel.Find("plan10", "amd64"); ok {
		t.Error("found an asset for an unknown OS")
	}
}

func TestDiscoverSignedRawBeatsArchive(t *testing.T) {
	_, priv := newKey(t)
	d := newDist(t)
	d.add("equus_2.0.0_linux_amd64.tar.gz", tarGz(t, entry{name: "equus", body: "bin"}))
	writeFile(t, filepath.Join(d.dir, "equus_2.0.0_linux_amd64.tar.gz.minisig"), []byte("archive sig"), 0o644)
	d.add("equus_2.0.0_linux_amd64", []byte("bin"))
	d.add("equus_2.0.0_linux_amd64.exe", []byte("bin")) // odd, but a raw binary too
	writeFile(t, filepath.Join(d.dir, "equus_2.0.0_linux_amd64.exe.minisig"), minisign.Sign(priv, []byte("bin")), 0o644)
	d.writeChecksums("checksums.txt")

	rel, err := Discover(d.dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := rel.Find("linux", "amd64")
	if a.Name != "equus_2.0.0_linux_amd64.exe" || a.Sig == nil {
		t.Errorf("picked %s (signed %v), want the signed raw binary", a.Name, a.Sig != nil)
	}
}

func TestDiscoverArchiveSignatureNotForBinary(t *testing.T) {
	d := newDist(t)
	d.add("equus_2.0.0_linux_amd64.tar.gz", tarGz(t, entry{name: "equus", body: "bin"}))
	writeFile(t, filepath.Join(d.dir, "equus_2.0.0_linux_amd64.tar.gz.minisig"), []byte("archive sig"), 0o644)
	d.writeChecksums("checksums.txt")
	rel, err := Discover(d.dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := rel.Find("linux", "amd64")
	if string(a.Sig) != "archive sig" {
		t.Errorf("Sig %q, want the archive's signature", a.Sig)
	}
	if s := a.BinarySignature(); s != "" {
		t.Errorf("BinarySignature of an archive = %q, want none", s)
	}
}

func TestDiscoverChecksumMismatch(t *testing.T) {
	d := newDist(t)
	d.add("equus_1.0.0_linux_amd64.tar.gz", tarGz(t, entry{name: "equus", body: "good"}))
	d.writeChecksums("checksums.txt")
	// The archive is replaced after checksums.txt was written.
	writeFile(t, filepath.Join(d.dir, "equus_1.0.0_linux_amd64.tar.gz"), tarGz(t, entry{name: "equus", body: "evil"}), 0o644)
	if _, err := Discover(d.dir, nil); !errors.Is(err, ErrChecksum) {
		t.Fatalf("Discover: err %v, want ErrChecksum", err)
	}
}

func TestDiscoverErrors(t *testing.T) {
	t.Run("missing-dir", func(t *testing.T) {
		if _, err := Discover(filepath.Join(t.TempDir(), "nope"), nil); err == nil {
			t.Fatal("Discover of a missing folder: no error")
		}
	})
	t.Run("no-release", func(t *testing.T) {
		d := newDist(t)
		d.add("README.md", []byte("nothing"))
		if _, err := Discover(d.dir, nil); err == nil || !strings.Contains(err.Error(), "no release") {
			t.Fatalf("err %v, want no release", err)
		}
	})
	t.Run("metadata-version-not-semver", func(t *testing.T) {
		dir := goreleaserDist(t, nil, nil)
		writeFile(t, filepath.Join(dir, "metadata.json"), []byte(`{"project_name":"equus","version":"latest"}`), 0o644)
		if _, err := Discover(dir, nil); err == nil || !strings.Contains(err.Error(), "not a semantic version") {
			t.Fatalf("err %v, want not a semantic version", err)
		}
	})
	t.Run("bad-checksums", func(t *testing.T) {
		d := newDist(t)
		d.add("equus_1.0.0_linux_amd64", []byte("bin"))
		writeFile(t, filepath.Join(d.dir, "checksums.txt"), []byte("xyz  equus_1.0.0_linux_amd64\n"), 0o644)
		if _, err := Discover(d.dir, nil); err == nil || !strings.Contains(err.Error(), "checksums.txt") {
			t.Fatalf("err %v, want one naming checksums.txt", err)
		}
	})
	t.Run("conflicting-checksum-files", func(t *testing.T) {
		d := newDist(t)
		d.add("equus_1.0.0_linux_amd64", []byte("bin"))
		d.writeChecksums("checksums.txt")
		writeFile(t, filepath.Join(d.dir, "equus_1.0.0_checksums.txt"), []byte(sumA+"  equus_1.0.0_linux_amd64\n"), 0o644)
		if _, err := Discover(d.dir, nil); err == nil || !strings.Contains(err.Error(), "two different checksums") {
			t.Fatalf("err %v, want two different checksums", err)
		}
	})
}

// goreleaserDist writes a dist folder in the style of goreleaser's, with
// metadata.json, artifacts.json and the checksums.txt lines sums, inside a
// project folder. The faithful layout of this project's own configuration
// is goreleaserLayout's.
func goreleaserDist(t *testing.T, arts []map[string]any, files map[string][]byte, sums ...string) string {
	t.Helper()
	project := t.TempDir()
	dir := filepath.Join(project, "dist")
	for name, data := range files {
		writeFile(t, filepath.Join(project, name), data, 0o755)
	}
	meta, _ := json.Marshal(map[string]any{"project_name": "equus", "tag": "v3.1.0", "version": "3.1.0"})
	writeFile(t, filepath.Join(dir, "metadata.json"), meta, 0o644)
	js, _ := json.Marshal(arts)
	writeFile(t, filepath.Join(dir, "artifacts.json"), js, 0o644)
	writeFile(t, filepath.Join(dir, "checksums.txt"), []byte(strings.Join(sums, "\n")+"\n"), 0o644)
	return dir
}

// Archives named in the style of uname, which file names alone would not
// give, with a binary inside a folder; an archive that artifacts.json
// states no checksum for, which checksums.txt covers; a dist moved away
// from its project.
func TestDiscoverArtifacts(t *testing.T) {
	linuxBin := binary("3.1.0", "linux/amd64")
	linuxTar := tarGz(t, entry{name: "equus_3.1.0_linux_amd64/equus", body: string(linuxBin)})
	darwinZip := zipOf(t, entry{name: "equus", body: "darwin"})
	files := map[string][]byte{
		"dist/equus_3.1.0_Linux_x86_64.tar.gz": linuxTar,
		"dist/equus-Darwin-universal.zip":      darwinZip,
		"dist/equus_3.1.0_linux_amd64.deb":     []byte("deb"),
	}
	arts := []map[string]any{
		{"name": "equus_3.1.0_Linux_x86_64.tar.gz", "path": "dist/equus_3.1.0_Linux_x86_64.tar.gz", "goos": "linux", "goarch": "amd64", "goamd64": "v1",
			"type": "Archive", "extra": map[string]any{"Binaries": []string{"equus"}, "Format": "tar.gz", "Checksum": "sha256:" + sha(linuxTar)}},
		{"name": "equus-Darwin-universal.zip", "path": "dist/equus-Darwin-universal.zip", "goos": "darwin", "goarch": "arm64",
			"type": "Archive", "extra": map[string]any{"Binaries": []string{"equus"}, "Format": "zip"}},
		{"name": "equus_3.1.0_linux_amd64.deb", "path": "dist/equus_3.1.0_linux_amd64.deb", "goos": "linux", "goarch": "amd64", "type": "Linux Package"},
		{"name": "checksums.txt", "path": "dist/checksums.txt", "type": "Checksum"},
	}
	dir := goreleaserDist(t, arts, files,
		sha(linuxTar)+"  equus_3.1.0_Linux_x86_64.tar.gz", sha(darwinZip)+"  equus-Darwin-universal.zip", sha([]byte("deb"))+"  equus_3.1.0_linux_amd64.deb")

	rel, err := Discover(dir, nil)
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	if rel.Version != "3.1.0" || len(rel.Assets) != 2 || len(rel.Refused) != 0 {
		t.Fatalf("release %+v, want 3.1.0 with 2 assets, none refused", rel)
	}
	a, _ := rel.Find("linux", "amd64")
	if a.Name != "equus_3.1.0_Linux_x86_64.tar.gz" || a.Binary != "equus" || a.SHA256 != sha(linuxTar) {
		t.Errorf("linux/amd64: %+v, want the archive", a)
	}
	a, _ = rel.Find("darwin", "arm64")
	if a.Name != "equus-Darwin-universal.zip" || a.Binary != "equus" || a.SHA256 != sha(darwinZip) {
		t.Errorf("darwin/arm64: %+v", a)
	}

	// dist moved away from its project: paths relative to the project
	// still resolve inside it.
	moved := filepath.Join(t.TempDir(), "releases")
	if err := os.Rename(dir, moved); err != nil {
		t.Fatal(err)
	}
	if rel, err = Discover(moved, nil); err != nil || len(rel.Assets) != 2 {
		t.Fatalf("Discover of a moved dist: %v, %+v", err, rel)
	}
}

// artifacts.json and checksums.txt must agree, and the file must hash to
// what they say.
func TestDiscoverArtifactsChecksumMismatch(t *testing.T) {
	name := "equus_3.1.0_linux_amd64"
	art := func(sum []byte) []map[string]any {
		return []map[string]any{{"name": name, "path": "dist/equus_linux_amd64_v1/equus", "goos": "linux", "goarch": "amd64",
			"type": "Binary", "extra": map[string]any{"Checksum": "sha256:" + sha(sum)}}}
	}
	files := map[string][]byte{"dist/equus_linux_amd64_v1/equus": []byte("tampered")}
	for _, tt := range []struct {
		name      string
		arts, sum []byte // the content whose hash artifacts.json and checksums.txt state
		want      error
	}{
		{"both-original", []byte("original"), []byte("original"), ErrChecksum},
		{"disagree", []byte("tampered"), []byte("original"), errChecksumsDiffer},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rel, err := Discover(goreleaserDist(t, art(tt.arts), files, sha(tt.sum)+"  "+name), nil)
			if !errors.Is(err, tt.want) || len(rel.Refused) != 1 || !errors.Is(rel.Refused[0], tt.want) {
				t.Fatalf("err %v, refused %v, want %v", err, rel.Refused, tt.want)
			}
		})
	}
}

func TestDiscoverArtifactsOutsideDist(t *testing.T) {
	files := map[string][]byte{"secret": []byte("not a release")}
	arts := []map[string]any{{"name": "secret", "path": "dist/../secret", "goos": "linux", "goarch": "amd64", "type": "Binary",
		"extra": map[string]any{"Checksum": "sha256:" + sha([]byte("not a release"))}}}
	if _, err := Discover(goreleaserDist(t, arts, files, sha([]byte("not a release"))+"  secret"), nil); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("err %v, want the file outside dist refused", err)
	}
}

func TestOpenBinary(t *testing.T) {
	d := newDist(t)
	linux := binary("1.0.0", "linux/amd64")
	win := []byte("MZ windows binary")
	raw := binary("1.0.0", "linux/arm64")
	d.add("equus_1.0.0_linux_amd64.tar.gz", tarGz(t,
		entry{name: "equus_1.0.0_linux_amd64/", typ: '5'},
		entry{name: "equus_1.0.0_linux_amd64/equus.sh", typ: '2', link: "equus"},
		entry{name: "equus_1.0.0_linux_amd64/equus", body: string(linux)}))
	d.add("equus_1.0.0_windows_amd64.zip", zipOf(t, entry{name: "LICENSE", body: "MIT"}, entry{name: "equus.exe", body: string(win)}))
	d.add("equus_1.0.0_linux_arm64", raw)
	d.add("equus_1.0.0_linux_386.tar.gz", tarGz(t, entry{name: "other", body: "x"}))
	d.add("equus_1.0.0_linux_riscv64.zip", zipOf(t, entry{name: "other", body: "x"}))
	d.writeChecksums("checksums.txt")
	rel, err := Discover(d.dir, nil)
	if err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		goos, goarch string
		want         []byte
	}{
		{"linux", "amd64", linux},
		{"windows", "amd64", win},
		{"linux", "arm64", raw},
	} {
		a, _ := rel.Find(tt.goos, tt.goarch)
		rc, size, sum, err := OpenBinary(a)
		if err != nil {
			t.Fatalf("%s/%s: OpenBinary: %v", tt.goos, tt.goarch, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(tt.want) || size != int64(len(tt.want)) || sum != sha(tt.want) {
			t.Errorf("%s/%s: %q size %d sha %s, want %q size %d sha %s", tt.goos, tt.goarch, got, size, sum, tt.want, len(tt.want), sha(tt.want))
		}
	}
	for _, arch := range []string{"386", "riscv64"} {
		a, _ := rel.Find("linux", arch)
		if _, _, _, err := OpenBinary(a); !errors.Is(err, errNoBinary) {
			t.Errorf("linux/%s: err %v, want errNoBinary", arch, err)
		}
	}

	// A file that changed since Discover is not served.
	a, _ := rel.Find("linux", "arm64")
	writeFile(t, a.Path, []byte("changed"), 0o755)
	if _, _, _, err := OpenBinary(a); !errors.Is(err, ErrChecksum) {
		t.Errorf("changed file: err %v, want ErrChecksum", err)
	}
}

func TestSelf(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "equus")
	writeFile(t, exe, []byte("helen itself"), 0o755)
	rel, err := Self("4.5.6", exe, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, ok := rel.Find(runtime.GOOS, runtime.GOARCH)
	if rel.Version != "4.5.6" || !ok || a.Path != exe || a.SHA256 != sha([]byte("helen itself")) || a.Size != 12 || a.Binary != "" {
		t.Fatalf("Self = %+v", rel)
	}
	if _, err := Self("1", "", nil); err != nil {
		t.Errorf("Self of the test binary: %v", err)
	}
	if _, err := Self("1", filepath.Join(t.TempDir(), "missing"), nil); err == nil {
		t.Error("Self of a missing file: no error")
	}
}

func TestParseName(t *testing.T) {
	tests := []struct {
		name                         string
		ok                           bool
		version, goos, goarch, level string
		kind                         string
	}{
		{"equus_1.2.3_linux_amd64.tar.gz", true, "1.2.3", "linux", "amd64", "", kindTarGz},
		{"equus_1.2.3_linux_amd64_v1.tgz", true, "1.2.3", "linux", "amd64", "", kindTarGz},
		{"equus_1.2.3_linux_amd64v3", true, "1.2.3", "linux", "amd64", "v3", kindRaw},
		{"equus_1.2.3_windows_arm64.zip", true, "1.2.3", "windows", "arm64", "", kindZip},
		{"equus_1.2.3_windows_386.exe", true, "1.2.3", "windows", "386", "", kindRaw},
		{"equus_1.2.3_linux_armv7", true, "1.2.3", "linux", "arm", "v7", kindRaw},
		{"equus_1.2.3_linux_arm64v8.0", true, "1.2.3", "linux", "arm64", "v8.0", kindRaw},
		{"equus_1.2.3_linux_mips64le_softfloat.tar.gz", true, "1.2.3", "linux", "mips64le", "softfloat", kindTarGz},
		{"equus_1.2.3_Linux_x86_64.tar.gz", true, "1.2.3", "linux", "amd64", "", kindTarGz},
		{"equus_1.2.3_Darwin_aarch64.tar.gz", true, "1.2.3", "darwin", "arm64", "", kindTarGz},
		{"equus_1.2.3-rc.1_linux_amd64", true, "1.2.3-rc.1", "linux", "amd64", "", kindRaw},
		{"equus_1.2.3_linux_amd64.deb", false, "", "", "", "", ""},
		{"equus_1.2.3_linux_amd64.tar.gz.minisig", false, "", "", "", "", ""},
		{"equus_1.2.3_linux_armhf", false, "", "", "", "", ""},
		{"equus_1.2.3_checksums.txt", false, "", "", "", "", ""},
		{"equus_1.2.3_amd64.deb", false, "", "", "", "", ""},
		{"equus__linux_amd64", false, "", "", "", "", ""},
		{"equus_dev_linux_amd64", false, "", "", "", "", ""},
		{"equus_1.2_linux_amd64", false, "", "", "", "", ""},
		{"equus_1.2.3-SNAPSHOT-abc1234_linux_amd64", true, "1.2.3-SNAPSHOT-abc1234", "linux", "amd64", "", kindRaw},
		{"equusd_1.2.3_linux_amd64", false, "", "", "", "", ""},
	}
	for _, tt := range tests {
		c, ok := parseName(tt.name)
		if ok != tt.ok {
			t.Errorf("parseName(%q) ok = %v, want %v", tt.name, ok, tt.ok)
			continue
		}
		if ok && (c.version != tt.version || c.OS != tt.goos || c.Arch != tt.goarch || c.variant != tt.level || c.kind != tt.kind) {
			t.Errorf("parseName(%q) = %s %s/%s %q %q, want %s %s/%s %q %q", tt.name,
				c.version, c.OS, c.Arch, c.variant, c.kind, tt.version, tt.goos, tt.goarch, tt.level, tt.kind)
		}
	}
}
