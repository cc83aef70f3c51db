//go:build unix

package notify

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/wait"
)

// script writes a shell script into a new directory and returns its path.
func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "notify.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExecDelivers(t *testing.T) {
	t.Setenv("EQUUS_TEST_SECRET", "helen's own")
	dir := t.TempDir()
	p := script(t, `cat > "$OUT/stdin"; env > "$OUT/env"; pwd > "$OUT/pwd"; echo "paged $NOTIFY_AGENT"; echo "to stderr" >&2`)
	// The script learns where to write from a file beside it: its
	// environment is the notification's.
	if err := os.WriteFile(p, []byte(strings.Replace(mustRead(t, p), "#!/bin/sh\n", "#!/bin/sh\nOUT="+dir+"\n", 1)), 0o755); err != nil {
		t.Fatal(err)
	}
	n := Sample(Problem)
	n.Message = "line one\nline two"
	e := &Exec{Program: p}
	ans, err := e.Send(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	if ans != "exit 0: paged web-1 to stderr" {
		t.Errorf("answer %q", ans)
	}
	var back Notification
	if err := json.Unmarshal([]byte(mustRead(t, filepath.Join(dir, "stdin"))), &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, n) {
		t.Errorf("stdin %+v\nwant %+v", back, n)
	}
	env := mustRead(t, filepath.Join(dir, "env"))
	for _, want := range []string{
		"NOTIFY_ID=n-0000000000000001", "NOTIFY_KIND=problem", "NOTIFY_AGENT=web-1",
		"NOTIFY_SCHEDULE=disk-root", "NOTIFY_CHECK=disk", "NOTIFY_STATUS=critical", "NOTIFY_PREVIOUS=ok",
		"NOTIFY_MESSAGE=line one\nline two", `NOTIFY_METRICS=[{"name":"used","value":97.5,"unit":"%","crit":95}]`,
		"NOTIFY_SINCE=2025-03-14T15:09:26Z", "NOTIFY_TIME=2025-03-14T15:09:26Z", "NOTIFY_ATTEMPT=1",
		"NOTIFY_AUTHOR=\n", "NOTIFY_DASHBOARD=https://helen.example:7481/agents/web-1#disk-root",
		"NOTIFY_DELIVERY=d-0000000000000001-slack",
	} {
		if !strings.Contains(env, want) {
			t.Errorf("no %q in the environment:\n%s", want, env)
		}
	}
	if strings.Contains(env, "EQUUS_TEST_SECRET") {
		t.Error("helen's environment reached the program")
	}
	if !strings.Contains(env, "PATH=") {
		t.Error("no PATH")
	}
	if got := strings.TrimSpace(mustRead(t, filepath.Join(dir, "pwd"))); got != filepath.Dir(p) {
		t.Errorf("ran in %s", got)
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestEnvEveryField: each field of the document has its variable, in the
// document's order, and a value too long or with a NUL is made one a
// program can take.
func TestEnvEveryField(t *testing.T) {
	n := Sample(Acknowledgement)
	n.Message = strings.Repeat("é", MaxEnvValue) + "\x00"
	env := Env(n)
	var names []string
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		names = append(names, k)
		if len(v) > MaxEnvValue || strings.Contains(v, "\x00") {
			t.Errorf("%s: %d bytes", k, len(v))
		}
	}
	var want []string
	for _, f := range jsonNames(reflect.TypeOf(n)) {
		want = append(want, EnvPrefix+strings.ToUpper(f))
	}
	if !slices.Equal(names, want) {
		t.Errorf("variables %v\nwant %v", names, want)
	}
	if !slices.Contains(env, "NOTIFY_AUTHOR=alice") || !slices.Contains(env, "NOTIFY_COMMENT=cleaning up the logs") {
		t.Errorf("%v", env)
	}
}

func TestExecFails(t *testing.T) {
	t.Run("exit-status", func(t *testing.T) {
		ans, err := (&Exec{Program: script(t, "echo 'smtp relay down' >&2; exit 3")}).Send(context.Background(), Sample(Problem))
		if err == nil || errors.Is(err, ErrPermanent) {
			t.Fatalf("err %v, want a retryable failure", err)
		}
		if ans != "exit status 3: smtp relay down" {
			t.Errorf("answer %q", ans)
		}
	})
	for name, prog := range map[string]func(t *testing.T) string{
		"relative": func(t *testing.T) string { return "notify.sh" },
		"missing":  func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") },
		"not-executable": func(t *testing.T) string {
			p := script(t, "exit 0")
			if err := os.Chmod(p, 0o644); err != nil {
				t.Fatal(err)
			}
			return p
		},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := (&Exec{Program: prog(t)}).Send(context.Background(), Sample(Problem)); !errors.Is(err, ErrPermanent) {
				t.Errorf("err %v, want a permanent failure", err)
			}
		})
	}
}

// gone reports whether the process pid has ended (or is a zombie waiting
// for a parent that is not ours).
func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return strings.HasPrefix(rest, "Z")
}

// pids reads the process ids a script wrote to file.
func pids(t *testing.T, file string) []int {
	t.Helper()
	var out []int
	for _, f := range strings.Fields(mustRead(t, file)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, pid)
	}
	if len(out) == 0 {
		t.Fatal("no pids")
	}
	return out
}

// TestExecHostile: a program that hangs, one that floods its output, one
// that leaves a child behind.
func TestExecHostile(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc to see processes end")
	}
	t.Run("hangs", func(t *testing.T) {
		dir := t.TempDir()
		p := script(t, "sleep 600 & echo $$ $! > "+dir+"/pids; echo waiting; wait")
		ans, err := (&Exec{Program: p, Timeout: 300 * time.Millisecond}).Send(context.Background(), Sample(Problem))
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrPermanent) {
			t.Fatalf("err %v, want a retryable timeout", err)
		}
		if ans != "killed: waiting" {
			t.Errorf("answer %q", ans)
		}
		for _, pid := range pids(t, dir+"/pids") {
			wait.Until(t, "the program and its child to end", 10*time.Second, 10*time.Millisecond, func() bool { return gone(pid) })
		}
	})
	t.Run("floods-10MB", func(t *testing.T) {
		p := script(t, "head -c 10000000 /dev/zero | tr '\\0' x; exit 0")
		ans, err := (&Exec{Program: p}).Send(context.Background(), Sample(Problem))
		if err != nil {
			t.Fatal(err)
		}
		if len(ans) > MaxAnswer || !strings.HasPrefix(ans, "exit 0: xxx") {
			t.Errorf("answer of %d bytes: %.20q", len(ans), ans)
		}
	})
	t.Run("floods-forever", func(t *testing.T) {
		p := script(t, "while :; do echo flood; done")
		ans, err := (&Exec{Program: p, Timeout: 300 * time.Millisecond}).Send(context.Background(), Sample(Problem))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err %v, want a timeout", err)
		}
		if len(ans) > MaxAnswer || !strings.HasPrefix(ans, "killed: flood flood") {
			t.Errorf("answer of %d bytes: %.20q", len(ans), ans)
		}
	})
	t.Run("leaves-a-child", func(t *testing.T) {
		dir := t.TempDir()
		p := script(t, "sleep 600 & echo $! > "+dir+"/pids; echo sent")
		ans, err := (&Exec{Program: p}).Send(context.Background(), Sample(Problem))
		if err != nil || ans != "exit 0: sent" {
			t.Fatalf("%q %v", ans, err)
		}
		for _, pid := range pids(t, dir+"/pids") {
			wait.Until(t, "the child left behind to end", 10*time.Second, 10*time.Millisecond, func() bool { return gone(pid) })
		}
	})
}
