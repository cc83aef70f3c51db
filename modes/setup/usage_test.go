package setup

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

func TestArgsRange(t *testing.T) {
	tests := []struct {
		usage string
		want  []string
		max   int
	}{
		{"", nil, 0},
		{"NAME", []string{"NAME"}, 1},
		{"AGENT [CHECK]", []string{"AGENT"}, 2},
		{"AGENT CHECK [ARGS_JSON]", []string{"AGENT", "CHECK"}, 3},
		{"[NAME [ARGS_JSON]]", nil, 2},
		{"[A] [B]", nil, 2},
		{"FILE...", []string{"FILE"}, math.MaxInt},
		{"NAME [FILE...]", []string{"NAME"}, math.MaxInt},
	}
	for _, tt := range tests {
		want, max := ArgsRange(tt.usage)
		if !slices.Equal(want, tt.want) || max != tt.max {
			t.Errorf("ArgsRange(%q) = %q, %d; want %q, %d", tt.usage, want, max, tt.want, tt.max)
		}
	}
}

// probe is an application guarded as the equus one is, with a group of
// two commands, one of which exits with a Nagios code; it records what
// ran.
type probe struct {
	ran  []string
	name string
	uses int
	tags []string
	log  string
	out  bytes.Buffer // what the application printed
}

func (p *probe) app() *cli.App {
	action := func(c *cli.Context) error {
		p.ran = append(p.ran, c.Command.Name)
		p.name, p.uses, p.tags, p.log = c.String("name"), c.Int("uses"), c.StringSlice("tag"), c.String("log-level")
		return nil
	}
	app := &cli.App{
		Name:           "equus",
		Flags:          GlobalFlags(),
		ExitErrHandler: func(*cli.Context, error) {},
		Writer:         &p.out,
		Commands: []*cli.Command{{
			Name: "helen",
			Subcommands: []*cli.Command{
				{Name: "token", Action: action, Flags: []cli.Flag{
					&cli.IntFlag{Name: "uses", Value: 1, EnvVars: []string{"TEST_PROBE_USES"}},
					&cli.StringSliceFlag{Name: "tag"},
				}},
				{Name: "revoke", ArgsUsage: "NAME", Action: action, Flags: []cli.Flag{&cli.StringFlag{Name: "name"}}},
				{Name: "issue", Action: action, Flags: []cli.Flag{&cli.StringFlag{Name: "name", Required: true}}},
				{Name: "run", ArgsUsage: "AGENT CHECK [ARGS_JSON]", Action: action, OnUsageError: NagiosOnUsageError},
			},
		}},
	}
	Guard(app)
	return app
}

// run runs the probe with args and returns the exit status and message.
func (p *probe) run(args ...string) (int, string) {
	var w bytes.Buffer
	code := ExitCode(&w, p.app().Run(append([]string{"equus"}, args...)))
	return code, w.String()
}

func TestGuard(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		msg  string // in the message
	}{
		{"stray-arg", []string{"helen", "token", "list"}, 2, `helen token: takes no arguments, got ["list"]`},
		{"too-many", []string{"helen", "revoke", "a", "b"}, 2, `takes NAME, got 2 arguments`},
		{"missing", []string{"helen", "revoke"}, 2, "helen revoke: missing NAME (see equus helen revoke --help)"},
		{"missing-nagios", []string{"helen", "run", "web-1"}, 3, "missing CHECK"},
		{"too-many-nagios", []string{"helen", "run", "a", "b", "{}", "d"}, 3, "got 4 arguments"},
		{"unknown-flag", []string{"helen", "token", "--usez", "3"}, 2, "flag provided but not defined: -usez (nearest: --uses)"},
		{"unknown-flag-nagios", []string{"helen", "run", "--nope", "a", "b"}, 3, "not defined: -nope"},
		{"bad-value", []string{"helen", "token", "--uses", "x"}, 2, "invalid value"},
		{"unknown-command", []string{"helen", "tokn"}, 2, `helen: no command "tokn" (nearest: token)`},
		{"required-flag", []string{"helen", "issue"}, 2, "helen issue: missing --name"},
		{"unknown-top-command", []string{"heln"}, 2, `no command "heln" (nearest: helen)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p probe
			code, msg := p.run(tt.args...)
			if code != tt.code || !strings.Contains(msg, tt.msg) {
				t.Errorf("exit %d, %q; want %d and %q", code, msg, tt.code, tt.msg)
			}
			if len(p.ran) != 0 {
				t.Errorf("refused, yet %s ran", p.ran)
			}
		})
	}
	var p probe
	if code, msg := p.run("helen", "revoke", "web-1"); code != 0 || !slices.Equal(p.ran, []string{"revoke"}) {
		t.Errorf("a good command line: exit %d, %q, ran %q", code, msg, p.ran)
	}
	if code, msg := p.run("helen"); code != 0 || !strings.Contains(p.out.String(), "USAGE") {
		t.Errorf("a group alone: exit %d, %q, printed %q; want its help", code, msg, p.out.String())
	}
}

// TestConfigStrict: a config file's name that is no flag of the command
// (nor of the application) is a usage error naming its line and the
// nearest flag, before the command runs; the application's flags come
// from the file too.
func TestConfigStrict(t *testing.T) {
	write := func(text string) string {
		t.Helper()
		path := filepath.Join(t.TempDir(), "equus.conf")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	tests := []struct {
		name, file string
		code       int
		msg        string
	}{
		{"typo", "# uses\nuzes = 3\n", 2, `:2: no flag "uzes" (nearest: uses)`},
		{"another-command's", "uses = 3\nname = x\n", 2, `:2: no flag "name"`},
		{"config-in-config", "config = /etc/other.conf\n", 2, `no flag "config"`},
		{"bad-value", "uses = many\n", 2, `:1: uses = "many": `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p probe
			code, msg := p.run("--config", write(tt.file), "helen", "token")
			if code != tt.code || !strings.Contains(msg, tt.msg) || !strings.Contains(msg, "helen token: config ") {
				t.Errorf("exit %d, %q; want %d and %q", code, msg, tt.code, tt.msg)
			}
			if len(p.ran) != 0 {
				t.Errorf("refused, yet %s ran", p.ran)
			}
		})
	}

	var p probe
	path := write("uses = 3\ntag = a, b\ntag = c\nlog-level = debug\n")
	if code, msg := p.run("--config", path, "helen", "token"); code != 0 || p.uses != 3 || !slices.Equal(p.tags, []string{"a", "b", "c"}) || p.log != "debug" {
		t.Errorf("from the file: exit %d %q: uses %d, tags %q, log level %q", code, msg, p.uses, p.tags, p.log)
	}
	// A required flag counts as given in the file.
	if code, msg := p.run("--config", write("name = from-file\n"), "helen", "issue"); code != 0 || p.name != "from-file" {
		t.Errorf("a required flag from the file: exit %d %q, name %q", code, msg, p.name)
	}
	if code, _ := p.run("--config", path, "--log-level", "warn", "helen", "token", "--uses", "5"); code != 0 || p.uses != 5 || p.log != "warn" {
		t.Errorf("the command line should win: uses %d, log level %q", p.uses, p.log)
	}
	t.Setenv("TEST_PROBE_USES", "7")
	if code, _ := p.run("--config", path, "helen", "token"); code != 0 || p.uses != 7 {
		t.Errorf("the environment should win: uses %d", p.uses)
	}
}

func TestUsageErrorWraps(t *testing.T) {
	base := errors.New("base")
	var ue *UsageError
	err := error(&UsageError{Code: 2, Err: base})
	if !errors.Is(err, base) || !errors.As(err, &ue) || ue.ExitCode() != 2 {
		t.Errorf("UsageError does not wrap or code: %v", err)
	}
}

func TestDataDirs(t *testing.T) {
	got := DataDirs("helen")
	for _, want := range []string{"/var/lib/helen", "~/.local/state/helen", DataDir("helen")} {
		if !strings.Contains(got, want) {
			t.Errorf("DataDirs = %q, lacks %q", got, want)
		}
	}
}
