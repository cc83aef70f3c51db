package helen

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/equus-monitoring/equus/internal/shellwire"
	"github.com/equus-monitoring/equus/internal/tty"
	"github.com/equus-monitoring/equus/modes/helen/web"
)

// The shell commands' flags shared by shell and exec.
func shellFlags(prefix string) []cli.Flag {
	return []cli.Flag{
		dataFlag(),
		&cli.StringFlag{Name: "user", Usage: "run as `NAME` on the agent (among its --shell-users; default: the agent's own user)", EnvVars: []string{prefix + "_USER"}},
		&cli.DurationFlag{Name: "idle-timeout", Usage: "end the session after `D` without input or output (0: the agent's --shell-idle-timeout; it may only be shorter)", EnvVars: []string{prefix + "_IDLE_TIMEOUT"}},
		&cli.DurationFlag{Name: "max-duration", Usage: "end the session after `D` (0: the agent's --shell-max-duration; it may only be shorter)", EnvVars: []string{prefix + "_MAX_DURATION"}},
	}
}

func shellCommand() *cli.Command {
	return &cli.Command{
		Name: "shell",
		Usage: "open a shell on an agent (it runs with --allow-shell), or run a command there; " +
			"exit with its exit status. With a terminal on stdin the session has one; every session is recorded (helen sessions)",
		ArgsUsage: "AGENT [-- COMMAND [ARGS...]]",
		Flags:     shellFlags("HELEN_SHELL"),
		Action: func(c *cli.Context) error {
			if c.NArg() < 1 {
				return envOf(c).usagef("name the AGENT")
			}
			// The flags end at AGENT: the "--" after it is an argument.
			command := c.Args().Tail()
			if len(command) > 0 && command[0] == "--" {
				command = command[1:]
			}
			req := web.ShellRequest{User: c.String("user"), Command: command,
				IdleTimeout: web.Duration(c.Duration("idle-timeout")), MaxDuration: web.Duration(c.Duration("max-duration"))}
			code, err := runShell(c.Context, envOf(c), c.Args().First(), req, os.Stdin)
			if err != nil {
				return err
			}
			return cli.Exit("", code)
		},
	}
}

// runShell runs a session on agent, with a terminal when in is one, and
// returns the remote exit status.
func runShell(ctx context.Context, e env, agent string, req web.ShellRequest, in *os.File) (int, error) {
	fd := int(in.Fd())
	req.TTY = term.IsTerminal(fd)
	if req.TTY {
		req.Term = os.Getenv("TERM")
		if w, h, err := term.GetSize(fd); err == nil {
			req.Cols, req.Rows = w, h
		}
	}
	openCtx, cancel := context.WithTimeout(ctx, time.Minute)
	s, err := dialShell(openCtx, e.dataDir, agent, req)
	cancel()
	if err != nil {
		return 0, err
	}
	defer s.Close()
	done := make(chan struct{})
	defer close(done)
	restore := func() {}
	if req.TTY {
		old, err := term.MakeRaw(fd)
		if err != nil {
			return 0, fmt.Errorf("terminal: %w", err)
		}
		restore = sync.OnceFunc(func() { term.Restore(fd, old) })
		defer restore()
		winch := make(chan os.Signal, 1)
		notifyResize(winch)
		defer signal.Stop(winch)
		go func() {
			for {
				select {
				case <-winch:
				case <-done:
					return
				}
				if w, h, err := term.GetSize(fd); err == nil {
					s.write(shellwire.Resize(uint16(w), uint16(h)))
				}
			}
		}()
	} else {
		// Without a terminal the signals travel as frames: the
		// remote command is interrupted, not this client.
		sigs := make(chan os.Signal, 4)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
		defer signal.Stop(sigs)
		go func() {
			for {
				var sig os.Signal
				select {
				case sig = <-sigs:
				case <-done:
					return
				}
				name := map[os.Signal]string{syscall.SIGINT: "INT", syscall.SIGTERM: "TERM", syscall.SIGHUP: "HUP", syscall.SIGQUIT: "QUIT"}[sig]
				if n, ok := shellwire.SignalNumber(name); ok {
					s.write(shellwire.SignalFrame(n))
				}
			}
		}()
	}
	// The input's goroutine ends with the process: a read of a terminal
	// cannot be interrupted.
	go s.sendInput(in)
	exit, err := s.copyOutput(e.out, e.errOut)
	restore() // back to cooked mode before saying why the session ended
	if err != nil {
		return 0, err
	}
	if exit.Error != "" {
		fmt.Fprintf(e.errOut, "\r\nhelen shell: %s\n", tty.Line(exit.Error))
	}
	return exitCode(exit), nil
}
