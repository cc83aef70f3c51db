package modes

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/equus-monitoring/equus/modes/setup"
)

// nagiosCommands exit with the Nagios code of a result, and so 3 for a
// usage error (README, Exit codes); daemonCommands, which services run,
// exit setup.ExitConfig; every other command exits 2.
var (
	nagiosCommands = map[string]bool{"equus check": true, "equus helen run": true}
	daemonCommands = map[string]bool{"equus helen serve": true, "equus stage0": true}
)

// walk calls f with the full name of every command of cmds and of the
// commands under them.
func walk(cmds []*cli.Command, parent string, f func(name string, c *cli.Command)) {
	for _, c := range cmds {
		name := parent + " " + c.Name
		f(name, c)
		walk(c.Subcommands, name, f)
	}
}

// isolate points every data directory and listener of the commands at
// places of the test, so that a command that failed to refuse its command
// line harms nothing, and returns those directories.
func isolate(t *testing.T) []string {
	t.Helper()
	tmp := t.TempDir()
	dirs := []string{filepath.Join(tmp, "helen"), filepath.Join(tmp, "equus"), filepath.Join(tmp, "state")}
	t.Setenv("HELEN_DATA", dirs[0])
	t.Setenv("EQUUS_DATA", dirs[1])
	t.Setenv("XDG_STATE_HOME", dirs[2])
	t.Setenv("HELEN_LISTEN", "127.0.0.1:0")
	t.Setenv("HELEN_HTTP", "")
	t.Setenv("EQUUS_HELEN", "127.0.0.1:1")
	return dirs
}

// runEquus runs the equus command line args in process as main does and
// returns its exit status and what it printed.
func runEquus(t *testing.T, args ...string) (int, string) {
	t.Helper()
	app := App(Build{Version: "0.0.0-dev"})
	var out bytes.Buffer
	app.Writer, app.ErrWriter = &out, &out
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := app.RunContext(ctx, Interspersed(app, append([]string{"equus"}, args...)))
	code := ExitCode(&out, err)
	return code, out.String()
}

// TestEveryCommandTakesItsArguments runs every command of equus with one
// argument more than its usage line takes, and with one fewer: each is a
// usage error before the command does anything (`helen token list` made a
// token).
func TestEveryCommandTakesItsArguments(t *testing.T) {
	dirs := isolate(t)
	leaves := 0
	walk(App(Build{Version: "0.0.0-dev"}).Commands, "equus", func(name string, c *cli.Command) {
		if len(c.Subcommands) > 0 {
			return
		}
		leaves++
		code := setup.UsageExitCode
		switch {
		case nagiosCommands[name]:
			code = setup.NagiosUsageExitCode
		case daemonCommands[name]:
			code = setup.ExitConfig
		}
		cmdline := strings.Fields(name)[1:]
		want, max := setup.ArgsRange(c.ArgsUsage)
		if max < math.MaxInt {
			args := cmdline
			for i := range max + 1 {
				args = append(args, fmt.Sprint("arg", i))
			}
			got, out := runEquus(t, args...)
			if got != code || !strings.Contains(out, "takes ") {
				t.Errorf("%s with %d arguments: exit %d, %q; want %d, a usage error", name, max+1, got, out, code)
			}
		}
		if len(want) > 0 {
			args := cmdline
			for i := range len(want) - 1 {
				args = append(args, fmt.Sprint("arg", i))
			}
			got, out := runEquus(t, args...)
			if got != code || !strings.Contains(out, "missing "+want[len(want)-1]) {
				t.Errorf("%s with %d arguments: exit %d, %q; want %d, missing %s", name, len(want)-1, got, out, code, want[len(want)-1])
			}
		}
	})
	if leaves < 17 {
		t.Errorf("only %d commands found", leaves)
	}
	for _, dir := range dirs {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("refused command lines made %s (%v)", dir, err)
		}
	}
}

// TestUnknownCommandsAndFlags: a name that is no command, or a flag that
// is none of the command, is a usage error naming the nearest one.
func TestUnknownCommandsAndFlags(t *testing.T) {
	isolate(t)
	tests := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"helm"}, 2, `no command "helm" (nearest: helen)`},
		{[]string{"helen", "statsu"}, 2, `helen: no command "statsu" (nearest: status)`},
		{[]string{"helen", "schedule", "ad"}, 2, `helen schedule: no command "ad" (nearest: add)`},
		{[]string{"helen", "nosuch"}, 2, `helen: no command "nosuch" (see equus helen --help)`},
		{[]string{"helen", "token", "--usse", "2"}, 2, "helen token: flag provided but not defined: -usse (nearest: --uses)"},
		{[]string{"helen", "run", "web-1", "load", "--jsno"}, 3, "nearest: --json"},
		{[]string{"check", "load", "--jsn"}, 3, "nearest: --json"},
		{[]string{"version", "--short"}, 2, "flag provided but not defined"},
	}
	for _, tt := range tests {
		if code, out := runEquus(t, tt.args...); code != tt.code || !strings.Contains(out, tt.msg) {
			t.Errorf("%q: exit %d, %q; want %d and %q", tt.args, code, out, tt.code, tt.msg)
		}
	}
}

// flagsWithoutEnv are the flags that have no environment variable, and
// why.
var flagsWithoutEnv = map[string]string{
	// Another command rather than a setting: set in the environment, it
	// would make every `equus check NAME` a usage error.
	"equus check --list":     "a command",
	"equus check --describe": "a command",
}

// TestEveryFlagHasAnEnvVar: every flag of every command comes from an
// environment variable too, which --help shows, and a variable means one
// flag wherever it is read.
func TestEveryFlagHasAnEnvVar(t *testing.T) {
	app := App(Build{Version: "0.0.0-dev"})
	flagOf := map[string]string{} // variable -> flag name
	check := func(name string, flags []cli.Flag) {
		app := App(Build{Version: "0.0.0-dev"})
		var help bytes.Buffer
		app.Writer = &help
		if err := app.Run(append(strings.Fields(name), "--help")); err != nil {
			t.Fatalf("%s --help: %v", name, err)
		}
		for _, f := range flags {
			flag := f.Names()[0]
			envs := f.(cli.DocGenerationFlag).GetEnvVars()
			if _, exempt := flagsWithoutEnv[name+" --"+flag]; exempt {
				if len(envs) > 0 {
					t.Errorf("%s --%s has %q, yet is listed without", name, flag, envs)
				}
				continue
			}
			if len(envs) == 0 {
				t.Errorf("%s --%s has no environment variable", name, flag)
			}
			for _, env := range envs {
				if other, ok := flagOf[env]; ok && other != flag {
					t.Errorf("$%s is --%s and --%s", env, other, flag)
				}
				flagOf[env] = flag
				if !strings.Contains(help.String(), "$"+env) {
					t.Errorf("%s --help does not show $%s", name, env)
				}
			}
		}
	}
	check("equus", app.Flags)
	walk(app.Commands, "equus", func(name string, c *cli.Command) { check(name, c.Flags) })
	if len(flagOf) < 40 {
		t.Errorf("only %d environment variables found: the walk missed commands", len(flagOf))
	}
}

// The config files the packages install name flags of the commands that
// read them, commented out or not: a strict reader must not refuse a
// line an operator uncomments.
func TestPackagedConfigs(t *testing.T) {
	isolate(t)
	for file, command := range map[string]string{"equus.conf": "equus stage0", "helen.conf": "equus helen serve"} {
		data, err := os.ReadFile(filepath.Join("..", "packaging", file))
		if err != nil {
			t.Fatal(err)
		}
		var c *cli.Command
		walk(App(Build{Version: "0.0.0-dev"}).Commands, "equus", func(name string, cmd *cli.Command) {
			if name == command {
				c = cmd
			}
		})
		names := map[string]bool{}
		for _, f := range c.Flags {
			names[f.Names()[0]] = true
		}
		keys := 0
		for n, line := range strings.Split(string(data), "\n") {
			key, _, ok := strings.Cut(strings.TrimPrefix(line, "#"), " = ")
			if !ok || strings.Contains(key, " ") {
				continue
			}
			keys++
			if !names[key] {
				t.Errorf("%s:%d: %q is no flag of %s", file, n+1, key, command)
			}
		}
		if keys < 3 {
			t.Errorf("%s: only %d settings found", file, keys)
		}
	}
}
