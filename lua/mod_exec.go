package lua

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/equus-monitoring/equus/internal/procgroup"
	glua "github.com/yuin/gopher-lua"
)

func init() { register("exec", openExec) }

const (
	defaultExecTimeout = 30 * time.Second
	maxExecOutput      = 64 << 10
	maxExecArgs        = 256
)

// execEnv is the whole environment of a program run by a check: nothing of
// the agent's own environment (where a token may be) reaches it, and the C
// locale keeps plugin output (decimal points, messages) predictable.
var execEnv = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}

// execAPI is the exec module: running the programs the agent's policy
// (Env.Exec) allows, without a shell. exec.run is the one way a check
// reaches a program.
func execAPI(env *Env) map[string]glua.LGFunction {
	return map[string]glua.LGFunction{
		"run": func(L *glua.LState) int { return execRun(L, env) },
	}
}

func openExec(env *Env) glua.LGFunction {
	return func(L *glua.LState) int {
		L.Push(L.SetFuncs(L.NewTable(), execAPI(env)))
		return 1
	}
}

// execRun is exec.run(program, args, opts) -> {exit_code, stdout, stderr,
// duration_ms}, or nil, err. program is a file name looked up in the
// allowed directories in order, or an absolute path inside one of them;
// after links are resolved it must still be a regular executable file
// there, and the agent's policy must allow it (ExecPolicy.resolve): a
// refusal is an error starting "refused by the agent's policy". args is a list of strings; opts.timeout_ms (default 30000) ends
// the program. stdout and stderr keep their first 64 KiB. A program that
// runs and exits, with any code, is a result; one that cannot start or is
// stopped by the timeout is an error. exit_code is -1 for a program ended
// by a signal.
func execRun(L *glua.LState, env *Env) int {
	program := L.CheckString(1)
	args := checkExecArgs(L, 2)
	ms := optField(L, 3, "timeout_ms", float64(defaultExecTimeout/time.Millisecond))
	if ms <= 0 {
		L.ArgError(3, "timeout_ms must be positive")
	}
	path, err := env.Exec.resolve(program, env.PrivatePaths)
	if err != nil {
		return returnFailure(L, "exec", err)
	}
	timeout := time.Duration(ms * float64(time.Millisecond))
	ctx, cancel := context.WithTimeout(callContext(L), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = execEnv
	cmd.Dir = "/"
	stdout, stderr := &cappedBuffer{max: maxExecOutput}, &cappedBuffer{max: maxExecOutput}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// A program may leave children holding its output open; do not wait
	// for them once it has exited.
	cmd.WaitDelay = time.Second
	procgroup.Start(cmd)
	start := time.Now()
	err = cmd.Run()
	duration := msSince(start)
	procgroup.End(cmd)
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return returnFailure(L, "exec "+program, fmt.Errorf("stopped after %v", timeout))
	case err != nil && !errors.As(err, &exitErr):
		return returnFailure(L, "exec "+program, err)
	}
	L.Push(newRecord(L, map[string]any{
		"exit_code": cmd.ProcessState.ExitCode(), "stdout": stdout.String(),
		"stderr": stderr.String(), "duration_ms": duration,
	}))
	return 1
}

// checkExecArgs returns the list of arguments at argument n (nil for none).
func checkExecArgs(L *glua.LState, n int) []string {
	if L.Get(n) == glua.LNil {
		return nil
	}
	t := L.CheckTable(n)
	if t.Len() > maxExecArgs {
		L.ArgError(n, fmt.Sprintf("more than %d arguments", maxExecArgs))
	}
	args := make([]string, 0, t.Len())
	for i := 1; i <= t.Len(); i++ {
		v := t.RawGetInt(i)
		if v.Type() != glua.LTString && v.Type() != glua.LTNumber {
			L.ArgError(n, fmt.Sprintf("argument %d is a %s, not a string", i, v.Type()))
		}
		args = append(args, v.String())
	}
	return args
}

// resolveProgram returns the real path of program if it is a regular
// executable file in one of dirs (absolute directories) or below it, with
// links resolved. A bare name is looked up in dirs in order; anything else
// must be an absolute path.
func resolveProgram(dirs []string, program string) (string, error) {
	if len(dirs) == 0 {
		return "", fmt.Errorf("%w: %s: no directory allows programs", errRefused, program)
	}
	var candidates []string
	abs := filepath.IsAbs(program)
	switch {
	case program == "" || program == "." || program == "..":
		return "", fmt.Errorf("%q is not a program name", program)
	case !strings.ContainsRune(program, filepath.Separator):
		for _, d := range dirs {
			candidates = append(candidates, filepath.Join(d, program))
		}
	case abs:
		candidates = []string{filepath.Clean(program)}
	default:
		return "", fmt.Errorf("%s: a program is a bare name or an absolute path", program)
	}
	for _, c := range candidates {
		real, err := filepath.EvalSymlinks(c)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		if !insideAny(dirs, real) {
			return "", fmt.Errorf("%w: %s (%s): %w", errRefused, program, real, errNotAllowed)
		}
		fi, err := os.Stat(real)
		if err != nil {
			return "", err
		}
		if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			return "", fmt.Errorf("%s: not an executable file", program)
		}
		return real, nil
	}
	if abs && !insideAny(dirs, candidates[0]) {
		return "", fmt.Errorf("%w: %s: %w", errRefused, program, errNotAllowed)
	}
	return "", fmt.Errorf("%s: no such program in %s", program, strings.Join(dirs, ", "))
}

// insideAny reports whether path is inside one of dirs (or below), with
// the links in dirs resolved.
func insideAny(dirs []string, path string) bool {
	for _, d := range dirs {
		real, err := filepath.EvalSymlinks(d)
		if err != nil || !filepath.IsAbs(real) {
			continue
		}
		rel, err := filepath.Rel(real, path)
		if err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// cappedBuffer keeps the first max bytes written to it and discards the
// rest, so that a chatty program cannot fill the agent's memory. (It holds
// its buffer rather than embedding it, so that io.Copy cannot go around
// Write through bytes.Buffer's ReadFrom.)
type cappedBuffer struct {
	buf bytes.Buffer
	max int
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *cappedBuffer) String() string { return b.buf.String() }
