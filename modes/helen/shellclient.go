package helen

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/equus-monitoring/equus/internal/shellwire"
	"github.com/equus-monitoring/equus/modes/helen/server"
	"github.com/equus-monitoring/equus/modes/helen/web"
)

// shellConn is a shell session's connection to helen once it upgraded:
// frames both ways. Its writes are one frame at a time, whoever calls.
type shellConn struct {
	c   net.Conn
	r   *shellwire.Reader
	wmu sync.Mutex
	ID  string
}

// errShellRefused is a session helen or the agent would not open.
var errShellRefused = errors.New("no shell session")

// dialShell opens a shell session on agent through the admin socket of
// the helen of dataDir. Its errors before the upgrade are helen's.
func dialShell(ctx context.Context, dataDir, agent string, req web.ShellRequest) (*shellConn, error) {
	path := filepath.Join(dataDir, server.SocketFile)
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("%w (no admin socket at %s): shell sessions need a running helen", errNotRunning, path)
	}
	// Until the upgrade, ctx bounds the exchange.
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	body, err := json.Marshal(req)
	if err != nil {
		c.Close()
		return nil, err
	}
	hr, err := http.NewRequest(http.MethodPost, "http://helen/v1/agents/"+url.PathEscape(agent)+"/shell", strings.NewReader(string(body)))
	if err != nil {
		c.Close()
		return nil, err
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Connection", "Upgrade")
	hr.Header.Set("Upgrade", web.ShellALPN)
	if err := hr.Write(c); err != nil {
		c.Close()
		return nil, fmt.Errorf("shell on %s: %w", agent, err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, hr)
	if err != nil {
		c.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("shell on %s: %w", agent, ctx.Err())
		}
		return nil, fmt.Errorf("shell on %s: %w", agent, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer c.Close()
		var e struct{ Error string }
		json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&e)
		if e.Error == "" {
			e.Error = resp.Status
		}
		return nil, fmt.Errorf("%w: %s", errShellRefused, e.Error)
	}
	c.SetDeadline(time.Time{})
	return &shellConn{c: c, r: shellwire.NewReader(br), ID: resp.Header.Get("Equus-Session")}, nil
}

func (s *shellConn) write(f shellwire.Frame) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return shellwire.Write(s.c, f)
}

// sendInput copies in to the session as stdin frames, then says that
// stdin closed.
func (s *shellConn) sendInput(in io.Reader) {
	buf := make([]byte, shellwire.MaxPayload)
	for {
		n, err := in.Read(buf)
		if n > 0 {
			if s.write(shellwire.Frame{Type: shellwire.TypeStdin, Payload: buf[:n]}) != nil {
				return
			}
		}
		if err != nil {
			s.write(shellwire.Frame{Type: shellwire.TypeStdinClosed})
			return
		}
	}
}

// copyOutput writes the session's output to stdout and stderr until its
// exit frame, which it returns.
func (s *shellConn) copyOutput(stdout, stderr io.Writer) (shellwire.ExitMsg, error) {
	for {
		f, err := s.r.Read()
		if err != nil {
			return shellwire.ExitMsg{}, fmt.Errorf("the session's connection ended before its exit: %w", err)
		}
		switch f.Type {
		case shellwire.TypeStdout:
			if _, err := stdout.Write(f.Payload); err != nil {
				return shellwire.ExitMsg{}, err
			}
		case shellwire.TypeStderr:
			if _, err := stderr.Write(f.Payload); err != nil {
				return shellwire.ExitMsg{}, err
			}
		case shellwire.TypeExit:
			return shellwire.ParseExit(f.Payload)
		default:
			return shellwire.ExitMsg{}, fmt.Errorf("a frame %q from helen", f.Type)
		}
	}
}

func (s *shellConn) Close() error { return s.c.Close() }

// exitCode is the exit status of a command whose session ended with e:
// its own, 128 and the signal's number for one a signal killed (as a
// shell says it), 255 for a session that ended otherwise (as ssh does).
func exitCode(e shellwire.ExitMsg) int {
	if e.Signal != "" {
		if n, ok := shellwire.SignalNumber(e.Signal); ok {
			return 128 + int(n)
		}
		return 255
	}
	if e.Error != "" && e.Status <= 0 {
		return 255
	}
	return e.Status
}

// shellwireStdinClosed says that no input comes.
var shellwireStdinClosed = shellwire.Frame{Type: shellwire.TypeStdinClosed}
