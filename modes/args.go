package modes

import (
	"context"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"
)

// Run runs the equus application of the given build with the process
// arguments args.
func Run(ctx context.Context, b Build, args []string) error {
	app := App(b)
	return app.RunContext(ctx, Interspersed(app, Args(args)))
}

// Args returns the arguments to run the app with: the executable answers to
// the names helen and stage0 as if called as "equus helen" or "equus stage0".
func Args(args []string) []string {
	if len(args) == 0 {
		return []string{"equus"}
	}
	name := strings.TrimSuffix(filepath.Base(args[0]), ".exe")
	switch name {
	case "helen", "stage0":
		return append([]string{"equus", name}, args[1:]...)
	}
	return args
}

// Interspersed moves the flags that follow a command's arguments in front
// of them, so that `equus helen run web-1 load --json` works as the usage
// says: urfave/cli, like the flag package, stops at the first argument.
// Everything after "--" stays where it is.
func Interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	i := 1
	i = skipFlags(app.Flags, args, i)
	var leaf *cli.Command
	cmds := app.Commands
	for i < len(args) {
		c := findCommand(cmds, args[i])
		if c == nil {
			break
		}
		leaf, cmds = c, c.Subcommands
		i++
		if len(cmds) == 0 {
			break
		}
		i = skipFlags(c.Flags, args, i)
	}
	// No command, or a name that is none of a command's subcommands:
	// left as it is, so that the name is the usage error rather than a
	// flag meant for the command it is not.
	if leaf == nil || len(leaf.Subcommands) > 0 {
		return args
	}
	var global, flags, pos []string
	rest := args[i:]
	for j := 0; j < len(rest); j++ {
		a := rest[j]
		if a == "--" {
			pos = append(pos, rest[j:]...)
			break
		}
		if len(a) > 1 && a[0] == '-' {
			// A flag of the whole application given after the command
			// (`equus stage0 --config FILE`) goes where urfave/cli reads it.
			dst, defs := &flags, leaf.Flags
			if !isFlag(leaf.Flags, a) && isFlag(app.Flags, a) {
				dst, defs = &global, app.Flags
			}
			*dst = append(*dst, a)
			if !strings.Contains(a, "=") && takesValue(defs, a) && j+1 < len(rest) {
				*dst = append(*dst, rest[j+1])
				j++
			}
			continue
		}
		pos = append(pos, a)
	}
	out := append([]string{args[0]}, global...)
	out = append(out, args[1:i]...)
	out = append(out, flags...)
	return append(out, pos...)
}

// isFlag reports whether arg names one of flags.
func isFlag(flags []cli.Flag, arg string) bool {
	name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return true
			}
		}
	}
	return false
}

// skipFlags returns the index of the first argument from i on that is not
// a flag of flags or its value.
func skipFlags(flags []cli.Flag, args []string, i int) int {
	for i < len(args) && len(args[i]) > 1 && args[i][0] == '-' && args[i] != "--" {
		if !strings.Contains(args[i], "=") && takesValue(flags, args[i]) {
			i++
		}
		i++
	}
	return i
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// takesValue reports whether arg names a flag of flags that takes a value.
func takesValue(flags []cli.Flag, arg string) bool {
	name := strings.TrimLeft(arg, "-")
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				_, isBool := f.(*cli.BoolFlag)
				return !isBool
			}
		}
	}
	return false
}
