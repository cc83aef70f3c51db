package setup

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// Setting is one line of a config file.
type Setting struct {
	Name, Value string
	Line        int
}

// ReadConfig parses a config file: one "name = value" (or "name: value")
// a line, where name is a flag's long name; blank lines and lines starting
// with # are ignored. A flag that takes several values may appear again or
// take a comma-separated list.
func ReadConfig(path string) ([]Setting, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	var cfg []Setting
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.IndexAny(line, "=:")
		if i <= 0 {
			return nil, fmt.Errorf("config %s:%d: want name = value", path, n)
		}
		name := strings.TrimPrefix(strings.TrimSpace(line[:i]), "--")
		val := strings.Trim(strings.TrimSpace(line[i+1:]), `"'`)
		cfg = append(cfg, Setting{Name: name, Value: val, Line: n})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// ApplyConfig sets the flags of c's command, and the application's global
// flags, that were given neither on the command line nor in the
// environment from the file named by --config. A name in the file that is
// no such flag is a usage error naming the nearest flag: a typo must not
// leave a setting at its default unnoticed. (So a file serves the commands
// that share its flags: stage0's takes the agent's and stage0's own.)
func ApplyConfig(c *cli.Context) error {
	path := c.String("config")
	if path == "" {
		return nil
	}
	cfg, err := ReadConfig(path)
	if err != nil {
		return usage(c, err)
	}
	flags := configFlags(c)
	set := map[string]bool{}
	for _, s := range cfg {
		f := findFlag(flags, s.Name)
		if f == nil {
			msg := fmt.Sprintf("config %s:%d: no flag %q", path, s.Line, s.Name)
			if near := Nearest(flagNames(flags), s.Name); near != "" {
				msg += fmt.Sprintf(" (nearest: %s)", near)
			}
			return usage(c, errors.New(msg))
		}
		name := f.Names()[0]
		if !set[name] && c.IsSet(name) {
			continue // the command line or the environment gave it
		}
		set[name] = true
		for _, part := range splitList(f, s.Value) {
			if err := c.Set(name, part); err != nil {
				return usage(c, fmt.Errorf("config %s:%d: %s = %q: %w", path, s.Line, name, part, err))
			}
		}
	}
	return nil
}

// configFlags returns the flags a config file may set for c's command:
// its own and the application's, but --config and --help.
func configFlags(c *cli.Context) []cli.Flag {
	var out []cli.Flag
	for _, f := range flagsOf(c) {
		if n := f.Names()[0]; n != "config" && n != "help" {
			out = append(out, f)
		}
	}
	return out
}

func findFlag(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		if slices.Contains(f.Names(), name) {
			return f
		}
	}
	return nil
}

func splitList(f cli.Flag, v string) []string {
	switch f.(type) {
	case *cli.StringSliceFlag, *cli.IntSliceFlag:
		parts := strings.Split(v, ",")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		return parts
	}
	return []string{v}
}

// ExitConfig is the exit status of a configuration error: EX_CONFIG of
// sysexits.h, which systemd shows as status=78/CONFIG. Starting the
// program again changes nothing until someone changes its configuration,
// so the packaged units list it in RestartPreventExitStatus= rather than
// restarting it every few seconds forever.
const ExitConfig = 78

// ConfigError is a configuration that a mode can't run with: a setting
// missing or wrong, from the flags, the environment or the --config file,
// as the mode's own checks find it. It exits with ExitConfig.
type ConfigError struct{ Err error }

// Configf returns a ConfigError of the formatted message; %w wraps.
func Configf(format string, a ...any) error {
	return &ConfigError{Err: fmt.Errorf(format, a...)}
}

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// ExitCode makes a ConfigError a cli.ExitCoder.
func (e *ConfigError) ExitCode() int { return ExitConfig }

// DaemonOnUsageError is OnUsageError for the commands a service manager
// runs (helen serve, stage0): a usage error, on the command line or in the
// --config file, exits ExitConfig as a ConfigError does, since no one
// reads the usage there and starting again would fail the same way.
func DaemonOnUsageError(c *cli.Context, err error, _ bool) error {
	return usageError(c, err, ExitConfig)
}
