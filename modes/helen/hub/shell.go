package hub

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/equus-monitoring/equus/internal/shellwire"
	"github.com/equus-monitoring/equus/result"
)

// Shell sessions: helen asks an agent that offers them (equus.info's
// capabilities) with the check equus.shell, carrying a session id and a
// secret; the agent dials the agents' port again with ALPN ShellALPN and
// the same certificate, and its first frame, hello, says the id and the
// secret. The hub hands that connection to the session waiting for it
// (OpenShell), which then owns it. docs/PROTOCOL.md, "Shell sessions
// (extension)", says why a second connection.

// The names of the extension: the shell connection's ALPN, the check
// that asks for a session, the capability in equus.info.
const (
	ShellALPN       = shellwire.ALPN
	ShellCheck      = shellwire.CheckName
	CapabilityShell = shellwire.Capability
)

// DefaultShellJoinTimeout bounds the time from asking an agent for a
// session to its shell connection's hello: a session not joined in it
// fails.
const DefaultShellJoinTimeout = 15 * time.Second

// ErrNoShell refuses a session on an agent that does not offer them.
var ErrNoShell = errors.New("the agent does not offer shell sessions: it runs without --allow-shell, or a version without them")

// ErrShellNotJoined fails a session whose agent agreed to it but did not
// connect for it within ShellJoinTimeout.
var ErrShellNotJoined = errors.New("helen: the agent did not connect for the shell session in time")

// A ShellRefusal is the agent's answer to equus.shell when it is not ok:
// the refusal, in its words.
type ShellRefusal struct {
	Status  result.Status
	Message string
}

func (e *ShellRefusal) Error() string { return "the agent refused the shell session: " + e.Message }

// ShellRequest is what a session asks of the agent (equus.shell's args,
// but for the id and the secret).
type ShellRequest struct {
	User        string        // "" for the agent's own user
	Command     []string      // empty for the user's login shell
	TTY         bool          // with a terminal
	Cols, Rows  int           // its size, with a tty
	Term        string        // its TERM, with a tty
	IdleTimeout time.Duration // 0: the agent's
	MaxDuration time.Duration // 0: the agent's
}

// pendingShell is a session asked of an agent and not joined yet.
type pendingShell struct {
	agent  string
	secret []byte
	joined chan net.Conn // of one: the shell connection, once
	taken  bool          // a connection came for it (under the hub's shellMu)
}

// shells are the hub's shell sessions: those waiting for their
// connection, and those open, so that Shutdown and revocation close them.
type shells struct {
	mu      sync.Mutex
	pending map[string]*pendingShell
	open    map[string]*ShellConn
}

// A ShellConn is an open session's connection with its agent, which
// carries shellwire frames both ways.
type ShellConn struct {
	net.Conn
	ID    string
	Agent string
	hub   *Hub
	once  sync.Once
}

// Close closes the connection and forgets the session.
func (c *ShellConn) Close() error {
	var err error
	c.once.Do(func() {
		err = c.Conn.Close()
		c.hub.shells.mu.Lock()
		delete(c.hub.shells.open, c.ID)
		c.hub.shells.mu.Unlock()
	})
	return err
}

// ShellOpen reports whether session id is open now.
func (h *Hub) ShellOpen(id string) bool {
	h.shells.mu.Lock()
	defer h.shells.mu.Unlock()
	_, open := h.shells.open[id]
	_, pending := h.shells.pending[id]
	return open || pending
}

// closeShells closes the open sessions of agent ("" for every agent's).
func (h *Hub) closeShells(agent string) {
	h.shells.mu.Lock()
	var cs []*ShellConn
	for _, c := range h.shells.open {
		if agent == "" || c.Agent == agent {
			cs = append(cs, c)
		}
	}
	h.shells.mu.Unlock()
	for _, c := range cs {
		c.Close()
	}
}

// Capabilities are what the agent said it offers in its equus.info;
// none until that answer came.
func (ss *Session) Capabilities() []string {
	if p := ss.caps.Load(); p != nil {
		return *p
	}
	return nil
}

// setCapabilities keeps the capabilities of equus.info's answer, blob,
// whose message is the agent's info as JSON.
func (ss *Session) setCapabilities(blob []byte) {
	var info struct {
		Capabilities []string `json:"capabilities"`
	}
	doc := result.Parse(blob)
	if doc.Status == result.OK && json.Unmarshal([]byte(doc.Message), &info) == nil && len(info.Capabilities) > 0 {
		ss.caps.Store(&info.Capabilities)
	}
}

// OpenShell opens session id on agent and returns its connection once the
// agent joined it: an error wrapping ErrNotConnected, ErrNoShell, a
// *ShellRefusal, or ErrShellNotJoined. Nothing is sent to an agent that
// did not say it offers sessions.
func (h *Hub) OpenShell(ctx context.Context, agent, id string, req ShellRequest) (*ShellConn, error) {
	ss, ok := h.Session(agent)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotConnected, agent)
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.ShellJoinTimeout)
	defer cancel()
	// Its equus.info is the session's first check: wait for its answer,
	// so that an agent just connected is not refused.
	select {
	case <-ss.infoDone:
	case <-ctx.Done():
		return nil, ErrShellNotJoined
	}
	if !slices.Contains(ss.Capabilities(), CapabilityShell) {
		return nil, fmt.Errorf("%s: %w", agent, ErrNoShell)
	}
	var secret [32]byte
	rand.Read(secret[:])
	p := &pendingShell{agent: agent, secret: secret[:], joined: make(chan net.Conn, 1)}
	h.shells.mu.Lock()
	if _, dup := h.shells.pending[id]; dup || h.shells.open[id] != nil {
		h.shells.mu.Unlock()
		return nil, fmt.Errorf("helen: shell session %s exists already", id)
	}
	h.shells.pending[id] = p
	h.shells.mu.Unlock()
	defer func() {
		h.shells.mu.Lock()
		delete(h.shells.pending, id)
		h.shells.mu.Unlock()
	}()
	command := req.Command
	if command == nil {
		command = []string{} // the login shell is [] on the wire, not null
	}
	args, err := json.Marshal(shellwire.Request{
		ID: id, Secret: base64.RawURLEncoding.EncodeToString(secret[:]),
		User: req.User, Command: command, TTY: req.TTY, Cols: uint16(req.Cols), Rows: uint16(req.Rows), Term: req.Term,
		IdleTimeoutMS: req.IdleTimeout.Milliseconds(), MaxDurationMS: req.MaxDuration.Milliseconds(),
	})
	if err != nil {
		return nil, err
	}
	doc, err := ss.Check(ctx, ShellCheck, args)
	if err != nil {
		return nil, err
	}
	if doc.Status != result.OK {
		if ctx.Err() != nil {
			return nil, ErrShellNotJoined
		}
		return nil, &ShellRefusal{Status: doc.Status, Message: doc.Message}
	}
	select {
	case c := <-p.joined:
		sc := &ShellConn{Conn: c, ID: id, Agent: agent, hub: h}
		h.shells.mu.Lock()
		closing := h.closing.Load()
		if !closing {
			h.shells.open[id] = sc
		}
		h.shells.mu.Unlock()
		if closing {
			c.Close()
			return nil, errShuttingDown
		}
		return sc, nil
	case <-ctx.Done():
		return nil, ErrShellNotJoined
	case <-ss.done:
		return nil, fmt.Errorf("%w: %s", ErrNotConnected, agent)
	}
}

// serveShellConn reads the hello of agent name's shell connection c
// within the hello timeout and hands c to its pending session; anything
// else closes it.
func (h *Hub) serveShellConn(c net.Conn, name string) {
	plog := h.plog.For(name)
	c.SetReadDeadline(time.Now().Add(h.cfg.HelloTimeout))
	f, err := shellwire.NewReader(c).Read()
	if err != nil || f.Type != shellwire.TypeHello {
		plog.Info("shell connection refused: no hello", "agent", name, "err", err)
		c.Close()
		return
	}
	hello, err := shellwire.ParseHello(f.Payload)
	if err != nil {
		plog.Info("shell connection refused: bad hello", "agent", name, "err", err)
		c.Close()
		return
	}
	secret, err := base64.RawURLEncoding.DecodeString(hello.Secret)
	h.shells.mu.Lock()
	p := h.shells.pending[hello.ID]
	// The name and the secret both, the secret compared in constant
	// time; and one connection a session.
	ok := err == nil && p != nil && !p.taken && p.agent == name && subtle.ConstantTimeCompare(secret, p.secret) == 1
	if ok {
		p.taken = true
	}
	h.shells.mu.Unlock()
	if !ok {
		plog.Warn("shell connection refused: no session waits for it", "agent", name, "session", hello.ID)
		c.Close()
		return
	}
	c.SetReadDeadline(time.Time{})
	p.joined <- c
}
