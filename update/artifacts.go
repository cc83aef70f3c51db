package update

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/equus-monitoring/equus/semver"
)

// metadata is the part of goreleaser's dist/metadata.json that equus reads.
type metadata struct {
	Version string `json:"version"`
}

// artifact is one entry of goreleaser's dist/artifacts.json.
type artifact struct {
	Name    string `json:"name"`
	Path    string `json:"path"`
	Goos    string `json:"goos"`
	Goarch  string `json:"goarch"`
	Goarm   string `json:"goarm"`
	Goamd64 string `json:"goamd64"`
	Gomips  string `json:"gomips"`
	Type    string `json:"type"`
	Extra   struct {
		Binaries []string `json:"Binaries"`
		Checksum string   `json:"Checksum"`
	} `json:"extra"`
}

// artifactCandidates reads metadata.json and artifacts.json in dir. It
// returns no candidates, and no error, when either file is missing.
func artifactCandidates(dir string) (string, []candidate, error) {
	var meta metadata
	var arts []artifact
	ok, err := readJSON(dir, "metadata.json", &meta)
	if err != nil || !ok {
		return "", nil, err
	}
	if ok, err = readJSON(dir, "artifacts.json", &arts); err != nil || !ok {
		return "", nil, err
	}
	if meta.Version == "" {
		return "", nil, fmt.Errorf("update: %s: metadata.json has no version", dir)
	}
	if !semver.Valid(meta.Version) {
		return "", nil, fmt.Errorf("update: %s: metadata.json: version %q is not a semantic version", dir, meta.Version)
	}
	cands := []candidate{}
	for _, a := range arts {
		c, ok := a.candidate()
		if !ok {
			continue
		}
		c.version = meta.Version
		if c.Path, ok = resolvePath(dir, a.Path, a.Name); !ok {
			return "", nil, fmt.Errorf("update: artifacts.json lists %s, not found in %s", a.Name, dir)
		}
		if c.Sig, err = readSig(c.Path); err != nil {
			return "", nil, err
		}
		cands = append(cands, c)
	}
	return meta.Version, cands, nil
}

// candidate reports whether a is an archive or binary of equus, and
// describes it.
func (a artifact) candidate() (candidate, bool) {
	c := candidate{Asset: Asset{OS: a.Goos, Arch: a.Goarch, Name: a.Name}}
	if a.Goos == "" || a.Goarch == "" {
		return c, false
	}
	switch a.Type {
	case "Binary", "Uploadable Binary":
		// goreleaser lists each build output as a "Binary" with no
		// checksum, and the raw binary it releases (an archive of format
		// binary) as a "Binary" of the same file, under the release
		// name, with its checksum. The first is not a release file:
		// checksums.txt has no line for it.
		if a.Extra.Checksum == "" {
			return c, false
		}
		c.kind = kindRaw
	case "Archive":
		if c.kind, _ = kindOf(a.Name); c.kind == kindRaw {
			return c, false // a format equus cannot open, such as tar.xz
		}
		c.Binary = binaryName(a.Goos)
		for _, b := range a.Extra.Binaries {
			if strings.TrimSuffix(b, ".exe") == project {
				c.Binary = b
			}
		}
	default:
		return c, false
	}
	switch {
	case a.Goarm != "":
		c.variant = "v" + a.Goarm
	case a.Goamd64 != "" && a.Goamd64 != "v1":
		c.variant = a.Goamd64
	case a.Gomips != "":
		c.variant = a.Gomips
	}
	if sum, ok := strings.CutPrefix(a.Extra.Checksum, "sha256:"); ok {
		c.want = strings.ToLower(sum)
	}
	return c, true
}

// resolvePath finds an artifact's file inside dir. goreleaser writes paths
// relative to the project, such as dist/equus_linux_amd64_v1/equus, while
// dir may be the dist folder itself, copied anywhere; a path that would
// leave dir is never used.
func resolvePath(dir, p, name string) (string, bool) {
	p = filepath.FromSlash(p)
	var tries []string
	if filepath.IsAbs(p) {
		tries = append(tries, p)
	} else {
		tries = append(tries, filepath.Join(dir, p))
		if _, rest, ok := strings.Cut(p, string(filepath.Separator)); ok {
			tries = append(tries, filepath.Join(dir, rest))
		}
	}
	tries = append(tries, filepath.Join(dir, filepath.Base(name)))
	for _, t := range tries {
		rel, err := filepath.Rel(dir, t)
		if err != nil || !filepath.IsLocal(rel) {
			continue
		}
		if fi, err := os.Stat(t); err == nil && fi.Mode().IsRegular() {
			return t, true
		}
	}
	return "", false
}
