package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/equus-monitoring/equus/internal/shellwire"
	"github.com/equus-monitoring/equus/modes/helen/hub"
	"github.com/equus-monitoring/equus/modes/helen/recording"
	"github.com/equus-monitoring/equus/modes/helen/web"
	"github.com/equus-monitoring/equus/state"
)

// Shell sessions: the API (web.handleShell) asks OpenShell, which begins
// the recording, then asks the agent (hub.OpenShell); the relay carries
// the frames between the operator's connection and the agent's, one frame
// at a time each way, so that an operator who reads slowly stops the
// relay, and TCP stops the agent: nothing queues in helen.

// MaxShellSessions bounds the shell sessions open at once in helen.
const MaxShellSessions = 64

// SessionsDir is the directory of the recordings in the data directory.
const SessionsDir = "sessions"

// The events' To of a session's start and end.
const (
	EventSessionStart = state.EventSessionStarted
	EventSessionEnd   = state.EventSessionEnded
)

var _ web.ShellOpener = (*Server)(nil)

// OpenShell opens a shell session on agent for who: no recording, no
// session. A session on an agent another helen of a shared store holds is
// that helen's, which records it; this one relays it (forward.go), and
// counts it among its own.
func (s *Server) OpenShell(ctx context.Context, who, agent string, req web.ShellRequest) (web.Shell, error) {
	if _, ok := s.hub.Session(agent); ok || s.peers == nil {
		return s.openShellHere(ctx, who, agent, req)
	}
	h, err := s.holder(ctx, agent)
	if err != nil {
		return nil, err
	}
	if !s.takeShellSlot() {
		return nil, s.shellsFull()
	}
	sh, err := s.peers.openShell(ctx, h, agent, req)
	if err != nil {
		<-s.shellSlots
		return nil, err
	}
	s.wg.Add(1) // Serve's shutdown waits for its end
	sh.done = func() { <-s.shellSlots; s.wg.Done() }
	s.log.Info("shell session forwarded", "session", sh.id, "agent", agent, "who", who, "helen", h.ID)
	return sh, nil
}

// openShellHere opens a session on an agent this helen holds.
func (s *Server) openShellHere(ctx context.Context, who, agent string, req web.ShellRequest) (web.Shell, error) {
	if !s.takeShellSlot() {
		return nil, s.shellsFull()
	}
	sh, err := s.openShell(ctx, who, agent, req)
	if err != nil {
		<-s.shellSlots
		return nil, err
	}
	return sh, nil
}

func (s *Server) takeShellSlot() bool {
	select {
	case s.shellSlots <- struct{}{}:
		return true
	default:
		return false
	}
}

func (s *Server) shellsFull() error {
	return web.NoShell(fmt.Sprintf("helen: %d shell sessions open already, the most it opens at once", MaxShellSessions))
}

func (s *Server) openShell(ctx context.Context, who, agent string, req web.ShellRequest) (*shellSession, error) {
	if s.recordings == nil {
		return nil, fmt.Errorf("%w: %v", web.ErrNoRecording, s.recordingsErr)
	}
	if _, ok := s.hub.Session(agent); !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotConnected, agent)
	}
	cols, rows := req.Cols, req.Rows
	if cols == 0 || rows == 0 {
		cols, rows = 80, 24
	}
	id := recording.NewID(time.Now())
	h := recording.Header{Width: cols, Height: rows, Title: "equus helen shell " + agent,
		Who: who, Agent: agent, User: req.User, Command: req.Command}
	if req.TTY && req.Term != "" {
		h.Env = map[string]string{"TERM": req.Term}
	}
	sum := recording.Summary{ID: id, Who: who, Agent: agent, User: req.User, Command: req.Command, TTY: req.TTY}
	rec, err := s.recordings.Create(h, sum, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", web.ErrNoRecording, err)
	}
	sh := &shellSession{srv: s, id: id, who: who, agent: agent, req: req, rec: rec,
		log: s.log.With("session", id, "agent", agent, "who", who)}
	conn, err := s.hub.OpenShell(ctx, agent, id, hub.ShellRequest{
		User: req.User, Command: req.Command, TTY: req.TTY, Cols: req.Cols, Rows: req.Rows, Term: req.Term,
		IdleTimeout: time.Duration(req.IdleTimeout), MaxDuration: time.Duration(req.MaxDuration),
	})
	if err != nil {
		rec.Close(nil, "", err.Error())
		var refusal *hub.ShellRefusal
		switch {
		case errors.Is(err, hub.ErrNotConnected):
			err = fmt.Errorf("%w: %s", ErrNotConnected, agent)
		case errors.As(err, &refusal):
			err = web.NoShell(agent + " refused the session: " + refusal.Message)
		case errors.Is(err, hub.ErrNoShell):
			err = web.NoShell(err.Error())
		}
		return nil, err
	}
	sh.agentConn = conn
	sh.start = time.Now()
	s.wg.Add(1) // Serve's shutdown waits for its end to be recorded
	s.recordEvent(state.Event{Time: sh.start, Agent: agent, To: EventSessionStart,
		Message: fmt.Sprintf("%s opened shell session %s as %s: %s", who, id, userOf(req.User), commandOf(req.Command)),
		Session: &state.Session{ID: id, Who: who, User: req.User, Command: req.Command}})
	sh.log.Info("shell session started", "user", req.User, "command", req.Command, "tty", req.TTY)
	return sh, nil
}

// pruneInterval is how often the recordings past their retention are
// removed.
const pruneInterval = time.Hour

// pruneRecordings removes the recordings past their retention, at start
// and every pruneInterval, until ctx ends.
func (s *Server) pruneRecordings(ctx context.Context) {
	if s.recordings == nil {
		return
	}
	t := time.NewTicker(pruneInterval)
	defer t.Stop()
	for {
		n, err := s.recordings.Prune(time.Now().Add(-s.cfg.SessionRetention), s.hub.ShellOpen)
		if err != nil {
			s.log.Error("prune shell sessions' recordings", "err", err)
		} else if n > 0 {
			s.log.Info("pruned shell sessions' recordings", "sessions", n, "retention", s.cfg.SessionRetention)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// recordEvent stores ev with the notifications of the routes that take
// it, and hands it to the monitor's subscribers.
func (s *Server) recordEvent(ev state.Event) {
	if err := s.monitor.Record(ev); err != nil {
		s.log.Error("record a shell session's event", "err", err)
	}
}

func userOf(u string) string {
	if u == "" {
		return "the agent's user"
	}
	return u
}

func commandOf(cmd []string) string {
	if len(cmd) == 0 {
		return "login shell"
	}
	return strings.Join(cmd, " ")
}

// shellSession is a session open on an agent, its recording begun.
type shellSession struct {
	srv       *Server
	log       *slog.Logger
	id        string
	who       string
	agent     string
	req       web.ShellRequest
	rec       *recording.Recorder
	agentConn *hub.ShellConn
	start     time.Time
	endOnce   sync.Once
}

func (sh *shellSession) ID() string { return sh.id }

// Abort ends a session never relayed.
func (sh *shellSession) Abort(why string) {
	sh.agentConn.Close()
	sh.end(shellwire.ExitMsg{Error: why}, false)
}

// Relay carries the frames both ways until the session ends.
func (sh *shellSession) Relay(c net.Conn, br *bufio.Reader) {
	defer c.Close()
	var (
		wg      sync.WaitGroup
		inErr   error // why the operator's side ended, when it did first
		inMu    sync.Mutex
		stopped = make(chan struct{})
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := sh.fromOperator(br)
		inMu.Lock()
		inErr = err
		inMu.Unlock()
		// The agent ends the session (its exit frame) once its input
		// is over; a break ends it at once.
		if err != nil {
			sh.agentConn.Close()
		}
		<-stopped
	}()
	exit, exited := sh.toOperator(c, func() error { inMu.Lock(); defer inMu.Unlock(); return inErr })
	close(stopped)
	sh.agentConn.Close()
	// The exit frame is the operator's last: what the operator still
	// sends is read until it hangs up (or for a moment), so that the
	// close does not reset the connection under that frame.
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	c.SetReadDeadline(time.Now().Add(time.Second))
	wg.Wait()
	io.Copy(io.Discard, br)
	c.Close()
	if !exited {
		inMu.Lock()
		if inErr != nil && exit.Error == "" {
			exit.Error = inErr.Error()
		}
		inMu.Unlock()
	}
	sh.end(exit, exited)
}

// fromOperator relays the operator's frames to the agent until its
// connection ends: io.EOF, or the error that ended it.
func (sh *shellSession) fromOperator(br *bufio.Reader) error {
	r := shellwire.NewReader(br)
	for {
		f, err := r.Read()
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				return errors.New("the operator's connection ended")
			}
			return fmt.Errorf("from the operator: %w", err)
		}
		switch f.Type {
		case shellwire.TypeStdin:
			if sh.srv.cfg.RecordInput {
				if err := sh.rec.Event(recording.Input, f.Payload); err != nil {
					return sh.recordingFailed(err)
				}
			}
		case shellwire.TypeResize:
			cols, rows, err := shellwire.ParseResize(f.Payload)
			if err != nil {
				return fmt.Errorf("from the operator: %w", err)
			}
			if err := sh.rec.ResizeEvent(int(cols), int(rows)); err != nil {
				return sh.recordingFailed(err)
			}
		case shellwire.TypeSignal:
			if _, err := shellwire.ParseSignal(f.Payload); err != nil {
				return fmt.Errorf("from the operator: %w", err)
			}
		case shellwire.TypeStdinClosed:
		default:
			return fmt.Errorf("from the operator: a frame %q, which only the agent sends", f.Type)
		}
		if err := shellwire.Write(sh.agentConn, f); err != nil {
			return fmt.Errorf("to the agent: %w", err)
		}
	}
}

// recordingFailed is the end of a session whose recording failed.
func (sh *shellSession) recordingFailed(err error) error {
	if errors.Is(err, recording.ErrFull) {
		return errors.New("session ended: the recordings are at their bound of bytes (helen serve --session-max-bytes)")
	}
	return fmt.Errorf("session ended: its recording failed: %w", err)
}

// toOperator relays the agent's frames to the operator until the agent's
// exit frame, which it returns with true, or the end of either
// connection. It is the only writer of the operator's connection: a
// session it ends gets an exit frame saying why.
func (sh *shellSession) toOperator(c net.Conn, operatorErr func() error) (shellwire.ExitMsg, bool) {
	r := shellwire.NewReader(sh.agentConn)
	for {
		f, err := r.Read()
		if err != nil {
			why := "the agent's connection ended before the session's exit"
			switch {
			case operatorErr() != nil:
				// The relay closed the agent's connection for it.
				why = operatorErr().Error()
			case !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed):
				why = "from the agent: " + err.Error()
			}
			exit := shellwire.ExitMsg{Status: -1, Error: why}
			shellwire.Write(c, shellwire.Exit(exit))
			return exit, false
		}
		switch f.Type {
		case shellwire.TypeStdout, shellwire.TypeStderr:
			if err := sh.rec.Event(recording.Output, f.Payload); err != nil {
				exit := shellwire.ExitMsg{Status: -1, Error: sh.recordingFailed(err).Error()}
				shellwire.Write(c, shellwire.Exit(exit))
				return exit, false
			}
		case shellwire.TypeExit:
			exit, err := shellwire.ParseExit(f.Payload)
			if err != nil {
				exit = shellwire.ExitMsg{Status: -1, Error: "from the agent: " + err.Error()}
				shellwire.Write(c, shellwire.Exit(exit))
				return exit, false
			}
			shellwire.Write(c, f)
			return exit, true
		default:
			exit := shellwire.ExitMsg{Status: -1, Error: fmt.Sprintf("from the agent: a frame %q, which only helen sends", f.Type)}
			shellwire.Write(c, shellwire.Exit(exit))
			return exit, false
		}
		if err := shellwire.Write(c, f); err != nil {
			return shellwire.ExitMsg{Status: -1, Error: "the operator's connection broke: " + err.Error()}, false
		}
	}
}

// end records the session's end, once: its recording's summary and the
// event.
func (sh *shellSession) end(exit shellwire.ExitMsg, exited bool) {
	sh.endOnce.Do(func() {
		defer func() { <-sh.srv.shellSlots; sh.srv.wg.Done() }()
		var status *int
		if exited && exit.Signal == "" {
			status = &exit.Status
		}
		if err := sh.rec.Close(status, exit.Signal, exit.Error); err != nil {
			sh.log.Error("close the session's recording", "err", err)
		}
		d := time.Since(sh.start).Round(time.Millisecond)
		how := ""
		switch {
		case exit.Signal != "":
			how = "killed by SIG" + exit.Signal
		case exited && exit.Error == "":
			how = fmt.Sprintf("exit status %d", exit.Status)
		case exited:
			how = fmt.Sprintf("exit status %d: %s", exit.Status, exit.Error)
		default:
			how = exit.Error
		}
		sh.srv.recordEvent(state.Event{Time: time.Now(), Agent: sh.agent, To: EventSessionEnd,
			Message: fmt.Sprintf("shell session %s of %s as %s (%s) ended after %s: %s", sh.id, sh.who, userOf(sh.req.User), commandOf(sh.req.Command), d, how),
			Session: &state.Session{ID: sh.id, Who: sh.who, User: sh.req.User, Command: sh.req.Command,
				Duration: d, ExitStatus: status, Signal: exit.Signal, Error: exit.Error}})
		sh.log.Info("shell session ended", "duration", d, "how", how)
	})
}
