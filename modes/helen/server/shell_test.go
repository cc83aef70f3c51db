package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/shellwire"
	"github.com/equus-monitoring/equus/internal/wait"
	"github.com/equus-monitoring/equus/modes/helen/hub"
	"github.com/equus-monitoring/equus/modes/helen/internal/helentest"
	"github.com/equus-monitoring/equus/modes/helen/monitor/notify"
	"github.com/equus-monitoring/equus/modes/helen/recording"
	"github.com/equus-monitoring/equus/modes/helen/web"
	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/wire"
)

// openShell asks h's admin socket for a shell session on agent. It
// returns the upgraded connection, or the API's status and error.
func openShell(t *testing.T, h *testHelen, agent string, req web.ShellRequest, upgrade bool) (net.Conn, *bufio.Reader, int, string) {
	t.Helper()
	c, err := net.Dial("unix", filepath.Join(h.dir, SocketFile))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(req)
	hdr := "POST /v1/agents/" + agent + "/shell HTTP/1.1\r\nHost: helen\r\nContent-Type: application/json\r\n"
	if upgrade {
		hdr += "Connection: Upgrade\r\nUpgrade: equus-shell/1\r\n"
	}
	fmt.Fprintf(c, "%sContent-Length: %d\r\n\r\n%s\n", hdr, len(body)+1, body)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer c.Close()
		var e struct{ Error string }
		json.NewDecoder(resp.Body).Decode(&e)
		return nil, nil, resp.StatusCode, e.Error
	}
	t.Cleanup(func() { c.Close() })
	return c, br, resp.StatusCode, ""
}

// readUntilExit reads frames until the exit frame, returning the output
// and the exit.
func readUntilExit(t *testing.T, r *shellwire.Reader) (string, shellwire.ExitMsg) {
	t.Helper()
	var out strings.Builder
	for {
		f, err := r.Read()
		if err != nil {
			t.Fatalf("read after %q: %v", out.String(), err)
		}
		switch f.Type {
		case shellwire.TypeStdout, shellwire.TypeStderr:
			out.Write(f.Payload)
		case shellwire.TypeExit:
			exit, err := shellwire.ParseExit(f.Payload)
			if err != nil {
				t.Fatal(err)
			}
			return out.String(), exit
		default:
			t.Fatalf("frame %q from helen", f.Type)
		}
	}
}

func eventsOf(t *testing.T, h *testHelen, to string) []state.Event {
	t.Helper()
	evs, err := h.srv.DB().Events(time.Time{}, time.Time{}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []state.Event
	for _, ev := range evs {
		if ev.To == to {
			out = append(out, ev)
		}
	}
	return out
}

// echoSession plays a session with helentest.EchoShell over c: a line
// echoed, a resize, stdin closed, and the exit the shell gives.
func echoSession(t *testing.T, c net.Conn, br *bufio.Reader) {
	t.Helper()
	r := shellwire.NewReader(br)
	if err := shellwire.Write(c, shellwire.Frame{Type: shellwire.TypeStdin, Payload: []byte("echo hi\r")}); err != nil {
		t.Fatal(err)
	}
	f, err := r.Read()
	if err != nil || f.Type != shellwire.TypeStdout || string(f.Payload) != "echo hi\r" {
		t.Fatalf("echo: %q %q %v", f.Type, f.Payload, err)
	}
	shellwire.Write(c, shellwire.Resize(100, 30))
	shellwire.Write(c, shellwire.Frame{Type: shellwire.TypeStdinClosed})
	out, exit := readUntilExit(t, r)
	if out != "size 100x30" || exit.Status != 7 || exit.Error != "" {
		t.Fatalf("output %q, exit %+v", out, exit)
	}
}

func TestShellSession(t *testing.T) {
	h := startHelen(t, Config{})
	events, stop := h.srv.Subscribe(16)
	defer stop()
	helentest.StartShellAgent(t, h, "web1", helentest.ShellBehavior{Serve: helentest.EchoShell})
	c, br, code, msg := openShell(t, h, "web1", web.ShellRequest{User: "root", Command: []string{"sh", "-c", "cat"}, TTY: true, Cols: 80, Rows: 24, Term: "xterm-256color"}, true)
	if c == nil {
		t.Fatalf("open: %d %s", code, msg)
	}
	echoSession(t, c, br)
	waitEvent(t, events, "session-ended", func(ev state.Event) bool { return ev.To == EventSessionEnd })

	sums, err := h.srv.recordings.List()
	if err != nil || len(sums) != 1 {
		t.Fatalf("recordings %+v, %v", sums, err)
	}
	sum := sums[0]
	if sum.Who != "admin" || sum.Agent != "web1" || sum.User != "root" || sum.Status == nil || *sum.Status != 7 || sum.End.IsZero() {
		t.Errorf("summary %+v", sum)
	}
	f2, err := h.srv.recordings.OpenCast(sum.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	cr := recording.NewReader(f2)
	hd, err := cr.Header()
	if err != nil || hd.Width != 80 || hd.Height != 24 || hd.Env["TERM"] != "xterm-256color" || hd.Who != "admin" {
		t.Errorf("header %+v %v", hd, err)
	}
	var got []string
	for {
		ev, err := cr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev.Code+":"+ev.Data)
	}
	// No input: helen records it only with --record-input.
	want := []string{"o:echo hi\r", "r:100x30", "o:size 100x30"}
	if !slices.Equal(got, want) {
		t.Errorf("recorded %q, want %q", got, want)
	}
	starts, ends := eventsOf(t, h, EventSessionStart), eventsOf(t, h, EventSessionEnd)
	if len(starts) != 1 || len(ends) != 1 || !strings.Contains(starts[0].Message, "admin") || !strings.Contains(starts[0].Message, "sh -c cat") ||
		!strings.Contains(ends[0].Message, "exit status 7") || starts[0].Agent != "web1" {
		t.Errorf("events %+v %+v", starts, ends)
	}
}

func TestShellRecordInput(t *testing.T) {
	h := startHelen(t, Config{RecordInput: true})
	helentest.StartShellAgent(t, h, "web1", helentest.ShellBehavior{Serve: helentest.EchoShell})
	c, br, code, msg := openShell(t, h, "web1", web.ShellRequest{TTY: true, Cols: 80, Rows: 24}, true)
	if c == nil {
		t.Fatalf("open: %d %s", code, msg)
	}
	shellwire.Write(c, shellwire.Frame{Type: shellwire.TypeStdin, Payload: []byte("x")})
	shellwire.Write(c, shellwire.Frame{Type: shellwire.TypeStdinClosed})
	readUntilExit(t, shellwire.NewReader(br))
	poll(t, "the session's end", func() bool { return len(eventsOf(t, h, EventSessionEnd)) == 1 })
	sums, _ := h.srv.recordings.List()
	f, _ := h.srv.recordings.OpenCast(sums[0].ID)
	defer f.Close()
	cr := recording.NewReader(f)
	cr.Header()
	ev, err := cr.Next()
	if err != nil || ev.Code != recording.Input || ev.Data != "x" {
		t.Errorf("first event %+v %v, want the input", ev, err)
	}
}

func TestShellRefusals(t *testing.T) {
	h := startHelen(t, Config{})
	plain := helentest.StartShellAgent(t, h, "plain", helentest.ShellBehavior{Caps: []string{}})
	strict := helentest.StartShellAgent(t, h, "strict", helentest.ShellBehavior{Refuse: "user root is not in --shell-users"})
	for _, tc := range []struct {
		name, agent string
		req         web.ShellRequest
		upgrade     bool
		code        int
		msg         string
	}{
		{"no-capability", "plain", web.ShellRequest{}, true, http.StatusConflict, "does not offer shell sessions"},
		{"refused", "strict", web.ShellRequest{User: "root"}, true, http.StatusConflict, "user root is not in --shell-users"},
		{"not-connected", "nobody", web.ShellRequest{}, true, http.StatusConflict, "not connected"},
		{"no-upgrade", "strict", web.ShellRequest{}, false, http.StatusBadRequest, "Upgrade"},
		{"bad-term", "strict", web.ShellRequest{Term: "x\x1b"}, true, http.StatusBadRequest, "term"},
		{"bad-size", "strict", web.ShellRequest{Cols: -1}, true, http.StatusBadRequest, "size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _, code, msg := openShell(t, h, tc.agent, tc.req, tc.upgrade)
			if c != nil || code != tc.code || !strings.Contains(msg, tc.msg) {
				t.Errorf("%d %q, want %d with %q", code, msg, tc.code, tc.msg)
			}
		})
	}
	// Nothing new goes to an agent that did not say it takes it.
	if n := plain.CountChecks(hub.ShellCheck); n != 0 {
		t.Errorf("the agent without the capability got %d equus.shell", n)
	}
	if n := strict.CountChecks(hub.ShellCheck); n != 1 {
		t.Errorf("the refusing agent got %d equus.shell, want 1", n)
	}
	// The attempts that reached an agent are recorded, saying why they
	// ended; none runs.
	sums, _ := h.srv.recordings.List()
	if len(sums) != 2 {
		t.Fatalf("recordings %+v", sums)
	}
	for _, s := range sums {
		if s.End.IsZero() || s.Status != nil || !strings.Contains(s.Error, map[string]string{"plain": "does not offer", "strict": "shell-users"}[s.Agent]) {
			t.Errorf("recording %+v", s)
		}
	}
}

// A shell connection must be the agent's, with the session's secret: one
// with a wrong secret, and one of another agent with the right one, are
// closed, and the session is not joined.
func TestShellJoinChecked(t *testing.T) {
	h := startHelen(t, Config{shellJoinTimeout: 2 * time.Second})
	var refused atomic.Int32
	closedByHelen := func(c net.Conn) bool {
		c.SetReadDeadline(time.Now().Add(waitFor))
		_, err := c.Read(make([]byte, 1))
		return err != nil && !isTimeout(err)
	}
	intruder := agentCert(t, h.srv, "intruder")
	helentest.StartShellAgent(t, h, "web1", helentest.ShellBehavior{
		Hello: func(id, _ string) shellwire.Frame { return shellwire.NewHello(id, "AAAA") },
		Serve: func(t testing.TB, c net.Conn, args map[string]any) {
			if closedByHelen(c) {
				refused.Add(1)
			}
			ic, err := dialTLS(t, h, intruder, []string{hub.ShellALPN})
			if err != nil {
				t.Errorf("intruder: %v", err)
				return
			}
			defer ic.Close()
			shellwire.Write(ic, shellwire.NewHello(args["id"].(string), args["secret"].(string)))
			if closedByHelen(ic) {
				refused.Add(1)
			}
		},
	})
	_, _, code, msg := openShell(t, h, "web1", web.ShellRequest{}, true)
	if code != http.StatusBadGateway || !strings.Contains(msg, "did not connect") {
		t.Errorf("%d %q", code, msg)
	}
	poll(t, "both shell connections closed by helen", func() bool { return refused.Load() == 2 })
	sums, _ := h.srv.recordings.List()
	if len(sums) != 1 || !strings.Contains(sums[0].Error, "did not connect") {
		t.Errorf("recordings %+v", sums)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// No recording, no session: a directory at its bound refuses the session
// before the agent is asked, and a session that reaches it is ended.
func TestShellRecordingBound(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		h := startHelen(t, Config{SessionMaxBytes: 64})
		sa := helentest.StartShellAgent(t, h, "web1", helentest.ShellBehavior{Serve: helentest.EchoShell})
		_, _, code, msg := openShell(t, h, "web1", web.ShellRequest{}, true)
		if code != http.StatusInternalServerError || !strings.Contains(msg, "recording") {
			t.Errorf("%d %q", code, msg)
		}
		if n := sa.CountChecks(hub.ShellCheck); n != 0 {
			t.Errorf("the agent was asked %d times", n)
		}
	})
	t.Run("ended", func(t *testing.T) {
		h := startHelen(t, Config{SessionMaxBytes: 4096})
		helentest.StartShellAgent(t, h, "web1", helentest.ShellBehavior{Serve: helentest.EchoShell})
		c, br, code, msg := openShell(t, h, "web1", web.ShellRequest{}, true)
		if c == nil {
			t.Fatalf("open: %d %s", code, msg)
		}
		go func() {
			for range 100 {
				if shellwire.Write(c, shellwire.Frame{Type: shellwire.TypeStdin, Payload: []byte(strings.Repeat("y", 100))}) != nil {
					return
				}
			}
		}()
		_, exit := readUntilExit(t, shellwire.NewReader(br))
		if !strings.Contains(exit.Error, "--session-max-bytes") {
			t.Errorf("exit %+v", exit)
		}
		poll(t, "the session's end", func() bool { return len(eventsOf(t, h, EventSessionEnd)) == 1 })
		if used := h.srv.recordings.Used(); used > 4096+1024 {
			t.Errorf("recordings hold %d bytes, bound 4096 (and a summary)", used)
		}
	})
}

// An operator who reads nothing stops the relay, and TCP stops the
// agent: what the agent could write is what the sockets' buffers hold,
// not what it has to say, and a check on that agent is answered in time
// meanwhile, the session being on a connection of its own.
func TestShellSlowReader(t *testing.T) {
	h := startHelen(t, Config{})
	var written atomic.Int64
	var writing atomic.Int64 // unix nanoseconds a write under way began; 0 for none
	stop := make(chan struct{})
	flood := func(t testing.TB, c net.Conn, _ map[string]any) {
		go func() { // its input: stdin closed ends the flood
			r := shellwire.NewReader(c)
			for {
				f, err := r.Read()
				if err != nil || f.Type == shellwire.TypeStdinClosed {
					close(stop)
					return
				}
			}
		}()
		chunk := shellwire.Frame{Type: shellwire.TypeStdout, Payload: []byte(strings.Repeat("y\n", shellwire.MaxPayload/2))}
		for {
			select {
			case <-stop:
				shellwire.Write(c, shellwire.Exit(shellwire.ExitMsg{Status: 0}))
				return
			default:
			}
			writing.Store(time.Now().UnixNano())
			if err := shellwire.Write(c, chunk); err != nil {
				return
			}
			writing.Store(0)
			written.Add(int64(len(chunk.Payload)))
		}
	}
	helentest.StartShellAgent(t, h, "web1", helentest.ShellBehavior{Serve: flood})
	c, br, code, msg := openShell(t, h, "web1", web.ShellRequest{}, true)
	if c == nil {
		t.Fatalf("open: %d %s", code, msg)
	}
	poll(t, "the agent's writes to stop", func() bool {
		began := writing.Load()
		return began != 0 && time.Since(time.Unix(0, began)) > 500*time.Millisecond
	})
	// Loopback's socket buffers, on both connections, and one frame in
	// the relay: a few MiB.
	const bound = 32 << 20
	held := written.Load()
	t.Logf("the agent wrote %d bytes before its writes stopped", held)
	if held > bound {
		t.Errorf("the agent wrote %d bytes to an operator who reads nothing, over %d", held, bound)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	doc, err := h.srv.Run(ctx, "web1", wire.PingCheck, nil, 5*time.Second)
	if err != nil || doc.Status != "ok" {
		t.Errorf("equus.ping during the flood: %+v %v", doc, err)
	}
	t.Logf("equus.ping answered in %s during the flood", time.Since(start))
	// Nothing was lost: the operator reads all of it, then the exit.
	shellwire.Write(c, shellwire.Frame{Type: shellwire.TypeStdinClosed})
	r := shellwire.NewReader(br)
	var read int64
	for {
		f, err := r.Read()
		if err != nil {
			t.Fatalf("after %d bytes: %v", read, err)
		}
		if f.Type == shellwire.TypeExit {
			break
		}
		read += int64(len(f.Payload))
	}
	if read != written.Load() {
		t.Errorf("read %d bytes, the agent wrote %d", read, written.Load())
	}
}

// TestShellSessionNotified: a route whose statuses name session-started
// and session-ended tells its webhook a session's start and end, with
// who, the agent, the user, the command, and at the end the duration and
// exit status; a route that does not name them is told nothing of it.
func TestShellSessionNotified(t *testing.T) {
	hook, other := startWebhookReceiver(t), startWebhookReceiver(t)
	roots := hook.roots()
	roots.AddCert(other.srv.Certificate())
	h := startHelen(t, Config{receiverRoots: roots})
	c := newOpsClient(t, h)
	for _, rt := range []web.RouteView{
		{Name: "audit", Statuses: []string{state.EventSessionStarted, state.EventSessionEnded},
			Receivers: []web.ReceiverView{{Kind: state.KindWebhook, Webhook: &web.WebhookView{URL: hook.srv.URL + "/hook"}}}},
		{Name: "problems", Receivers: []web.ReceiverView{{Kind: state.KindWebhook, Webhook: &web.WebhookView{URL: other.srv.URL}}}},
	} {
		if code, data := c.Do("POST", "/v1/routes", c.Token, rt); code != http.StatusOK {
			t.Fatalf("POST /v1/routes %s: %d %s", rt.Name, code, data)
		}
	}
	helentest.StartShellAgent(t, h, "web1", helentest.ShellBehavior{Serve: helentest.EchoShell})
	conn, br, code, msg := openShell(t, h, "web1", web.ShellRequest{User: "root", Command: []string{"sh", "-c", "cat"}, TTY: true, Cols: 80, Rows: 24}, true)
	if conn == nil {
		t.Fatalf("open: %d %s", code, msg)
	}
	shellwire.Write(conn, shellwire.Frame{Type: shellwire.TypeStdinClosed})
	if _, exit := readUntilExit(t, shellwire.NewReader(br)); exit.Status != 7 {
		t.Fatalf("exit %+v", exit)
	}
	var got []notify.Notification
	wait.Until(t, "the webhook told the session's start and end", 10*time.Second, 20*time.Millisecond, func() bool {
		got = got[:0]
		for _, b := range hook.got() {
			var n notify.Notification
			if err := json.Unmarshal([]byte(b), &n); err != nil {
				t.Fatalf("body %q: %v", b, err)
			}
			got = append(got, n)
		}
		return len(got) >= 2
	})
	slices.SortFunc(got, func(a, b notify.Notification) int { return a.Time.Compare(b.Time) })
	start, end := got[0], got[1]
	if len(got) != 2 || start.Kind != notify.SessionStarted || end.Kind != notify.SessionEnded {
		t.Fatalf("told %+v", got)
	}
	for _, n := range got {
		s := n.Session
		if n.Agent != "web1" || s == nil || s.Who != "admin" || s.User != "root" || !slices.Equal(s.Command, []string{"sh", "-c", "cat"}) || s.ID == "" {
			t.Errorf("%s: %+v, session %+v", n.Kind, n, s)
		}
	}
	if start.Status != state.EventSessionStarted || start.Session.Duration != nil || start.Session.ExitStatus != nil {
		t.Errorf("start %+v, session %+v", start, start.Session)
	}
	if s := end.Session; end.Status != state.EventSessionEnded || s.Duration == nil || *s.Duration < 0 || s.ExitStatus == nil || *s.ExitStatus != 7 ||
		s.ID != start.Session.ID || !strings.Contains(end.Message, "exit status 7") {
		t.Errorf("end %+v, session %+v", end, s)
	}
	// Both events are in the store, each with its session.
	if starts, ends := eventsOf(t, h, EventSessionStart), eventsOf(t, h, EventSessionEnd); len(starts) != 1 || len(ends) != 1 ||
		starts[0].Session == nil || ends[0].Session == nil || ends[0].Session.ExitStatus == nil {
		t.Errorf("events %+v %+v", starts, ends)
	}
	if b := other.got(); len(b) != 0 {
		t.Errorf("a route without the sessions' statuses was told %q", b)
	}
}
