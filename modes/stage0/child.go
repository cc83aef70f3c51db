package stage0

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/equus-monitoring/equus/modes/equus"
)

// maxLine bounds a line of the agent's stdout held back while looking for
// the ready line; a longer one is passed on as it is.
const maxLine = 64 << 10

// child is one run of the agent.
type child struct {
	cmd     *exec.Cmd
	started time.Time
	// ready receives the version of the first "ready <version>" line.
	ready chan string
	// done is closed once the process has exited and been waited for.
	done chan struct{}
	// err is what Wait returned, valid once done is closed.
	err error
	// restart reports whether stage0 stopped the agent to start it again
	// at once, which is no crash.
	restart bool
}

// startChild starts the agent from exe with args (those after the
// program's name) and env added to stage0's environment. Its stderr goes
// to stderr, and its stdout, but for the ready line, to stdout.
func startChild(exe string, args, env []string, stdout, stderr io.Writer) (*child, error) {
	ch := &child{ready: make(chan string, 1), done: make(chan struct{})}
	cmd := &exec.Cmd{
		Path: exe,
		// The program's name is "equus" whatever the file is called: the
		// executable answers to the names helen and stage0 as commands.
		Args: append([]string{"equus"}, args...),
		Env:  append(append(os.Environ(), equus.SupervisedEnv+"=1"), env...),
		// A grandchild that keeps stdout open must not hold stage0 up.
		WaitDelay: 2 * time.Second,
	}
	cmd.Stdout = &lineWriter{out: stdout, line: ch.line}
	cmd.Stderr = stderr
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the agent %s: %w", exe, err)
	}
	ch.cmd, ch.started = cmd, time.Now()
	go func() {
		ch.err = cmd.Wait()
		close(ch.done)
	}()
	return ch, nil
}

// line looks at one line of the agent's stdout and reports whether it was
// the ready line.
func (ch *child) line(l string) bool {
	v, ok := strings.CutPrefix(l, "ready ")
	if !ok {
		return false
	}
	select {
	case ch.ready <- strings.TrimSpace(v):
	default: // only the first one counts
	}
	return true
}

// exitCode returns the agent's exit status, -1 when a signal ended it.
// Call it once done is closed.
func (ch *child) exitCode() int {
	if ch.cmd.ProcessState == nil {
		return -1
	}
	return ch.cmd.ProcessState.ExitCode()
}

// describe says how the agent ended, for a log line.
func (ch *child) describe() string {
	var ee *exec.ExitError
	switch {
	case ch.err == nil:
		return "exit status 0"
	case errors.As(ch.err, &ee):
		return ee.ProcessState.String()
	}
	return ch.err.Error()
}

// stop asks the agent to stop with SIGTERM, waits up to grace for it to
// drain its checks and exit, and kills it after that.
func (ch *child) stop(grace time.Duration) {
	select {
	case <-ch.done:
		return
	default:
	}
	if err := ch.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		// No SIGTERM on this system (Windows), or the process is gone.
		ch.cmd.Process.Kill()
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-ch.done:
		return
	case <-t.C:
	}
	ch.cmd.Process.Kill()
	<-ch.done
}

// lineWriter passes what the agent writes on to out line by line, keeping
// back the lines that line reports as its own.
type lineWriter struct {
	out  io.Writer
	line func(string) bool
	buf  []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		l := w.buf[:i+1]
		if !w.line(strings.TrimRight(string(l), "\r\n")) {
			w.pass(l)
		}
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > maxLine {
		w.pass(w.buf)
		w.buf = w.buf[:0]
	}
	// A write error of out is stage0's own problem, not the agent's: the
	// agent must never block or fail on it.
	return len(p), nil
}

func (w *lineWriter) pass(b []byte) {
	if w.out != nil {
		w.out.Write(b)
	}
}
