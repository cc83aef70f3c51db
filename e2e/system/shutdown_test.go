package system

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// drain is the agent's drain time: its default, which bounds how long a
// shutdown takes.
const drain = 5 * time.Second

// TestStopDuringBacktrackingCheck stops an agent with SIGTERM while a check
// is deep in a backtracking pattern, which no timeout stopped once: the
// agent cancels the check, sends helen its result, and exits within its
// drain time.
func TestStopDuringBacktrackingCheck(t *testing.T) {
	h := startHelen(t, t.TempDir(), freePort(t), freePort(t))
	checks := t.TempDir()
	stuck := `local log = require("log")
return function()
  log.info("backtracking")
  return {status = "ok", message = tostring(string.find(string.rep("a", 1e5), ".-.-.-.-.-b"))}
end`
	if err := os.WriteFile(filepath.Join(checks, "stuck.lua"), []byte(stuck), 0o644); err != nil {
		t.Fatal(err)
	}
	agent := start(t, "agent stuck-1", "equus", "--helen", h.listen, "--ca-pin", h.pin,
		"--token", h.token(t, 1), "--name", "stuck-1", "--data", t.TempDir(), "--checks", checks)
	h.waitConnected(t, "stuck-1", 30*time.Second)

	type outcome struct {
		out  string
		code int
	}
	ran := make(chan outcome, 1)
	go func() {
		// A timeout of ten minutes: only the shutdown ends the check.
		out, code := run(t, "helen", "run", "--data", h.data, "--timeout", "10m", "stuck-1", "stuck")
		ran <- outcome{out, code}
	}()
	agent.waitOutput("msg=backtracking", 30*time.Second)
	stopped := time.Now()
	if err := agent.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-agent.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the agent did not exit within 30 s of SIGTERM")
	}
	took := time.Since(stopped)
	t.Logf("the agent exited %v after SIGTERM (drain time %v)", took.Round(time.Millisecond), drain)
	if agent.err != nil {
		t.Errorf("the agent exited with %v", agent.err)
	}
	if took > drain {
		t.Errorf("the agent took %v to exit, more than its drain time of %v", took, drain)
	}
	if out := agent.output(); strings.Contains(out, "leaving them behind") {
		t.Errorf("the agent left the check running:\n%s", out)
	}
	select {
	case r := <-ran:
		if r.code != 3 || !strings.HasPrefix(r.out, "UNKNOWN: canceled") {
			t.Errorf("helen run: exit %d, %q, want the check's result, unknown, canceled", r.code, r.out)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("helen run did not return")
	}
}
