package helen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/equus-monitoring/equus/agentname"
	"github.com/equus-monitoring/equus/internal/tty"
	"github.com/equus-monitoring/equus/modes/helen/web"
)

// execMaxOutput bounds what helen exec --json keeps of each agent's
// stdout and of its stderr; past it the rest is counted, not kept.
const execMaxOutput = 1 << 20

// execMaxLine bounds a line that helen exec holds back until its end,
// to prefix it: a longer one is written in pieces, each prefixed.
const execMaxLine = 64 << 10

func execCommand() *cli.Command {
	return &cli.Command{
		Name: "exec",
		Usage: "run a command on every connected agent whose name matches, at once, each line of output prefixed by the agent's name; " +
			"exit 1 if it failed on any",
		// As in `helen exec --agents 'web*' -- uptime`: flags first.
		ArgsUsage: "COMMAND [ARGS...]",
		Flags: append(shellFlags("HELEN_EXEC"),
			&cli.StringFlag{Name: "agents", Usage: "the agents' names, a `GLOB` (path.Match: web*, db[12])", Required: true, EnvVars: []string{"HELEN_EXEC_AGENTS"}},
			&cli.IntFlag{Name: "parallel", Value: 10, Usage: "run on at most `N` agents at once", EnvVars: []string{"HELEN_EXEC_PARALLEL"}},
			&cli.DurationFlag{Name: "timeout", Value: 5 * time.Minute, Usage: "end the command on an agent after `D`", EnvVars: []string{"HELEN_EXEC_TIMEOUT"}},
			jsonFlag(),
		),
		Action: func(c *cli.Context) error {
			e := envOf(c)
			if c.NArg() == 0 {
				return e.usagef("give the COMMAND after --")
			}
			if _, err := path.Match(c.String("agents"), ""); err != nil {
				return e.usagef("--agents %q: %v", c.String("agents"), err)
			}
			if c.Int("parallel") < 1 {
				return e.usagef("--parallel must be at least 1, not %d", c.Int("parallel"))
			}
			if c.Duration("timeout") <= 0 {
				return e.usagef("--timeout must be positive, not %s", c.Duration("timeout"))
			}
			req := web.ShellRequest{User: c.String("user"), Command: c.Args().Slice(),
				IdleTimeout: web.Duration(c.Duration("idle-timeout")), MaxDuration: web.Duration(c.Duration("max-duration"))}
			return runExec(c.Context, e, c.String("agents"), c.Int("parallel"), c.Duration("timeout"), req)
		},
	}
}

// ExecResult is an agent's outcome of helen exec, as --json prints it.
type ExecResult struct {
	Agent      string  `json:"agent"`
	Status     *int    `json:"status"` // the exit status; null when it did not exit
	Signal     string  `json:"signal,omitempty"`
	Error      string  `json:"error,omitempty"`
	Stdout     string  `json:"stdout"`
	Stderr     string  `json:"stderr"`
	Truncated  bool    `json:"truncated,omitempty"` // output was over the bound kept
	DurationMS float64 `json:"duration_ms"`
}

func (r ExecResult) ok() bool {
	return r.Error == "" && r.Signal == "" && r.Status != nil && *r.Status == 0
}

func runExec(ctx context.Context, e env, glob string, parallel int, timeout time.Duration, req web.ShellRequest) error {
	var views []web.AgentView
	err := e.withHelen(false, func(a *adminClient) error {
		var err error
		views, err = askList[web.AgentView]("/v1/agents", 0)(ctx, a)
		return err
	})
	if err != nil {
		return err
	}
	var names []string
	for _, v := range views {
		if ok, _ := path.Match(glob, v.Name); ok && v.Connected && !v.Revoked && agentname.Check(v.Name) == nil {
			names = append(names, v.Name)
		}
	}
	if len(names) == 0 {
		return fmt.Errorf("no connected agent matches %q", glob)
	}
	results := make([]ExecResult, len(names))
	var outMu sync.Mutex // the lines of the agents, one at a time
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = execOn(ctx, e, name, timeout, req, &outMu)
		})
	}
	wg.Wait()
	if e.json {
		printJSON(e.out, results)
	}
	failed := 0
	for _, r := range results {
		if !r.ok() {
			failed++
		}
	}
	if !e.json {
		fmt.Fprintf(e.errOut, "helen exec: %d agents, %d ok, %d failed\n", len(results), len(results)-failed, failed)
		for _, r := range results {
			if !r.ok() {
				fmt.Fprintf(e.errOut, "  %s: %s\n", r.Agent, tty.Line(r.how()))
			}
		}
	}
	if failed > 0 {
		return cli.Exit("", 1)
	}
	return nil
}

func (r ExecResult) how() string {
	switch {
	case r.Error != "":
		return r.Error
	case r.Signal != "":
		return "killed by SIG" + r.Signal
	case r.Status != nil:
		return fmt.Sprintf("exit status %d", *r.Status)
	}
	return "no exit status"
}

// execOn runs the command on one agent.
func execOn(ctx context.Context, e env, name string, timeout time.Duration, req web.ShellRequest, outMu *sync.Mutex) (res ExecResult) {
	start := time.Now()
	res.Agent = name
	defer func() { res.DurationMS = float64(time.Since(start).Microseconds()) / 1000 }()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s, err := dialShell(ctx, e.dataDir, name, req)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	defer s.Close()
	// The deadline ends the session: helen, then the agent, see it
	// close.
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	// No input. A command that is over already may have closed the
	// connection's way in: its output still comes.
	s.write(shellwireStdinClosed)
	var stdout, stderr io.Writer
	var outBuf, errBuf *capped
	if e.json {
		outBuf, errBuf = &capped{max: execMaxOutput}, &capped{max: execMaxOutput}
		stdout, stderr = outBuf, errBuf
	} else {
		po, pe := &prefixed{w: e.out, mu: outMu, prefix: name + ": "}, &prefixed{w: e.errOut, mu: outMu, prefix: name + ": "}
		defer po.flush()
		defer pe.flush()
		stdout, stderr = po, pe
	}
	exit, err := s.copyOutput(stdout, stderr)
	if outBuf != nil {
		res.Stdout, res.Stderr, res.Truncated = outBuf.String(), errBuf.String(), outBuf.cut || errBuf.cut
	}
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		res.Error = fmt.Sprintf("timed out after %s", timeout)
	case err != nil:
		res.Error = err.Error()
	default:
		res.Signal, res.Error = exit.Signal, exit.Error
		if exit.Signal == "" && exit.Error == "" {
			res.Status = &exit.Status
		}
	}
	return res
}

// capped keeps the first max bytes written to it.
type capped struct {
	bytes.Buffer
	max int
	cut bool
}

func (c *capped) Write(p []byte) (int, error) {
	n := min(len(p), c.max-c.Len())
	c.Buffer.Write(p[:n])
	if n < len(p) {
		c.cut = true
	}
	return len(p), nil
}

// prefixed writes whole lines to w, each after prefix, holding the
// last line back until its end (at most execMaxLine of it).
type prefixed struct {
	w      io.Writer
	mu     *sync.Mutex
	prefix string
	line   []byte
}

func (p *prefixed) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			take := min(len(b), execMaxLine-len(p.line))
			p.line = append(p.line, b[:take]...)
			b = b[take:]
			if len(p.line) == execMaxLine {
				p.line = append(p.line, '\n')
				p.emit()
			}
			continue
		}
		p.line = append(p.line, b[:i+1]...)
		b = b[i+1:]
		p.emit()
	}
	return n, nil
}

func (p *prefixed) emit() {
	p.mu.Lock()
	io.WriteString(p.w, p.prefix)
	p.w.Write(p.line)
	p.mu.Unlock()
	p.line = p.line[:0]
}

// flush writes the last line, if it did not end.
func (p *prefixed) flush() {
	if len(p.line) > 0 {
		p.line = append(p.line, '\n')
		p.emit()
	}
}
