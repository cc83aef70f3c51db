package stage0

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"aead.dev/minisign"

	"github.com/equus-monitoring/equus/internal/backoff"
	"github.com/equus-monitoring/equus/modes/equus"
	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/update"
)

// Defaults of the Config durations.
const (
	DefaultRestartBackoff = time.Second
	DefaultReadyTimeout   = 60 * time.Second
	maxBackoff            = 60 * time.Second
	// upLongEnough is how long an agent must have run for the restart
	// wait to start over from RestartBackoff.
	upLongEnough = 60 * time.Second
	// stopGrace is how long a stopped agent has to finish its checks (it
	// takes up to 5 s) and exit before it is killed.
	stopGrace = 15 * time.Second
)

// Config is everything Run needs.
type Config struct {
	// Version is stage0's own version, the version of Executable.
	Version string
	// Agent is the agent's configuration, which says where helen is, how
	// to trust it, where the agent's identity and data directory are.
	Agent equus.Config
	// Executable is stage0's own binary: the package's or the one the
	// bootstrap script installed. stage0 never writes it; it copies it
	// to AgentBinary when it is the version to run (see keepOwned).
	Executable string
	// AgentBinary is the binary stage0 runs as the agent and replaces on
	// update, its own file; empty means AgentBinary(Agent.DataDir).
	AgentBinary string
	// ConfigFile is the config file the flags were read from, if any:
	// stage0 removes the enrollment token from it once the agent is
	// enrolled.
	ConfigFile string
	// Args are the agent's arguments after the program name (see
	// agentArgs), and Env the entries added to its environment.
	Args []string
	Env  []string
	// UpdateKey, when not nil, is the minisign key that must have signed
	// a new binary.
	UpdateKey *minisign.PublicKey
	// RestartBackoff is the first wait before restarting an agent that
	// died; zero means DefaultRestartBackoff.
	RestartBackoff time.Duration
	// ReadyTimeout is how long a new version has to say ready; zero means
	// DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// Stdout and Stderr receive the agent's output.
	Stdout, Stderr io.Writer
}

// supervisor is the state of Run.
type supervisor struct {
	cfg Config
	log *slog.Logger
	// running is the version of the agent binary: the one prepareAgent
	// chose, until an agent says otherwise in its ready line.
	running string
	// agentBin is the agent binary stage0 owns (Config.AgentBinary), and
	// agentExe the one it runs: agentBin, or stage0's own executable when
	// agentBin cannot be written, in which case noUpdate says why and no
	// update is made.
	agentBin, agentExe string
	noUpdate           string
	// tokenDone reports whether stage0 has taken the token out of its
	// config file, or found none there to take.
	tokenDone bool
	state     persisted
	// synced reports whether stage0 has synced with helen since it
	// started; an agent that enrolls on its first start has not.
	synced bool
	// trust is how helen is recognised, once resolved.
	trust   *pki.Trust
	updater *update.Updater
	bo      backoff.Exponential
}

// newSupervisor returns the supervisor of cfg, with its state loaded.
func newSupervisor(cfg Config, log *slog.Logger) *supervisor {
	if cfg.RestartBackoff <= 0 {
		cfg.RestartBackoff = DefaultRestartBackoff
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = DefaultReadyTimeout
	}
	if cfg.AgentBinary == "" {
		cfg.AgentBinary = AgentBinary(cfg.Agent.DataDir)
	}
	s := &supervisor{
		cfg:      cfg,
		log:      log,
		running:  cfg.Version,
		agentBin: cfg.AgentBinary,
		agentExe: cfg.AgentBinary,
		// stage0 runs "<new> version" itself, to check the version too.
		updater: &update.Updater{Target: cfg.AgentBinary, NoRunCheck: true},
		bo:      backoff.Exponential{Min: cfg.RestartBackoff, Max: max(maxBackoff, cfg.RestartBackoff)},
	}
	st, err := loadState(s.statePath())
	if err != nil {
		log.Warn("stage0 state unreadable; starting with none", "err", err)
	}
	s.state = st
	return s
}

// Run supervises the agent until ctx ends, then stops it and returns nil.
// An agent that exits because its certificate has expired is not started
// again: Run returns an error wrapping equus.ErrCertExpired.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	s := newSupervisor(cfg, log)
	var err error
	key := "none (helen is trusted for the binary and the checks)"
	if cfg.UpdateKey != nil {
		key = fmt.Sprintf("%X", cfg.UpdateKey.ID())
	}
	log.Info("stage0 started", "version", s.cfg.Version, "executable", s.cfg.Executable, "helen", strings.Join(cfg.Agent.Helens, ","), "update_key", key)
	s.prepareAgent(ctx)

	var next *child
	if s.enrolled() {
		next, _ = s.sync(ctx)
	}
	for ctx.Err() == nil {
		ch := next
		next = nil
		if ch == nil {
			if ch, err = s.start(s.running); err != nil {
				s.log.Error("agent not started", "err", err)
				if !s.pause(ctx, "agent start failed") {
					break
				}
				continue
			}
		}
		if !s.watch(ctx, ch) {
			break
		}
		if ch.restart {
			continue
		}
		up := time.Since(ch.started)
		if up >= upLongEnough {
			s.bo.Reset()
		}
		if ch.exitCode() == equus.CertExpiredExitCode {
			// No restart can mend it: the agent said how to enroll again.
			s.log.Error("the agent's certificate has expired; stage0 stops rather than restart it (the agent's log says how to enroll it again)",
				"status", equus.CertExpiredExitCode)
			return fmt.Errorf("agent: %w", equus.ErrCertExpired)
		}
		if ch.exitCode() != equus.ReloadExitCode {
			s.log.Warn("agent died", "how", ch.describe(), "up", up.Round(time.Millisecond))
			if !s.pause(ctx, "agent died") {
				break
			}
			continue
		}
		s.log.Info("agent exited for a reload: syncing with helen", "up", up.Round(time.Millisecond))
		var changed bool
		next, changed = s.sync(ctx)
		if next != nil || changed || up >= upLongEnough {
			continue
		}
		// Helen asked again right away and nothing could change: it likely
		// offers a version that cannot be installed here.
		if !s.pause(ctx, "reload changed nothing") {
			break
		}
	}
	if next != nil {
		// Stopped just as an update's new agent said ready: that agent
		// must not outlive stage0.
		s.log.Info("stopping the agent")
		next.stop(stopGrace)
	}
	log.Info("stage0 stopped")
	return nil
}

// start starts the agent from its binary, which is version.
func (s *supervisor) start(version string) (*child, error) {
	env := append(slices.Clone(s.cfg.Env), equus.Stage0ExecutableEnv+"="+s.cfg.Executable)
	ch, err := startChild(s.agentExe, s.cfg.Args, env, s.cfg.Stdout, s.cfg.Stderr)
	if err != nil {
		return nil, err
	}
	s.log.Info("agent started", "pid", ch.cmd.Process.Pid, "version", version, "binary", s.agentExe)
	return ch, nil
}

// watch waits for the agent to exit, noting the version it says it is. It
// reports false when ctx ended first, after stopping the agent.
func (s *supervisor) watch(ctx context.Context, ch *child) bool {
	ready := ch.ready
	for {
		select {
		case v := <-ready:
			ready = nil
			if v != s.running {
				s.log.Info("agent runs another version than expected", "version", v, "expected", s.running)
				s.running = v
			}
			s.dropToken()
			s.log.Debug("agent ready", "version", v)
			if !s.synced && s.firstSync(ctx) {
				s.log.Info("restarting the agent to load the check bundle helen serves")
				ch.restart = true
				ch.stop(stopGrace)
				return ctx.Err() == nil
			}
		case <-ch.done:
			return true
		case <-ctx.Done():
			s.log.Info("stopping the agent")
			ch.stop(stopGrace)
			return false
		}
	}
}

// pause waits before the next start, and reports false when ctx ended
// first.
func (s *supervisor) pause(ctx context.Context, why string) bool {
	d := s.bo.Next()
	s.log.Info("restarting the agent after a wait", "why", why, "wait", d)
	return s.bo.Sleep(ctx, d) == nil
}

func (s *supervisor) statePath() string {
	return filepath.Join(s.cfg.Agent.DataDir, stateFileName)
}
