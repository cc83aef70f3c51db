package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

// startShellAgent runs an agent called name, with args added, joined to
// h with a token of its own.
func startShellAgent(t *testing.T, h *helen, name string, args ...string) {
	t.Helper()
	startProc(t, name, built[v100], append([]string{"equus", "--helen", h.addr, "--ca-pin", h.pin, "--token", h.token(t).Token,
		"--name", name, "--data", filepath.Join(t.TempDir(), name)}, args...)...)
	h.agentReady(t, name, v100, time.Minute)
}

// ptyOutput is what a terminal's program printed, read as it comes.
type ptyOutput struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *ptyOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *ptyOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// TestShell: helen shell through a real agent with --allow-shell, from a
// terminal (a PTY) and without one; the refusal of an agent without it;
// helen exec; the recordings and the events.
func TestShell(t *testing.T) {
	h := startHelen(t, built[v100])
	startShellAgent(t, h, "web-1", "--allow-shell")
	startShellAgent(t, h, "plain")

	t.Run("pipes", func(t *testing.T) {
		cmd := exec.Command(h.bin, "helen", "shell", "--data", h.data, "web-1", "--", "sh", "-c", "echo out; echo err >&2; exit 7")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 7 || stdout.String() != "out\n" || stderr.String() != "err\n" {
			t.Errorf("exit %v, stdout %q, stderr %q; want 7, out, err", err, stdout.String(), stderr.String())
		}
	})

	t.Run("terminal", func(t *testing.T) {
		cmd := exec.Command(h.bin, "helen", "shell", "--data", h.data, "web-1")
		cmd.Env = append(testEnv(t), "TERM=xterm-256color")
		tty, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: 80, Rows: 24})
		if err != nil {
			t.Fatal(err)
		}
		defer tty.Close()
		var out ptyOutput
		copied := make(chan struct{})
		go func() { defer close(copied); bufioCopy(&out, tty) }()
		waitFor := func(what, s string) {
			t.Helper()
			poll(t, what, 30*time.Second, func() bool { return strings.Contains(out.String(), s) })
		}
		type_ := func(s string) {
			if _, err := tty.Write([]byte(s)); err != nil {
				t.Fatal(err)
			}
		}
		type_("echo hi-$((6*7))\r")
		waitFor("the echo", "hi-42")
		type_("stty size\r")
		waitFor("the size at start", "24 80")
		if err := pty.Setsize(tty, &pty.Winsize{Cols: 120, Rows: 40}); err != nil {
			t.Fatal(err)
		}
		// The SIGWINCH and the next command race; each try's answer is
		// waited for (its marker printed after it) before the next.
		for i := 0; !strings.Contains(out.String(), "40 120"); i++ {
			if i == 50 {
				t.Fatalf("no resize seen after %d tries: %q", i, out.String())
			}
			type_(fmt.Sprintf("stty size; echo size-done-$((%d+1))\r", i))
			waitFor("stty size's answer", fmt.Sprintf("size-done-%d", i+1))
		}
		// The foreground job prints its marker and becomes sleep: a
		// Ctrl-C after the marker reaches it, whether it is sh or sleep.
		type_("sh -c 'echo started-$((1+1)); exec sleep 100'\r")
		waitFor("sleep to start", "started-2")
		type_("\x03")
		type_("echo rc=$?\r")
		waitFor("Ctrl-C to interrupt sleep", "rc=130")
		type_("exit 3\r")
		err = cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 3 {
			t.Errorf("helen shell ended %v, want exit status 3; printed %q", err, out.String())
		}
		tty.Close()
		<-copied
	})

	t.Run("refused", func(t *testing.T) {
		// run's error holds what the command printed.
		_, err := run(t, h.bin, "helen", "shell", "--data", h.data, "plain", "--", "true")
		if err == nil || !strings.Contains(err.Error(), "plain: the agent does not offer shell sessions: it runs without --allow-shell") {
			t.Errorf("helen shell on an agent without --allow-shell: %v", err)
		}
	})

	t.Run("exec", func(t *testing.T) {
		out, err := run(t, h.bin, "helen", "exec", "--data", h.data, "--agents", "*", "--", "echo", "x")
		if err == nil || out != "web-1: x\n" || !strings.Contains(err.Error(), "2 agents, 1 ok, 1 failed") ||
			!strings.Contains(err.Error(), "plain: no shell session: plain: the agent does not offer") {
			t.Errorf("helen exec: printed %q, %v", out, err)
		}
	})

	t.Run("recordings", func(t *testing.T) {
		out, err := run(t, h.bin, "helen", "sessions", "--data", h.data, "--json")
		if err != nil {
			t.Fatal(err)
		}
		var sums []struct {
			ID      string
			Agent   string
			Command []string
			Status  *int
		}
		if err := json.Unmarshal([]byte(out), &sums); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		var interactive string
		for _, s := range sums {
			if s.Agent == "web-1" && len(s.Command) == 0 && s.Status != nil && *s.Status == 3 {
				interactive = s.ID
			}
		}
		if interactive == "" {
			t.Fatalf("no recording of the interactive session in %s", out)
		}
		played, err := run(t, h.bin, "helen", "sessions", "play", "--data", h.data, "--speed", "1000", interactive)
		if err != nil || !strings.Contains(played, "hi-42") || !strings.Contains(played, "40 120") {
			t.Errorf("play: %v, printed %q", err, played)
		}
		var starts, ends int
		for _, ev := range h.events(t) {
			switch ev.To {
			case "session-started":
				starts++
			case "session-ended":
				ends++
			}
		}
		if starts < 3 || starts != ends {
			t.Errorf("%d session starts and %d ends recorded", starts, ends)
		}
	})
}

// bufioCopy copies r to w until r fails (the terminal closed).
func bufioCopy(w *ptyOutput, r interface{ Read([]byte) (int, error) }) {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		w.Write(buf[:n])
		if err != nil {
			return
		}
	}
}

// TestShellAgentPolicy: the agent's own bounds, through helen shell: its
// idle timeout ends a session that neither reads nor writes, and a user
// outside its --shell-users is refused with the agent's reason printed.
func TestShellAgentPolicy(t *testing.T) {
	h := startHelen(t, built[v100])
	startShellAgent(t, h, "web-1", "--allow-shell", "--shell-idle-timeout", "2s")

	t.Run("idle", func(t *testing.T) {
		// No stdin (closed at once), no output: idle from the start.
		_, err := run(t, h.bin, "helen", "shell", "--data", h.data, "web-1", "--", "sleep", "100")
		if err == nil || !strings.Contains(err.Error(), "no input or output for 2s") {
			t.Errorf("helen shell on an idle session: %v, want it ended by the idle timeout", err)
		}
	})

	t.Run("user", func(t *testing.T) {
		_, err := run(t, h.bin, "helen", "shell", "--data", h.data, "--user", "nobody", "web-1", "--", "true")
		if err == nil || !strings.Contains(err.Error(), `user "nobody" is not in this agent's --shell-users`) {
			t.Errorf("helen shell --user nobody: %v, want the agent's refusal", err)
		}
	})
}

// TestShellExecFleet: helen exec over 20 real agents returns 20 results,
// each its own agent's output.
func TestShellExecFleet(t *testing.T) {
	const n = 20
	h := startHelen(t, built[v100])
	out, err := run(t, h.bin, "helen", "token", "--data", h.data, "--uses", fmt.Sprint(n), "--json")
	if err != nil {
		t.Fatal(err)
	}
	var tok tokenResponse
	if err := json.Unmarshal([]byte(out), &tok); err != nil || tok.Token == "" {
		t.Fatalf("helen token --json: %q: %v", out, err)
	}
	dir := t.TempDir()
	for i := range n {
		name := fmt.Sprintf("fleet-%02d", i)
		startProc(t, name, built[v100], "equus", "--helen", h.addr, "--ca-pin", h.pin, "--token", tok.Token,
			"--name", name, "--data", filepath.Join(dir, name), "--allow-shell")
	}
	poll(t, fmt.Sprintf("%d agents connected", n), time.Minute, func() bool {
		out, err := run(t, h.bin, "helen", "agents", "--data", h.data, "--json")
		if err != nil {
			t.Fatal(err)
		}
		var agents []agentView
		if err := json.Unmarshal([]byte(out), &agents); err != nil {
			t.Fatalf("helen agents --json: %q: %v", out, err)
		}
		up := 0
		for _, a := range agents {
			if a.Connected {
				up++
			}
		}
		return up == n
	})
	// equus.info, which says the agent offers sessions, comes before a
	// check's answer.
	for i := range n {
		h.agentReady(t, fmt.Sprintf("fleet-%02d", i), v100, time.Minute)
	}

	out, err = run(t, h.bin, "helen", "exec", "--data", h.data, "--json", "--agents", "fleet-*", "--", "sh", "-c", `echo "$USER on $(hostname)"`)
	if err != nil {
		t.Fatalf("helen exec: %v, printed %s", err, out)
	}
	var res []struct {
		Agent  string
		Status *int
		Stdout string
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	seen := map[string]bool{}
	for _, r := range res {
		if r.Status == nil || *r.Status != 0 || !strings.Contains(r.Stdout, " on ") {
			t.Errorf("%s: %+v", r.Agent, r)
		}
		seen[r.Agent] = true
	}
	if len(res) != n || len(seen) != n {
		t.Errorf("%d results of %d agents, want %d: %s", len(res), len(seen), n, out)
	}
}
