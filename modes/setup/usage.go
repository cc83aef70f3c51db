package setup

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/urfave/cli/v2"
	"github.com/xrash/smetrics"
)

// Exit statuses of a command line that a command refuses: an unknown
// flag, command or config file key, a stray or missing argument, a flag
// value out of bounds.
const (
	// UsageExitCode is the usage error of most commands.
	UsageExitCode = 2
	// NagiosUsageExitCode is the usage error of the commands that exit
	// with the Nagios code of a result (equus check, equus helen run):
	// unknown, since their caller can't tell a bad command line from a
	// failed check.
	NagiosUsageExitCode = 3
)

// UsageError is a command line that a command refuses. It exits with
// Code, and refuses before the command did anything.
type UsageError struct {
	Code int
	Err  error
}

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// ExitCode makes a UsageError a cli.ExitCoder.
func (e *UsageError) ExitCode() int { return e.Code }

// Usagef returns a usage error of c's command, ending as the command's
// OnUsageError says (Guard gives every command one).
func Usagef(c *cli.Context, format string, args ...any) error {
	return usage(c, fmt.Errorf(format, args...))
}

func usage(c *cli.Context, err error) error {
	if c.Command != nil && c.Command.OnUsageError != nil {
		return c.Command.OnUsageError(c, err, true)
	}
	return usageError(c, err, UsageExitCode)
}

// OnUsageError ends a usage error with UsageExitCode; NagiosOnUsageError
// with NagiosUsageExitCode. Either is a cli.Command's OnUsageError, which
// urfave/cli also calls for the errors of parsing flags.
func OnUsageError(c *cli.Context, err error, _ bool) error {
	return usageError(c, err, UsageExitCode)
}

// NagiosOnUsageError is OnUsageError for the commands that exit with a
// Nagios code.
func NagiosOnUsageError(c *cli.Context, err error, _ bool) error {
	return usageError(c, err, NagiosUsageExitCode)
}

// usageError is err with code, the command's name, the flag nearest to an
// unknown one and where to read the usage.
func usageError(c *cli.Context, err error, code int) error {
	msg := err.Error()
	if flag, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		if near := Nearest(flagNames(flagsOf(c)), strings.TrimLeft(flag, "-")); near != "" {
			msg += " (nearest: --" + near + ")"
		}
	}
	name := commandName(c)
	if sub := strings.TrimPrefix(name, c.App.Name+" "); sub != name {
		msg = sub + ": " + msg
	}
	return &UsageError{Code: code, Err: fmt.Errorf("%s (see %s --help)", msg, name)}
}

// commandName is the full name of c's command, "equus helen token".
func commandName(c *cli.Context) string {
	if c.Command == nil || c.Command.HelpName == "" {
		return c.App.Name
	}
	return c.Command.HelpName
}

// flagsOf returns the flags c's command line may give: the command's and
// the application's.
func flagsOf(c *cli.Context) []cli.Flag {
	var flags []cli.Flag
	if c.Command != nil {
		flags = append(flags, c.Command.Flags...)
	}
	return append(flags, c.App.Flags...)
}

// flagNames returns the names of flags.
func flagNames(flags []cli.Flag) []string {
	var names []string
	for _, f := range flags {
		names = append(names, f.Names()...)
	}
	return names
}

// minSimilar is the least similarity of a name Nearest suggests: typos
// ("uzes" for uses: 0.85) are above it, unrelated words ("nosuch" and
// schedule: 0.64) under it.
const minSimilar = 0.7

// Nearest returns the one of names closest to name, "" when none is
// similar enough to be a likely typo of it: by Jaro-Winkler similarity,
// with the parameters urfave/cli suggests flags and commands with.
func Nearest(names []string, name string) string {
	best, near := minSimilar, ""
	for _, n := range names {
		if d := smetrics.JaroWinkler(n, name, 0.7, 4); d >= best {
			best, near = d, n
		}
	}
	return near
}

// ArgsRange returns the positional arguments a command whose ArgsUsage is
// usage takes: the words outside brackets are required (their names in
// want), each bracketed word is optional, and a word ending in "..." may
// repeat (max is then math.MaxInt). "AGENT [CHECK]" takes 1 or 2;
// "[NAME [ARGS_JSON]]" 0 to 2; "" none. A usage line names positional
// arguments only: flags have their own help.
func ArgsRange(usage string) (want []string, max int) {
	depth := 0
	for _, w := range strings.Fields(usage) {
		optional := depth > 0 || strings.HasPrefix(w, "[")
		depth += strings.Count(w, "[") - strings.Count(w, "]")
		name := strings.Trim(w, "[]")
		if strings.HasSuffix(name, "...") {
			max = math.MaxInt
		} else if max < math.MaxInt {
			max++
		}
		if !optional {
			want = append(want, strings.TrimSuffix(name, "..."))
		}
	}
	return want, max
}

// checkArgs refuses positional arguments that c's command does not take
// by its ArgsUsage.
func checkArgs(c *cli.Context) error {
	want, max := ArgsRange(c.Command.ArgsUsage)
	args := c.Args().Slice()
	switch {
	case len(args) < len(want):
		return Usagef(c, "missing %s", strings.Join(want[len(args):], " "))
	case len(args) > max && max == 0:
		return Usagef(c, "takes no arguments, got %q", args)
	case len(args) > max:
		return Usagef(c, "takes %s, got %d arguments: %q", c.Command.ArgsUsage, len(args), args)
	}
	return nil
}

// Guard makes every command of app refuse a command line that it does not
// take, as a usage error, before it does anything: a leaf command
// refuses positional arguments its ArgsUsage does not name (so that
// `helen token list` is no token), then reads the --config file
// (ApplyConfig) and refuses a required flag still missing; a command with
// subcommands refuses a name that is none of them; and an unknown flag or
// a value that does not parse is a usage error too (OnUsageError, unless
// the command has its own). Guard changes app's commands: call it once,
// before running app.
func Guard(app *cli.App) {
	if app.OnUsageError == nil {
		app.OnUsageError = OnUsageError
	}
	if app.Action == nil {
		app.Action = groupAction(func(c *cli.Context) error { return cli.ShowAppHelp(c) })
	}
	for _, c := range app.Commands {
		guard(c)
	}
}

func guard(cmd *cli.Command) {
	if cmd.OnUsageError == nil {
		cmd.OnUsageError = OnUsageError
	}
	if len(cmd.Subcommands) > 0 {
		for _, s := range cmd.Subcommands {
			guard(s)
		}
		if cmd.Action == nil {
			cmd.Action = groupAction(cli.ShowSubcommandHelp)
		}
		return
	}
	required := takeRequired(cmd)
	before := cmd.Before
	cmd.Before = func(c *cli.Context) error {
		if err := checkArgs(c); err != nil {
			return err
		}
		if err := ApplyConfig(c); err != nil {
			return err
		}
		for _, name := range required {
			if !c.IsSet(name) {
				return Usagef(c, "missing --%s", name)
			}
		}
		if before != nil {
			return before(c)
		}
		return nil
	}
}

// takeRequired returns the names of cmd's required flags and makes them
// not required for urfave/cli, which checks them before the config file
// is read (so that one given there counts as missing) and exits 1: the
// Before of guard checks them after the file, as usage errors.
func takeRequired(cmd *cli.Command) []string {
	var names []string
	for _, f := range cmd.Flags {
		var req *bool
		switch f := f.(type) {
		case *cli.StringFlag:
			req = &f.Required
		case *cli.StringSliceFlag:
			req = &f.Required
		case *cli.IntFlag:
			req = &f.Required
		case *cli.Int64Flag:
			req = &f.Required
		case *cli.UintFlag:
			req = &f.Required
		case *cli.Float64Flag:
			req = &f.Required
		case *cli.DurationFlag:
			req = &f.Required
		case *cli.BoolFlag:
			req = &f.Required
		case *cli.PathFlag:
			req = &f.Required
		}
		if req != nil && *req { // other kinds stay urfave/cli's to check
			*req = false
			names = append(names, f.Names()[0])
		}
	}
	return names
}

// groupAction is the action of a command with subcommands (or of the
// application), which urfave/cli runs when the first argument names none
// of them: help without arguments, else a usage error naming the nearest
// command.
func groupAction(help cli.ActionFunc) cli.ActionFunc {
	return func(c *cli.Context) error {
		if c.NArg() == 0 {
			return help(c)
		}
		cmds := c.App.Commands
		if c.Command != nil && len(c.Command.Subcommands) > 0 {
			cmds = c.Command.Subcommands
		}
		var names []string
		for _, cmd := range cmds {
			if !cmd.Hidden && cmd.Name != "help" {
				names = append(names, cmd.Name)
			}
		}
		msg := fmt.Sprintf("no command %q", c.Args().First())
		if near := Nearest(names, c.Args().First()); near != "" {
			msg += fmt.Sprintf(" (nearest: %s)", near)
		}
		return usage(c, errors.New(msg))
	}
}
