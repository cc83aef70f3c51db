package helen

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"

	"golang.org/x/term"

	"github.com/equus-monitoring/equus/internal/shellwire"
	"github.com/equus-monitoring/equus/modes/helen/internal/helentest"
	"github.com/equus-monitoring/equus/modes/helen/recording"
	"github.com/equus-monitoring/equus/modes/helen/server"
)

// commandShell is a fake agent's session that prints its command on
// stdout and "to stderr" on stderr, and exits with status, whatever its
// input.
func commandShell(status int) func(testing.TB, net.Conn, map[string]any) {
	return func(t testing.TB, c net.Conn, args map[string]any) {
		var words []string
		for _, w := range args["command"].([]any) {
			words = append(words, w.(string))
		}
		shellwire.Write(c, shellwire.Frame{Type: shellwire.TypeStdout, Payload: fmt.Appendf(nil, "ran %s\nsecond line\n", strings.Join(words, " "))})
		shellwire.Write(c, shellwire.Frame{Type: shellwire.TypeStderr, Payload: []byte("to stderr")})
		shellwire.Write(c, shellwire.Exit(shellwire.ExitMsg{Status: status}))
	}
}

func TestShellCLI(t *testing.T) {
	if term.IsTerminal(int(os.Stdin.Fd())) {
		t.Skip("stdin is a terminal: helen shell would take it raw")
	}
	h := startHelen(t, server.Config{})
	for i, status := range []int{0, 0, 1} {
		helentest.StartShellAgent(t, h, fmt.Sprintf("web%d", i+1), helentest.ShellBehavior{Serve: commandShell(status)})
	}
	helentest.StartShellAgent(t, h, "plain", helentest.ShellBehavior{Caps: []string{}})
	data := "--data=" + h.dir

	t.Run("shell", func(t *testing.T) {
		out, code := helenCLI(t, "shell", data, "web3", "--", "uname", "-a")
		if code != 1 || !strings.Contains(out, "ran uname -a\nsecond line\n") || !strings.Contains(out, "to stderr") {
			t.Errorf("exit %d, printed %q", code, out)
		}
	})
	t.Run("refused", func(t *testing.T) {
		out, code := helenCLI(t, "shell", data, "plain")
		if code == 0 || !strings.Contains(out, "does not offer shell sessions") || !strings.Contains(out, "--allow-shell") {
			t.Errorf("exit %d, printed %q", code, out)
		}
	})
	t.Run("exec", func(t *testing.T) {
		out, code := helenCLI(t, "exec", data, "--agents=web*", "--", "id")
		for _, want := range []string{"web1: ran id\n", "web1: second line\n", "web2: ran id\n", "web3: ran id\n", "web3: to stderr\n",
			"3 agents, 2 ok, 1 failed", "web3: exit status 1"} {
			if !strings.Contains(out, want) {
				t.Errorf("no %q in %q", want, out)
			}
		}
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		out, code = helenCLI(t, "exec", data, "--json", "--agents=web[12]", "--", "id")
		var res []ExecResult
		if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 || len(res) != 2 {
			t.Fatalf("exit %d, %v: %s", code, err, out)
		}
		for _, r := range res {
			if r.Status == nil || *r.Status != 0 || r.Stdout != "ran id\nsecond line\n" || r.Stderr != "to stderr" {
				t.Errorf("%+v", r)
			}
		}
		if out, code := helenCLI(t, "exec", data, "--agents=db*", "--", "id"); code == 0 || !strings.Contains(out, "no connected agent matches") {
			t.Errorf("exit %d, printed %q", code, out)
		}
		if out, code := helenCLI(t, "exec", data, "--agents=web*"); code == 0 || !strings.Contains(out, "COMMAND") {
			t.Errorf("no command: exit %d, printed %q", code, out)
		}
	})
	t.Run("sessions", func(t *testing.T) {
		poll(t, "the sessions' ends", func() bool {
			out, _ := helenCLI(t, "sessions", data, "--json")
			var sums []recording.Summary
			json.Unmarshal([]byte(out), &sums)
			ended := 0
			for _, s := range sums {
				if !s.End.IsZero() {
					ended++
				}
			}
			return ended == len(sums) && len(sums) == 7 // shell, refused, 3 exec, 2 exec --json
		})
		out, code := helenCLI(t, "sessions", data)
		if code != 0 || !strings.Contains(out, "uname -a") || !strings.Contains(out, "exit 1") || !strings.Contains(out, "admin") {
			t.Errorf("exit %d, printed %q", code, out)
		}
		var sums []recording.Summary
		out, _ = helenCLI(t, "sessions", data, "--json")
		json.Unmarshal([]byte(out), &sums)
		var id string
		for _, s := range sums {
			if s.Agent == "web3" && strings.Join(s.Command, " ") == "uname -a" {
				id = s.ID
			}
		}
		out, code = helenCLI(t, "sessions", "play", data, "--speed=1000", id)
		if code != 0 || out != "ran uname -a\nsecond line\nto stderr" {
			t.Errorf("play: exit %d, printed %q", code, out)
		}
		if out, code := helenCLI(t, "sessions", "play", data, "../x"); code == 0 || !strings.Contains(out, "session id") {
			t.Errorf("play a bad id: exit %d, printed %q", code, out)
		}
	})
}
