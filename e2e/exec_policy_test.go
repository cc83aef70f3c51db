package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/result"
)

// pluginDir is where Debian's monitoring-plugins packages install the
// plugins.
const pluginDir = "/usr/lib/nagios/plugins"

// hostileNagios replaces the library's nagios check in helen's bundle: it
// hands whatever plugin and args helen sends to exec.run, and returns all
// the program printed.
const hostileNagios = `local exec = require("exec")
return function(args)
  local res, err = exec.run(args.plugin, args.args or {})
  if not res then return {status = "unknown", message = err} end
  return {status = "ok", message = res.stdout .. res.stderr}
end
`

// hostileShell tries every way it knows to a shell and returns what each
// gave, one line each.
const hostileShell = `local exec = require("exec")
return function()
  local shell = {"/bin/sh", "-c", "id"}
  local tries = {
    {"/bin/sh", {"-c", "id"}},
    {"` + pluginDir + `/../../../../bin/sh", {"-c", "id"}},
    {"negate", shell}, {"` + pluginDir + `/negate", shell},
    {"urlize", {"http://x", "/bin/sh", "-c", "id"}},
    {"check_by_ssh", {"-H", "127.0.0.1", "-o", "ProxyCommand=/bin/sh -c id", "-C", "true"}},
    {"equus", {"check", "--allow-wrappers", "negate", "nagios", '{"plugin":"negate","args":["/bin/sh","-c","id"]}'}},
    {"check_agent", {"check", "--allow-wrappers", "negate", "nagios", '{"plugin":"negate","args":["/bin/sh","-c","id"]}'}},
  }
  local lines = {}
  for _, t in ipairs(tries) do
    local res, err = exec.run(t[1], t[2])
    lines[#lines + 1] = t[1] .. " -> " .. (res and (res.stdout .. res.stderr) or err)
  end
  return {status = "ok", message = "tried:\n" .. table.concat(lines, "\n")}
end
`

// requirePlugins skips the test when the monitoring plugins are missing,
// or fails it when EQUUS_REQUIRE_PLUGINS=1.
func requirePlugins(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(pluginDir, n)); err != nil {
			msg := "monitoring plugin " + n + " not installed (apt-get install monitoring-plugins-basic): " + err.Error()
			if os.Getenv("EQUUS_REQUIRE_PLUGINS") == "1" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
}

// A helen that turned hostile, with its own check bundle (a nagios check
// without the library's name check, and a check that tries every way to a
// shell) and its own args, gets no shell on a real agent under stage0: the
// agent's exec policy, from its config file, refuses the wrappers and
// everything outside the plugin directories, and lets an ordinary plugin
// and the one wrapper the config file allows run.
func TestAgentExecPolicy(t *testing.T) {
	t.Parallel()
	requirePlugins(t, "negate", "urlize", "check_by_ssh", "check_dummy")
	checks := t.TempDir()
	for name, src := range map[string]string{"nagios.lua": hostileNagios, "shell.lua": hostileShell} {
		if err := os.WriteFile(filepath.Join(checks, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A directory of the operator's, with a stand-in for timeout(1) that
	// the config file allows, a copy of equus (which would run checks
	// under flags of helen's choosing) and a hard link to the agent's
	// own executable.
	own := t.TempDir()
	if err := os.WriteFile(filepath.Join(own, "timeout"), []byte("#!/bin/sh\nshift\nexec \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	bin := installAgent(t, v110)
	exe, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(own, "equus"), exe, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(bin, filepath.Join(own, "check_agent")); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(t.TempDir(), "equus.conf")
	if err := os.WriteFile(conf, []byte("exec-dir = "+pluginDir+", "+own+"\nallow-wrappers = timeout\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	h := startHelen(t, built[v110], "--checks="+checks)
	startProc(t, "stage0", bin, "--config", conf, "stage0",
		"--helen", h.addr, "--ca-pin", h.pin, "--token", h.token(t).Token,
		"--name", agentName, "--data", filepath.Join(t.TempDir(), "agent"),
		"--restart-backoff", "200ms", "--ready-timeout", "30s")
	h.agentReady(t, agentName, v110, time.Minute)
	var doc result.Doc
	poll(t, "helen's bundle to reach the agent", time.Minute, func() bool {
		doc = h.runCheck(t, agentName, "shell")
		return strings.HasPrefix(doc.Message, "tried:")
	})
	// Eight tries, each refused; a program that ran would have printed
	// (the agent runs as root here) uid=0(root).
	if n := strings.Count(doc.Message, "refused by the agent's policy"); n != 8 || strings.Contains(doc.Message, "uid=") {
		t.Errorf("shell: %d refusals, want 8, and no id output:\n%s", n, doc.Message)
	}

	for _, tt := range []struct{ args, want string }{
		{`{"plugin":"negate","args":["/bin/sh","-c","id"]}`, "negate runs the command in its arguments"},
		{`{"plugin":"urlize","args":["http://x","/bin/sh","-c","id"]}`, "urlize runs the command in its arguments"},
		{`{"plugin":"/bin/sh","args":["-c","id"]}`, "not in an allowed directory"},
		{`{"plugin":"equus","args":["check","--allow-wrappers","negate","nagios","{}"]}`, "equus is equus, whose flags set this policy"},
		{`{"plugin":"check_agent","args":["check","--allow-wrappers","negate","nagios","{}"]}`, "the agent's own executable"},
	} {
		doc := h.runCheck(t, agentName, "nagios", tt.args)
		if doc.Status != result.Unknown || !strings.Contains(doc.Message, "refused by the agent's policy") ||
			!strings.Contains(doc.Message, tt.want) || strings.Contains(doc.Message, "uid=") {
			t.Errorf("nagios %s: %s %q, want a refusal with %q", tt.args, doc.Status, doc.Message, tt.want)
		}
	}
	for _, tt := range []struct{ args, want string }{
		{`{"plugin":"check_dummy","args":["0","fine"]}`, "OK: fine"},
		{`{"plugin":"timeout","args":["5","` + pluginDir + `/check_dummy","1","via timeout"]}`, "WARNING: via timeout"},
	} {
		if doc := h.runCheck(t, agentName, "nagios", tt.args); doc.Status != result.OK || !strings.Contains(doc.Message, tt.want) {
			t.Errorf("nagios %s: %s %q, want ok with %q", tt.args, doc.Status, doc.Message, tt.want)
		}
	}

	// no-exec in a config file turns running programs off for equus check.
	off := filepath.Join(t.TempDir(), "off.conf")
	if err := os.WriteFile(off, []byte("no-exec = true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, bin, "--config", off, "check", "nagios", `{"plugin":"check_dummy","args":["0","fine"]}`)
	if err == nil || !strings.Contains(out, "refused by the agent's policy: running programs is turned off") {
		t.Errorf("equus check with no-exec = true: %q, %v", out, err)
	}
}
