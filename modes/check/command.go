// Package check is the "equus check" command: run one check of the
// library on this machine, print its result, and exit with its Nagios
// code, as a Nagios plugin would.
package check

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/equus-monitoring/equus/internal/tty"
	"github.com/equus-monitoring/equus/lua"
	"github.com/equus-monitoring/equus/modes/setup"
	"github.com/equus-monitoring/equus/result"
)

// Command returns the "equus check" command.
func Command() *cli.Command {
	return &cli.Command{
		Name:      "check",
		Usage:     "run a check here and print its result, exiting with its Nagios code",
		ArgsUsage: "[NAME [ARGS_JSON]]",
		// A usage error exits 3, unknown: a caller of a check can't tell
		// a bad command line from a failed check.
		OnUsageError: setup.NagiosOnUsageError,
		Description: `Runs the check NAME of the check library (the checks built into equus,
overlaid by the *.lua files of --checks) once on this machine, with
ARGS_JSON, a JSON object, as its arguments. Prints the result as a line
("WARNING: / 91% used | used=91%;90;95") or, with --json, as the result
document of the wire protocol, and exits with the Nagios code of its status:
0 ok, 1 warning, 2 critical, 3 unknown. A usage error also exits 3.

Examples:
  equus check --list
  equus check --describe http
  equus check load
  equus check disk '{"path":"/","warn":"80","crit":"90"}' --json
  equus check mycheck --checks ./checks`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "checks", Usage: "check `DIR` of *.lua files overlaying the embedded checks", EnvVars: []string{"EQUUS_CHECKS"}, TakesFile: true},
			&cli.DurationFlag{Name: "timeout", Value: 30 * time.Second, Usage: "stop the check after `DURATION` unless ARGS_JSON sets _timeout_ms", EnvVars: []string{"EQUUS_CHECK_TIMEOUT"}},
			&cli.BoolFlag{Name: "json", Usage: "print the result document (JSON) instead of a line", EnvVars: []string{"EQUUS_CHECK_JSON"}},
			// No environment variable: --list is another command rather
			// than a setting, and one set in the environment would make
			// every `equus check NAME` a usage error.
			&cli.BoolFlag{Name: "list", Usage: "list the checks with their descriptions, and the errors of broken files"},
			// No environment variable either, for the same reason.
			&cli.BoolFlag{Name: "describe", Usage: "print the args the check NAME takes, with their kinds, defaults and descriptions, instead of running it"},
		}, setup.ExecFlags()...),
		Action: action,
	}
}

func action(c *cli.Context) error {
	// Guard refused more than NAME and ARGS_JSON (quote the JSON).
	switch {
	case c.Bool("list") && c.Bool("describe"):
		return setup.Usagef(c, "--list and --describe go alone")
	case c.Bool("list") && c.NArg() > 0:
		return setup.Usagef(c, "--list takes no arguments")
	case c.Bool("describe") && c.NArg() != 1:
		return setup.Usagef(c, "--describe takes the check NAME alone")
	case !c.Bool("list") && c.NArg() == 0:
		return setup.Usagef(c, "missing the check NAME (equus check --list shows them)")
	}
	args := bytes.TrimSpace([]byte(c.Args().Get(1)))
	if err := validArgs(args); err != nil {
		return setup.Usagef(c, "%v", err)
	}
	log, err := setup.Logger(c)
	if err != nil {
		return setup.Usagef(c, "%v", err)
	}
	rt, err := lua.New(lua.Options{
		Dir:            c.String("checks"),
		Exec:           setup.ExecPolicy(c),
		DefaultTimeout: c.Duration("timeout"),
		Log: func(level slog.Level, check, msg string) {
			log.Log(context.Background(), level, msg, "check", check)
		},
	})
	if err != nil {
		return setup.Usagef(c, "%v", err)
	}
	defer rt.Close()
	if c.Bool("list") {
		return list(c.App.Writer, rt.Checks(), c.Bool("json"))
	}
	if c.Bool("describe") {
		name := c.Args().Get(0)
		ci, ok := find(rt.Checks(), name)
		switch {
		case !ok:
			return setup.Usagef(c, `no check named "%s" (equus check --list shows them)`, tty.Line(name))
		case ci.Err != "":
			return setup.Usagef(c, "check %s is broken (%s): %s", tty.Line(name), tty.Line(ci.Source), tty.Line(ci.Err))
		}
		return describe(c.App.Writer, ci, c.Bool("json"))
	}
	ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	doc := rt.Run(ctx, c.Args().Get(0), args)
	if err := printDoc(c.App.Writer, doc, c.Bool("json")); err != nil {
		return cli.Exit(err.Error(), setup.NagiosUsageExitCode)
	}
	if code := doc.Status.Code(); code != 0 {
		return cli.Exit("", code)
	}
	return nil
}

// validArgs reports why args are not a JSON object; empty is fine.
func validArgs(args []byte) error {
	if len(args) == 0 {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(args, &m); err != nil {
		return fmt.Errorf("bad ARGS_JSON: %w", err)
	}
	if m == nil {
		return errors.New("bad ARGS_JSON: want a JSON object")
	}
	return nil
}

func printDoc(w io.Writer, doc result.Doc, asJSON bool) error {
	var err error
	if asJSON {
		_, err = fmt.Fprintf(w, "%s\n", tty.JSON(doc.Encode(lua.MaxResult)))
	} else {
		// As a Nagios plugin prints it: the line, then the long output;
		// what could steer the terminal is escaped.
		_, err = fmt.Fprintln(w, tty.Text(doc.Text()))
	}
	return err
}

func list(w io.Writer, checks []lua.CheckInfo, asJSON bool) error {
	if asJSON {
		// Names, descriptions and errors: the args are --describe's.
		short := make([]lua.CheckInfo, len(checks))
		for i, c := range checks {
			c.Args = nil
			short[i] = c
		}
		b, err := json.MarshalIndent(short, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", tty.JSON(b))
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, c := range checks {
		desc := c.Description
		if c.Err != "" {
			desc = "BROKEN (" + c.Source + "): " + strings.ReplaceAll(c.Err, "\n", " ")
		}
		fmt.Fprintf(tw, "%s\t%s\n", tty.Line(c.Name), tty.Line(desc))
	}
	return tw.Flush()
}
