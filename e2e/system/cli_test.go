package system

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCommandLineRefusals runs the executable with command lines it must
// refuse, against a running helen: each is a clear error with a non-zero
// exit status (2 for a usage error, 3 for one of helen run) that changes
// nothing.
func TestCommandLineRefusals(t *testing.T) {
	h := startHelen(t, t.TempDir(), freePort(t), freePort(t))
	parent := t.TempDir()
	conf := filepath.Join(t.TempDir(), "helen.conf")
	if err := os.WriteFile(conf, []byte("# a typo\nuzes = 5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"not-a-helen-dir", []string{"helen", "token", "--data", parent}, 2, parent + ": not a helen data directory (no CA, no database)"},
		{"stray-argument", []string{"helen", "token", "list", "--data", h.data}, 2, `helen token: takes no arguments, got ["list"]`},
		{"config-typo", []string{"--config", conf, "helen", "token", "--data", h.data}, 2, `:2: no flag "uzes" (nearest: uses)`},
		{"too-often", []string{"helen", "schedule", "add", "quick", "--check", "load", "--every", "100ms", "--data", h.data}, 2, "interval 100ms is under the minimum of 1s"},
		{"timeout-past-interval", []string{"helen", "schedule", "add", "slow", "--check", "load", "--every", "10s", "--timeout", "30s", "--data", h.data}, 2, "longer than the interval"},
		{"no-such-check", []string{"helen", "schedule", "add", "x", "--check", "nosuchcheck", "--every", "1m", "--data", h.data}, 1, `no such check "nosuchcheck"`},
		{"unknown-agent", []string{"helen", "revoke", "ghost", "--data", h.data}, 1, "no such agent: ghost"},
		{"run-missing-check", []string{"helen", "run", "web-1", "--data", h.data}, 3, "missing CHECK"},
		{"unknown-command", []string{"helen", "tokens", "--data", h.data}, 2, `no command "tokens" (nearest: token)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code := run(t, tt.args...)
			if code != tt.code || !strings.Contains(out, tt.msg) {
				t.Errorf("equus %s: exit %d, %q; want %d and %q", strings.Join(tt.args, " "), code, out, tt.code, tt.msg)
			}
		})
	}
	if entries, err := os.ReadDir(parent); err != nil || len(entries) != 0 {
		t.Errorf("the refused command wrote %v in %s (%v)", entries, parent, err)
	}
	out, code := run(t, "helen", "schedule", "list", "--json", "--data", h.data)
	var schedules []struct{ Name string }
	if err := json.Unmarshal([]byte(out), &schedules); err != nil || code != 0 || len(schedules) != 0 {
		t.Errorf("schedules after the refusals: exit %d, %q (%v)", code, out, err)
	}
	for _, a := range h.agents(t) {
		t.Errorf("agents after the refusals: %+v", a)
	}
}
