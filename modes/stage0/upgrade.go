package stage0

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/equus-monitoring/equus/semver"
	"github.com/equus-monitoring/equus/update"
)

// upgrade installs the version helen offers when it is newer than the one
// running and has not failed here before, and starts it. It returns the
// new agent once it said ready, or nil when the agent is to be started
// from the binary as it is (nothing to do, or the update failed and the
// old binary is back). Every failure is one log line.
func (s *supervisor) upgrade(ctx context.Context, client *http.Client) *child {
	o, ok := s.offered(ctx, client)
	if !ok {
		return nil
	}
	from, start := s.running, time.Now()
	log := s.log.With("from", from, "to", o.Version)
	log.Info("updating the agent")
	if s.cfg.UpdateKey == nil {
		log.Warn("no --update-key: trusting helen for the new binary (its SHA-256 comes from helen too); " +
			"an update key makes stage0 take only binaries signed by it")
	}

	dlCtx, cancel := context.WithTimeout(ctx, downloadTimeout)
	defer cancel()
	// Next to the agent binary: the same file system for the swap, and a
	// place where files may be executed, which a temporary directory may
	// not be.
	path, err := update.Download(dlCtx, client, s.url(o.URL), o, s.cfg.UpdateKey, filepath.Dir(s.agentBin))
	if err != nil {
		log.Error("update refused, keeping the current version: download failed", "err", err)
		return nil
	}
	defer os.Remove(path)
	if err := checkVersion(ctx, path, o.Version); err != nil {
		s.markBad(o.Version, err.Error())
		log.Error("update refused, keeping the current version: the new binary is broken", "err", err)
		return nil
	}
	if err := s.updater.Prepare(path); err != nil {
		log.Error("update failed, keeping the current version", "err", err)
		return nil
	}
	if err := s.updater.Commit(); err != nil {
		log.Error("update failed, keeping the current version", "err", err)
		return nil
	}
	ch, err := s.start(o.Version)
	if err == nil {
		if err = s.waitReady(ctx, ch, o.Version); err == nil {
			s.running = o.Version
			log.Info("agent updated", "took", time.Since(start).Round(time.Millisecond))
			return ch
		}
		ch.stop(stopGrace)
	}
	if ctx.Err() != nil {
		// Stopped while the new version was starting: nothing is known
		// against it, and the old one is the one known to work.
		s.rollback(log)
		return nil
	}
	s.markBad(o.Version, err.Error())
	if s.rollback(log) {
		log.Error("update failed and was rolled back; this version will not be tried again", "err", err)
	}
	return nil
}

// offered asks helen for the version it offers and reports whether it is
// one to install: newer than the one running, this agent's binary is one
// stage0 may update, and it has not failed here before. It logs why not.
func (s *supervisor) offered(ctx context.Context, client *http.Client) (update.Offer, bool) {
	o, err := s.fetchOffer(ctx, client)
	if errors.Is(err, errNoOffer) {
		s.log.Debug("no update on offer")
		return o, false
	}
	if err != nil {
		s.log.Error("update check failed; keeping the current version", "version", s.running, "err", err)
		return o, false
	}
	if c, err := semver.Compare(s.running, o.Version); err != nil || c >= 0 {
		s.log.Debug("no newer version on offer", "running", s.running, "offered", o.Version)
		return o, false
	}
	if s.noUpdate != "" {
		s.log.Warn("not updating the agent", "version", o.Version, "running", s.running, "why", s.noUpdate)
		return o, false
	}
	if bad, ok := s.state.Bad[o.Version]; ok {
		s.log.Warn("not updating to a version that failed here before", "version", o.Version,
			"failed_at", bad.At.Format(time.RFC3339), "reason", bad.Reason, "running", s.running)
		return o, false
	}
	return o, true
}

// waitReady waits for a new agent to say it is ready as version.
func (s *supervisor) waitReady(ctx context.Context, ch *child, version string) error {
	t := time.NewTimer(s.cfg.ReadyTimeout)
	defer t.Stop()
	select {
	case v := <-ch.ready:
		if c, err := semver.Compare(v, version); err != nil || c != 0 {
			return fmt.Errorf("the new agent says it is version %q", v)
		}
		return nil
	case <-ch.done:
		return fmt.Errorf("the new agent ended before connecting to helen: %s", ch.describe())
	case <-t.C:
		return fmt.Errorf("the new agent did not connect to helen within %s", s.cfg.ReadyTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// rollback puts the previous binary back, or where that is gone stage0's
// own, and reports whether it could.
func (s *supervisor) rollback(log *slog.Logger) bool {
	err := s.updater.Rollback()
	if err == nil {
		return true
	}
	if _, ierr := update.Install(s.cfg.Executable, s.agentBin); ierr != nil {
		log.Error("ROLLBACK FAILED: the agent binary may not run; reinstall equus", "binary", s.agentBin, "err", err, "install_err", ierr)
		return false
	}
	s.running = s.cfg.Version
	log.Warn("the previous agent binary is gone; stage0's own is the agent binary again", "binary", s.agentBin, "err", err, "version", s.cfg.Version)
	return true
}

// markBad records a version that must not be installed again.
func (s *supervisor) markBad(version, reason string) {
	s.state.Bad[version] = badVersion{At: time.Now().UTC(), Reason: reason}
	if err := s.state.save(s.statePath()); err != nil {
		s.log.Error("could not record the failed version; it may be tried again after a restart", "version", version, "err", err)
	}
}

// checkVersion runs "<bin> version", which must exit with status 0 and
// name version, as in "equus 1.2.3 go1.26 linux/amd64".
func checkVersion(ctx context.Context, bin, version string) error {
	v, err := update.BinaryVersion(ctx, bin)
	if err != nil {
		return err
	}
	if c, err := semver.Compare(v, version); err != nil || c != 0 {
		return fmt.Errorf("the new binary is version %q, helen offered %q", v, version)
	}
	return nil
}
