package helen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/monitor"
	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/wire"
)

// ErrNotConnected is returned for a check sent to an agent with no session.
var ErrNotConnected = errors.New("helen: agent not connected")

// errSessionClosed ends the calls outstanding on a session that closed.
var errSessionClosed = errors.New("helen: agent connection closed")

// A session is the wire protocol with one connected agent.
type session struct {
	srv     *Server
	conn    net.Conn
	log     *slog.Logger
	name    string
	addr    string
	version string
	cert    string // fingerprint of the agent's certificate

	out       chan outMsg
	done      chan struct{}
	closeOnce sync.Once

	mu      sync.Mutex
	next    int32
	pending map[int32]*call

	lastRead atomic.Int64 // unix nanoseconds of the last message from the agent
	ping     pinger
}

type outMsg struct {
	m    wire.Message
	last bool // close the connection once this is flushed
}

// A call is a check waiting for its result.
type call struct {
	id   int32
	name string
	sent time.Time
	ch   chan wire.Message // buffered: one result
}

// serveSession runs the protocol on an authenticated connection until it
// ends.
func (s *Server) serveSession(c net.Conn, name, fingerprint string) {
	// Every line here the agent can repeat at will, reconnecting.
	plog := s.plog.For(name)
	r := wire.NewReader(c)
	c.SetReadDeadline(time.Now().Add(s.cfg.HelloTimeout))
	m, err := r.Read()
	if err != nil {
		var ne net.Error
		var pe *wire.ProtocolError
		switch {
		case errors.As(err, &pe):
			plog.Info("bad hello", "agent", name, "err", err)
			s.refuse(c, pe.Code)
		case errors.As(err, &ne) && ne.Timeout():
			plog.Info("no hello in time", "agent", name)
			s.refuse(c, wire.CodeHelloTimeout)
		default:
			plog.Debug("connection ended before hello", "agent", name, "err", err)
			c.Close()
		}
		return
	}
	if m.Kind != wire.KindHello {
		plog.Info("bad hello: first message is "+m.Kind.String(), "agent", name)
		s.refuse(c, wire.CodeBadHello)
		return
	}
	if m.Protocol != wire.Version {
		plog.Info("unsupported protocol version", "agent", name, "protocol", m.Protocol)
		s.refuse(c, wire.CodeUnsupportedProtocolVersion)
		return
	}
	c.SetReadDeadline(time.Time{})
	addr := c.RemoteAddr().String()
	now := time.Now()
	if err := s.db.AgentSeen(state.Agent{Name: name, Fingerprint: fingerprint, Version: m.Version, Addr: addr, LastSeen: now}); errors.Is(err, state.ErrRevoked) || errors.Is(err, state.ErrCertReplaced) {
		plog.Info("agent refused: "+certRefusal(err), "agent", name, "remote", addr)
		s.refuse(c, wire.CodeNotAuthorized)
		return
	} else if err != nil {
		plog.Error("record agent", "agent", name, "err", err)
	}
	if offered, ok := s.offers.NewerThan(m.Version); ok && !s.rollout.first(name, m.Version, offered) {
		plog.Warn("agent came back at its old version after a reload: accepting it (its supervisor did not take the offered version)",
			"agent", name, "version", m.Version, "offered", offered)
	} else if ok {
		plog.Info("agent is older than the offered version: reload", "agent", name, "version", m.Version, "offered", offered)
		c.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		w := wire.NewWriter(c)
		if w.Write(wire.Reload()) == nil {
			w.Flush()
		}
		closeGently(c)
		return
	}

	ss := &session{
		srv:     s,
		conn:    c,
		log:     plog.With("agent", name),
		name:    name,
		addr:    addr,
		version: m.Version,
		cert:    fingerprint,
		out:     make(chan outMsg, 16),
		done:    make(chan struct{}),
		pending: map[int32]*call{},
	}
	ss.lastRead.Store(now.UnixNano())
	// equus.info is queued before the session is visible to schedules and
	// runs, so that it is the first check on every connection. The queue
	// is new and empty: this does not block.
	infoCtx, cancelInfo := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelInfo()
	info, err := ss.begin(infoCtx, "equus.info", nil)
	if err != nil {
		ss.log.Error("queue equus.info", "err", err)
		closeGently(c)
		return
	}
	if err := s.register(ss); err != nil {
		// No writer runs yet to send what fail queues.
		code := wire.CodeShuttingDown
		if errors.Is(err, state.ErrRevoked) {
			plog.Info("agent refused: revoked", "agent", name, "remote", addr)
			code = wire.CodeNotAuthorized
		}
		s.refuse(c, code)
		return
	}
	ss.log.Info("agent connected", "version", m.Version, "addr", addr)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); ss.writeLoop() }()
	go func() { defer wg.Done(); ss.info(infoCtx, info) }()
	ss.startPinger()
	if !ss.readLoop(r) {
		ss.close()
	}
	// After a protocol error the writer sends it and then closes the
	// connection; closing it here first would cut the error off. Waiting
	// also keeps every goroutine of the session inside Serve's.
	wg.Wait()
	ss.stopPinger()
	s.unregister(ss)
	ss.log.Info("agent disconnected")
}

// errShuttingDown refuses a session that comes as helen shuts down.
var errShuttingDown = errors.New("helen: shutting down")

// register makes ss the session of its agent, closing an older one. It
// returns errShuttingDown, or an error that is state.ErrRevoked for an
// agent revoked since its certificate was checked: the revocation either
// came before SetConnected, which then refuses, or after ss was in the
// map, where revoking finds it and closes it.
func (s *Server) register(ss *session) error {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		return errShuttingDown
	}
	old := s.sessions[ss.name]
	s.sessions[ss.name] = ss
	s.mu.Unlock()
	if old != nil {
		old.log.Info("closing the older connection of a reconnected agent")
		old.close()
	}
	err := s.db.SetConnected(ss.name, true, time.Now())
	if errors.Is(err, state.ErrRevoked) {
		s.mu.Lock()
		if s.sessions[ss.name] == ss {
			delete(s.sessions, ss.name)
		}
		s.mu.Unlock()
		return err
	}
	if err != nil {
		ss.log.Error("record agent connected", "err", err)
	}
	s.metrics.agentsConnected.Inc()
	s.monitor.Connected(ss)
	return nil
}

func (s *Server) unregister(ss *session) {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	s.metrics.agentsConnected.Dec()
	s.mu.Lock()
	current := s.sessions[ss.name] == ss
	if current {
		delete(s.sessions, ss.name)
	}
	s.mu.Unlock()
	if current {
		if err := s.db.SetConnected(ss.name, false, time.Now()); err != nil {
			ss.log.Error("record agent disconnected", "err", err)
		}
	}
	s.monitor.Disconnected(ss, current)
}

// openSessions returns the sessions open now.
func (s *Server) openSessions() []*session {
	s.mu.Lock()
	defer s.mu.Unlock()
	open := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		open = append(open, ss)
	}
	return open
}

// session returns the open session of an agent.
func (s *Server) session(name string) (*session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[name]
	return ss, ok
}

// closeSession closes the session of an agent, if any.
func (s *Server) closeSession(name string) {
	if ss, ok := s.session(name); ok {
		ss.fail(wire.CodeNotAuthorized, "agent revoked")
	}
}

// certReplaced closes the session of an agent that uses another
// certificate than the one with the given fingerprint, which helen has
// just given it.
func (s *Server) certReplaced(name, fingerprint string) {
	if ss, ok := s.session(name); ok && ss.cert != fingerprint {
		ss.log.Info("closing: the agent's certificate was replaced")
		ss.fail(wire.CodeNotAuthorized, "certificate replaced")
	}
}

// readLoop reads until the connection ends. It reports whether it ended
// with an error sent to the agent: the writer then closes the connection.
func (ss *session) readLoop(r *wire.Reader) bool {
	for {
		m, err := r.Read()
		if err != nil {
			var pe *wire.ProtocolError
			switch {
			case errors.As(err, &pe):
				ss.log.Warn("protocol error from agent", "err", err)
				ss.fail(pe.Code, pe.Detail)
				return true
			case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
			default:
				select {
				case <-ss.done:
				default:
					ss.log.Info("read from agent", "err", err)
				}
			}
			return false
		}
		ss.lastRead.Store(time.Now().UnixNano())
		switch m.Kind {
		case wire.KindResult:
			ss.deliver(m)
		case wire.KindHello:
			ss.log.Warn("second hello on one connection")
			ss.fail(wire.CodeBadCommand, "second hello")
			return true
		default:
			// check, reload and error travel only from helen to equus.
			ss.log.Warn("agent sent a command that only helen sends", "command", m.Kind.String())
			ss.fail(wire.CodeBadCommand, m.Kind.String()+" from agent")
			return true
		}
	}
}

// deliver hands a result to the check waiting for it.
func (ss *session) deliver(m wire.Message) {
	ss.srv.metrics.resultsReceived.Inc()
	ss.mu.Lock()
	c, ok := ss.pending[m.ID]
	if ok && c.name == m.Name {
		delete(ss.pending, m.ID)
	}
	ss.mu.Unlock()
	switch {
	case !ok:
		ss.log.Info("dropped a result with no check outstanding", "id", m.ID, "check", m.Name)
		ss.srv.metrics.resultsDropped.Inc()
	case c.name != m.Name:
		ss.log.Warn("dropped a result whose check name does not match", "id", m.ID, "check", m.Name, "sent", c.name)
		ss.srv.metrics.resultsDropped.Inc()
	default:
		ss.srv.metrics.roundTrip.Observe(time.Since(c.sent).Seconds())
		c.ch <- m
	}
}

// nextIDLocked returns the next free message id: a counter from 1 that
// wraps past the largest int32 back to 1 and skips ids outstanding.
func (ss *session) nextIDLocked() (int32, bool) {
	if len(ss.pending) >= math.MaxInt32-1 {
		return 0, false
	}
	for {
		if ss.next == math.MaxInt32 {
			ss.next = 0
		}
		ss.next++
		if _, busy := ss.pending[ss.next]; !busy {
			return ss.next, true
		}
	}
}

// errArgsTooLarge refuses a check whose args do not fit in a blob.
var errArgsTooLarge = fmt.Errorf("helen: check args over the %d-byte limit of the protocol", wire.MaxBlob)

// call sends a check and waits for its result until ctx ends.
func (ss *session) call(ctx context.Context, check string, args []byte) (wire.Message, error) {
	c, err := ss.begin(ctx, check, args)
	if err != nil {
		return wire.Message{}, err
	}
	return ss.await(ctx, c)
}

// begin queues a check for the writer under a fresh message id.
func (ss *session) begin(ctx context.Context, check string, args []byte) (*call, error) {
	if len(args) > wire.MaxBlob {
		// The writer would refuse it, and the caller wait in vain.
		return nil, errArgsTooLarge
	}
	c := &call{name: check, ch: make(chan wire.Message, 1)}
	ss.mu.Lock()
	id, ok := ss.nextIDLocked()
	if ok {
		c.id = id
		ss.pending[id] = c
	}
	ss.mu.Unlock()
	if !ok {
		return nil, errors.New("helen: too many checks outstanding")
	}
	c.sent = time.Now()
	if err := ss.send(ctx, outMsg{m: wire.Check(check, id, args)}); err != nil {
		ss.forget(c)
		return nil, err
	}
	ss.srv.metrics.checksSent.Inc()
	return c, nil
}

// await waits for the result of a check that begin sent.
func (ss *session) await(ctx context.Context, c *call) (wire.Message, error) {
	defer ss.forget(c)
	select {
	case m := <-c.ch:
		return m, nil
	case <-ctx.Done():
		return wire.Message{}, ctx.Err()
	case <-ss.done:
		return wire.Message{}, errSessionClosed
	}
}

// forget drops c from the outstanding checks; a result for it that comes
// later is dropped as late.
func (ss *session) forget(c *call) {
	ss.mu.Lock()
	if ss.pending[c.id] == c {
		delete(ss.pending, c.id)
	}
	ss.mu.Unlock()
}

func (ss *session) send(ctx context.Context, m outMsg) error {
	select {
	case ss.out <- m:
		return nil
	case <-ss.done:
		return errSessionClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writeLoop writes what is queued, in one write when the queue is empty,
// each under the write deadline so a stuck agent only ends its own session.
// The bytes go through a buffer borrowed for the burst, so that an idle
// session, the common case, holds no write buffer at all.
func (ss *session) writeLoop() {
	for {
		var om outMsg
		select {
		case om = <-ss.out:
		case <-ss.done:
			return
		}
		bp := writeBufs.Get().(*[]byte)
		buf := (*bp)[:0]
		last := false
		for {
			var err error
			if buf, err = wire.Append(buf, om.m); err != nil {
				ss.log.Error("write to agent: message refused", "err", err)
			}
			last = last || om.last
			if last || len(buf) >= maxBurst {
				break
			}
			select {
			case om = <-ss.out:
				continue
			default:
			}
			break
		}
		ss.conn.SetWriteDeadline(time.Now().Add(ss.srv.cfg.WriteTimeout))
		_, err := ss.conn.Write(buf)
		if cap(buf) <= 2*maxBurst {
			*bp = buf[:0]
			writeBufs.Put(bp)
		}
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				ss.log.Warn("write to agent", "err", err)
			}
			ss.close()
			return
		}
		if last {
			ss.closeWith(closeGently)
			return
		}
	}
}

// maxBurst is how many bytes the writer gathers before writing them out.
const maxBurst = 64 << 10

// writeBufs are the write buffers sessions borrow for a burst of messages.
var writeBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, 4<<10)
	return &b
}}

// fail sends error code to the agent and closes the session.
func (ss *session) fail(code wire.Code, detail string) {
	ss.srv.metrics.protocolErrors.WithLabelValues(string(code)).Inc()
	ss.log.Debug("closing with error", "code", code, "detail", detail)
	ctx, cancel := context.WithTimeout(context.Background(), ss.srv.cfg.WriteTimeout)
	defer cancel()
	if ss.send(ctx, outMsg{m: wire.Error(code), last: true}) != nil {
		ss.close()
	}
}

func (ss *session) close() { ss.closeWith(func(c net.Conn) { c.Close() }) }

func (ss *session) closeWith(closeConn func(net.Conn)) {
	ss.closeOnce.Do(func() {
		close(ss.done)
		closeConn(ss.conn)
	})
}

// info waits for the agent's answer to equus.info and keeps it in its
// history.
func (ss *session) info(ctx context.Context, c *call) {
	m, err := ss.await(ctx, c)
	doc, err := ss.settle(c.name, c.sent, m.Blob, err)
	if err == nil {
		err = monitor.Store(context.WithoutCancel(ctx), ss.srv.db, ss.name, c.name, "", c.sent, doc)
	}
	if err != nil && !errors.Is(err, errSessionClosed) {
		ss.log.Info("equus.info", "err", err)
	}
}
