package hub

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/wire"
)

// ErrNotConnected is returned for a check sent to an agent with no session.
var ErrNotConnected = errors.New("helen: agent not connected")

// A Session is the wire protocol with one connected agent.
type Session struct {
	hub     *Hub
	conn    net.Conn
	log     *slog.Logger
	name    string
	addr    string
	version string
	cert    string // fingerprint of the agent's certificate
	// claim is this helen's claim of the agent for the session, with a
	// cluster (cluster.go); takenOver reports whether another helen
	// claimed the agent since, which ended the session.
	claim     state.Claim
	takenOver atomic.Bool

	w         writeState // the messages to the agent (write.go)
	done      chan struct{}
	closeOnce sync.Once

	calls       wire.Caller  // the checks outstanding, by message id
	outstanding atomic.Int64 // the checks begun and not yet awaited

	caps     atomic.Pointer[[]string] // equus.info's capabilities
	infoDone chan struct{}            // closed once equus.info's answer came or did not

	lastRead atomic.Int64 // unix nanoseconds of the last message from the agent
	ping     pinger
}

type outMsg struct {
	m    wire.Message
	last bool // close the connection once this is flushed
}

// serveSession runs the protocol on an authenticated connection until it
// ends: the hello, the agent's admission, then the session.
func (h *Hub) serveSession(c net.Conn, name, fingerprint string) {
	// Every line here the agent can repeat at will, reconnecting.
	plog := h.plog.For(name)
	r := wire.NewReader(c)
	hello, ok := h.readHello(c, r, name, plog)
	if !ok {
		return
	}
	// Before anything of the agent is recorded: it goes to another helen.
	if h.full(name) {
		h.sendElsewhere(c, name, plog)
		return
	}
	// Claimed before anything is written for the agent, so that every
	// write of the session carries its claim.
	claim, ok := h.claim(name, plog)
	if !ok {
		h.closeGently(c)
		return
	}
	if !h.admit(c, name, fingerprint, hello, plog) {
		h.unclaim(claim, plog)
		return
	}
	ss := &Session{
		hub:     h,
		conn:    c,
		log:     plog.With("agent", name),
		name:    name,
		addr:    c.RemoteAddr().String(),
		version: hello.Version,
		cert:    fingerprint,
		claim:   claim,
		done:    make(chan struct{}),

		infoDone: make(chan struct{}),
	}
	ss.w.init()
	ss.lastRead.Store(ss.hub.clock.Now().UnixNano())
	// equus.info is queued before the session is visible to schedules and
	// runs, so that it is the first check on every connection: the
	// writer, not started yet, holds the write. The queue is new and
	// empty: this does not block.
	infoCtx, cancelInfo := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelInfo()
	info, err := ss.begin(infoCtx, wire.InfoCheck, nil)
	if err != nil {
		ss.log.Error("queue equus.info", "err", err)
		h.unclaim(claim, plog)
		h.closeGently(c)
		return
	}
	if err := h.register(ss); err != nil {
		h.unclaim(claim, plog)
		if errors.Is(err, state.ErrFenced) {
			plog.Info("agent refused: it connected to another helen meanwhile", "agent", name, "remote", ss.addr)
			h.closeGently(c)
			return
		}
		// No writer runs yet to send what fail queues.
		if errors.Is(err, errFull) {
			h.sendElsewhere(c, name, plog)
			return
		}
		code := wire.CodeShuttingDown
		if errors.Is(err, state.ErrRevoked) {
			plog.Info("agent refused: revoked", "agent", name, "remote", ss.addr)
			code = wire.CodeNotAuthorized
		}
		h.refuse(c, code)
		return
	}
	ss.log.Info("agent connected", "version", ss.version, "addr", ss.addr)
	ss.run(r, infoCtx, info)
	h.unregister(ss)
	ss.log.Info("agent disconnected")
}

// readHello reads the agent's hello within the hello timeout. It reports
// false, having refused the connection or seen it end, for anything else.
func (h *Hub) readHello(c net.Conn, r *wire.Reader, name string, plog *slog.Logger) (wire.Message, bool) {
	c.SetReadDeadline(time.Now().Add(h.cfg.HelloTimeout))
	m, err := r.Read()
	if err != nil {
		var ne net.Error
		var pe *wire.ProtocolError
		switch {
		case errors.As(err, &pe):
			plog.Info("bad hello", "agent", name, "err", err)
			h.refuse(c, pe.Code)
		case errors.As(err, &ne) && ne.Timeout():
			plog.Info("no hello in time", "agent", name)
			h.refuse(c, wire.CodeHelloTimeout)
		default:
			plog.Debug("connection ended before hello", "agent", name, "err", err)
			c.Close()
		}
		return m, false
	}
	if m.Kind != wire.KindHello {
		plog.Info("bad hello: first message is "+m.Kind.String(), "agent", name)
		h.refuse(c, wire.CodeBadHello)
		return m, false
	}
	if m.Protocol != wire.Version {
		plog.Info("unsupported protocol version", "agent", name, "protocol", m.Protocol)
		h.refuse(c, wire.CodeUnsupportedProtocolVersion)
		return m, false
	}
	c.SetReadDeadline(time.Time{})
	return m, true
}

// admit records the agent that said hello, and reports whether it may have
// a session: not when its record refuses it, nor when it is older than the
// version on offer and has not been asked to reload for it yet (it is now,
// and the connection closes).
func (h *Hub) admit(c net.Conn, name, fingerprint string, hello wire.Message, plog *slog.Logger) bool {
	addr := c.RemoteAddr().String()
	seen := state.Agent{Name: name, Fingerprint: fingerprint, Version: hello.Version, Addr: addr, LastSeen: time.Now()}
	if tc, ok := c.(*tls.Conn); ok {
		if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
			seen.CertExpires = certs[0].NotAfter
		}
	}
	err := h.store.AgentSeen(seen)
	if errors.Is(err, state.ErrRevoked) || errors.Is(err, state.ErrCertReplaced) {
		plog.Info("agent refused: "+state.WhyRefused(err), "agent", name, "remote", addr)
		h.refuse(c, wire.CodeNotAuthorized)
		return false
	} else if err != nil {
		plog.Error("record agent", "agent", name, "err", err)
	}
	offered, older := h.offers.NewerThan(hello.Version)
	if !older {
		return true
	}
	if !h.rollout.first(name, hello.Version, offered) {
		plog.Warn("agent came back at its old version after a reload: accepting it (its supervisor did not take the offered version)",
			"agent", name, "version", hello.Version, "offered", offered)
		return true
	}
	plog.Info("agent is older than the offered version: reload", "agent", name, "version", hello.Version, "offered", offered)
	c.SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout))
	w := wire.NewWriter(c)
	if w.Write(wire.Reload()) == nil {
		w.Flush()
	}
	h.closeGently(c)
	return false
}

// run runs a registered session until its connection ends: the writer,
// the wait for the answer to equus.info, the pinger and the reader.
func (ss *Session) run(r *wire.Reader, infoCtx context.Context, info *wire.Call) {
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
}

// info waits for the agent's answer to equus.info and keeps it in its
// history.
func (ss *Session) info(ctx context.Context, c *wire.Call) {
	m, err := ss.await(ctx, c)
	if err == nil {
		ss.setCapabilities(m.Blob)
	}
	close(ss.infoDone)
	doc, err := ss.settle(c.Name(), c.Sent(), m.Blob, err)
	if err == nil {
		err = ss.hub.store.AddResult(context.WithoutCancel(ctx), state.ResultOf(ss.name, c.Name(), "", c.Sent(), doc))
	}
	if err != nil && !errors.Is(err, errSessionClosed) {
		ss.log.Info(wire.InfoCheck, "err", err)
	}
}

// Name is the agent's name.
func (ss *Session) Name() string { return ss.name }

// Done is closed when the session has ended.
func (ss *Session) Done() <-chan struct{} { return ss.done }

// Log is the logger of the session's lines.
func (ss *Session) Log() *slog.Logger { return ss.log }

// Check sends a check and waits for its result until ctx ends.
func (ss *Session) Check(ctx context.Context, check string, args []byte) (result.Doc, error) {
	start := time.Now()
	m, err := ss.call(ctx, check, args)
	return ss.settle(check, start, m.Blob, err)
}

// settle turns the outcome of a call into a result: the agent's, or status
// unknown for one that did not come in time. The agent's is capped as the
// store keeps it (state.Cap, CapLongOutput), so that the status table, the
// events and the answer of a run hold what is stored, not the megabyte an
// agent may send.
func (ss *Session) settle(check string, start time.Time, blob []byte, err error) (result.Doc, error) {
	switch {
	case err == nil:
		doc := result.Parse(blob)
		doc.Message, doc.Metrics = state.Cap(doc.Message, doc.Metrics)
		doc.LongOutput = state.CapLongOutput(doc.LongOutput)
		return doc, nil
	case errors.Is(err, context.DeadlineExceeded):
		return result.Unknownf("no result from %s within %s", ss.name, time.Since(start).Round(time.Millisecond)), nil
	default:
		return result.Doc{}, fmt.Errorf("run %s on %s: %w", check, ss.name, err)
	}
}

// Silence is how long the agent has sent nothing on this connection, on
// the hub's clock. The pinger asks an idle agent for a word every ping
// interval, so a live agent's silence stays under an interval and the
// time it takes to answer.
func (ss *Session) Silence() time.Duration {
	return ss.hub.clock.Since(time.Unix(0, ss.lastRead.Load()))
}

// Fingerprint is that of the certificate the agent connected with.
func (ss *Session) Fingerprint() string { return ss.cert }

// Version is the version the agent said in its hello.
func (ss *Session) Version() string { return ss.version }
