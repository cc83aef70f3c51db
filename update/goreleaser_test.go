package update

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"aead.dev/minisign"
)

// layout is a dist/ folder as goreleaser v2 writes it for this project's
// .goreleaser.yaml, with small files in place of the real builds.
type layout struct {
	dir     string
	version string
	// files maps an artifact's name to where it is.
	files map[string]string
}

// goreleaserLayout writes the dist/ of testdata/goreleaser: the
// artifacts.json, metadata.json and checksums.txt of a real snapshot of
// this project (scripts/release-check.sh, goreleaser v2.15.1, signed),
// with every file at the path artifacts.json names. The builds are small
// scripts, the archives hold them, the checksums are computed anew. With
// priv the raw binaries and checksums.txt are signed as the release's
// signs do; without it the layout is that of an unsigned build: no
// Signature entries and no .minisig.
func goreleaserLayout(t *testing.T, priv *minisign.PrivateKey) *layout {
	t.Helper()
	var arts []map[string]any
	if err := json.Unmarshal([]byte(readFile(t, "testdata/goreleaser/artifacts.json")), &arts); err != nil {
		t.Fatal(err)
	}
	var meta metadata
	if err := json.Unmarshal([]byte(readFile(t, "testdata/goreleaser/metadata.json")), &meta); err != nil {
		t.Fatal(err)
	}
	project := t.TempDir()
	l := &layout{dir: filepath.Join(project, "dist"), version: meta.Version, files: map[string]string{}}
	at := func(a map[string]any) string { return filepath.Join(project, filepath.FromSlash(a["path"].(string))) }
	str := func(a map[string]any, k string) string { s, _ := a[k].(string); return s }

	// The builds first: the archives and raw binaries are made of them.
	builds := map[string][]byte{} // by target, such as linux_amd64_v1
	for _, a := range arts {
		if a["type"] == "Binary" && a["extra"].(map[string]any)["Checksum"] == nil {
			body := binary(meta.Version, str(a, "goos")+"/"+str(a, "goarch"))
			builds[str(a, "target")] = body
			writeFile(t, at(a), body, 0o755)
		}
	}
	var kept []map[string]any
	for _, a := range arts {
		extra, _ := a["extra"].(map[string]any)
		switch a["type"] {
		case "Archive":
			bin := builds[str(a, "target")]
			name := extra["Binaries"].([]any)[0].(string)
			var data []byte
			if extra["Format"] == "zip" {
				data = zipOf(t, entry{name: "README.md", body: "read me"}, entry{name: name, body: string(bin)})
			} else {
				data = tarGz(t, entry{name: "README.md", body: "read me"}, entry{name: name, body: string(bin)})
			}
			writeFile(t, at(a), data, 0o644)
		case "Linux Package":
			writeFile(t, at(a), []byte("package "+str(a, "name")), 0o644)
		case "Signature":
			if priv == nil {
				continue
			}
		case "Binary", "Metadata", "Checksum":
		default:
			t.Fatalf("artifact of type %v: the fixture does not know it", a["type"])
		}
		kept = append(kept, a)
		if a["type"] != "Signature" {
			l.files[str(a, "name")] = at(a)
		}
	}
	// checksums.txt: the same names in the same order, hashes anew.
	var sums strings.Builder
	sc := bufio.NewScanner(strings.NewReader(readFile(t, "testdata/goreleaser/checksums.txt")))
	for sc.Scan() {
		_, name, _ := strings.Cut(sc.Text(), "  ")
		p, ok := l.files[name]
		if !ok {
			t.Fatalf("checksums.txt names %s, which artifacts.json does not", name)
		}
		sums.WriteString(sha([]byte(readFile(t, p))) + "  " + name + "\n")
	}
	writeFile(t, filepath.Join(l.dir, "checksums.txt"), []byte(sums.String()), 0o644)
	for _, a := range kept {
		extra, _ := a["extra"].(map[string]any)
		if _, ok := extra["Checksum"]; ok {
			extra["Checksum"] = "sha256:" + sha([]byte(readFile(t, at(a))))
		}
		if a["type"] == "Signature" {
			signed := strings.TrimSuffix(at(a), ".minisig")
			writeFile(t, at(a), signHashed(t, *priv, []byte(readFile(t, signed))), 0o644)
		}
	}
	js, err := json.Marshal(kept)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(l.dir, "artifacts.json"), js, 0o644)
	writeFile(t, filepath.Join(l.dir, "metadata.json"), []byte(readFile(t, "testdata/goreleaser/metadata.json")), 0o644)
	return l
}

// platforms are the release's platforms, as goreleaser names their raw
// binaries.
var platforms = map[string]string{
	"linux/amd64":   "linux_amd64",
	"linux/arm64":   "linux_arm64",
	"darwin/amd64":  "darwin_amd64",
	"darwin/arm64":  "darwin_arm64",
	"windows/amd64": "windows_amd64.exe",
}

// flip changes one byte in the middle of the file at p, keeping its size.
func flip(t *testing.T, p string) {
	t.Helper()
	data := []byte(readFile(t, p))
	data[len(data)/2] ^= 0x01
	if err := os.WriteFile(p, data, 0o755); err != nil {
		t.Fatal(err)
	}
}

// Each platform is offered its released raw binary, the file checksums.txt
// names, and never goreleaser's plain build entry of the same file, which
// no line of checksums.txt covers.
func TestDiscoverGoreleaser(t *testing.T) {
	pub, priv := newKey(t)
	for _, tt := range []struct {
		name   string
		signed bool
		key    *minisign.PublicKey
	}{
		{"unsigned", false, nil},
		{"signed", true, nil},
		{"signed-with-key", true, &pub},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var p *minisign.PrivateKey
			if tt.signed {
				p = &priv
			}
			l := goreleaserLayout(t, p)
			rel, err := Discover(l.dir, tt.key)
			if err != nil {
				t.Fatalf("Discover: %v", err)
			}
			if rel.Version != l.version || len(rel.Assets) != len(platforms) || len(rel.Refused) != 0 {
				t.Fatalf("release %s with %d assets, refused %v; want %s with %d, none refused", rel.Version, len(rel.Assets), rel.Refused, l.version, len(platforms))
			}
			for platform, suffix := range platforms {
				goos, goarch, _ := strings.Cut(platform, "/")
				a, _ := rel.Find(goos, goarch)
				if want := "equus_" + l.version + "_" + suffix; a.Name != want || a.Binary != "" {
					t.Errorf("%s: offered %s (binary %q), want the raw binary %s", platform, a.Name, a.Binary, want)
				}
				if a.Path != l.files[a.Name] || a.SHA256 != sha([]byte(readFile(t, a.Path))) {
					t.Errorf("%s: %s sha256 %s", platform, a.Path, a.SHA256)
				}
				if tt.signed != (a.Sig != nil) || tt.signed && !minisign.Verify(pub, []byte(readFile(t, a.Path)), a.Sig) {
					t.Errorf("%s: signature %q", platform, a.Sig)
				}
			}
		})
	}
}

// One flipped byte in a build directory's binary: that raw binary is
// refused, saying why, and the platform gets its archive instead, which
// checksums.txt vouches for; with an update key, archives are not offered,
// so the platform gets nothing, and the others are offered as before.
func TestDiscoverGoreleaserTampered(t *testing.T) {
	pub, priv := newKey(t)
	for _, tt := range []struct {
		name string
		key  *minisign.PublicKey
		// want is what linux/amd64 is offered, "" for nothing; wantErr
		// what its raw binary is refused for.
		want    string
		wantErr error
	}{
		{"no-key", nil, "equus_%s_linux_amd64.tar.gz", ErrChecksum},
		{"key", &pub, "", ErrSignature},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := goreleaserLayout(t, &priv)
			raw := "equus_" + l.version + "_linux_amd64"
			flip(t, l.files[raw])
			rel, err := Discover(l.dir, tt.key)
			if err != nil {
				t.Fatalf("Discover: %v", err)
			}
			a, ok := rel.Find("linux", "amd64")
			switch {
			case tt.want == "" && ok:
				t.Errorf("linux/amd64 offered %s, want nothing", a.Name)
			case tt.want != "" && (!ok || a.Name != strings.ReplaceAll(tt.want, "%s", l.version)):
				t.Errorf("linux/amd64 offered %s, want %s", a.Name, tt.want)
			}
			// The other platforms are offered whatever happens.
			for platform := range platforms {
				goos, goarch, _ := strings.Cut(platform, "/")
				if _, ok := rel.Find(goos, goarch); !ok && platform != "linux/amd64" {
					t.Errorf("%s not offered", platform)
				}
			}
			var refused []string
			found := false
			for _, r := range rel.Refused {
				refused = append(refused, r.Error())
				if r.Name == raw && errors.Is(r, tt.wantErr) && r.Path == l.files[raw] {
					found = true
				}
			}
			if !found {
				t.Errorf("refused %q, want %s refused for %v", refused, raw, tt.wantErr)
			}
		})
	}
}

// With an update key, a release signed by another key, or not at all, is
// not offered, and the error says why for each file.
func TestDiscoverGoreleaserWrongKey(t *testing.T) {
	pub, _ := newKey(t)
	_, other := newKey(t)
	for _, tt := range []struct {
		name string
		priv *minisign.PrivateKey
	}{
		{"unsigned", nil},
		{"other-key", &other},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := goreleaserLayout(t, tt.priv)
			rel, err := Discover(l.dir, &pub)
			if !errors.Is(err, ErrSignature) || len(rel.Assets) != 0 {
				t.Fatalf("Discover: %v, %d assets; want ErrSignature and none", err, len(rel.Assets))
			}
			for suffix := range strings.SplitSeq("linux_amd64 darwin_arm64 windows_amd64.exe", " ") {
				if !strings.Contains(err.Error(), "equus_"+l.version+"_"+suffix+": ") {
					t.Errorf("error does not name the raw binary %s: %v", suffix, err)
				}
			}
		})
	}
}

// A file changed on disk after Discover, in place or replaced by a rename,
// is not served with the checksum it was discovered with.
func TestOpenBinaryChangedAfterDiscover(t *testing.T) {
	for _, tt := range []struct {
		name   string
		change func(t *testing.T, p string)
	}{
		{"flipped-in-place", flip},
		{"replaced", func(t *testing.T, p string) {
			data := []byte(readFile(t, p))
			data[0] ^= 0x01
			writeFile(t, p+".new", data, 0o755)
			if err := os.Rename(p+".new", p); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := goreleaserLayout(t, nil)
			rel, err := Discover(l.dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, platform := range []string{"linux/amd64", "windows/amd64"} {
				goos, goarch, _ := strings.Cut(platform, "/")
				a, _ := rel.Find(goos, goarch)
				tt.change(t, a.Path)
				if _, _, _, err := OpenBinary(a); !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "changed on disk") {
					t.Errorf("%s: OpenBinary of a changed %s: %v, want ErrChecksum", platform, a.Path, err)
				}
			}
			// An archive changed after Discover likewise.
			a, _ := rel.Find("linux", "amd64")
			arch := a
			arch.Name = "equus_" + l.version + "_linux_amd64.tar.gz"
			arch.Path, arch.Binary = l.files[arch.Name], "equus"
			arch.SHA256 = sha([]byte(readFile(t, arch.Path)))
			if _, _, _, err := OpenBinary(arch); err != nil {
				t.Fatalf("OpenBinary of the archive: %v", err)
			}
			tt.change(t, arch.Path)
			if _, _, _, err := OpenBinary(arch); !errors.Is(err, ErrChecksum) {
				t.Errorf("OpenBinary of a changed archive: %v, want ErrChecksum", err)
			}
		})
	}
}

// What OpenBinary serves is what it hashed: the bytes read are those of
// the file as it was verified, however long the reader waits.
func TestOpenBinaryServesWhatItHashed(t *testing.T) {
	l := goreleaserLayout(t, nil)
	rel, err := Discover(l.dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := rel.Find("linux", "arm64")
	want := []byte(readFile(t, a.Path))
	rc, size, sum, err := OpenBinary(a)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	// Replaced once it was opened: the open file is still the one hashed.
	writeFile(t, a.Path+".new", []byte("evil"), 0o755)
	if err := os.Rename(a.Path+".new", a.Path); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) || size != int64(len(want)) || sum != a.SHA256 {
		t.Errorf("served %q (%d bytes, %s), want %q (%s)", got, size, sum, want, a.SHA256)
	}
}

// TestDiscoverDist checks a real dist/ folder, the one EQUUS_DIST names
// (scripts/release-check.sh sets it to the snapshot it built): every
// platform is offered a raw binary that a line of checksums.txt names and
// that hashes to it, never a build output, and, when EQUUS_MINISIGN_PUB
// names a public key, signed by it.
func TestDiscoverDist(t *testing.T) {
	dir := os.Getenv("EQUUS_DIST")
	if dir == "" {
		t.Skip("EQUUS_DIST names no dist/ folder (scripts/release-check.sh sets it)")
	}
	var key *minisign.PublicKey
	if p := os.Getenv("EQUUS_MINISIGN_PUB"); p != "" {
		k, err := minisign.PublicKeyFromFile(p)
		if err != nil {
			t.Fatal(err)
		}
		key = &k
	}
	rel, err := Discover(dir, key)
	if err != nil {
		t.Fatalf("Discover %s: %v", dir, err)
	}
	f, err := os.Open(filepath.Join(dir, "checksums.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sums, err := ParseChecksums(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rel.Refused {
		t.Errorf("refused: %v", r)
	}
	for platform, suffix := range platforms {
		goos, goarch, _ := strings.Cut(platform, "/")
		a, ok := rel.Find(goos, goarch)
		if !ok {
			t.Errorf("%s: not offered", platform)
			continue
		}
		want := "equus_" + rel.Version + "_" + suffix
		sum, _, err := hashFile(a.Path)
		switch {
		case err != nil:
			t.Errorf("%s: %v", platform, err)
		case a.Name != want || a.Binary != "":
			t.Errorf("%s: offered %s (binary %q), want the raw binary %s", platform, a.Name, a.Binary, want)
		case sums[a.Name] == "" || sums[a.Name] != sum || a.SHA256 != sum:
			t.Errorf("%s: %s hashes to %s, checksums.txt says %q, Discover %s", platform, a.Path, sum, sums[a.Name], a.SHA256)
		case key != nil && a.Sig == nil:
			t.Errorf("%s: no signature", platform)
		default:
			t.Logf("%s: %s (%s), sha256 %s, signed %v", platform, a.Name, a.Path, a.SHA256, a.Sig != nil)
		}
	}
}
