package update

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"aead.dev/minisign"

	"github.com/equus-monitoring/equus/semver"
)

// project is the goreleaser project name that prefixes release file names.
const project = "equus"

// Limits on the small files of a release, which helen reads whole.
const (
	maxMetaFile = 16 << 20 // metadata.json, artifacts.json, checksums
	maxSigFile  = 4 << 10  // a .minisig
)

// Archive formats equus can take its binary out of.
const (
	kindRaw   = ""
	kindTarGz = "tar.gz"
	kindZip   = "zip"
)

// candidate is a file of a release that could be offered for its platform.
type candidate struct {
	Asset
	version string
	variant string // GOARM, GOAMD64 level or GOMIPS, "" for the baseline
	kind    string // kindRaw, kindTarGz or kindZip
	want    string // SHA-256 the release states, "" where it states none
}

// Discover returns the newest release in dir, a goreleaser dist/ folder. It
// reads metadata.json and artifacts.json where both are present; otherwise
// it reads file names such as equus_1.2.3_linux_amd64.tar.gz, .zip, or raw
// binaries equus_1.2.3_linux_amd64[.exe]; a name whose version is not a
// semantic version is not a release.
//
// Every file it offers is listed in the release's checksums.txt (or
// <project>_<version>_checksums.txt) under its name, and hashes to what
// that line says; where artifacts.json states a checksum too, both agree.
// When key is not nil, a file is offered only if it is a raw binary whose
// .minisig verifies with key: an archive's signature vouches for the
// archive, not for the binary an agent receives. For each platform it
// offers one file, preferring the baseline CPU level, then a signed raw
// binary, a raw binary, a tar.gz and a zip; a file that fails verification
// is not offered and goes into Release.Refused with the reason, and the
// next file of the same platform and CPU level is tried.
//
// goreleaser's build outputs (entries of type "Binary" with no checksum in
// artifacts.json, named after the build, such as "equus") are not release
// files and are never candidates: the raw binary released is another entry
// of the same file, under its release name, which checksums.txt lists.
func Discover(dir string, key *minisign.PublicKey) (Release, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return Release{}, fmt.Errorf("update: releases: %w", err)
	}
	sums, err := readChecksumFiles(dir, entries)
	if err != nil {
		return Release{}, err
	}
	version, cands, err := artifactCandidates(dir)
	if err != nil {
		return Release{}, err
	}
	if cands == nil {
		if cands, err = nameCandidates(dir, entries); err != nil {
			return Release{}, err
		}
		for _, c := range cands {
			if newer, _ := semver.Compare(c.version, version); version == "" || newer > 0 {
				version = c.version
			}
		}
	}
	if len(cands) == 0 {
		return Release{}, fmt.Errorf("update: no release of %s in %s", project, dir)
	}
	rel := Release{Version: version}
	offered := map[string]string{} // platform: the variant it is offered at
	for _, c := range ranked(cands, version) {
		platform := c.OS + "/" + c.Arch
		variant, seen := offered[platform]
		if seen && (variant != c.variant || rel.has(c.OS, c.Arch)) {
			// Offered already, or a level above the baseline that was
			// refused: a level a machine may not run is never a fallback.
			continue
		}
		offered[platform] = c.variant
		a, err := verifyCandidate(c, sums, key)
		if err != nil {
			rel.Refused = append(rel.Refused, Refusal{Name: c.Name, Path: c.Path, Err: err})
			continue
		}
		rel.Assets = append(rel.Assets, a)
	}
	if len(rel.Assets) == 0 {
		errs := []error{}
		for _, r := range rel.Refused {
			errs = append(errs, r)
		}
		return rel, fmt.Errorf("update: no verified release of %s %s in %s: %w", project, version, dir, errors.Join(errs...))
	}
	return rel, nil
}

// ranked returns the candidates of version, the most suitable first for
// each platform.
func ranked(cands []candidate, version string) []candidate {
	cands = slices.DeleteFunc(slices.Clone(cands), func(c candidate) bool { return c.version != version })
	slices.SortFunc(cands, func(a, b candidate) int {
		return cmp.Or(
			cmp.Compare(a.OS, b.OS),
			cmp.Compare(a.Arch, b.Arch),
			// The baseline ("") first, then the lowest level, which
			// runs on the most machines.
			cmp.Compare(a.variant, b.variant),
			cmp.Compare(kindRank(a), kindRank(b)),
			cmp.Compare(a.Name, b.Name),
		)
	})
	return cands
}

func kindRank(c candidate) int {
	switch {
	case c.kind == kindRaw && c.Sig != nil:
		return 0
	case c.kind == kindRaw:
		return 1
	case c.kind == kindTarGz:
		return 2
	}
	return 3
}

// Errors of verifyCandidate, which say why a file is not offered.
var (
	errNoChecksum      = errors.New("no line for it in checksums.txt")
	errChecksumsDiffer = errors.New("artifacts.json and checksums.txt state different checksums")
	errArchiveSigned   = errors.New("an archive: with an update key only signed raw binaries are offered, since an archive's signature does not cover the binary in it")
	errNoSignature     = errors.New("no .minisig beside it")
)

// verifyCandidate hashes the candidate's file and checks it against the
// line of checksums.txt for its name and, when key is not nil, its
// signature.
func verifyCandidate(c candidate, sums map[string]string, key *minisign.PublicKey) (Asset, error) {
	want, ok := sums[c.Name]
	switch {
	case !ok:
		return Asset{}, errNoChecksum
	case c.want != "" && c.want != want:
		return Asset{}, fmt.Errorf("%w: %s and %s", errChecksumsDiffer, c.want, want)
	case key != nil && c.kind != kindRaw:
		return Asset{}, errArchiveSigned
	case key != nil && c.Sig == nil:
		return Asset{}, fmt.Errorf("%w: %w", errNoSignature, ErrSignature)
	}
	sum, size, err := hashSigned(c.Path, key, c.Sig)
	if err != nil {
		return Asset{}, err
	}
	if sum != want {
		return Asset{}, fmt.Errorf("sha256 %s, checksums.txt says %s: %w", sum, want, ErrChecksum)
	}
	a := c.Asset
	a.SHA256, a.Size = sum, size
	return a, nil
}

// Refusal is a file of a release that Discover did not offer.
type Refusal struct {
	Name string // its name in the release
	Path string // where it is
	Err  error  // why it is not offered
}

func (r Refusal) Error() string { return r.Name + ": " + r.Err.Error() }

func (r Refusal) Unwrap() error { return r.Err }

// readChecksumFiles merges the checksum files among the entries of dir by
// file base name.
func readChecksumFiles(dir string, entries []fs.DirEntry) (map[string]string, error) {
	sums := make(map[string]string)
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), "checksums.txt") {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("update: %w", err)
		}
		m, err := ParseChecksums(io.LimitReader(f, maxMetaFile))
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%w (in %s)", err, e.Name())
		}
		for name, sum := range m {
			name = path.Base(filepath.ToSlash(name))
			if prev, ok := sums[name]; ok && prev != sum {
				return nil, fmt.Errorf("update: %s: two different checksums for %s", e.Name(), name)
			}
			sums[name] = sum
		}
	}
	return sums, nil
}

// nameCandidates finds release files among the entries of dir by their
// names.
func nameCandidates(dir string, entries []fs.DirEntry) ([]candidate, error) {
	var cands []candidate
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		c, ok := parseName(e.Name())
		if !ok {
			continue
		}
		c.Path = filepath.Join(dir, e.Name())
		var err error
		if c.Sig, err = readSig(c.Path); err != nil {
			return nil, err
		}
		cands = append(cands, c)
	}
	return cands, nil
}

// parseName parses a release file name: project_version_os_arch followed by
// .tar.gz, .zip, .exe or nothing. The architecture may carry a level
// (armv7, amd64v3) or a float ABI (mips_softfloat).
func parseName(name string) (candidate, bool) {
	rest, ok := strings.CutPrefix(name, project+"_")
	if !ok {
		return candidate{}, false
	}
	kind, rest := kindOf(rest)
	parts := strings.SplitN(rest, "_", 3)
	if len(parts) != 3 || !semver.Valid(parts[0]) {
		return candidate{}, false
	}
	goos := normalOS(parts[1])
	goarch, variant, ok := splitArch(parts[2])
	if !ok || !knownOS[goos] {
		return candidate{}, false
	}
	c := candidate{
		Asset:   Asset{OS: goos, Arch: goarch, Name: name},
		version: parts[0],
		variant: variant,
		kind:    kind,
	}
	if kind != kindRaw {
		c.Binary = binaryName(goos)
	}
	return c, true
}

// kindOf tells a release file's format by its name, and returns the name
// without its extension.
func kindOf(name string) (kind, stem string) {
	for _, k := range []struct{ ext, kind string }{
		{".tar.gz", kindTarGz}, {".tgz", kindTarGz}, {".zip", kindZip},
	} {
		if stem, ok := strings.CutSuffix(name, k.ext); ok {
			return k.kind, stem
		}
	}
	return kindRaw, strings.TrimSuffix(name, ".exe")
}

// binaryName is the name of the equus executable on goos.
func binaryName(goos string) string {
	if goos == "windows" {
		return project + ".exe"
	}
	return project
}

var knownOS = map[string]bool{
	"aix": true, "android": true, "darwin": true, "dragonfly": true, "freebsd": true,
	"illumos": true, "ios": true, "js": true, "linux": true, "netbsd": true,
	"openbsd": true, "plan9": true, "solaris": true, "wasip1": true, "windows": true,
}

var knownArch = []string{
	"386", "amd64", "arm", "arm64", "loong64", "mips", "mips64", "mips64le",
	"mipsle", "ppc64", "ppc64le", "riscv64", "s390x", "wasm",
}

// archAliases are the uname spellings that name templates often use.
var archAliases = map[string]string{"x86_64": "amd64", "aarch64": "arm64", "i386": "386"}

func normalOS(s string) string { return strings.ToLower(s) }

// splitArch splits an architecture token into GOARCH and its variant.
func splitArch(s string) (goarch, variant string, ok bool) {
	s = strings.ToLower(s)
	for alias, arch := range archAliases {
		if rest, found := strings.CutPrefix(s, alias); found {
			s = arch + rest
		}
	}
	for _, arch := range knownArch {
		rest, found := strings.CutPrefix(s, arch)
		if !found || len(arch) <= len(goarch) {
			continue
		}
		if rest == "" || validVariant(rest) {
			goarch, variant = arch, rest
		}
	}
	variant = strings.TrimPrefix(variant, "_")
	if goarch == "amd64" && variant == "v1" {
		variant = "" // the baseline, which goreleaser leaves out of names
	}
	return goarch, variant, goarch != ""
}

// validVariant reports whether s is a level such as "v7", "v8.0" or
// "_v1", or a float ABI such as "_softfloat".
func validVariant(s string) bool {
	if word, ok := strings.CutPrefix(s, "_"); ok {
		if word == "softfloat" || word == "hardfloat" {
			return true
		}
		s = word
	}
	level, ok := strings.CutPrefix(s, "v")
	return ok && level != "" && strings.Trim(level, "0123456789.") == ""
}

// readSig reads the minisign signature next to the file at p, if any.
func readSig(p string) ([]byte, error) {
	f, err := os.Open(p + ".minisig")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("update: %w", err)
	}
	defer f.Close()
	sig, err := io.ReadAll(io.LimitReader(f, maxSigFile+1))
	if err != nil {
		return nil, fmt.Errorf("update: %w", err)
	}
	if len(sig) > maxSigFile {
		return nil, fmt.Errorf("update: %s.minisig: %w", p, ErrTooLarge)
	}
	return sig, nil
}

// readJSON decodes the file name in dir into v. It reports false, with no
// error, when the file does not exist.
func readJSON(dir, name string, v any) (bool, error) {
	f, err := os.Open(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("update: %w", err)
	}
	defer f.Close()
	if err := json.NewDecoder(io.LimitReader(f, maxMetaFile)).Decode(v); err != nil {
		return false, fmt.Errorf("update: %s: %w", name, err)
	}
	return true, nil
}
