package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/equus-monitoring/equus/internal/procgroup"
)

// Bounds of the program receiver.
const (
	// DefaultExecTimeout bounds a program's run when Exec sets no
	// Timeout; then it is killed, with its process group.
	DefaultExecTimeout = 30 * time.Second
	// MaxEnvValue is the most bytes of a NOTIFY_ variable's value; the
	// whole notification is on standard input.
	MaxEnvValue = 8 << 10
	// execWaitDelay is how long after the program exited (or was
	// killed) the rest of its output is waited for, when something that
	// left its process group still holds it.
	execWaitDelay = 2 * time.Second
)

// EnvPrefix begins the names of the environment variables that carry a
// notification's fields to a program: NOTIFY_KIND, NOTIFY_AGENT, …, one
// for each field of the JSON document, named after it in capitals.
const EnvPrefix = "NOTIFY_"

// passedEnv are the variables of helen's environment that a program gets
// beside the notification's: nothing else of helen's (its tokens, its
// configuration) reaches it.
var passedEnv = []string{"PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR"}

// Exec runs a program for each notification, the notification's JSON on
// its standard input and its fields in NOTIFY_ variables; exit status 0
// is delivered, any other a failure to retry. Its output (standard output
// and error together) is the answer.
type Exec struct {
	// Program is the absolute path of the program, run with no
	// arguments and no shell.
	Program string
	// Timeout bounds a run; 0 is DefaultExecTimeout.
	Timeout time.Duration
}

// Send runs the program for n.
func (e *Exec) Send(ctx context.Context, n Notification) (string, error) {
	if err := n.Validate(); err != nil {
		return "", err
	}
	if !filepath.IsAbs(e.Program) {
		return "", permanent(fmt.Errorf("exec %q: not an absolute path", e.Program))
	}
	stdin, err := json.Marshal(n)
	if err != nil {
		return "", permanent(fmt.Errorf("exec %s: %w", e.Program, err))
	}
	d := e.Timeout
	if d <= 0 {
		d = DefaultExecTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.Program)
	cmd.Dir = filepath.Dir(e.Program)
	cmd.Env = append(baseEnv(), Env(n)...)
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.WaitDelay = execWaitDelay
	procgroup.Start(cmd)
	out, err := run(cmd)
	var exit *exec.ExitError
	switch {
	case err == nil:
		return answer("exit 0:", out.buf), nil
	case ctx.Err() != nil && cmd.ProcessState != nil:
		return answer("killed:", out.buf), fmt.Errorf("exec %s: ran past %s: %w", e.Program, d, ctx.Err())
	case errors.As(err, &exit):
		return answer(exit.ProcessState.String()+":", out.buf), fmt.Errorf("exec %s: %w", e.Program, err)
	case errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) || errors.Is(err, exec.ErrNotFound):
		return "", permanent(fmt.Errorf("exec: %w", err))
	default:
		return answer("", out.buf), fmt.Errorf("exec %s: %w", e.Program, err)
	}
}

// run runs cmd with its standard output and error on one pipe that it
// reads itself, keeping the start, and kills what is left of cmd's
// process group as soon as cmd has exited: a child that holds the pipe
// does not hold the notification up (os/exec would wait for it), and
// does not live on.
func run(cmd *exec.Cmd) (*prefix, error) {
	out := &prefix{max: MaxAnswer}
	r, w, err := os.Pipe()
	if err != nil {
		return out, err
	}
	defer r.Close()
	cmd.Stdout, cmd.Stderr = w, w
	err = cmd.Start()
	w.Close()
	if err != nil {
		return out, err
	}
	read := make(chan struct{})
	go func() {
		defer close(read)
		_, _ = io.Copy(out, r)
	}()
	err = cmd.Wait()
	procgroup.End(cmd)
	// What the group held open is closed now; a process that left the
	// group is not waited for long.
	_ = r.SetReadDeadline(time.Now().Add(execWaitDelay))
	<-read
	return out, err
}

// baseEnv returns the variables of helen's environment that a program
// gets (passedEnv), with a PATH whatever helen's was.
func baseEnv() []string {
	var env []string
	for _, k := range passedEnv {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	if !slices.ContainsFunc(env, func(s string) bool { return strings.HasPrefix(s, "PATH=") }) {
		env = append(env, "PATH=/usr/local/bin:/usr/bin:/bin")
	}
	return env
}

// Env returns n's fields as environment variables, in the order of the
// JSON document: EnvPrefix and the field's name in capitals, each field
// there even when empty. Strings are as they are, times RFC 3339, numbers
// in decimal, metrics as their JSON list; each value is cut to
// MaxEnvValue bytes, NUL bytes removed.
func Env(n Notification) []string {
	b, err := json.Marshal(n)
	if err != nil {
		return nil
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil
	}
	var env []string
	for _, name := range jsonNames(reflect.TypeOf(n)) {
		raw := doc[name]
		v := string(raw)
		var s string
		if len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &s) == nil {
			v = s
		}
		v = strings.ReplaceAll(v, "\x00", "")
		if len(v) > MaxEnvValue {
			v = answerCut(v, MaxEnvValue)
		}
		env = append(env, EnvPrefix+strings.ToUpper(name)+"="+v)
	}
	return env
}

// jsonNames returns the JSON names of the fields of the struct type t.
func jsonNames(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}
