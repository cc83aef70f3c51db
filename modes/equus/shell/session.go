//go:build unix

package shell

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/equus-monitoring/equus/internal/shellwire"
	"github.com/equus-monitoring/equus/internal/waitgroup"
)

// session is one shell session, from its start to its exit frame.
type session struct {
	m    *Manager
	req  shellwire.Request
	acct account
	conn net.Conn
	log  *slog.Logger
	idle time.Duration
	max  time.Duration

	cmd *exec.Cmd
	// ptmx is the terminal's master side, with a tty; stdin and the outs
	// are the pipes without one.
	ptmx  *os.File
	stdin *os.File
	outs  []*os.File

	// wmu keeps the frames of the output's pumps whole on conn.
	wmu sync.Mutex
	// last is the clock's time, in Unix nanoseconds, of the last input
	// or output.
	last atomic.Int64
	// stop asks for the session's end, once, with why.
	stop     chan struct{}
	stopOnce sync.Once
	why      string
}

// run starts the session's program and carries its frames until it ends,
// then writes the exit frame and closes the connection; it returns the
// exit frame's message.
func (s *session) run() shellwire.ExitMsg {
	defer s.conn.Close()
	s.stop = make(chan struct{})
	s.touch()
	if err := s.start(); err != nil {
		e := shellwire.ExitMsg{Status: 127, Error: err.Error()}
		s.conn.SetWriteDeadline(time.Now().Add(DialTimeout))
		_ = shellwire.Write(s.conn, shellwire.Exit(e))
		return e
	}
	var pumps sync.WaitGroup
	for _, p := range s.sources() {
		pumps.Add(1)
		go func() {
			defer pumps.Done()
			s.pump(p.f, p.t)
		}()
	}
	inputDone := make(chan struct{})
	go func() {
		defer close(inputDone)
		s.input()
	}()
	exited := make(chan struct{})
	var waitErr error
	go func() {
		defer close(exited)
		waitErr = s.cmd.Wait()
	}()
	s.watch(exited)
	// The program has exited: what is left of its group goes too, and
	// the output still buffered is sent, for a grace at most.
	s.kill(syscall.SIGKILL)
	if !waitgroup.Within(&pumps, s.m.cfg.Grace) {
		for _, p := range s.sources() {
			p.f.SetReadDeadline(time.Now())
		}
		s.conn.SetWriteDeadline(time.Now())
		pumps.Wait()
	}
	e := exitMsg(s.cmd.ProcessState, waitErr)
	s.stopOnce.Do(func() {}) // no end after this one; why is read safely
	e.Error = s.why
	s.conn.SetWriteDeadline(time.Now().Add(s.m.cfg.Grace))
	if err := shellwire.Write(s.conn, shellwire.Exit(e)); err != nil {
		s.log.Debug("exit frame not sent", "err", err)
	}
	s.conn.Close()
	s.closeInput()
	<-inputDone
	return e
}

type source struct {
	f *os.File
	t byte
}

func (s *session) sources() []source {
	if s.ptmx != nil {
		return []source{{s.ptmx, shellwire.TypeStdout}}
	}
	return []source{{s.outs[0], shellwire.TypeStdout}, {s.outs[1], shellwire.TypeStderr}}
}

// watch waits for the program to exit. The session ending otherwise (the
// connection broke, idle, too long, the agent stops) hangs up its
// processes, and kills them a grace later.
func (s *session) watch(exited <-chan struct{}) {
	clk := s.m.cfg.Clock
	maxTimer := clk.NewTimer(s.max)
	defer maxTimer.Stop()
	idleTimer := clk.NewTimer(s.idle)
	defer idleTimer.Stop()
	for {
		select {
		case <-exited:
			return
		case <-idleTimer.C():
			if quiet := clk.Since(time.Unix(0, s.last.Load())); quiet < s.idle {
				idleTimer.Reset(s.idle - quiet)
				continue
			}
			s.end(fmt.Sprintf("no input or output for %s", s.idle))
		case <-maxTimer.C():
			s.end(fmt.Sprintf("the session lasted %s, its most", s.max))
		case <-s.m.ctx.Done():
			s.end("the agent is stopping")
		case <-s.stop:
		}
		s.hangUp(exited)
		<-exited
		return
	}
}

// hangUp sends SIGHUP to the session's processes, and SIGKILL a grace
// later unless the program has exited by then.
func (s *session) hangUp(exited <-chan struct{}) {
	s.kill(syscall.SIGHUP)
	grace := s.m.cfg.Clock.NewTimer(s.m.cfg.Grace)
	defer grace.Stop()
	select {
	case <-exited:
	case <-grace.C():
		s.kill(syscall.SIGKILL)
	}
}

// end asks for the session's end, saying why; the first reason stays.
func (s *session) end(why string) {
	s.stopOnce.Do(func() {
		s.why = why
		close(s.stop)
	})
}

func (s *session) touch() { s.last.Store(s.m.cfg.Clock.Now().UnixNano()) }

// pump sends what f gives as frames of type t, reading again only once
// the frame is written: a helen that does not read stops the program's
// output, not the agent's memory.
func (s *session) pump(f *os.File, t byte) {
	buf := make([]byte, shellwire.MaxPayload)
	for {
		n, err := f.Read(buf)
		if n > 0 {
			s.touch()
			s.wmu.Lock()
			werr := shellwire.Write(s.conn, shellwire.Frame{Type: t, Payload: buf[:n]})
			s.wmu.Unlock()
			if werr != nil {
				s.end("the connection to helen broke")
				return
			}
		}
		if err != nil {
			// EOF, or EIO from a terminal whose every process is gone.
			return
		}
	}
}

// input carries helen's frames to the program until the connection ends,
// which ends the session if it is still running.
func (s *session) input() {
	r := shellwire.NewReader(s.conn)
	for {
		f, err := r.Read()
		if err != nil {
			if errors.Is(err, shellwire.ErrTooLong) || errors.Is(err, shellwire.ErrUnknownType) {
				s.end("helen sent a bad frame: " + err.Error())
			} else {
				s.end("the connection to helen broke")
			}
			return
		}
		s.touch()
		if err := s.frame(f); err != nil {
			s.end(err.Error())
			return
		}
	}
}

// frame acts on one of helen's frames.
func (s *session) frame(f shellwire.Frame) error {
	switch f.Type {
	case shellwire.TypeStdin:
		w := s.stdin
		if s.ptmx != nil {
			w = s.ptmx
		}
		if w == nil {
			return nil // closed: the input is dropped
		}
		if _, err := w.Write(f.Payload); err != nil && !errors.Is(err, os.ErrClosed) {
			s.log.Debug("input not written", "err", err)
		}
	case shellwire.TypeResize:
		cols, rows, err := shellwire.ParseResize(f.Payload)
		if err != nil {
			return fmt.Errorf("helen sent a bad frame: %w", err)
		}
		if s.ptmx != nil {
			if err := setSize(s.ptmx, cols, rows); err != nil {
				s.log.Debug("resize", "err", err)
			}
		}
	case shellwire.TypeSignal:
		n, err := shellwire.ParseSignal(f.Payload)
		if err != nil {
			return fmt.Errorf("helen sent a bad frame: %w", err)
		}
		s.kill(signals[n])
	case shellwire.TypeStdinClosed:
		// With a tty the terminal's own end of file (^D) travels as
		// input; without one the program's stdin closes.
		if s.stdin != nil {
			s.stdin.Close()
		}
	default:
		return fmt.Errorf("helen sent a frame of type %q, which only an agent sends", f.Type)
	}
	return nil
}

// signals maps the signals a frame may carry to the system's.
var signals = map[byte]syscall.Signal{
	shellwire.SigHUP: syscall.SIGHUP, shellwire.SigINT: syscall.SIGINT, shellwire.SigQUIT: syscall.SIGQUIT,
	shellwire.SigKILL: syscall.SIGKILL, shellwire.SigTERM: syscall.SIGTERM, shellwire.SigTSTP: syscall.SIGTSTP,
}

// closeInput closes what the input goroutine writes to, so that a write
// blocked on a program that does not read returns.
func (s *session) closeInput() {
	if s.ptmx != nil {
		s.ptmx.Close()
	}
	if s.stdin != nil {
		s.stdin.Close()
	}
	for _, f := range s.outs {
		f.Close()
	}
}

// kill sends sig to the session's processes: its process group, and with
// a tty every process of its terminal's session, which a shell's jobs
// are in groups of their own.
func (s *session) kill(sig syscall.Signal) {
	pid := s.cmd.Process.Pid
	_ = syscall.Kill(-pid, sig) // ESRCH once none is left
	if s.ptmx != nil {
		killSession(pid, sig)
	}
}

// start starts the session's program, with a terminal or pipes.
func (s *session) start() error {
	cmd, err := s.command()
	if err != nil {
		return err
	}
	s.cmd = cmd
	attrs := &syscall.SysProcAttr{}
	if s.acct.other {
		attrs.Credential = &syscall.Credential{Uid: s.acct.uid, Gid: s.acct.gid, Groups: s.acct.groups}
	}
	if s.req.TTY {
		attrs.Setsid, attrs.Setctty = true, true
		ptmx, err := pty.StartWithAttrs(cmd, &pty.Winsize{Cols: s.req.Cols, Rows: s.req.Rows}, attrs)
		if err != nil {
			return fmt.Errorf("start %s: %w", cmd.Path, err)
		}
		s.ptmx, err = pollable(ptmx)
		if err != nil {
			s.kill(syscall.SIGKILL)
			cmd.Wait()
			return err
		}
		return nil
	}
	attrs.Setpgid = true
	cmd.SysProcAttr = attrs
	inR, inW, err1 := os.Pipe()
	outR, outW, err2 := os.Pipe()
	errR, errW, err3 := os.Pipe()
	if err := errors.Join(err1, err2, err3); err != nil {
		for _, f := range []*os.File{inR, inW, outR, outW, errR, errW} {
			if f != nil {
				f.Close()
			}
		}
		return fmt.Errorf("pipes: %w", err)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	err = cmd.Start()
	inR.Close()
	outW.Close()
	errW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		errR.Close()
		return fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	s.stdin, s.outs = inW, []*os.File{outR, errR}
	return nil
}

// command returns the session's program with its clean environment: the
// command asked for, looked up in the session's PATH, or the user's shell
// as a login shell.
func (s *session) command() (*exec.Cmd, error) {
	a := s.acct
	term := ""
	if s.req.TTY {
		term = s.req.Term
	}
	cmd := &exec.Cmd{Env: a.env(term), Dir: a.home}
	if fi, err := os.Stat(a.home); err != nil || !fi.IsDir() {
		cmd.Dir = "/"
	}
	if len(s.req.Command) == 0 {
		cmd.Path = a.shell
		cmd.Args = []string{"-" + filepath.Base(a.shell)}
		return cmd, nil
	}
	path, err := lookPath(s.req.Command[0], a.path())
	if err != nil {
		return nil, err
	}
	cmd.Path, cmd.Args = path, s.req.Command
	return cmd, nil
}

// pollable returns the terminal's master side as a file the runtime
// polls, so that its reads take a deadline and end when it is closed.
// creack/pty leaves it in blocking mode (its ioctls go through Fd), in
// which a read never returns while a process holds the terminal open.
func pollable(ptmx *os.File) (*os.File, error) {
	defer ptmx.Close()
	fd, err := unix.Dup(int(ptmx.Fd()))
	if err != nil {
		return nil, fmt.Errorf("terminal: %w", err)
	}
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("terminal: %w", err)
	}
	return os.NewFile(uintptr(fd), ptmx.Name()), nil
}

// setSize sets the terminal's size through the poller's descriptor, not
// pty.Setsize, whose Fd would put the file back in blocking mode.
func setSize(f *os.File, cols, rows uint16) error {
	sc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ioErr error
	err = sc.Control(func(fd uintptr) {
		ioErr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Col: cols, Row: rows})
	})
	return errors.Join(err, ioErr)
}

// exitMsg returns the exit frame of a program that exited as st.
func exitMsg(st *os.ProcessState, waitErr error) shellwire.ExitMsg {
	if st == nil {
		return shellwire.ExitMsg{Status: -1, Error: fmt.Sprint(waitErr)}
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		sig := ws.Signal()
		return shellwire.ExitMsg{Status: 128 + int(sig), Signal: signalName(sig)}
	}
	return shellwire.ExitMsg{Status: st.ExitCode()}
}

// signalName returns sig's name without SIG, as "KILL".
func signalName(sig syscall.Signal) string {
	if name := unix.SignalName(sig); name != "" {
		return strings.TrimPrefix(name, "SIG")
	}
	return fmt.Sprint(int(sig))
}
