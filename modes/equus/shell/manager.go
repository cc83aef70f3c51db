package shell

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os/user"
	"strings"
	"sync"
	"time"

	"github.com/equus-monitoring/equus/internal/shellwire"
	"github.com/equus-monitoring/equus/result"
)

// OffMessage is the answer of an agent that runs without --allow-shell.
const OffMessage = "shell sessions are off on this agent: it runs without --allow-shell"

// Dialer dials helen's agents' port for a shell connection: TLS with the
// agent's certificate and ALPN shellwire.ALPN.
type Dialer func(ctx context.Context) (net.Conn, error)

// Manager starts and bounds the agent's shell sessions.
type Manager struct {
	cfg   Config
	dial  Dialer
	log   *slog.Logger
	self  *user.User
	root  bool
	slots chan struct{}
	// ctx ends every session: the agent stops.
	ctx context.Context
	wg  sync.WaitGroup
}

// New returns a Manager whose sessions end when ctx does.
func New(ctx context.Context, cfg Config, dial Dialer, log *slog.Logger) (*Manager, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	self, err := user.Current()
	if err != nil {
		return nil, fmt.Errorf("shell: the agent's own user: %w", err)
	}
	return &Manager{
		cfg: cfg, dial: dial, log: log, self: self, root: self.Uid == "0",
		slots: make(chan struct{}, cfg.Sessions), ctx: ctx,
	}, nil
}

// Wait waits for the sessions to end; they end once the Manager's context
// has, within the grace and the drain of their output.
func (m *Manager) Wait() { m.wg.Wait() }

// Start takes the args of an equus.shell check and calls answer once with
// its result: at once when the session is refused, or once its
// connection's hello is written; the session then goes on in a goroutine
// of its own.
func (m *Manager) Start(args []byte, answer func(result.Doc)) {
	req, err := parseRequest(args)
	if err != nil {
		answer(result.Doc{Status: result.Critical, Message: "shell session refused: " + err.Error()})
		return
	}
	acct, err := m.account(req.User)
	if err != nil {
		answer(result.Doc{Status: result.Critical, Message: "shell session refused: " + err.Error()})
		return
	}
	select {
	case m.slots <- struct{}{}:
	default:
		answer(result.Doc{Status: result.Critical, Message: fmt.Sprintf("shell session refused: %d sessions already run on this agent (--shell-sessions)", m.cfg.Sessions)})
		return
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer func() { <-m.slots }()
		m.run(req, acct, answer)
	}()
}

// run dials helen, says hello, answers, and runs the session.
func (m *Manager) run(req shellwire.Request, acct account, answer func(result.Doc)) {
	log := m.log.With("session", req.ID, "user", acct.name)
	ctx, cancel := context.WithTimeout(m.ctx, DialTimeout)
	conn, err := m.dial(ctx)
	cancel()
	if err != nil {
		answer(result.Doc{Status: result.Critical, Message: fmt.Sprintf("shell session not started: dialing helen: %v", err)})
		return
	}
	conn.SetWriteDeadline(time.Now().Add(DialTimeout))
	if err := shellwire.Write(conn, shellwire.NewHello(req.ID, req.Secret)); err != nil {
		conn.Close()
		answer(result.Doc{Status: result.Critical, Message: fmt.Sprintf("shell session not started: hello: %v", err)})
		return
	}
	conn.SetWriteDeadline(time.Time{})
	answer(result.Doc{Status: result.OK, Message: "session started"})
	s := &session{
		m: m, req: req, acct: acct, conn: conn, log: log,
		idle: bound(m.cfg.IdleTimeout, req.IdleTimeoutMS), max: bound(m.cfg.MaxDuration, req.MaxDurationMS),
	}
	log.Info("shell session started", "command", req.Command, "tty", req.TTY)
	e := s.run()
	log.Info("shell session ended", "status", e.Status, "signal", e.Signal, "why", e.Error)
}

// bound returns the lesser of the agent's bound and the one asked for in
// milliseconds, 0 or less asking for none.
func bound(agent time.Duration, askedMS int64) time.Duration {
	if askedMS <= 0 || askedMS > int64(agent/time.Millisecond) {
		return agent
	}
	return time.Duration(askedMS) * time.Millisecond
}

// The bounds of a request's fields.
const (
	maxID      = 128
	maxSecret  = 256
	maxArgs    = 1024
	maxArgSize = 32 << 10
)

// parseRequest returns the request args carry, or why it is no good.
func parseRequest(args []byte) (shellwire.Request, error) {
	var req shellwire.Request
	if err := json.Unmarshal(args, &req); err != nil {
		return req, fmt.Errorf("args: %v", err)
	}
	switch {
	case req.ID == "" || len(req.ID) > maxID || !printable(req.ID):
		return req, fmt.Errorf("id: want 1 to %d printable characters", maxID)
	case req.Secret == "" || len(req.Secret) > maxSecret:
		return req, fmt.Errorf("secret: want 1 to %d characters", maxSecret)
	case len(req.Command) > maxArgs:
		return req, fmt.Errorf("command of %d arguments, at most %d", len(req.Command), maxArgs)
	case len(req.Command) > 0 && req.Command[0] == "":
		return req, fmt.Errorf("command: empty program name")
	case len(req.Term) > MaxTerm || !termName(req.Term):
		return req, fmt.Errorf("term %q: want at most %d letters, digits and -._+", req.Term, MaxTerm)
	}
	for _, a := range req.Command {
		if len(a) > maxArgSize || strings.IndexByte(a, 0) >= 0 {
			return req, fmt.Errorf("command: an argument over %d bytes or with a NUL byte", maxArgSize)
		}
	}
	if req.TTY {
		if req.Cols == 0 {
			req.Cols = 80
		}
		if req.Rows == 0 {
			req.Rows = 24
		}
		if req.Term == "" {
			req.Term = "xterm"
		}
	}
	return req, nil
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x21 || r > 0x7e {
			return false
		}
	}
	return true
}

func termName(s string) bool {
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._+", r)
		if !ok {
			return false
		}
	}
	return true
}
