package modes

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/equus-monitoring/equus/modes/setup"
)

func TestArgs(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"equus", []string{"/usr/local/bin/equus", "version"}, []string{"/usr/local/bin/equus", "version"}},
		{"helen-link", []string{"/usr/local/bin/helen", "serve", "--dev"}, []string{"equus", "helen", "serve", "--dev"}},
		{"stage0-link", []string{"stage0", "--helen", "h:7480"}, []string{"equus", "stage0", "--helen", "h:7480"}},
		{"windows-exe", []string{`C:\bin\helen.exe`}, []string{"equus", "helen"}},
		{"empty", nil, []string{"equus"}},
	}
	if runtime.GOOS != "windows" {
		tests[3].want = []string{`C:\bin\helen.exe`} // a backslash is no separator here
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Args(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Args(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	app := App(Build{Version: "1.2.3", Commit: "0123456789abcdef0123456789abcdef01234567", Date: "2026-01-02T03:04:05Z"})
	app.Writer = &out
	if err := app.Run([]string{"equus", "version"}); err != nil {
		t.Fatal(err)
	}
	want := "equus 1.2.3 " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH +
		" commit 0123456789abcdef0123456789abcdef01234567 2026-01-02T03:04:05Z\n"
	if out.String() != want {
		t.Errorf("version printed %q, want %q", out.String(), want)
	}
}

func TestExitCode(t *testing.T) {
	var w bytes.Buffer
	if got := ExitCode(&w, nil); got != 0 || w.Len() != 0 {
		t.Errorf("nil: code %d, printed %q", got, w.String())
	}
	if got := ExitCode(&w, cli.Exit("", 2)); got != 2 || w.Len() != 0 {
		t.Errorf("exit 2: code %d, printed %q", got, w.String())
	}
	if got := ExitCode(&w, errors.New("boom")); got != 1 || !strings.Contains(w.String(), "boom") {
		t.Errorf("plain error: code %d, printed %q", got, w.String())
	}
}

// TestConfigFile checks that a flag comes from the config file only when the
// command line and the environment do not give it.
func TestConfigFile(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "equus.conf")
	if err := os.WriteFile(cfg, []byte("# a comment\nname = from-file\nother: 7\ntag = a, b\ntag = c\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args []string, env string) (name string, other int, tags []string) {
		t.Helper()
		t.Setenv("TEST_EQUUS_NAME", env)
		if env == "" {
			os.Unsetenv("TEST_EQUUS_NAME")
		}
		cmd := &cli.Command{
			Name: "probe",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "name", Value: "default", EnvVars: []string{"TEST_EQUUS_NAME"}},
				&cli.IntFlag{Name: "other"},
				&cli.StringSliceFlag{Name: "tag"},
			},
			Action: func(c *cli.Context) error {
				name, other, tags = c.String("name"), c.Int("other"), c.StringSlice("tag")
				return nil
			},
		}
		app := &cli.App{Name: "equus", Flags: setup.GlobalFlags(), Commands: []*cli.Command{cmd}, ExitErrHandler: func(*cli.Context, error) {}}
		setup.Guard(app)
		if err := app.Run(args); err != nil {
			t.Fatal(err)
		}
		return
	}
	if n, o, tags := run([]string{"equus", "--config", cfg, "probe"}, ""); n != "from-file" || o != 7 || !reflect.DeepEqual(tags, []string{"a", "b", "c"}) {
		t.Errorf("from file: got %q %d %q", n, o, tags)
	}
	if n, _, _ := run([]string{"equus", "--config", cfg, "probe", "--name", "from-flag"}, ""); n != "from-flag" {
		t.Errorf("flag should win over file, got %q", n)
	}
	if n, _, _ := run([]string{"equus", "--config", cfg, "probe"}, "from-env"); n != "from-env" {
		t.Errorf("environment should win over file, got %q", n)
	}
}

func TestInterspersed(t *testing.T) {
	app := App(Build{Version: "0.0.0-dev"})
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"flags-after-args", "equus helen run web-1 load {} --json --timeout 5s", "equus helen run --json --timeout 5s web-1 load {}"},
		{"flags-first", "equus helen run --json web-1 load", "equus helen run --json web-1 load"},
		{"global-flag", "equus --log-level debug helen history web-1 --limit 5", "equus --log-level debug helen history --limit 5 web-1"},
		{"equals", "equus helen history web-1 --limit=5 disk", "equus helen history --limit=5 web-1 disk"},
		{"double-dash", "equus helen run web-1 load -- --json", "equus helen run web-1 load -- --json"},
		{"unknown-command", "equus nope --x y", "equus nope --x y"},
		{"unknown-subcommand", "equus helen tokens --data d", "equus helen tokens --data d"},
		{"global-after-command", "equus stage0 --config /etc/equus/equus.conf --helen h:1", "equus --config /etc/equus/equus.conf stage0 --helen h:1"},
		{"global-equals-after-args", "equus helen run web-1 load --log-level=debug --json", "equus --log-level=debug helen run --json web-1 load"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.Join(Interspersed(app, strings.Fields(tt.in)), " ")
			if got != tt.want {
				t.Errorf("Interspersed(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}
