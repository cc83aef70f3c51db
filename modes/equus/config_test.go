package equus

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/equus-monitoring/equus/modes/setup"
)

const testPin = "sha256:0000000000000000000000000000000000000000000000000000000000000000"

func TestValidate(t *testing.T) {
	p := newTestPKI(t)
	good := Config{Version: "0.0.0-dev", Helens: []string{"helen.example:7480"}, CAFile: p.caFile, CertFile: p.certFile, KeyFile: p.keyFile, DataDir: t.TempDir()}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string // in the error; "" for none
	}{
		{"good", func(*Config) {}, ""},
		{"pin-only", func(c *Config) { c.CAFile, c.CAPin = "", testPin }, ""},
		{"token", func(c *Config) { c.CertFile, c.KeyFile, c.Token, c.Name = "", "", "t", "web-1" }, ""},
		{"insecure-loopback", func(c *Config) {
			*c = Config{Version: "1.0.0", Helens: []string{"127.0.0.1:7480"}, InsecurePlaintext: true}
		}, ""},
		{"insecure-localhost", func(c *Config) {
			*c = Config{Version: "1.0.0", Helens: []string{"localhost:7480"}, InsecurePlaintext: true}
		}, ""},
		{"insecure-remote", func(c *Config) { c.InsecurePlaintext = true }, "not a loopback"},
		{"bad-version", func(c *Config) { c.Version = "dev" }, "semantic version"},
		{"no-port", func(c *Config) { c.Helens = []string{"helen.example"} }, "HOST:PORT"},
		{"no-trust", func(c *Config) { c.CAFile = "" }, "--ca"},
		{"bad-pin", func(c *Config) { c.CAPin = "md5:00" }, "--ca-pin"},
		{"cert-without-key", func(c *Config) { c.KeyFile = "" }, "--cert and --key"},
		{"not-enrolled", func(c *Config) { c.CertFile, c.KeyFile = "", "" }, "not enrolled"},
		{"bad-name", func(c *Config) { c.CertFile, c.KeyFile, c.Token, c.Name = "", "", "t", "web 1" }, "--name"},
		{"no-exec", func(c *Config) { c.Exec.Off = true }, ""},
		{"allow-wrappers", func(c *Config) { c.Exec.AllowWrappers = []string{"negate"} }, ""},
		{"unknown-wrapper", func(c *Config) { c.Exec.AllowWrappers = []string{"check_dummy"} }, `--allow-wrappers "check_dummy"`},
		{"no-exec-with-dirs", func(c *Config) { c.Exec.Off, c.Exec.Dirs = true, []string{"/opt/a"} }, "--no-exec"},
		{"relative-exec-dir", func(c *Config) { c.Exec.Dirs = []string{"opt"} }, "--exec-dir"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.change(&cfg)
			err := cfg.validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("validate = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("validate = %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// runCLI runs the equus command with args and returns the Config it built.
func runCLI(t *testing.T, env map[string]string, args ...string) (Config, error) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	var cfg Config
	var cfgErr error
	cmd := Command("1.2.3")
	cmd.Action = func(c *cli.Context) error {
		cfg, cfgErr = ConfigFromCLI(c, "1.2.3")
		return nil
	}
	var out bytes.Buffer
	app := &cli.App{Name: "equus", Flags: setup.GlobalFlags(), Commands: []*cli.Command{cmd}, Writer: &out, ErrWriter: &out}
	if err := app.RunContext(context.Background(), append([]string{"equus", "equus"}, args...)); err != nil {
		return cfg, err
	}
	return cfg, cfgErr
}

func TestConfigFromCLI(t *testing.T) {
	p := newTestPKI(t)
	data := t.TempDir()
	cfg, err := runCLI(t, map[string]string{"EQUUS_TOKEN": "tok", "EQUUS_SUPERVISED": "1"},
		"--helen", "helen.example:7480", "--ca-pin", testPin, "--name", "web-9", "--data", data,
		"--exec-dir", "/opt/a", "--exec-dir", "/opt/b", "--allow-wrappers", "negate,check_by_ssh",
		"--concurrency", "4", "--max-check-heap", "256")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxCheckHeap != 256<<20 {
		t.Errorf("--max-check-heap 256: %d bytes, want %d", cfg.MaxCheckHeap, 256<<20)
	}
	if !slices.Equal(cfg.Helens, []string{"helen.example:7480"}) || cfg.CAPin != testPin || cfg.Token != "tok" || cfg.Name != "web-9" ||
		cfg.DataDir != data || cfg.Concurrency != 4 || !cfg.Supervised || cfg.Version != "1.2.3" ||
		!slices.Equal(cfg.Exec.Dirs, []string{"/opt/a", "/opt/b"}) || cfg.Exec.Off ||
		!slices.Equal(cfg.Exec.AllowWrappers, []string{"negate", "check_by_ssh"}) || cfg.Ready == nil {
		t.Errorf("config: %+v", cfg)
	}
	if cfg.ChecksDir != "" {
		t.Errorf("checks dir %q without DATA/checks", cfg.ChecksDir)
	}

	// Defaults: the host name, 32 checks at once, DATA/checks when it exists.
	checks := filepath.Join(data, "checks")
	if err := mkdir(checks); err != nil {
		t.Fatal(err)
	}
	cfg, err = runCLI(t, map[string]string{"EQUUS_HELEN": "127.0.0.1:7480", "EQUUS_CA": p.caFile, "EQUUS_SUPERVISED": "",
		"EQUUS_CERT": p.certFile, "EQUUS_KEY": p.keyFile, "EQUUS_DATA": data, "EQUUS_TOKEN": ""})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name == "" || cfg.Concurrency != DefaultConcurrency || cfg.ChecksDir != checks || cfg.Supervised || cfg.CertFile != p.certFile {
		t.Errorf("config: %+v", cfg)
	}
	if cfg.ConfigFile != "" {
		t.Errorf("config file %q without --config", cfg.ConfigFile)
	}

	// The config file is kept, for checks not to read it.
	cfg, err = runCLI(t, map[string]string{"EQUUS_CONFIG": "/etc/equus/equus.conf"}, "--helen", "h:1", "--ca", p.caFile, "--cert", p.certFile, "--key", p.keyFile)
	if err != nil || cfg.ConfigFile != "/etc/equus/equus.conf" {
		t.Errorf("EQUUS_CONFIG: config file %q, %v", cfg.ConfigFile, err)
	}

	if _, err := runCLI(t, nil, "--helen", "h:1", "--ca", p.caFile, "--cert", p.certFile, "--key", p.keyFile, "--concurrency", "0"); err == nil {
		t.Error("--concurrency 0 accepted")
	}

	// The policy from the environment; turned off, it allows nothing more.
	cfg, err = runCLI(t, map[string]string{"EQUUS_NO_EXEC": "1"}, "--helen", "h:1", "--ca", p.caFile, "--cert", p.certFile, "--key", p.keyFile)
	if err != nil || !cfg.Exec.Off {
		t.Errorf("EQUUS_NO_EXEC=1: %+v, %v", cfg.Exec, err)
	}
	_, err = runCLI(t, map[string]string{"EQUUS_NO_EXEC": "1", "EQUUS_ALLOW_WRAPPERS": "negate"}, "--helen", "h:1", "--ca", p.caFile, "--cert", p.certFile, "--key", p.keyFile)
	if err == nil || !strings.Contains(err.Error(), "--no-exec") {
		t.Errorf("--no-exec with --allow-wrappers: %v", err)
	}
}

func mkdir(path string) error { return os.MkdirAll(path, 0o700) }

func TestSessionBoundFlags(t *testing.T) {
	p := newTestPKI(t)
	base := []string{"--helen", "h:1", "--ca", p.caFile, "--cert", p.certFile, "--key", p.keyFile}
	cfg, err := runCLI(t, map[string]string{"EQUUS_MAX_UNSENT_RESULTS": "7"}, append(base, "--max-queued-checks", "5")...)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxQueuedChecks != 5 || cfg.MaxUnsentResults != 7 {
		t.Errorf("--max-queued-checks 5, EQUUS_MAX_UNSENT_RESULTS=7: %d, %d", cfg.MaxQueuedChecks, cfg.MaxUnsentResults)
	}
	cfg, err = runCLI(t, map[string]string{"EQUUS_MAX_UNSENT_RESULTS": ""}, base...)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxQueuedChecks != DefaultMaxQueuedChecks || cfg.MaxUnsentResults != DefaultMaxUnsentResults {
		t.Errorf("defaults: %d, %d", cfg.MaxQueuedChecks, cfg.MaxUnsentResults)
	}
	for _, flag := range []string{"--max-queued-checks", "--max-unsent-results"} {
		if _, err := runCLI(t, nil, append(base, flag, "0")...); err == nil || !strings.Contains(err.Error(), flag+" 0: want at least 1") {
			t.Errorf("%s 0: %v, want an error naming it", flag, err)
		}
	}
}

func TestShellFlags(t *testing.T) {
	p := newTestPKI(t)
	base := []string{"--helen", "h:1", "--ca", p.caFile, "--cert", p.certFile, "--key", p.keyFile}
	cfg, err := runCLI(t, map[string]string{"EQUUS_ALLOW_SHELL": "1", "EQUUS_SHELL_USERS": "ops, deploy", "EQUUS_SHELL_SESSIONS": "2"},
		append(base, "--shell-idle-timeout", "5m", "--shell-max-duration", "1h")...)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.AllowShell || !slices.Equal(cfg.Shell.Users, []string{"ops", "deploy"}) || cfg.Shell.Sessions != 2 ||
		cfg.Shell.IdleTimeout != 5*time.Minute || cfg.Shell.MaxDuration != time.Hour {
		t.Errorf("shell flags: allow %v, %+v", cfg.AllowShell, cfg.Shell)
	}
	cfg, err = runCLI(t, map[string]string{"EQUUS_ALLOW_SHELL": "", "EQUUS_SHELL_USERS": "", "EQUUS_SHELL_SESSIONS": ""}, base...)
	if err != nil || cfg.AllowShell || cfg.Shell.Users != nil || cfg.Shell.Sessions != 4 ||
		cfg.Shell.IdleTimeout != 15*time.Minute || cfg.Shell.MaxDuration != 8*time.Hour {
		t.Errorf("shell defaults: allow %v, %+v, %v", cfg.AllowShell, cfg.Shell, err)
	}
	for _, args := range [][]string{{"--shell-sessions", "0"}, {"--shell-idle-timeout", "0s"}, {"--shell-max-duration", "-1h"}} {
		if _, err := runCLI(t, nil, append(base, args...)...); err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("%v: %v, want an error naming it", args, err)
		}
	}
	_, err = runCLI(t, nil, "--helen", "127.0.0.1:1", "--insecure-plaintext", "--allow-shell")
	if err == nil || !strings.Contains(err.Error(), "--allow-shell needs TLS") {
		t.Errorf("--allow-shell --insecure-plaintext: %v", err)
	}
}
