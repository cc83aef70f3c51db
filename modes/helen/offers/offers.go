// Package offers keeps the release that helen offers agents.
package offers

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"aead.dev/minisign"
	"github.com/equus-monitoring/equus/semver"
	"github.com/equus-monitoring/equus/update"
)

// Config says where the release on offer comes from.
type Config struct {
	// Version and Executable are helen's own, offered when ReleasesDir is
	// empty.
	Version, Executable string
	// ReleasesDir is the directory of goreleaser's output to offer from.
	ReleasesDir string
	// UpdateKey, when not nil, is the key the releases must be signed with.
	UpdateKey *minisign.PublicKey
	// Disabled offers nothing.
	Disabled bool
	// Recheck is how often the source is looked at again (0: 5s).
	Recheck time.Duration
}

// Catalog is the release helen offers agents: the newest in the releases
// directory, or helen's own executable. A new release dropped into the
// directory is offered without a restart: the source is looked at again
// every few seconds, cheaply (file sizes and times), and read again only
// when it changed, so that a crowd of agents saying hello never waits on
// hashing a release.
type Catalog struct {
	cfg     Config
	log     *slog.Logger
	recheck time.Duration // how often the source is looked at again

	mu      sync.Mutex
	release update.Release
	err     error
	stamp   string    // what the source looked like when release was read
	checked time.Time // when stamp was last compared

	binMu sync.Mutex
	bins  map[string]binaryInfo // by asset stamp
}

type binaryInfo struct {
	size int64
	sum  string
}

// New returns the catalog of cfg, logging to log what it cannot offer.
func New(cfg Config, log *slog.Logger) *Catalog {
	if cfg.Recheck <= 0 {
		cfg.Recheck = 5 * time.Second
	}
	return &Catalog{cfg: cfg, log: log, recheck: cfg.Recheck, bins: map[string]binaryInfo{}}
}

// Current returns the release on offer.
func (o *Catalog) Current() (update.Release, error) {
	if o.cfg.Disabled {
		return update.Release{}, ErrDisabled
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.checked.IsZero() && time.Since(o.checked) < o.recheck {
		return o.release, o.err
	}
	o.checked = time.Now()
	stamp, err := o.sourceStamp()
	if err == nil && stamp == o.stamp && o.err == nil {
		return o.release, nil
	}
	if err == nil {
		o.release, err = o.load()
	}
	o.stamp, o.err = stamp, err
	if err != nil {
		o.log.Error("no release to offer", "err", err)
		o.stamp = ""
	}
	return o.release, o.err
}

// sourceStamp describes the release source by names, sizes and times.
func (o *Catalog) sourceStamp() (string, error) {
	if o.cfg.ReleasesDir == "" {
		exe := o.cfg.Executable
		if exe == "" {
			var err error
			if exe, err = os.Executable(); err != nil {
				return "", err
			}
		}
		return fileStamp(exe)
	}
	stamp, err := releaseStamp(o.cfg.ReleasesDir)
	if err != nil {
		return "", fmt.Errorf("releases %s: %w", o.cfg.ReleasesDir, err)
	}
	return stamp, nil
}

// releaseStamp describes a releases directory and its subdirectories,
// where goreleaser keeps the raw binaries and their signatures, so that a
// Binary changed in one is verified again.
func releaseStamp(dir string) (string, error) {
	stamp, err := dirStamp(dir)
	if err != nil {
		return "", err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		sub, err := dirStamp(filepath.Join(dir, e.Name()))
		if err != nil {
			return "", err
		}
		stamp += e.Name() + "/\n" + sub
	}
	return stamp, nil
}

// Invalidate makes the next look at the release source read it again,
// after a file was found changed since it was verified.
func (o *Catalog) Invalidate() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.checked, o.stamp = time.Time{}, ""
}

// Open opens the equus binary of asset a to serve it (see
// update.OpenBinary). A file changed on disk since it was verified is
// refused, and the release is verified again at the next look.
func (o *Catalog) Open(a update.Asset) (io.ReadCloser, int64, string, error) {
	rc, size, sum, err := update.OpenBinary(a)
	if errors.Is(err, update.ErrChecksum) {
		o.log.Error("release file changed on disk since it was verified: not served", "file", a.Name, "path", a.Path, "err", err)
		o.Invalidate()
	}
	return rc, size, sum, err
}

func fileStamp(path string) (string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s %d %d", path, info.Size(), info.ModTime().UnixNano()), nil
}

func (o *Catalog) load() (update.Release, error) {
	if o.cfg.ReleasesDir == "" {
		return update.Self(o.cfg.Version, o.cfg.Executable, o.cfg.UpdateKey)
	}
	rel, err := update.Discover(o.cfg.ReleasesDir, o.cfg.UpdateKey)
	for _, r := range rel.Refused {
		o.log.Warn("release file not offered", "file", r.Name, "path", r.Path, "err", r.Err)
	}
	if err != nil {
		return update.Release{}, fmt.Errorf("releases %s: %w", o.cfg.ReleasesDir, err)
	}
	return rel, nil
}

// Binary returns the size and SHA-256 of the equus binary of an asset
// (extracted from its archive where it is one), computed once per file.
func (o *Catalog) Binary(a update.Asset) (int64, string, error) {
	stamp, err := fileStamp(a.Path)
	if err != nil {
		return 0, "", err
	}
	key := stamp + "\x00" + a.Binary + "\x00" + a.SHA256
	o.binMu.Lock()
	defer o.binMu.Unlock()
	if b, ok := o.bins[key]; ok {
		return b.size, b.sum, nil
	}
	rc, size, sum, err := o.Open(a)
	if err != nil {
		return 0, "", err
	}
	rc.Close()
	if len(o.bins) > 64 {
		clear(o.bins)
	}
	o.bins[key] = binaryInfo{size: size, sum: sum}
	return size, sum, nil
}

// NewerThan returns the offered version when it is newer than version.
func (o *Catalog) NewerThan(version string) (string, bool) {
	rel, err := o.Current()
	if err != nil || rel.Version == "" {
		return "", false
	}
	c, err := semver.Compare(version, rel.Version)
	if err != nil || c >= 0 {
		return "", false
	}
	return rel.Version, true
}

// ErrDisabled is the answer of a catalog that offers nothing.
var ErrDisabled = fmt.Errorf("updates are disabled on this helen")
