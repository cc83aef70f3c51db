package web

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/equus-monitoring/equus/internal/shellwire"
	"github.com/equus-monitoring/equus/modes/helen/reply"
)

// ShellALPN names the protocol of a shell session's connection once the
// API upgraded it, as the agent's shell connection's ALPN does: the
// frames of package shellwire, both ways.
const ShellALPN = shellwire.ALPN

// ShellRequest is the body of POST /v1/agents/{name}/shell.
type ShellRequest struct {
	User        string   `json:"user"`    // "" for the agent's own
	Command     []string `json:"command"` // empty for the user's login shell
	TTY         bool     `json:"tty"`
	Cols        int      `json:"cols"`
	Rows        int      `json:"rows"`
	Term        string   `json:"term"`
	IdleTimeout Duration `json:"idle_timeout"` // 0: the agent's
	MaxDuration Duration `json:"max_duration"` // 0: the agent's
}

// Bounds of a shell request.
const (
	MaxShellArgs     = 256  // words of its command
	MaxShellArgBytes = 8192 // bytes of its command, all words
	maxShellTerm     = 64   // bytes of its TERM
	maxShellSize     = 10000
)

// check returns an error saying what is wrong with req, or nil.
func (req ShellRequest) check() error {
	n := 0
	for _, w := range req.Command {
		n += len(w)
		if strings.IndexByte(w, 0) >= 0 {
			return errors.New("command: a word holds a NUL byte")
		}
	}
	switch {
	case len(req.Command) > MaxShellArgs:
		return fmt.Errorf("command: %d words, at most %d", len(req.Command), MaxShellArgs)
	case n > MaxShellArgBytes:
		return fmt.Errorf("command: %d bytes, at most %d", n, MaxShellArgBytes)
	case req.Cols < 0 || req.Rows < 0 || req.Cols > maxShellSize || req.Rows > maxShellSize:
		return fmt.Errorf("size %dx%d: want 0 to %d each", req.Cols, req.Rows, maxShellSize)
	case len(req.Term) > maxShellTerm || strings.ContainsFunc(req.Term, func(r rune) bool { return r <= ' ' || r > '~' }):
		return fmt.Errorf("term %q: want at most %d printable bytes", req.Term, maxShellTerm)
	case req.IdleTimeout < 0 || req.MaxDuration < 0:
		return errors.New("idle_timeout and max_duration: want positive durations, or 0 for the agent's")
	case strings.ContainsFunc(req.User, func(r rune) bool { return r <= ' ' || r == ':' || r == '/' }) || len(req.User) > 64:
		return fmt.Errorf("user %q: not a user name", req.User)
	}
	return nil
}

// A Shell is a session opened on an agent, its recording begun, waiting
// for its relay.
type Shell interface {
	// ID is the session's, its recording's name.
	ID() string
	// Relay carries the frames between the operator's connection c (br
	// reads it, holding what came with the request) and the agent until
	// the session ends, and records its end.
	Relay(c net.Conn, br *bufio.Reader)
	// Abort ends a session never relayed, recording why.
	Abort(why string)
}

// Errors of OpenShell, beside ErrNotConnected.
var (
	// ErrNoShell is an agent that offers no shell sessions, or refused
	// this one; its text says the agent's reason.
	ErrNoShell = errors.New("helen: no shell session")
	// ErrNoRecording refuses a session whose recording could not begin:
	// no recording, no session.
	ErrNoRecording = errors.New("helen: the session's recording could not begin")
)

// NoShell returns an error that is ErrNoShell and says why.
func NoShell(why string) error { return noShell(why) }

type noShell string

func (e noShell) Error() string        { return string(e) }
func (e noShell) Is(target error) bool { return target == ErrNoShell }

// ShellOpener is the backend that opens shell sessions (a running helen).
type ShellOpener interface {
	// OpenShell opens a session on agent for who (the operator): its
	// recording first, then the agent's connection.
	OpenShell(ctx context.Context, who, agent string, req ShellRequest) (Shell, error)
}

// handleShell opens a shell session and upgrades the request's
// connection to carry it: 101 Switching Protocols, then frames. Errors
// before the upgrade are the API's.
func (a *api) handleShell(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), ShellALPN) {
		reply.Error(w, http.StatusBadRequest, "a shell session upgrades its connection: send Connection: Upgrade and Upgrade: %s", ShellALPN)
		return
	}
	var req ShellRequest
	if !decode(w, r, &req) {
		return
	}
	// What is left of the body (the encoder's newline) would be read as
	// the first frame after the upgrade.
	if n, err := io.Copy(io.Discard, io.LimitReader(r.Body, 1024)); err != nil || n == 1024 {
		reply.Error(w, http.StatusBadRequest, "bad request: more than one JSON document")
		return
	}
	if err := req.check(); err != nil {
		reply.Error(w, http.StatusBadRequest, "%v", err)
		return
	}
	opener, ok := a.backend.(ShellOpener)
	if !ok {
		reply.Error(w, http.StatusConflict, "shell sessions need a running helen")
		return
	}
	rc := http.NewResponseController(w)
	ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
	defer cancel()
	// Who: the API answers the admin socket and the admin token alone.
	sh, err := opener.OpenShell(ctx, "admin", r.PathValue("name"), req)
	switch {
	case errors.Is(err, ErrNotConnected), errors.Is(err, ErrNoShell):
		reply.Error(w, http.StatusConflict, "%v", err)
		return
	case errors.Is(err, ErrNoRecording):
		reply.Error(w, http.StatusInternalServerError, "%v", err)
		return
	case err != nil:
		reply.Error(w, http.StatusBadGateway, "%v", err)
		return
	}
	c, brw, err := rc.Hijack()
	if err != nil {
		sh.Abort("the connection could not be upgraded: " + err.Error())
		reply.Error(w, http.StatusInternalServerError, "upgrade: %v", err)
		return
	}
	// The server's deadlines are those of a request: the session has
	// its own bounds (the agent's idle timeout and maximum duration).
	c.SetDeadline(time.Time{})
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\nEquus-Session: %s\r\n\r\n", ShellALPN, sh.ID())
	if err := brw.Flush(); err != nil {
		sh.Abort("the operator's connection broke: " + err.Error())
		c.Close()
		return
	}
	sh.Relay(c, brw.Reader)
}
