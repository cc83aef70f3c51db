package lua

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	glua "github.com/yuin/gopher-lua"

	"github.com/equus-monitoring/equus/result"
)

// policyRuntime opens a runtime on the embedded library with policy p.
func policyRuntime(t *testing.T, p ExecPolicy, private ...string) *Runtime {
	t.Helper()
	rt, err := New(Options{Exec: p, PrivatePaths: private})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Close)
	return rt
}

// runNagios runs the library's nagios check with args (JSON) in rt.
func runNagios(t *testing.T, rt *Runtime, args string) result.Doc {
	t.Helper()
	return rt.Run(context.Background(), "nagios", []byte(args))
}

// wantRefused fails the test unless doc is a refusal by the policy that
// says want, with nothing of what the program would have printed.
func wantRefused(t *testing.T, doc result.Doc, want string) {
	t.Helper()
	if doc.Status != result.Unknown || !strings.Contains(doc.Message, "refused by the agent's policy") ||
		!strings.Contains(doc.Message, want) || strings.Contains(doc.Message, "uid=") {
		t.Errorf("got %s %q, want unknown, refused by the agent's policy: ...%s...", doc.Status, doc.Message, want)
	}
}

// The wrapper plugins of the Monitoring Plugins that run any command are
// refused under the default policy, however the nagios check is called;
// the ordinary plugins still run; --allow-wrappers and --no-exec do what
// they say.
func TestExecPolicyNagiosPlugins(t *testing.T) {
	requirePlugins(t, "negate", "urlize", "check_by_ssh", "check_apt", "check_log", "check_dummy", "check_disk")
	sh := `["/bin/sh", "-c", "id"]`
	secret, copy := filepath.Join(t.TempDir(), "secret"), filepath.Join(t.TempDir(), "copy")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rt := policyRuntime(t, ExecPolicy{})
	for _, tt := range []struct{ name, args, want string }{
		{"negate", `{"plugin": "negate", "args": ` + sh + `}`, "negate runs the command in its arguments (allow it with --allow-wrappers negate)"},
		{"negate-timeout", `{"plugin": "negate", "args": ["-t", "5", "/bin/sh", "-c", "id"]}`, "negate runs"},
		{"urlize", `{"plugin": "urlize", "args": ["http://x", "/bin/sh", "-c", "id"]}`, "urlize runs"},
		{"check_by_ssh", `{"plugin": "check_by_ssh", "args": ["-H", "127.0.0.1", "-o", "ProxyCommand=/bin/sh -c id", "-C", "true"]}`, "check_by_ssh runs ssh"},
		// Harmless should they run: apt-get --version, and a copy of a
		// file of the test's own.
		{"check_apt", `{"plugin": "check_apt", "args": ["--update=--version"]}`, "check_apt passes"},
		{"check_log", `{"plugin": "check_log", "args": ["-F", ` + q(secret) + `, "-O", ` + q(copy) + `, "-q", "."]}`, "check_log copies"},
	} {
		t.Run(tt.name, func(t *testing.T) { wantRefused(t, runNagios(t, rt, tt.args), tt.want) })
	}
	if _, err := os.Stat(copy); err == nil {
		t.Error("check_log ran: it copied the file")
	}
	t.Run("ordinary", func(t *testing.T) {
		if doc := runNagios(t, rt, `{"plugin": "check_dummy", "args": ["1", "hmm"]}`); doc.Status != result.Warning || doc.Message != "hmm" {
			t.Errorf("check_dummy: %s %q", doc.Status, doc.Message)
		}
		if doc := runNagios(t, rt, `{"plugin": "check_disk", "args": ["-w", "1%", "-c", "1%", "-p", "/"]}`); doc.Status == result.Unknown || len(doc.Metrics) == 0 {
			t.Errorf("check_disk: %s %q", doc.Status, doc.Message)
		}
	})

	t.Run("linked", func(t *testing.T) {
		// A link under a plugin's name, in an allowed directory, to a
		// wrapper: refused by the wrapper's name where the wrapper's
		// directory is allowed, and as outside where it is not.
		dir := t.TempDir()
		if err := os.Symlink(filepath.Join(pluginDir, "negate"), filepath.Join(dir, "check_fine")); err != nil {
			t.Fatal(err)
		}
		both := policyRuntime(t, ExecPolicy{Dirs: []string{dir, pluginDir}})
		wantRefused(t, runNagios(t, both, `{"plugin": "check_fine", "args": `+sh+`}`), "negate runs")
		only := policyRuntime(t, ExecPolicy{Dirs: []string{dir}})
		wantRefused(t, runNagios(t, only, `{"plugin": "check_fine", "args": `+sh+`}`), "not in an allowed directory")
	})

	t.Run("allowed", func(t *testing.T) {
		allow := policyRuntime(t, ExecPolicy{AllowWrappers: []string{"negate"}})
		// id exits 0, which negate turns into critical: allowing negate
		// hands out any command, which is why it is not the default.
		if doc := runNagios(t, allow, `{"plugin": "negate", "args": `+sh+`}`); doc.Status != result.Critical || !strings.Contains(doc.Message, "uid=") {
			t.Errorf("negate allowed: %s %q, want critical with id's output", doc.Status, doc.Message)
		}
		wantRefused(t, runNagios(t, allow, `{"plugin": "urlize", "args": ["http://x", "/bin/sh", "-c", "id"]}`), "urlize runs")
	})

	t.Run("no-exec", func(t *testing.T) {
		off := policyRuntime(t, ExecPolicy{Off: true})
		wantRefused(t, runNagios(t, off, `{"plugin": "check_dummy", "args": ["0", "fine"]}`), "running programs is turned off (--no-exec)")
		wantRefused(t, runNagios(t, off, `{"plugin": "negate", "args": `+sh+`}`), "turned off")
	})
}

// policyFixture makes an allowed directory holding a stand-in for negate
// (a script that runs its arguments), links to it and out of the
// directory, and a directory beside it that is not allowed.
func policyFixture(t *testing.T) (allowed, outside string) {
	t.Helper()
	allowed, outside = execFixture(t)
	writeScript(t, filepath.Join(allowed, "negate"), `exec "$@"`)
	for link, target := range map[string]string{
		"check_innocent": "negate",              // a wrapper under a plugin's name
		"check_shell":    "/bin/sh",             // out of the directory
		"check_up":       "../outside/evil",     // out, relatively
		"check_ok":       "check_echo",          // in, to an ordinary plugin
		"sh":             "check_echo",          // a wrapper's name for an ordinary plugin
		"Negate.EXE":     "check_echo",          // and in other clothes
		"check_self":     mustExecutable(t),     // the agent itself
		"check_private":  "sub/check_sub",       // in, to a private directory
		"check_loop":     "check_loop",          // nowhere
		"check_dangling": "/nonexistent/plugin", // nowhere either
	} {
		if err := os.Symlink(target, filepath.Join(allowed, link)); err != nil {
			t.Fatal(err)
		}
	}
	return allowed, outside
}

func mustExecutable(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// What a hostile check (the bundle is helen's) can ask of exec.run: every
// way out of the allowed directories, every way to a wrapper, the agent's
// own executable and the data directory are refused by the policy, as a
// failure (nil, err), not an error raised.
func TestExecPolicyRefuses(t *testing.T) {
	allowed, outside := policyFixture(t)
	sub := filepath.Join(allowed, "sub")
	env := &Env{Exec: ExecPolicy{Dirs: []string{allowed}}, PrivatePaths: resolveDirs([]string{sub})}
	L := newModState(t, env)
	L.SetGlobal("DIR", glua.LString(allowed))
	L.SetGlobal("OUT", glua.LString(outside))
	L.SetGlobal("SELF", glua.LString(mustExecutable(t)))
	tests := []struct{ name, program, want string }{
		{"wrapper", "'negate'", "negate runs the command in its arguments (allow it with --allow-wrappers negate)"},
		{"wrapper-absolute", "DIR .. '/negate'", "negate runs"},
		{"wrapper-linked", "'check_innocent'", "negate runs"},
		{"wrapper-name", "'sh'", "sh is a shell"},
		{"wrapper-name-case", "'Negate.EXE'", "negate runs"},
		{"shell", "'/bin/sh'", "not in an allowed directory"},
		{"link-out", "'check_shell'", "not in an allowed directory"},
		{"link-up", "'check_up'", "not in an allowed directory"},
		{"dot-dot", "DIR .. '/../outside/evil'", "not in an allowed directory"},
		{"dot-dot-to-shell", "DIR .. '/../../../../../../bin/sh'", "not in an allowed directory"},
		{"outside", "OUT .. '/evil'", "not in an allowed directory"},
		{"self-linked", "'check_self'", "not in an allowed directory"},
		{"private", "DIR .. '/sub/check_sub'", "in the agent's data directory"},
		{"private-linked", "'check_private'", "in the agent's data directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vals, err := tryLua(L, "return require('exec').run("+tt.program+", {'-c', 'id'})")
			if err != nil {
				t.Fatalf("exec.run raised %v, want nil, err", err)
			}
			if len(vals) != 2 || vals[0] != glua.LNil || !strings.Contains(vals[1].String(), "exec: refused by the agent's policy: ") ||
				!strings.Contains(vals[1].String(), tt.want) {
				t.Errorf("run(%s) = %v, want nil and a refusal with %q", tt.program, vals, tt.want)
			}
		})
	}
	for _, program := range []string{"'check_loop'", "'check_dangling'"} {
		if vals := evalLua(t, L, "return require('exec').run("+program+")"); len(vals) != 2 || vals[0] != glua.LNil {
			t.Errorf("run(%s) = %v, want nil, err", program, vals)
		}
	}
	res := mustSucceed(t, evalLua(t, L, "return require('exec').run('check_ok', {'x'})"))
	if out := field(t, res, "stdout").String(); out != "out 1\nx\n" {
		t.Errorf("an ordinary plugin through a link: stdout %q", out)
	}

	// The agent's own executable, where a directory holding it is allowed:
	// it would run checks under flags of helen's choosing.
	selfEnv := &Env{Exec: ExecPolicy{Dirs: []string{filepath.Dir(mustExecutable(t)), allowed}}}
	S := newModState(t, selfEnv)
	S.SetGlobal("SELF", glua.LString(mustExecutable(t)))
	calls := []string{"SELF", "'check_self'"}
	hard := filepath.Join(allowed, "check_hard")
	if err := os.Link(mustExecutable(t), hard); err == nil {
		calls = append(calls, "'check_hard'")
	} else {
		t.Logf("no hard link to the test binary (%v): that case is not tried", err)
	}
	for _, program := range calls {
		vals := evalLua(t, S, "return require('exec').run("+program+", {'-test.run=none'})")
		if len(vals) != 2 || vals[0] != glua.LNil || !strings.Contains(vals[1].String(), "the agent's own executable") {
			t.Errorf("run(%s) = %v, want a refusal of the agent's own executable", program, vals)
		}
	}

	// Another path of the agent's executable (its supervisor's, of which
	// the running agent is a copy), by name and through a hard link.
	super := filepath.Join(allowed, "check_super")
	writeScript(t, super, `echo ran`)
	superHard := filepath.Join(allowed, "check_super_hard")
	if err := os.Link(super, superHard); err != nil {
		t.Fatal(err)
	}
	supEnv := &Env{Exec: ExecPolicy{Dirs: []string{allowed}, Self: []string{super}}}
	P := newModState(t, supEnv)
	for _, program := range []string{"'check_super'", "'check_super_hard'"} {
		vals := evalLua(t, P, "return require('exec').run("+program+")")
		if len(vals) != 2 || vals[0] != glua.LNil || !strings.Contains(vals[1].String(), "the agent's own executable") {
			t.Errorf("run(%s) with it in Self = %v, want a refusal of the agent's own executable", program, vals)
		}
	}

	allow := newModState(t, &Env{Exec: ExecPolicy{Dirs: []string{allowed}, AllowWrappers: []string{"negate"}}})
	res = mustSucceed(t, evalLua(t, allow, "return require('exec').run('negate', {'/bin/echo', 'ran'})"))
	if out := field(t, res, "stdout").String(); out != "ran\n" {
		t.Errorf("an allowed wrapper: stdout %q", out)
	}
	off := newModState(t, &Env{Exec: ExecPolicy{Off: true, Dirs: []string{allowed}}})
	vals := evalLua(t, off, "return require('exec').run('check_echo')")
	if len(vals) != 2 || vals[0] != glua.LNil || !strings.Contains(vals[1].String(), "refused by the agent's policy: running programs is turned off") {
		t.Errorf("run with the policy off = %v", vals)
	}
}

func TestExecPolicyValidate(t *testing.T) {
	for _, tt := range []struct {
		name string
		p    ExecPolicy
		want string // in the error; "" for none
	}{
		{"zero", ExecPolicy{}, ""},
		{"dirs", ExecPolicy{Dirs: []string{"/opt/plugins"}}, ""},
		{"allow", ExecPolicy{AllowWrappers: []string{"negate", "check_by_ssh"}}, ""},
		{"off", ExecPolicy{Off: true}, ""},
		{"relative-dir", ExecPolicy{Dirs: []string{"plugins"}}, `--exec-dir "plugins": want an absolute directory`},
		{"unknown-wrapper", ExecPolicy{AllowWrappers: []string{"negat"}}, `--allow-wrappers "negat": not a program the agent refuses (those are bash, busybox, check_apt`},
		{"off-with-dirs", ExecPolicy{Off: true, Dirs: []string{"/opt/plugins"}}, "--no-exec turns running programs off"},
		{"off-with-wrappers", ExecPolicy{Off: true, AllowWrappers: []string{"negate"}}, "--no-exec turns running programs off"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate = %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate = %v, want an error with %q", err, tt.want)
			}
			rt, err := New(Options{Exec: tt.p})
			if err == nil {
				rt.Close()
			}
			if (err == nil) != (tt.want == "") {
				t.Errorf("New with the policy: %v", err)
			}
		})
	}
}
