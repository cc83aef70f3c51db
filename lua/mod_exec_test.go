package lua

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shirou/gopsutil/v4/process"
	glua "github.com/yuin/gopher-lua"
)

// writeScript writes an executable shell script.
func writeScript(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
}

// execFixture makes an allowed directory with scripts, and beside it a
// directory that is not allowed.
func execFixture(t *testing.T) (allowed, outside string) {
	t.Helper()
	root := t.TempDir()
	allowed, outside = filepath.Join(root, "plugins"), filepath.Join(root, "outside")
	for _, d := range []string{allowed, filepath.Join(allowed, "sub"), outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeScript(t, filepath.Join(allowed, "check_echo"), `echo "out $#"; for a in "$@"; do echo "$a"; done; echo err >&2; exit 3`)
	writeScript(t, filepath.Join(allowed, "sub", "check_sub"), "echo sub")
	writeScript(t, filepath.Join(allowed, "check_env"), `echo "[$EQUUS_TEST_SECRET]"`)
	writeScript(t, filepath.Join(allowed, "check_chatty"), "yes 0123456789 | head -c 200000; yes e | head -c 100000 >&2")
	writeScript(t, filepath.Join(outside, "evil"), "echo evil")
	os.WriteFile(filepath.Join(allowed, "not_executable"), []byte("#!/bin/sh\necho no\n"), 0o644)
	if err := os.Symlink(filepath.Join(outside, "evil"), filepath.Join(allowed, "link_out")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("check_echo", filepath.Join(allowed, "link_in")); err != nil {
		t.Fatal(err)
	}
	return allowed, outside
}

func TestExecRun(t *testing.T) {
	allowed, _ := execFixture(t)
	t.Setenv("EQUUS_TEST_SECRET", "s3cret")
	L := newModState(t, &Env{Exec: ExecPolicy{Dirs: []string{t.TempDir(), allowed}}})
	L.SetGlobal("DIR", glua.LString(allowed))
	tests := []struct {
		name, call     string
		code           int
		stdout, stderr string
	}{
		{"bare-name", `run('check_echo', {'a b', '$HOME', ';', 7})`, 3, "out 4\na b\n$HOME\n;\n7\n", "err\n"},
		{"no-args", `run('check_echo')`, 3, "out 0\n", "err\n"},
		{"absolute", `run(DIR .. '/check_echo', {})`, 3, "out 0\n", "err\n"},
		{"below", `run(DIR .. '/sub/check_sub')`, 0, "sub\n", ""},
		{"link-inside", `run('link_in')`, 3, "out 0\n", "err\n"},
		{"clean-dots", `run(DIR .. '/sub/../check_echo')`, 3, "out 0\n", "err\n"},
		{"environment", `run('check_env')`, 0, "[]\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := mustSucceed(t, evalLua(t, L, "return require('exec')."+tt.call))
			if got := int(number(t, res, "exit_code")); got != tt.code {
				t.Errorf("exit_code = %d, want %d", got, tt.code)
			}
			if got := field(t, res, "stdout").String(); got != tt.stdout {
				t.Errorf("stdout = %q, want %q", got, tt.stdout)
			}
			if got := field(t, res, "stderr").String(); got != tt.stderr {
				t.Errorf("stderr = %q, want %q", got, tt.stderr)
			}
			if d := number(t, res, "duration_ms"); d <= 0 {
				t.Errorf("duration_ms = %v", d)
			}
		})
	}
	res := mustSucceed(t, evalLua(t, L, "return require('exec').run('check_chatty')"))
	if len(field(t, res, "stdout").String()) != 64<<10 || len(field(t, res, "stderr").String()) != 64<<10 {
		t.Errorf("chatty program: kept %d bytes of stdout and %d of stderr, want 64 KiB each",
			len(field(t, res, "stdout").String()), len(field(t, res, "stderr").String()))
	}
}

func TestExecRefuses(t *testing.T) {
	allowed, outside := execFixture(t)
	L := newModState(t, &Env{Exec: ExecPolicy{Dirs: []string{allowed}}})
	L.SetGlobal("DIR", glua.LString(allowed))
	L.SetGlobal("OUT", glua.LString(outside))
	tests := []struct{ name, program, want string }{
		{"outside", "OUT .. '/evil'", "not in an allowed directory"},
		{"dot-dot", "DIR .. '/../outside/evil'", "not in an allowed directory"},
		{"dot-dot-to-shell", "DIR .. '/../../../../../../bin/sh'", "not in an allowed directory"},
		{"link-out", "'link_out'", "not in an allowed directory"},
		{"link-out-absolute", "DIR .. '/link_out'", "not in an allowed directory"},
		{"relative", "'sub/check_sub'", "bare name or an absolute path"},
		{"dot-relative", "'./check_echo'", "bare name or an absolute path"},
		{"dot-dot-name", "'..'", "not a program name"},
		{"empty", "''", "not a program name"},
		{"missing", "'check_none'", "no such program"},
		{"missing-absolute", "DIR .. '/check_none'", "no such program"},
		{"not-executable", "'not_executable'", "not an executable file"},
		{"directory", "'sub'", "not an executable file"},
		{"allowed-dir-itself", "DIR", "not in an allowed directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vals := evalLua(t, L, "return require('exec').run("+tt.program+")")
			if len(vals) != 2 || vals[0] != glua.LNil || !strings.Contains(vals[1].String(), tt.want) {
				t.Errorf("run(%s) = %v, want nil and an error with %q", tt.program, vals, tt.want)
			}
		})
	}

	none := newModState(t, &Env{})
	vals := evalLua(t, none, "return require('exec').run('check_echo')")
	if len(vals) != 2 || vals[0] != glua.LNil || !strings.Contains(vals[1].String(), "no directory allows programs") {
		t.Errorf("run without ExecDirs = %v", vals)
	}
	for _, call := range []string{"run()", "run('x', 'a b')", "run('x', {{}})", "run('x', {}, {timeout_ms = 0})", "run('x', {}, 5)"} {
		if _, err := tryLua(L, "return require('exec')."+call); err == nil {
			t.Errorf("exec.%s was not refused", call)
		}
	}
}

func TestExecTimeout(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	// The plugin starts a child that would outlive it, and hangs.
	writeScript(t, filepath.Join(dir, "check_hang"), "sleep 30 &\necho $! > "+pidFile+"\nwait\n")
	L := newModState(t, &Env{Exec: ExecPolicy{Dirs: []string{dir}}})
	start := time.Now()
	vals := evalLua(t, L, "return require('exec').run('check_hang', {}, {timeout_ms = 300})")
	if len(vals) != 2 || vals[0] != glua.LNil || !strings.Contains(vals[1].String(), "stopped after 300ms") {
		t.Errorf("hanging plugin = %v", vals)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("returned after %v", d)
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	waitGone(t, int32(pid))
}

// waitGone waits until the process pid has ended (a zombie waiting for a
// parent that is not this process has ended too).
func waitGone(t *testing.T, pid int32) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		p, err := process.NewProcess(pid)
		if errors.Is(err, process.ErrorProcessNotRunning) {
			return
		}
		if err == nil {
			if st, err := p.Status(); err == nil && len(st) > 0 && st[0] == process.Zombie {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the plugin's child %d still runs", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestExecDeadline(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, filepath.Join(dir, "check_sleep"), "exec sleep 30\n")
	L := newModState(t, &Env{Exec: ExecPolicy{Dirs: []string{dir}}})
	ctx, cancel := contextWithTimeout(t, 200*time.Millisecond)
	defer cancel()
	L.SetContext(ctx)
	start := time.Now()
	vals, err := tryLua(L, "return require('exec').run('check_sleep')")
	if err == nil && (len(vals) < 1 || vals[0] != glua.LNil) {
		t.Errorf("program outlived the check's deadline: %v", vals)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("returned after %v, past its 200ms deadline", d)
	}
}
