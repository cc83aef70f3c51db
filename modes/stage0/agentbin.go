package stage0

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/equus-monitoring/equus/modes/setup"
	"github.com/equus-monitoring/equus/semver"
	"github.com/equus-monitoring/equus/update"
)

// AgentBinary returns where stage0 keeps the agent binary it runs and
// updates for the data directory dataDir: DATA/bin/equus.
func AgentBinary(dataDir string) string {
	return filepath.Join(dataDir, "bin", "equus")
}

// keepOwned decides, when stage0 starts, whether the agent binary it owns
// (version owned, "" when it is missing or does not run) is the one to run,
// or whether stage0 copies its own binary (version own) over it. It keeps
// the owned binary only when that is strictly newer than its own and not a
// version that failed here: an update from helen that the package (or the
// bootstrap script) has not caught up with yet. Otherwise its own wins: a
// package upgrade to a version as new or newer than the last update, or
// an owned binary that is missing, broken, of a version that failed, or
// whose version cannot be compared. why says which, for the log.
func keepOwned(own, owned string, bad map[string]badVersion) (keep bool, why string) {
	if owned == "" {
		return false, "no runnable agent binary yet"
	}
	if _, failed := bad[owned]; failed {
		return false, "the agent binary is a version that failed here"
	}
	c, err := semver.Compare(owned, own)
	switch {
	case err != nil:
		return false, "versions not comparable: " + err.Error()
	case c > 0:
		return true, "the agent binary is an update newer than stage0's own"
	case c == 0:
		return false, "the agent binary is stage0's own version"
	}
	return false, "stage0's own binary is newer (a package upgrade)"
}

// prepareAgent chooses the binary to run as the agent (see keepOwned),
// copying stage0's own there when it wins, and sets what the supervisor
// runs and updates. If the owned binary cannot be written, stage0 runs its
// own executable as the agent and makes no update, rather than write a
// file that a package manager owns.
func (s *supervisor) prepareAgent(ctx context.Context) {
	owned, err := update.BinaryVersion(ctx, s.agentBin)
	if err != nil {
		owned = ""
	}
	keep, why := keepOwned(s.cfg.Version, owned, s.state.Bad)
	log := s.log.With("agent", s.agentBin, "agent_version", owned, "own", s.cfg.Executable, "own_version", s.cfg.Version)
	if keep {
		s.running = owned
		log.Info("running the agent binary kept in the data directory", "why", why)
		return
	}
	changed, err := update.Install(s.cfg.Executable, s.agentBin)
	if err != nil {
		s.agentExe, s.noUpdate = s.cfg.Executable, fmt.Sprintf("the agent binary %s cannot be written: %v", s.agentBin, err)
		s.running = s.cfg.Version
		log.Error("running stage0's own binary as the agent, with updates from helen off: the agent binary in the data directory cannot be written", "err", err)
		return
	}
	s.running = s.cfg.Version
	if changed {
		log.Info("installed stage0's own binary as the agent binary", "why", why)
	} else {
		log.Debug("the agent binary is stage0's own", "why", why)
	}
}

// dropToken takes the enrollment token out of stage0's config file once the
// agent is enrolled (it said ready with a certificate that has not
// expired): the token is spent, and a secret no longer needed should not
// stay on the disk. A token that came from the command line or the
// environment is not stage0's to remove. stage0 tries once a run.
func (s *supervisor) dropToken() {
	if s.tokenDone || s.cfg.ConfigFile == "" || !s.enrolled() {
		return
	}
	s.tokenDone = true
	removed, err := setup.RemoveSetting(s.cfg.ConfigFile, "token")
	if err != nil {
		s.log.Warn("the agent is enrolled, but its spent token could not be removed from the config file; remove the token line yourself",
			"config", s.cfg.ConfigFile, "err", err)
		return
	}
	if len(removed) == 0 {
		return
	}
	// The agent needs the token no more either, after a restart.
	env := s.cfg.Env[:0:0]
	for _, kv := range s.cfg.Env {
		if k, v, _ := strings.Cut(kv, "="); k == secretFlags["token"] && slices.Contains(removed, v) {
			continue
		}
		env = append(env, kv)
	}
	s.cfg.Env = env
	s.log.Info("the agent is enrolled: removed its spent token from the config file", "config", s.cfg.ConfigFile)
}
