// Package setup holds what every mode's command needs from the command line:
// the logger, the config file, the default data directories.
package setup

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"
)

// GlobalFlags are the flags of the whole application.
func GlobalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "log-level", Value: "info", Usage: "log `LEVEL`: debug, info, warn or error", EnvVars: []string{"EQUUS_LOG_LEVEL"}},
		&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log `FORMAT`: text or json", EnvVars: []string{"EQUUS_LOG_FORMAT"}},
		&cli.StringFlag{Name: "config", Usage: "read flags not given otherwise from `FILE` (lines of name = value)", EnvVars: []string{"EQUUS_CONFIG"}},
	}
}

// Logger returns the logger the global flags of c ask for, writing to stderr.
func Logger(c *cli.Context) (*slog.Logger, error) {
	return NewLogger(c.App.ErrWriter, c.String("log-level"), c.String("log-format"))
}

// NewLogger returns a logger of the given level and format writing to w.
func NewLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	if w == nil {
		w = os.Stderr
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("bad --log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("bad --log-format %q: want text or json", format)
}

// DataDir returns the default data directory of a mode ("helen" or
// "equus"): /var/lib/NAME for root, else NAME under the user's state
// directory ($XDG_STATE_HOME, or ~/.local/state).
func DataDir(name string) string {
	if os.Geteuid() == 0 {
		return filepath.Join("/var/lib", name)
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, name)
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", name)
	}
	return filepath.Join(os.TempDir(), name+"-"+fmt.Sprint(os.Getuid()))
}

// DataDirs says, for a message, where the data directories of a mode are
// by default: DataDir for root and for other users, and for this one.
func DataDirs(name string) string {
	return fmt.Sprintf("%s when run as root, else $XDG_STATE_HOME/%s or ~/.local/state/%s (here: %s)",
		filepath.Join("/var/lib", name), name, name, DataDir(name))
}

// ExitCode maps err to the process exit status, writing its message to w:
// a cli.ExitCoder, wrapped or not, keeps its code (the Nagios codes of
// check results, ExitConfig), any other error is 1.
func ExitCode(w io.Writer, err error) int {
	if err == nil {
		return 0
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		if msg := strings.TrimSpace(err.Error()); msg != "" {
			fmt.Fprintln(w, "equus:", msg)
		}
		return ec.ExitCode()
	}
	fmt.Fprintln(w, "equus:", err)
	return 1
}
