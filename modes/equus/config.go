package equus

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"k8s.io/utils/clock"

	"github.com/equus-monitoring/equus/agentname"
	"github.com/equus-monitoring/equus/lua"
	"github.com/equus-monitoring/equus/modes/equus/shell"
	"github.com/equus-monitoring/equus/modes/setup"
	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/semver"
	"github.com/equus-monitoring/equus/wire"
)

// DefaultConcurrency is how many checks run at once unless told otherwise.
const DefaultConcurrency = 32

// The bounds of what a session holds, unless told otherwise (see
// Config.MaxQueuedChecks and the README's "Agent memory").
const (
	DefaultMaxQueuedChecks  = 1024
	DefaultMaxUnsentResults = 1024
	DefaultMaxQueuedBytes   = 16 << 20
	DefaultMaxUnsentBytes   = 16 << 20
)

// SupervisedEnv is the environment variable stage0 sets to "1" in the
// agent's environment.
const SupervisedEnv = "EQUUS_SUPERVISED"

// Stage0ExecutableEnv is the environment variable in which stage0 names
// its own executable to the agent it runs from a copy of it, so that the
// agent's exec policy refuses that one too as the agent's own.
const Stage0ExecutableEnv = "EQUUS_STAGE0_EXECUTABLE"

// Config is everything Run needs. ConfigFromCLI fills it from the command
// line; tests fill it by hand.
type Config struct {
	// Version is the agent's version, sent in hello; a semantic version.
	Version string
	// Helens are the helens' agents' addresses, HOST:PORT, at most
	// MaxHelens: the agent dials one at random, and another when it is
	// gone. A host name counts once for each of its addresses.
	Helens []string
	// CAFile and CAPin say how helen is recognised (either, or both).
	CAFile string
	CAPin  string
	// CertFile and KeyFile are the agent's certificate and key, for an agent
	// enrolled offline. Empty: the files in DataDir, made by enrollment.
	CertFile string
	KeyFile  string
	// Token enrolls the agent when DataDir holds no certificate yet.
	Token string
	// Name is the agent name asked for at enrollment.
	Name string
	// nameFromHost reports whether Name is the host name, no --name given.
	nameFromHost bool
	// DataDir holds the enrolled certificate, its key and helen's CA.
	DataDir string
	// ConfigFile is the --config file the flags were read from, which may
	// hold the token; empty: none. Checks may not read it.
	ConfigFile string
	// ChecksDir overlays the embedded check library; empty: none.
	ChecksDir string
	// Exec is the agent's own policy for the programs checks may run,
	// from its flags and config file only (zero Dirs: the runtime's
	// default directories).
	Exec lua.ExecPolicy
	// Concurrency bounds the Lua checks running at once.
	Concurrency int
	// MaxCheckHeap is the Go heap, in bytes, past which running checks
	// are stopped (0: the runtime's default; negative: no limit).
	MaxCheckHeap int64
	// InsecurePlaintext talks to a loopback helen without TLS, for
	// debugging only.
	InsecurePlaintext bool
	// Supervised reports whether stage0 runs the agent: a reload then ends
	// Run with ErrReload, and Ready is told when helen accepted a hello.
	Supervised bool
	// Ready receives "ready <version>\n" once, under stage0; nil: nothing.
	Ready io.Writer

	// BackoffMin and BackoffMax bound the wait before a reconnection, and
	// BackoffReset is how long a session must stay up for the wait to go
	// back to BackoffMin. Zero: 1 s, 60 s and 60 s.
	BackoffMin   time.Duration
	BackoffMax   time.Duration
	BackoffReset time.Duration
	// Drain bounds a reload, a renewal or a shutdown: running checks may
	// go on for it, less a grace of a second at most in which those still
	// running are cancelled and answer. Zero: 5 s.
	Drain time.Duration

	// MaxQueuedChecks and MaxQueuedBytes (of their args) bound the Lua
	// checks waiting for a slot; a check past them is answered at once
	// that the agent is busy. MaxUnsentResults and MaxUnsentBytes bound
	// the results waiting to be written; past them the agent stops
	// reading until helen reads. Zero: the Default values.
	MaxQueuedChecks  int
	MaxQueuedBytes   int64
	MaxUnsentResults int
	MaxUnsentBytes   int64

	// AllowShell reports whether the agent takes shell sessions
	// (equus.shell), bounded by Shell.
	AllowShell bool
	Shell      shell.Config

	// onSession, for tests, is called with every session as it starts.
	onSession func(*session)
	// onRotation, for tests, is called with the order of helens before
	// the first is dialed.
	onRotation func(*rotation)

	// Clock tells the time for renewing the certificate and for finding
	// it expired; nil: the real one. Tests move a fake one.
	Clock clock.Clock
}

// withDefaults returns cfg with its zero durations and counts filled in.
func (cfg Config) withDefaults() Config {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = time.Second
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = 60 * time.Second
	}
	if cfg.BackoffReset <= 0 {
		cfg.BackoffReset = 60 * time.Second
	}
	if cfg.Drain <= 0 {
		cfg.Drain = 5 * time.Second
	}
	if cfg.MaxQueuedChecks <= 0 {
		cfg.MaxQueuedChecks = DefaultMaxQueuedChecks
	}
	if cfg.MaxQueuedBytes <= 0 {
		cfg.MaxQueuedBytes = DefaultMaxQueuedBytes
	}
	if cfg.MaxUnsentResults <= 0 {
		cfg.MaxUnsentResults = DefaultMaxUnsentResults
	}
	if cfg.MaxUnsentBytes <= 0 {
		cfg.MaxUnsentBytes = DefaultMaxUnsentBytes
	}
	return cfg
}

// validate reports what keeps cfg from being run.
func (cfg Config) validate() error {
	if !semver.Valid(cfg.Version) || !wire.ValidString(cfg.Version) {
		return fmt.Errorf("version %q is not a semantic version", cfg.Version)
	}
	if err := cfg.Exec.Validate(); err != nil {
		return err
	}
	if err := cfg.missing(); err != nil {
		return err
	}
	hosts, err := checkHelens(cfg.Helens)
	if err != nil {
		return err
	}
	if err := cfg.Shell.Validate(); err != nil {
		return err
	}
	if cfg.InsecurePlaintext {
		if cfg.AllowShell {
			return errors.New("--allow-shell needs TLS: a shell connection is told from the link by its ALPN, and authenticated by the agent's certificate")
		}
		for i, host := range hosts {
			if !isLoopback(host) {
				return fmt.Errorf("--insecure-plaintext: helen %s is not a loopback address", cfg.Helens[i])
			}
		}
		return nil
	}
	if cfg.CAPin != "" {
		if _, err := pki.ParsePin(cfg.CAPin); err != nil {
			return fmt.Errorf("--ca-pin: %w", err)
		}
	}
	if (cfg.CertFile == "") != (cfg.KeyFile == "") {
		return errors.New("--cert and --key go together")
	}
	if cfg.CertFile == "" && cfg.Token != "" && !enrolled(cfg.DataDir) {
		if err := agentname.Check(cfg.Name); err != nil && cfg.nameFromHost {
			return fmt.Errorf("the host name as the agent name: %w; give --name NAME", err)
		} else if err != nil {
			return fmt.Errorf("--name: %w", err)
		}
	}
	return nil
}

// missing reports every setting the agent needs and lacks, all at once,
// so that an agent installed with the default config file says in one go
// what to set: where helen is, how to recognise it, how to enroll.
func (cfg Config) missing() error {
	var lacks []string
	if len(cfg.Helens) == 0 {
		lacks = append(lacks, "--helen HOST:PORT is required (or EQUUS_HELEN, or helen = in the --config file)")
	}
	if !cfg.InsecurePlaintext {
		if cfg.CAFile == "" && cfg.CAPin == "" && !exists(filepath.Join(cfg.DataDir, caFile)) {
			lacks = append(lacks, "no way to recognise helen: give --ca FILE or --ca-pin sha256:HEX")
		}
		if cfg.CertFile == "" && cfg.KeyFile == "" && cfg.Token == "" && !enrolled(cfg.DataDir) {
			lacks = append(lacks, fmt.Sprintf("not enrolled: give --cert FILE --key FILE, or --token TOKEN (no certificate in %s)", cfg.DataDir))
		}
	}
	if len(lacks) == 0 {
		return nil
	}
	return errors.New(strings.Join(lacks, "; "))
}

// isLoopback reports whether host names the local machine only.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// Flags returns the flags of the agent, which stage0 takes too.
func Flags() []cli.Flag {
	return append([]cli.Flag{
		// Not Required: validate reports it missing, with the other
		// flags an agent needs.
		&cli.StringSliceFlag{Name: "helen", Usage: "helen's agents' address `HOST:PORT` (required); repeatable or comma-separated, for several helens, at most 16", EnvVars: []string{"EQUUS_HELEN"}},
		&cli.StringFlag{Name: "ca", Usage: "recognise helen by the CA certificate in `FILE`", EnvVars: []string{"EQUUS_CA"}, TakesFile: true},
		&cli.StringFlag{Name: "ca-pin", Usage: "recognise helen by its CA's pin `sha256:HEX`", EnvVars: []string{"EQUUS_CA_PIN"}},
		&cli.StringFlag{Name: "cert", Usage: "the agent's certificate `FILE` (offline enrollment)", EnvVars: []string{"EQUUS_CERT"}, TakesFile: true},
		&cli.StringFlag{Name: "key", Usage: "the agent's private key `FILE`", EnvVars: []string{"EQUUS_KEY"}, TakesFile: true},
		&cli.StringFlag{Name: "token", Usage: "enroll with `TOKEN` when not enrolled yet", EnvVars: []string{"EQUUS_TOKEN"}},
		&cli.StringFlag{Name: "name", Usage: "the agent `NAME` to ask for at enrollment (default: the host name)", EnvVars: []string{"EQUUS_NAME"}},
		&cli.StringFlag{Name: "data", Usage: "data `DIR` (certificate, key, helen's CA, synced checks)", EnvVars: []string{"EQUUS_DATA"}, Value: setup.DataDir("equus"), TakesFile: true},
		&cli.StringFlag{Name: "checks", Usage: "check `DIR` overlaying the embedded checks (default: DATA/checks when it exists)", EnvVars: []string{"EQUUS_CHECKS"}, TakesFile: true},
		&cli.IntFlag{Name: "concurrency", Usage: "run at most `N` checks at once", EnvVars: []string{"EQUUS_CONCURRENCY"}, Value: DefaultConcurrency},
		&cli.IntFlag{Name: "max-queued-checks", Usage: "let at most `N` checks wait for a slot; more are answered at once that the agent is busy", EnvVars: []string{"EQUUS_MAX_QUEUED_CHECKS"}, Value: DefaultMaxQueuedChecks},
		&cli.IntFlag{Name: "max-unsent-results", Usage: "stop reading checks while `N` results wait for helen to read them", EnvVars: []string{"EQUUS_MAX_UNSENT_RESULTS"}, Value: DefaultMaxUnsentResults},
		&cli.IntFlag{Name: "max-check-heap", Usage: "stop running checks when the agent's heap passes `MiB` (0: 1 GiB or a quarter of memory; -1: no limit)", EnvVars: []string{"EQUUS_MAX_CHECK_HEAP"}},
		&cli.BoolFlag{Name: "allow-shell", Usage: "take shell sessions helen's operators ask for (equus.shell)", EnvVars: []string{"EQUUS_ALLOW_SHELL"}},
		&cli.StringSliceFlag{Name: "shell-users", Usage: "the users a shell session may run as, `LIST` separated by commas (default: the agent's own user; others need the agent to run as root)", EnvVars: []string{"EQUUS_SHELL_USERS"}},
		&cli.DurationFlag{Name: "shell-idle-timeout", Usage: "end a shell session with no input or output for `DURATION`", EnvVars: []string{"EQUUS_SHELL_IDLE_TIMEOUT"}, Value: shell.DefaultIdleTimeout},
		&cli.DurationFlag{Name: "shell-max-duration", Usage: "end a shell session that lasted `DURATION`", EnvVars: []string{"EQUUS_SHELL_MAX_DURATION"}, Value: shell.DefaultMaxDuration},
		&cli.IntFlag{Name: "shell-sessions", Usage: "run at most `N` shell sessions at once", EnvVars: []string{"EQUUS_SHELL_SESSIONS"}, Value: shell.DefaultSessions},
		&cli.BoolFlag{Name: "insecure-plaintext", Usage: "DEBUG ONLY: talk to a loopback helen without TLS", EnvVars: []string{"EQUUS_INSECURE_PLAINTEXT"}},
	}, setup.ExecFlags()...)
}

// ConfigFromCLI returns the Config that the flags of c (see Flags) and the
// environment ask for. A setting missing or wrong is a *setup.ConfigError.
func ConfigFromCLI(c *cli.Context, version string) (Config, error) {
	cfg := Config{
		Version:           version,
		Helens:            listOf(c.StringSlice("helen")),
		CAFile:            c.String("ca"),
		CAPin:             c.String("ca-pin"),
		CertFile:          c.String("cert"),
		KeyFile:           c.String("key"),
		Token:             c.String("token"),
		Name:              c.String("name"),
		DataDir:           c.String("data"),
		ConfigFile:        c.String("config"),
		ChecksDir:         c.String("checks"),
		Exec:              setup.ExecPolicy(c),
		Concurrency:       c.Int("concurrency"),
		MaxQueuedChecks:   c.Int("max-queued-checks"),
		MaxUnsentResults:  c.Int("max-unsent-results"),
		MaxCheckHeap:      int64(c.Int("max-check-heap")) << 20,
		InsecurePlaintext: c.Bool("insecure-plaintext"),
		AllowShell:        c.Bool("allow-shell"),
		Shell: shell.Config{
			Users:       shellUsers(c.StringSlice("shell-users")),
			IdleTimeout: c.Duration("shell-idle-timeout"),
			MaxDuration: c.Duration("shell-max-duration"),
			Sessions:    c.Int("shell-sessions"),
		},
		Supervised: os.Getenv(SupervisedEnv) == "1",
		Ready:      c.App.Writer,
	}
	if cfg.Ready == nil {
		cfg.Ready = os.Stdout
	}
	if exe := os.Getenv(Stage0ExecutableEnv); cfg.Supervised && exe != "" {
		cfg.Exec.Self = append(cfg.Exec.Self, exe)
	}
	for _, f := range []string{"shell-idle-timeout", "shell-max-duration"} {
		if d := c.Duration(f); d <= 0 {
			return cfg, setup.Configf("--%s %s: want more than 0", f, d)
		}
	}
	for _, f := range []string{"concurrency", "max-queued-checks", "max-unsent-results", "shell-sessions"} {
		if n := c.Int(f); n < 1 {
			return cfg, setup.Configf("--%s %d: want at least 1", f, n)
		}
	}
	if cfg.Name == "" {
		host, err := os.Hostname()
		if err != nil {
			return cfg, fmt.Errorf("agent name: %w (give --name)", err)
		}
		cfg.Name, cfg.nameFromHost = host, true
	}
	if cfg.ChecksDir == "" {
		if d := BundleDir(cfg.DataDir); isDir(d) {
			cfg.ChecksDir = d
		}
	}
	if err := cfg.validate(); err != nil {
		return cfg, &setup.ConfigError{Err: err}
	}
	return cfg, nil
}

// shellUsers returns the names of --shell-users.
func shellUsers(list []string) []string { return listOf(list) }

// listOf returns the values of a list flag, whose elements may hold
// several separated by commas (EQUUS_SHELL_USERS=a,b), without blanks.
func listOf(list []string) []string {
	var out []string
	for _, l := range list {
		for _, v := range strings.Split(l, ",") {
			if v = strings.TrimSpace(v); v != "" {
				out = append(out, v)
			}
		}
	}
	return out
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}
