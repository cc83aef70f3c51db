//go:build unix

package equus

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	"github.com/equus-monitoring/equus/internal/shellwire"
	"github.com/equus-monitoring/equus/modes/equus/shell"
	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/wire"
)

// shellHelen is a fake helen and the link of an agent connected to it.
type shellHelen struct {
	t  *testing.T
	h  *fakeHelen
	hc *helenConn
	a  *runningAgent
	id int32
}

// startShellAgent runs an agent of the test PKI, whose config edit may
// change, and returns its link.
func startShellAgent(t *testing.T, edit func(*Config)) *shellHelen {
	t.Helper()
	p := newTestPKI(t)
	h := startHelen(t, p)
	cfg := testConfig(t, p, h)
	cfg.AllowShell = true
	if edit != nil {
		edit(&cfg)
	}
	a := startAgent(t, cfg)
	return &shellHelen{t: t, h: h, hc: h.accept(), a: a}
}

// check sends the check name with args and returns its result.
func (sh *shellHelen) check(name string, args []byte) result.Doc {
	sh.t.Helper()
	sh.id++
	sh.hc.send(wire.Check(name, sh.id, args))
	m := sh.hc.next()
	if m.Kind != wire.KindResult || m.ID != sh.id {
		sh.t.Fatalf("got %s %d, want the result of %d", m.Kind, m.ID, sh.id)
	}
	return result.Parse(m.Blob)
}

// shellConn is a session's connection seen from helen.
type shellConn struct {
	t *testing.T
	c *tls.Conn
	r *shellwire.Reader
	// out and errs are the session's output so far.
	out, errs bytes.Buffer
}

// open asks the agent for the session req and returns its connection,
// its hello checked.
func (sh *shellHelen) open(req shellwire.Request) *shellConn {
	sh.t.Helper()
	if req.ID == "" {
		req.ID, req.Secret = "s-"+strconv.Itoa(int(sh.id+1)), "c2VjcmV0LW9mLXRoZS1zZXNzaW9u"
	}
	args, _ := json.Marshal(req)
	if doc := sh.check(shellwire.CheckName, args); doc.Status != result.OK || doc.Message != "session started" {
		sh.t.Fatalf("equus.shell = %s %q", doc.Status, doc.Message)
	}
	var c *tls.Conn
	select {
	case c = <-sh.h.shells:
	case <-time.After(waitFor):
		sh.t.Fatal("the agent dialed no shell connection")
	}
	sh.t.Cleanup(func() { c.Close() })
	if got := c.ConnectionState().PeerCertificates[0].Subject.CommonName; got != "web-1" {
		sh.t.Fatalf("shell connection of %q, want the agent's certificate", got)
	}
	sc := &shellConn{t: sh.t, c: c, r: shellwire.NewReader(c)}
	f := sc.read()
	hello, err := shellwire.ParseHello(f.Payload)
	if f.Type != shellwire.TypeHello || err != nil || hello.ID != req.ID || hello.Secret != req.Secret {
		sh.t.Fatalf("first frame %q %s, %v: want the hello of %s", f.Type, f.Payload, err, req.ID)
	}
	return sc
}

func (sc *shellConn) read() shellwire.Frame {
	sc.t.Helper()
	sc.c.SetReadDeadline(time.Now().Add(waitFor))
	f, err := sc.r.Read()
	if err != nil {
		sc.t.Fatalf("reading a frame: %v", err)
	}
	return f
}

func (sc *shellConn) send(f shellwire.Frame) {
	sc.t.Helper()
	sc.c.SetWriteDeadline(time.Now().Add(waitFor))
	if err := shellwire.Write(sc.c, f); err != nil {
		sc.t.Fatal(err)
	}
}

// until reads frames until the output holds want, and fails at an exit.
func (sc *shellConn) until(want string) {
	sc.t.Helper()
	for !strings.Contains(sc.out.String(), want) {
		f := sc.read()
		switch f.Type {
		case shellwire.TypeStdout:
			sc.out.Write(f.Payload)
		case shellwire.TypeStderr:
			sc.errs.Write(f.Payload)
		case shellwire.TypeExit:
			sc.t.Fatalf("exit %s before %q in the output %q", f.Payload, want, sc.out.String())
		default:
			sc.t.Fatalf("frame %q from the agent", f.Type)
		}
	}
}

// exit reads frames until the exit frame, and returns it; the connection
// then ends.
func (sc *shellConn) exit() shellwire.ExitMsg {
	sc.t.Helper()
	for {
		f := sc.read()
		switch f.Type {
		case shellwire.TypeStdout:
			sc.out.Write(f.Payload)
		case shellwire.TypeStderr:
			sc.errs.Write(f.Payload)
		case shellwire.TypeExit:
			e, err := shellwire.ParseExit(f.Payload)
			if err != nil {
				sc.t.Fatal(err)
			}
			sc.c.SetReadDeadline(time.Now().Add(waitFor))
			if _, err := sc.r.Read(); !errors.Is(err, io.EOF) {
				sc.t.Fatalf("after the exit frame: %v, want the end of the connection", err)
			}
			return e
		default:
			sc.t.Fatalf("frame %q from the agent", f.Type)
		}
	}
}

func stdin(s string) shellwire.Frame {
	return shellwire.Frame{Type: shellwire.TypeStdin, Payload: []byte(s)}
}

func TestShellTerminal(t *testing.T) {
	checkGoroutines(t)
	sh := startShellAgent(t, nil)
	sc := sh.open(shellwire.Request{Command: []string{"sh"}, TTY: true, Cols: 80, Rows: 24, Term: "xterm-256color"})
	// The terminal echoes what is typed; the quotes tell the output apart.
	sc.send(stdin("echo t''ty=$(tty) term=$TERM; stty size\n"))
	sc.until("24 80")
	if !strings.Contains(sc.out.String(), "tty=/dev/pts/") || !strings.Contains(sc.out.String(), "term=xterm-256color") {
		t.Fatalf("output %q: want a terminal and its TERM", sc.out.String())
	}
	sc.send(shellwire.Resize(132, 43))
	sc.send(stdin("stty size\n"))
	sc.until("43 132")
	sc.send(stdin("exit 3\n"))
	if e := sc.exit(); e != (shellwire.ExitMsg{Status: 3}) {
		t.Fatalf("exit %+v, want status 3", e)
	}
	// The link went on meanwhile.
	if doc := sh.check(wire.PingCheck, nil); doc.Message != "pong" {
		t.Fatalf("ping after the session: %+v", doc)
	}
}

func TestShellPipes(t *testing.T) {
	checkGoroutines(t)
	// A clean environment: none of the agent's own.
	t.Setenv("EQUUS_TEST_SECRET", "x")
	sh := startShellAgent(t, nil)
	sc := sh.open(shellwire.Request{Command: []string{"sh", "-c", `echo out; echo err >&2; env | sort; exit 5`}})
	if e := sc.exit(); e != (shellwire.ExitMsg{Status: 5}) {
		t.Fatalf("exit %+v, want status 5", e)
	}
	if !strings.HasPrefix(sc.out.String(), "out\n") || sc.errs.String() != "err\n" {
		t.Fatalf("stdout %q, stderr %q: want them apart", sc.out.String(), sc.errs.String())
	}
	var names []string
	for _, l := range strings.Split(strings.TrimSpace(sc.out.String()), "\n")[1:] {
		name, _, _ := strings.Cut(l, "=")
		names = append(names, name)
	}
	if got := strings.Join(names, " "); got != "HOME LOGNAME PATH PWD SHELL USER" {
		t.Fatalf("environment %q, want only HOME LOGNAME PATH SHELL USER (and the shell's PWD)", got)
	}

	sc = sh.open(shellwire.Request{Command: []string{"cat"}})
	sc.send(stdin("typed\n"))
	sc.until("typed\n")
	sc.send(shellwire.Frame{Type: shellwire.TypeStdinClosed})
	if e := sc.exit(); e != (shellwire.ExitMsg{Status: 0}) {
		t.Fatalf("cat after stdin closed: exit %+v, want 0", e)
	}

	sc = sh.open(shellwire.Request{Command: []string{"sleep", "1000"}})
	sc.send(shellwire.SignalFrame(shellwire.SigTERM))
	if e := sc.exit(); e.Signal != "TERM" || e.Status != 128+int(syscall.SIGTERM) {
		t.Fatalf("sleep after a TERM frame: exit %+v", e)
	}

	sc = sh.open(shellwire.Request{Command: []string{"no-such-program-here"}})
	if e := sc.exit(); e.Status != 127 || !strings.Contains(e.Error, "not found") {
		t.Fatalf("a program not found: exit %+v", e)
	}
}

// gone reports whether process pid has ended (a zombie has).
func gone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return errors.Is(err, os.ErrNotExist) || syscall.Kill(pid, 0) == syscall.ESRCH
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && len(s) > i+2 && s[i+2] == 'Z'
}

// TestShellEndsKillWhole holds the idle timeout and the duration to ending
// the session's every process: a child the shell left running too.
func TestShellEndsKillWhole(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	checkGoroutines(t)
	clk := testingclock.NewFakeClock(time.Unix(1e9, 0))
	sh := startShellAgent(t, func(cfg *Config) {
		cfg.Shell = shell.Config{IdleTimeout: 24 * time.Hour, MaxDuration: 8 * time.Hour, Clock: clk}
	})
	for _, tc := range []struct {
		name string
		tty  bool
		// asked is the idle timeout and duration helen asks for, in ms.
		idleMS, maxMS int64
		step          time.Duration
		why           string
	}{
		{"idle-pipes", false, 3600_000, 0, time.Hour, "no input or output for 1h0m0s"},
		{"idle-asked-less", true, 60_000, 0, time.Minute, "no input or output for 1m0s"},
		{"duration-tty", true, 0, 2 * 3600_000, 2 * time.Hour, "the session lasted 2h0m0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// With a tty, job control puts the child in a process group
			// of its own, as an interactive shell does its jobs.
			script := "sleep 1000 & echo child=$! ; sleep 1000"
			if tc.tty {
				script = "set -m; " + script
			}
			sc := sh.open(shellwire.Request{
				Command: []string{"sh", "-c", script},
				TTY:     tc.tty, IdleTimeoutMS: tc.idleMS, MaxDurationMS: tc.maxMS,
			})
			sc.until("\n")
			line := sc.out.String()
			pid, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "child=")))
			if err != nil {
				t.Fatalf("output %q: %v", line, err)
			}
			t.Cleanup(func() {
				if !gone(pid) {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			})
			poll(t, "the session's timers", func() bool { return clk.Waiters() >= 2 })
			clk.Step(tc.step - time.Second)
			if gone(pid) {
				t.Fatal("the child ended before its time")
			}
			clk.Step(time.Second)
			e := sc.exit()
			if !strings.Contains(e.Error, tc.why) || e.Signal != "HUP" {
				t.Fatalf("exit %+v, want the signal HUP and %q", e, tc.why)
			}
			poll(t, "the shell's child to end", func() bool { return gone(pid) })
		})
	}
}

func TestShellRefused(t *testing.T) {
	checkGoroutines(t)
	p := newTestPKI(t)
	h := startHelen(t, p)
	startAgent(t, testConfig(t, p, h))
	off := &shellHelen{t: t, h: h, hc: h.accept()}
	args, _ := json.Marshal(shellwire.Request{ID: "s1", Secret: "x"})
	if doc := off.check(shellwire.CheckName, args); doc.Status != result.Unknown || doc.Message != shell.OffMessage {
		t.Fatalf("without --allow-shell: %s %q", doc.Status, doc.Message)
	}
	var inf struct{ Capabilities []string }
	if doc := off.check(wire.InfoCheck, nil); json.Unmarshal([]byte(doc.Message), &inf) != nil || inf.Capabilities != nil ||
		strings.Contains(doc.Message, "capabilities") {
		t.Fatalf("equus.info without --allow-shell: %s", doc.Message)
	}

	sh := startShellAgent(t, func(cfg *Config) { cfg.Shell.Sessions = 1 })
	if doc := sh.check(wire.InfoCheck, nil); json.Unmarshal([]byte(doc.Message), &inf) != nil || len(inf.Capabilities) != 1 || inf.Capabilities[0] != "shell" {
		t.Fatalf("equus.info with --allow-shell: %s", doc.Message)
	}
	for _, tc := range []struct {
		name string
		req  shellwire.Request
		want string
	}{
		{"user-not-allowed", shellwire.Request{ID: "s1", Secret: "x", User: "nobody"}, `user "nobody" is not in this agent's --shell-users`},
		{"no-secret", shellwire.Request{ID: "s1"}, "secret"},
		{"bad-term", shellwire.Request{ID: "s1", Secret: "x", TTY: true, Term: "x;rm"}, "term"},
	} {
		args, _ := json.Marshal(tc.req)
		if doc := sh.check(shellwire.CheckName, args); doc.Status != result.Critical || !strings.Contains(doc.Message, tc.want) {
			t.Errorf("%s: %s %q, want critical with %q", tc.name, doc.Status, doc.Message, tc.want)
		}
	}
	if doc := sh.check(shellwire.CheckName, []byte("[")); doc.Status != result.Critical {
		t.Errorf("args not JSON: %s %q", doc.Status, doc.Message)
	}
	// One session at most here: a second waits for none, it is refused.
	sc := sh.open(shellwire.Request{Command: []string{"cat"}})
	args, _ = json.Marshal(shellwire.Request{ID: "s9", Secret: "x", Command: []string{"cat"}})
	if doc := sh.check(shellwire.CheckName, args); doc.Status != result.Critical || !strings.Contains(doc.Message, "1 sessions already run") {
		t.Errorf("a session past --shell-sessions: %s %q", doc.Status, doc.Message)
	}
	sc.send(shellwire.Frame{Type: shellwire.TypeStdinClosed})
	sc.exit()
}

// TestShellUser runs a session as another user of --shell-users, which
// the agent can only as root.
func TestShellUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	checkGoroutines(t)
	sh := startShellAgent(t, func(cfg *Config) { cfg.Shell.Users = []string{"nobody"} })
	sc := sh.open(shellwire.Request{User: "nobody", Command: []string{"sh", "-c", "id -un; echo USER=$USER"}})
	if e := sc.exit(); e.Status != 0 || sc.out.String() != "nobody\nUSER=nobody\n" {
		t.Fatalf("exit %+v, output %q: want nobody", e, sc.out.String())
	}
	// Not in --shell-users, if the agent's own user.
	args, _ := json.Marshal(shellwire.Request{ID: "s2", Secret: "x"})
	if doc := sh.check(shellwire.CheckName, args); doc.Status != result.Critical || !strings.Contains(doc.Message, "--shell-users (nobody)") {
		t.Fatalf("the agent's own user not listed: %s %q", doc.Status, doc.Message)
	}
}

// written returns the bytes process pid has written, from /proc/PID/io.
func written(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "wchar: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no wchar in /proc/%d/io", pid)
	return 0
}

// TestShellFloodStopsAtHelen holds a flood of output to what helen reads:
// with a helen that stops reading, the program stops writing once TCP's
// windows and the pipe are full, the agent's heap does not grow, and a
// ping on the link is still answered.
func TestShellFloodStopsAtHelen(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	checkGoroutines(t)
	sh := startShellAgent(t, nil)
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	sc := sh.open(shellwire.Request{Command: []string{"sh", "-c", "echo $$; exec yes flood"}})
	sc.until("\n")
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(sc.out.String(), "\n", 2)[0]))
	if err != nil {
		t.Fatalf("output %q: %v", sc.out.String(), err)
	}
	// helen reads nothing more. The program stops once what it wrote
	// stays the same between two pings of the link.
	last, same := int64(-1), 0
	poll(t, "yes to stop writing", func() bool {
		if doc := sh.check(wire.PingCheck, nil); doc.Message != "pong" {
			t.Fatalf("ping during the flood: %+v", doc)
		}
		n := written(t, pid)
		if n == last {
			same++
		} else {
			same = 0
		}
		last = n
		return same >= 3
	})
	// Socket buffers of a few MiB, the pipe's 64 KiB and a frame.
	const most = 64 << 20
	if last > most {
		t.Fatalf("yes wrote %d bytes before it stopped, more than %d", last, most)
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 8<<20 {
		t.Fatalf("the heap grew %d bytes during the flood", grew)
	}
	t.Logf("yes wrote %d bytes; heap %d to %d", last, before.HeapAlloc, after.HeapAlloc)
	// helen hangs up: the session ends, and yes with it.
	sc.c.Close()
	poll(t, "yes to end", func() bool { return gone(pid) })
}
