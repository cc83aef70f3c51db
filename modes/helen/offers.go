package helen

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/equus-monitoring/equus/update"
	"github.com/equus-monitoring/equus/wire"
)

// offers is the release helen offers agents: the newest in the releases
// directory, or helen's own executable. It is looked up again when older
// than a minute, so that a new release dropped into the directory is
// offered without a restart.
type offers struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	release update.Release
	err     error
	at      time.Time
}

func newOffers(cfg Config, log *slog.Logger) *offers {
	return &offers{cfg: cfg, log: log}
}

// current returns the release on offer.
func (o *offers) current() (update.Release, error) {
	if o.cfg.UpdateDisabled {
		return update.Release{}, errUpdatesDisabled
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.at.IsZero() && time.Since(o.at) < time.Minute {
		return o.release, o.err
	}
	o.at = time.Now()
	o.release, o.err = o.load()
	if o.err != nil {
		o.log.Error("no release to offer", "err", o.err)
	}
	return o.release, o.err
}

func (o *offers) load() (update.Release, error) {
	self, err := update.Self(o.cfg.Version, o.cfg.Executable)
	if err != nil {
		return update.Release{}, err
	}
	if o.cfg.ReleasesDir == "" {
		return self, nil
	}
	rel, err := update.Discover(o.cfg.ReleasesDir)
	if err != nil {
		return update.Release{}, fmt.Errorf("releases %s: %w", o.cfg.ReleasesDir, err)
	}
	return rel, nil
}

// newerThan returns the offered version when it is newer than version.
func (o *offers) newerThan(version string) (string, bool) {
	rel, err := o.current()
	if err != nil || rel.Version == "" {
		return "", false
	}
	c, err := wire.CompareVersions(version, rel.Version)
	if err != nil || c >= 0 {
		return "", false
	}
	return rel.Version, true
}

var errUpdatesDisabled = fmt.Errorf("updates are disabled on this helen")
