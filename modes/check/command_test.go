package check

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/equus-monitoring/equus/modes/setup"
	"github.com/equus-monitoring/equus/result"
)

// checks is a check directory for the tests.
var checks = map[string]string{
	"says": `return { description = "returns args.status and args.message", run = function(args)
  return { status = args.status, message = args.message,
    metrics = { { name = "v", value = 0.5, warn = 1, crit = 2 } } }
end }`,
	"noisy":  `local log = require("log") return function() log.warn("psst") return { status = "ok", message = "done" } end`,
	"broken": `return {`,
	"spin":   `return function() while true do end end`,
}

func checkDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range checks {
		if err := os.WriteFile(filepath.Join(dir, name+".lua"), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// run runs "equus check ARGS..." in process and returns its stdout,
// stderr and exit status.
func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	app := &cli.App{
		Name:           "equus",
		Flags:          setup.GlobalFlags(),
		Commands:       []*cli.Command{Command()},
		Writer:         &stdout,
		ErrWriter:      &stderr,
		ExitErrHandler: func(*cli.Context, error) {},
	}
	setup.Guard(app)
	err := app.Run(append([]string{"equus", "check"}, args...))
	code := setup.ExitCode(&stderr, err)
	return stdout.String(), stderr.String(), code
}

func TestExitCodes(t *testing.T) {
	dir := checkDir(t)
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string // prefix
		stderr string // substring
	}{
		{"ok", []string{"says", `{"status":"ok","message":"fine"}`}, 0, "OK: fine | v=0.5;1;2\n", ""},
		{"warning", []string{"says", `{"status":"warning","message":"hmm"}`}, 1, "WARNING: hmm | v=0.5;1;2\n", ""},
		{"critical", []string{"says", `{"status":"critical","message":"bad"}`}, 2, "CRITICAL: bad", ""},
		{"unknown", []string{"says", `{"status":"unknown","message":"?"}`}, 3, "UNKNOWN: ?", ""},
		{"no-status", []string{"says"}, 3, "UNKNOWN: bad return value: no status", ""},
		{"no-such-check", []string{"nosuch"}, 3, `UNKNOWN: no check named "nosuch"`, ""},
		{"broken", []string{"broken"}, 3, "UNKNOWN: check broken (", ""},
		{"timeout", []string{"--timeout", "50ms", "spin"}, 3, "UNKNOWN: timed out after 50ms", ""},
		{"log-goes-to-stderr", []string{"noisy"}, 0, "OK: done", "psst"},
		{"no-name", nil, 3, "", "missing the check NAME"},
		{"bad-json", []string{"says", `{"status":`}, 3, "", "bad ARGS_JSON"},
		{"json-not-object", []string{"says", `[1]`}, 3, "", "bad ARGS_JSON"},
		{"too-many", []string{"says", `{}`, "extra"}, 3, "", "got 3 arguments"},
		{"unknown-flag", []string{"--jsno", "says"}, 3, "", "not defined: -jsno (nearest: --json)"},
		{"list-with-args", []string{"--list", "says"}, 3, "", "--list takes no arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--checks", dir}, tt.args...)
			stdout, stderr, code := run(t, args...)
			if code != tt.code || !strings.HasPrefix(stdout, tt.stdout) || !strings.Contains(stderr, tt.stderr) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d, stdout %q..., stderr with %q",
					code, stdout, stderr, tt.code, tt.stdout, tt.stderr)
			}
		})
	}
}

func TestJSONOutput(t *testing.T) {
	stdout, _, code := run(t, "--checks", checkDir(t), "--json", "says", `{"status":"critical","message":"down"}`)
	if code != 2 {
		t.Fatalf("exit %d", code)
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(stdout), &raw); err != nil {
		t.Fatalf("not JSON: %q", stdout)
	}
	d := result.Parse([]byte(stdout))
	if d.Status != result.Critical || d.Message != "down" || len(d.Metrics) != 1 || raw["duration_ms"] == nil {
		t.Fatalf("got %s", stdout)
	}
}

func TestList(t *testing.T) {
	dir := checkDir(t)
	stdout, _, code := run(t, "--checks", dir, "--list")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"says", "returns args.status and args.message", "broken", "BROKEN (" + filepath.Join(dir, "broken.lua") + "): syntax error"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("--list lacks %q:\n%s", want, stdout)
		}
	}
	stdout, _, _ = run(t, "--checks", dir, "--list", "--json")
	var list []map[string]string
	if err := json.Unmarshal([]byte(stdout), &list); err != nil {
		t.Fatalf("--list --json: %v\n%s", err, stdout)
	}
	found := map[string]bool{}
	for _, c := range list {
		found[c["name"]] = true
	}
	if !found["says"] || !found["broken"] {
		t.Fatalf("--list --json: %s", stdout)
	}
}

func TestEnvVars(t *testing.T) {
	t.Setenv("EQUUS_CHECKS", checkDir(t))
	if stdout, stderr, code := run(t, "says", `{"status":"ok"}`); code != 0 {
		t.Fatalf("exit %d, %q %q", code, stdout, stderr)
	}
	t.Setenv("EQUUS_CHECKS", filepath.Join(t.TempDir(), "missing"))
	if _, stderr, code := run(t, "says"); code != 3 || !strings.Contains(stderr, "check directory") {
		t.Fatalf("a missing EQUUS_CHECKS dir: exit %d, %q", code, stderr)
	}
}

// The exec policy flags reach the runtime: the library's nagios check runs
// a plugin of --exec-dir, a wrapper only with --allow-wrappers, nothing
// with --no-exec; a policy that makes no sense is a usage error.
func TestExecPolicy(t *testing.T) {
	plugins := t.TempDir()
	for name, body := range map[string]string{
		"check_fine": "echo 'FINE OK'", "negate": `exec "$@"`,
		"check_long": "printf 'LONG WARNING | a=1;1:2\\n  detail 1\\n  detail 2 | b=U\\n'; exit 1",
	} {
		if err := os.WriteFile(filepath.Join(plugins, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	fine, wrapped := `{"plugin":"check_fine"}`, `{"plugin":"negate","args":["/bin/echo","wrapped"]}`
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string // prefix
		stderr string // substring
	}{
		{"plugin", []string{"--exec-dir", plugins, "nagios", fine}, 0, "OK: FINE OK", ""},
		{"long-output", []string{"--exec-dir", plugins, "nagios", `{"plugin":"check_long"}`}, 1, "WARNING: LONG WARNING | a=1;1:2 b=U\n  detail 1\n  detail 2\n", ""},
		{"wrapper", []string{"--exec-dir", plugins, "nagios", wrapped}, 3, "UNKNOWN: exec: refused by the agent's policy: negate runs the command in its arguments", ""},
		{"wrapper-allowed", []string{"--exec-dir", plugins, "--allow-wrappers", "negate", "nagios", wrapped}, 0, "OK: wrapped", ""},
		{"no-exec", []string{"--no-exec", "nagios", fine}, 3, "UNKNOWN: exec: refused by the agent's policy: running programs is turned off (--no-exec)", ""},
		{"unknown-wrapper", []string{"--allow-wrappers", "check_fine", "nagios", fine}, 3, "", `--allow-wrappers "check_fine": not a program the agent refuses`},
		{"no-exec-with-dir", []string{"--no-exec", "--exec-dir", plugins, "nagios", fine}, 3, "", "--no-exec turns running programs off"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := run(t, tt.args...)
			if code != tt.code || !strings.HasPrefix(stdout, tt.stdout) || !strings.Contains(stderr, tt.stderr) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d, stdout %q..., stderr with %q",
					code, stdout, stderr, tt.code, tt.stdout, tt.stderr)
			}
		})
	}
}

// TestEscapedOutput: a check's message with a color, a carriage return, a
// bell and a bidi override is printed escaped, its status first; in
// --json too, as JSON escapes that decode to the message.
func TestEscapedOutput(t *testing.T) {
	dir := checkDir(t)
	msg := "full\x1b[32m\rOK everything fine\a\u202eKO\u0085"
	args, _ := json.Marshal(map[string]string{"status": "critical", "message": msg})
	out, _, code := run(t, "--checks", dir, "says", string(args))
	if want := `CRITICAL: full\x1b[32m\rOK everything fine\a\u202eKO\u0085 | v=0.5;1;2` + "\n"; code != 2 || out != want {
		t.Errorf("exit %d, printed %q; want 2 and %q", code, out, want)
	}
	out, _, _ = run(t, "--checks", dir, "--json", "says", string(args))
	var doc result.Doc
	if err := json.Unmarshal([]byte(out), &doc); err != nil || doc.Message != msg {
		t.Errorf("--json: %q (%v), want the message %q", out, err, msg)
	}
	if strings.ContainsAny(out, "\x1b\r\a\u202e\u0085") {
		t.Errorf("--json: raw controls in %q", out)
	}
}
