package stage0

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/equus-monitoring/equus/modes/equus"
	"github.com/equus-monitoring/equus/modes/setup"
	"github.com/equus-monitoring/equus/update"
)

// Command returns the "equus stage0" command: the agent's supervisor. It
// takes the agent's flags, which it hands to the agent, and its own.
func Command(version string) *cli.Command {
	flags := append(equus.Flags(),
		&cli.StringFlag{Name: "update-key", Usage: "minisign public `KEY` (or a file holding it): updates must be signed by it", EnvVars: []string{"EQUUS_UPDATE_KEY"}},
		&cli.DurationFlag{Name: "restart-backoff", Value: DefaultRestartBackoff, Usage: "first `WAIT` before restarting an agent that died; it doubles up to a minute", EnvVars: []string{"EQUUS_RESTART_BACKOFF"}},
		&cli.DurationFlag{Name: "ready-timeout", Value: DefaultReadyTimeout, Usage: "`TIME` a new version has to connect to helen before it is rolled back", EnvVars: []string{"EQUUS_READY_TIMEOUT"}},
	)
	return &cli.Command{
		Name:  "stage0",
		Usage: "supervise the agent: restart it, sync its checks and binary from helen on reload",
		Description: "Runs `equus equus` with the same flags as its child, from the agent binary\n" +
			"DATA/bin/equus, which it owns: a copy of its own executable, or an update from\n" +
			"helen newer than it. When helen asks the agent to reload, stage0 syncs the check\n" +
			"bundle and, where helen offers a newer version, replaces DATA/bin/equus, then\n" +
			"starts the agent again; a new version that does not connect is rolled back and\n" +
			"never tried again. Its own executable, which a package may own, it never writes.\n" +
			"Once the agent is enrolled, it removes the spent token from the --config file.",
		Flags:        flags,
		OnUsageError: setup.DaemonOnUsageError,
		Action: func(c *cli.Context) error {
			log, err := setup.Logger(c)
			if err != nil {
				return err
			}
			cfg, err := configFromCLI(c, version)
			var cerr *setup.ConfigError
			if errors.As(err, &cerr) {
				notConfigured(log, c.String("config"), cerr)
				return cli.Exit("", setup.ExitConfig)
			}
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			err = Run(ctx, cfg, log)
			if errors.Is(err, equus.ErrCertExpired) {
				return cli.Exit("", equus.CertExpiredExitCode)
			}
			return err
		},
	}
}

// configFromCLI returns the Config that the flags of c ask for.
func configFromCLI(c *cli.Context, version string) (Config, error) {
	agent, err := equus.ConfigFromCLI(c, version)
	if err != nil {
		return Config{}, err
	}
	exe, err := Executable()
	if err != nil {
		return Config{}, err
	}
	cfg := Config{
		Version:        version,
		Agent:          agent,
		Executable:     exe,
		ConfigFile:     c.String("config"),
		Args:           agentArgs(c),
		Env:            agentEnv(c),
		RestartBackoff: c.Duration("restart-backoff"),
		ReadyTimeout:   c.Duration("ready-timeout"),
		Stdout:         c.App.Writer,
		Stderr:         c.App.ErrWriter,
	}
	if s := c.String("update-key"); s != "" {
		if cfg.UpdateKey, err = update.LoadPublicKey(s); err != nil {
			return Config{}, setup.Configf("--update-key: %w", err)
		}
	}
	return cfg, nil
}

// notConfigured logs, in one line, that stage0 can't run the agent with
// the configuration it has, what is wrong, and where to fix it. stage0
// then exits with setup.ExitConfig, on which its service waits (no
// restart) until someone starts it again.
func notConfigured(log *slog.Logger, configFile string, err *setup.ConfigError) {
	fix := "give the flags or their environment variables (equus stage0 --help)"
	if configFile != "" {
		fix = "edit " + configFile + " (or give the flags or their environment variables)"
	}
	log.Error("the agent is not configured; stage0 exits with status 78 (EX_CONFIG), on which equus.service waits for configuration instead of restarting",
		"problem", err.Err.Error(),
		"fix", fix+", then start stage0 again (systemctl restart equus)")
}

// Executable returns the path of the running executable, links resolved:
// stage0's own binary, which it copies to the agent binary it runs and
// updates (see AgentBinary), and never writes.
func Executable() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("own executable: %w", err)
	}
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	return exe, nil
}

// secretFlags are the agent's flags handed over in the environment rather
// than on the command line, where any user of the machine could read them.
var secretFlags = map[string]string{"token": "EQUUS_TOKEN"}

// agentArgs returns the arguments after the executable's name that run the
// agent with the agent's flags set on c, from the command line, the
// environment or the config file: the global logging flags, "equus", and
// the agent's flags.
func agentArgs(c *cli.Context) []string {
	args := []string{
		"--log-level=" + c.String("log-level"),
		"--log-format=" + c.String("log-format"),
		"equus",
	}
	for _, f := range equus.Flags() {
		name := f.Names()[0]
		if _, secret := secretFlags[name]; secret || !c.IsSet(name) {
			continue
		}
		switch f.(type) {
		case *cli.BoolFlag:
			args = append(args, fmt.Sprintf("--%s=%t", name, c.Bool(name)))
		case *cli.StringSliceFlag:
			for _, v := range c.StringSlice(name) {
				args = append(args, "--"+name+"="+v)
			}
		default:
			args = append(args, fmt.Sprintf("--%s=%v", name, c.Value(name)))
		}
	}
	// The agent's data directory must be the one stage0 syncs into, even
	// where its default would differ (another user's state directory).
	if !c.IsSet("data") {
		args = append(args, "--data="+c.String("data"))
	}
	return args
}

// agentEnv returns the environment entries for the secret flags set on c,
// after one that unsets EQUUS_CONFIG: the agent's flags are all in its
// arguments already, and stage0's config file holds stage0's own flags
// too, which the agent would refuse.
func agentEnv(c *cli.Context) []string {
	env := []string{"EQUUS_CONFIG="}
	for name, key := range secretFlags {
		if v := c.String(name); c.IsSet(name) && v != "" {
			env = append(env, key+"="+strings.TrimSpace(v))
		}
	}
	return env
}
