// Package system tests the real equus executable in processes: helen
// serving, agents joining it, the admin commands, restarts and crashes.
package system

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/leakcheck"
)

// equusBin is the executable under test, built once by TestMain.
var equusBin string

// TestMain builds equus once into a temporary directory removed at the
// end, and fails the run when the tests leave a goroutine of theirs behind
// (one that waits for a process or copies its output).
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "equus-system-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	equusBin = filepath.Join(dir, "equus")
	build := exec.Command("go", "build", "-o", equusBin, "github.com/equus-monitoring/equus")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build equus:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := leakcheck.Run(m, "equus/e2e/system.")
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePort returns a TCP address on loopback that nothing listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// proc is a running equus process whose output the test keeps.
type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	err  error
}

func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, cmd: exec.Command(equusBin, args...), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), "EQUUS_LOG_LEVEL=debug")
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
	}()
	go func() {
		p.err = p.cmd.Wait()
		pw.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("output of %s:\n%s", name, p.output())
		}
	})
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// stop ends the process with SIGTERM, then SIGKILL if it lingers.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *proc) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// waitOutput waits until the output contains s and returns the output.
func (p *proc) waitOutput(s string, within time.Duration) string {
	p.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if out := p.output(); strings.Contains(out, s) {
			return out
		}
		select {
		case <-p.done:
			p.t.Fatalf("%s exited (%v) before printing %q:\n%s", p.name, p.err, s, p.output())
		case <-time.After(20 * time.Millisecond):
		}
	}
	p.t.Fatalf("%s did not print %q within %s:\n%s", p.name, s, within, p.output())
	return ""
}

// run runs an equus command to its end and returns its stdout and exit code.
func run(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, equusBin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), 0
	case errors.As(err, &ee):
		return stdout.String() + stderr.String(), ee.ExitCode()
	}
	t.Fatalf("equus %s: %v", strings.Join(args, " "), err)
	return "", -1
}

// helen is a helen serve process and what the tests need to reach it.
type helen struct {
	*proc
	data, listen, http, pin string
}

func startHelen(t *testing.T, data, listen, httpAddr string, extra ...string) *helen {
	t.Helper()
	args := append([]string{"helen", "serve", "--data", data, "--listen", listen, "--http", httpAddr}, extra...)
	p := start(t, "helen", args...)
	out := p.waitOutput("CA pin: ", 30*time.Second)
	h := &helen{proc: p, data: data, listen: listen, http: httpAddr}
	for _, line := range strings.Split(out, "\n") {
		if pin, ok := strings.CutPrefix(line, "CA pin: "); ok {
			h.pin = strings.TrimSpace(pin)
		}
	}
	if !strings.HasPrefix(h.pin, "sha256:") {
		t.Fatalf("no CA pin in helen's output:\n%s", out)
	}
	return h
}

func (h *helen) token(t *testing.T, uses int) string {
	t.Helper()
	out, code := run(t, "helen", "token", "--data", h.data, "--uses", fmt.Sprint(uses), "--json")
	if code != 0 {
		t.Fatalf("helen token: exit %d: %s", code, out)
	}
	var resp struct{ Token string }
	if err := json.Unmarshal([]byte(out), &resp); err != nil || resp.Token == "" {
		t.Fatalf("helen token --json: %v: %s", err, out)
	}
	return resp.Token
}

type agentView struct {
	Name        string
	Fingerprint string
	Version     string
	Connected   bool
	Revoked     bool
}

func (h *helen) agents(t *testing.T) []agentView {
	t.Helper()
	out, code := run(t, "helen", "agents", "--data", h.data, "--json")
	if code != 0 {
		t.Fatalf("helen agents: exit %d: %s", code, out)
	}
	var views []agentView
	if err := json.Unmarshal([]byte(out), &views); err != nil {
		t.Fatalf("helen agents --json: %v: %s", err, out)
	}
	return views
}

// waitConnected waits until helen lists the agent as connected.
func (h *helen) waitConnected(t *testing.T, name string, within time.Duration) agentView {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		for _, a := range h.agents(t) {
			if a.Name == name && a.Connected {
				return a
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("agent %s not connected within %s: %+v", name, within, h.agents(t))
	return agentView{}
}

// startAgent joins an agent to h with a new token.
func startAgent(t *testing.T, h *helen, name, data string) *proc {
	t.Helper()
	return start(t, "agent "+name, "equus", "--helen", h.listen, "--ca-pin", h.pin,
		"--token", h.token(t, 1), "--name", name, "--data", data)
}
