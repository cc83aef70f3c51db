package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/modes/setup"
)

// TestStage0WaitsForConfiguration runs stage0 the way equus.service does,
// with the config file the package installs (helen, its pin and a token
// still commented out), and with config files wrong in other ways. stage0
// must exit at once with setup.ExitConfig, the status that equus.service
// lists in RestartPreventExitStatus=, rather than 1, which systemd would
// restart every five seconds forever; and its log must say what is wrong
// and which file to edit. It writes nothing to the data directory.
func TestStage0WaitsForConfiguration(t *testing.T) {
	shipped, err := os.ReadFile("../packaging/equus.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		conf string
		want []string // in the output
	}{
		{"shipped", string(shipped), []string{
			"the agent is not configured", "status 78", "--helen HOST:PORT is required",
			"--ca-pin sha256:HEX", "--token TOKEN", "systemctl restart equus",
		}},
		{"bad-pin", string(shipped) + "\nhelen = monitor.example.com:7480\nca-pin = sha256:00\ntoken = t\n", []string{
			"the agent is not configured", "--ca-pin: ", "want 64 hex digits",
		}},
		{"bad-number", string(shipped) + "\nconcurrency = lots\n", []string{"concurrency", "lots"}},
		{"bad-line", "helen\n", []string{"want name = value"}},
		{"typo", string(shipped) + "\nhelen = monitor.example.com:7480\nca-pn = sha256:00\n", []string{`no flag "ca-pn"`, "nearest: ca-pin"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			conf := filepath.Join(dir, "equus.conf")
			if err := os.WriteFile(conf, []byte(tc.conf), 0o600); err != nil {
				t.Fatal(err)
			}
			data := filepath.Join(dir, "data")
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, built[v100], "--config", conf, "stage0", "--data", data)
			cmd.Env = testEnv(t)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != setup.ExitConfig {
				t.Fatalf("stage0 with %s: %v, want exit status %d\n%s", tc.name, err, setup.ExitConfig, out)
			}
			for _, w := range append(tc.want, conf) {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("data directory %s: %v, want none made", data, err)
			}
		})
	}
}

// TestHelenServeWaitsForConfiguration: helen serve, which helen.service
// runs, exits with setup.ExitConfig too when its config file is wrong,
// before it opens anything.
func TestHelenServeWaitsForConfiguration(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "helen.conf")
	if err := os.WriteFile(conf, []byte("lisen = 127.0.0.1:0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, built[v100], "--config", conf, "helen", "serve", "--data", data, "--http=")
	cmd.Env = testEnv(t)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != setup.ExitConfig || !strings.Contains(string(out), `no flag "lisen" (nearest: listen)`) {
		t.Fatalf("helen serve with a typo in its config: %v, want exit status %d naming the typo\n%s", err, setup.ExitConfig, out)
	}
	if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data directory %s: %v, want none made", data, err)
	}
}
