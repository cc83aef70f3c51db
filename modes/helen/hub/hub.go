package hub

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/equus-monitoring/equus/internal/metricset"
	"github.com/equus-monitoring/equus/modes/helen/netlimit"
	"github.com/equus-monitoring/equus/modes/helen/offers"
	"github.com/equus-monitoring/equus/modes/helen/peerlog"
	"k8s.io/utils/clock"

	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/wire"
)

// Config is the hub's configuration.
type Config struct {
	Log   *slog.Logger
	Peers *peerlog.Limiter // the log of the lines peers can make helen write

	HelloTimeout time.Duration // for the TLS handshake and the hello
	PingInterval time.Duration // of equus.ping on an idle session, well within the monitor's down-after
	WriteTimeout time.Duration // of each write to an agent
	// RolloutSpread is the window over which agents already connected are
	// asked to take a newer version.
	RolloutSpread time.Duration
	// InsecurePlaintext reports whether the agents' port speaks the
	// protocol without TLS (a debug mode on loopback).
	InsecurePlaintext bool
	// ShellJoinTimeout bounds the wait for an agent's shell connection
	// (0: DefaultShellJoinTimeout).
	ShellJoinTimeout time.Duration
	// Clock times the pings (nil: the real one).
	Clock clock.WithDelayedExecution

	TLS *tls.Config // the agents' port's (the hub sets its GetConfigForClient)
	// MaxHandshakes bounds the TLS handshakes at once (0:
	// DefaultMaxHandshakes).
	MaxHandshakes int
	Admission     *netlimit.Admission  // of the connections without a valid certificate
	AgentConns    *netlimit.AgentConns // of those with one
	Conns         *netlimit.Metrics    // the connections' refusals
	// MaxSessions bounds the agents' sessions the hub holds (0: none but
	// the descriptors'): an agent that says hello past it, and has no
	// session here to replace, is told try_elsewhere, naming the
	// addresses Elsewhere returns (nil: none), and closed.
	MaxSessions int
	Elsewhere   func() []string

	// Cluster is the store shared with other helens, nil for a helen
	// alone; Helen is this helen's id in it (cluster.go).
	Cluster state.Cluster
	Helen   string
}

// A Watcher is told of the sessions that begin and end. The hub calls it
// in the order the sessions come and go, one call at a time.
type Watcher interface {
	// Connected is a new session, the agent's current one from now.
	Connected(ss *Session)
	// Disconnected is a session that ended; current reports whether it
	// was its agent's current one (not one replaced by a newer).
	Disconnected(ss *Session, current bool)
}

// Hub is the agents' link.
type Hub struct {
	cfg        Config
	clock      clock.WithDelayedExecution
	log        *slog.Logger
	plog       *peerlog.Limiter
	store      state.Store
	offers     *offers.Catalog
	rollout    *rollout
	watch      Watcher
	metrics    *hubMetrics
	tlsConf    *tls.Config
	agentConns *netlimit.AgentConns
	adm        *netlimit.Admission
	handshakes *handshakes

	mu       sync.Mutex
	sessions map[string]*Session
	// The bookkeeping of agents connecting and disconnecting (store,
	// status, schedules) is ordered for each agent by its lock in names,
	// so that an agent that reconnects while its old session ends is
	// never left recorded as disconnected, nor declared down; agents
	// apart are recorded at once, so that the store batches their
	// writes. connMu, read-locked around each, lets Hold stop them all;
	// watchMu keeps the watcher's calls one at a time.
	connMu  sync.RWMutex
	names   nameLocks
	watchMu sync.Mutex

	httpConns *connListener // agents' HTTPS connections, after ALPN
	shells    shells        // the shell sessions (shell.go)
	closing   atomic.Bool
	drainEnd  atomic.Int64 // unix nanoseconds: the end of the drains at shutdown (closeGently)
	wg        sync.WaitGroup
}

// New returns the hub of store's agents, offering them cat's release and
// telling w of their sessions; its metrics go to set.
func New(cfg Config, store state.Store, cat *offers.Catalog, w Watcher, set *metricset.Set) *Hub {
	clk := cfg.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	hs := newHandshakes(cfg.MaxHandshakes, cfg.HelloTimeout, set)
	if cfg.ShellJoinTimeout <= 0 {
		cfg.ShellJoinTimeout = DefaultShellJoinTimeout
	}
	var tlsConf *tls.Config
	if cfg.TLS != nil {
		tlsConf = hs.serverConfig(cfg.TLS)
	}
	return &Hub{
		handshakes: hs,
		cfg:        cfg,
		clock:      clk,
		log:        cfg.Log,
		plog:       cfg.Peers,
		store:      store,
		offers:     cat,
		rollout:    newRollout(cfg.RolloutSpread),
		watch:      w,
		metrics:    newMetrics(set, cfg.Conns),
		tlsConf:    tlsConf,
		agentConns: cfg.AgentConns,
		adm:        cfg.Admission,
		sessions:   map[string]*Session{},
		httpConns:  newConnListener(),
		shells:     shells{pending: map[string]*pendingShell{}, open: map[string]*ShellConn{}},
	}
}

// SetSessionTicketKeys sets the keys of the agents' port's TLS session
// tickets, the first encrypting (tls.Config.SetSessionTicketKeys).
func (h *Hub) SetSessionTicketKeys(keys [][32]byte) {
	if h.tlsConf != nil {
		h.tlsConf.SetSessionTicketKeys(keys)
	}
}

// HTTPS returns the listener of the agents' HTTPS connections, handed over
// by Serve once ALPN chose HTTPS.
func (h *Hub) HTTPS() net.Listener { return h.httpConns }

// Serve accepts agents on ln, counted by the configured admission, until
// ln is closed, and runs the rollout until ctx ends. It returns once
// every connection it took has ended (after Shutdown), and after a
// Shutdown, their agents recorded disconnected in one transaction.
func (h *Hub) Serve(ctx context.Context, ln net.Listener) {
	h.wg.Add(1)
	go func() { defer h.wg.Done(); h.rolloutLoop(ctx) }()
	if h.cfg.Cluster != nil {
		h.wg.Add(1)
		go func() { defer h.wg.Done(); h.claimsLoop(ctx) }()
	}
	h.acceptLoop(h.adm.Listener(ln))
	h.wg.Wait()
	if h.closing.Load() {
		h.recordEnds()
	}
}

// Shutdown stops the hub: no session is taken any more, the HTTPS
// listener closes, and every agent is told `error shutting_down`. The
// caller closes the agents' listener.
func (h *Hub) Shutdown() {
	h.drainEnd.Store(time.Now().Add(ShutdownDrain).UnixNano())
	h.closing.Store(true)
	h.httpConns.Close()
	h.closeShells("")
	for _, ss := range h.Sessions() {
		ss.fail(wire.CodeShuttingDown, "helen shutting down")
	}
}

func (h *Hub) acceptLoop(ln net.Listener) {
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if h.closing.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait, as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			h.log.Warn("accept", "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			h.handleConn(c)
		}()
	}
}

// handleConn does the TLS handshake and hands the connection to the agents'
// HTTPS server or to a wire session, by ALPN.
func (h *Hub) handleConn(c net.Conn) {
	if h.cfg.InsecurePlaintext {
		name := "insecure-" + strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '.' {
				return r
			}
			return '-'
		}, c.RemoteAddr().String())
		h.plog.For(name).Warn("plaintext agent connection: no TLS, no authentication", "agent", name)
		netlimit.Authenticated(c)
		h.serveSession(c, name, "")
		return
	}
	// The ClientHello within the hello timeout; then the wait for a
	// handshake slot and the handshake, within one each (handshakes).
	c.SetDeadline(time.Now().Add(h.cfg.HelloTimeout))
	ctx, cancel := context.WithTimeout(context.Background(), 3*h.cfg.HelloTimeout)
	tc, err := h.handshakes.handshake(ctx, c, h.tlsConf)
	cancel()
	if err != nil {
		h.plog.For(peerlog.Addr(c.RemoteAddr().String())).Debug("tls handshake failed", "remote", c.RemoteAddr().String(), "err", err)
		h.metrics.handshakeFailures.Inc()
		c.Close()
		return
	}
	c.SetDeadline(time.Time{})
	st := tc.ConnectionState()
	switch st.NegotiatedProtocol {
	case "http/1.1":
		// An agent's own requests (its update, the check bundle) are not
		// counted with the clients that enroll or bootstrap, but with its
		// other connections.
		if name, err := pki.AgentName(st); err == nil && h.store.CheckCert(name, pki.Fingerprint(st.PeerCertificates[0])) == nil {
			if !h.admitAgent(c, name) {
				tc.Close()
				return
			}
		}
		if !h.httpConns.put(tc) {
			tc.Close()
		}
		return
	}
	name, err := pki.AgentName(st)
	if err != nil {
		h.plog.For(peerlog.Addr(c.RemoteAddr().String())).Info("agent refused: no valid client certificate", "remote", c.RemoteAddr().String(), "err", err)
		h.refuseALPN(tc, st.NegotiatedProtocol)
		return
	}
	fp := pki.Fingerprint(st.PeerCertificates[0])
	if err := h.store.CheckCert(name, fp); err != nil {
		h.plog.For(name).Info("agent refused: "+state.WhyRefused(err), "agent", name, "remote", c.RemoteAddr().String(), "err", err)
		h.refuseALPN(tc, st.NegotiatedProtocol)
		return
	}
	if st.NegotiatedProtocol == ShellALPN {
		if h.admitAgent(c, name) {
			h.serveShellConn(tc, name)
		} else {
			tc.Close()
		}
		return
	}
	if !h.admitAgent(c, name) {
		// No error on the wire: the protocol has no code for it, and the
		// agent retries with backoff after a connection closed under it.
		tc.Close()
		return
	}
	// The session runs on a new goroutine: this one's stack grew deep in
	// the handshake's cryptography, and an idle session would keep it.
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		h.serveSession(tc, name, fp)
	}()
}

// refuseALPN refuses a connection without a valid agent certificate: a
// wire session is told not_authorized, a shell connection, which speaks
// frames, is closed.
func (h *Hub) refuseALPN(c net.Conn, alpn string) {
	if alpn == ShellALPN {
		h.metrics.protocolErrors.With(string(wire.CodeNotAuthorized)).Inc()
		c.Close()
		return
	}
	h.refuse(c, wire.CodeNotAuthorized)
}

// refuse sends error code and closes c.
func (h *Hub) refuse(c net.Conn, code wire.Code) { h.refuseWith(c, wire.Error(code)) }

// refuseWith sends m, an error, and closes c.
func (h *Hub) refuseWith(c net.Conn, m wire.Message) {
	code, _, _ := strings.Cut(m.Text, " ")
	h.metrics.protocolErrors.With(code).Inc()
	c.SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout))
	w := wire.NewWriter(c)
	if w.Write(m) == nil {
		w.Flush()
	}
	h.closeGently(c)
}

// closeGently closes c after giving the peer a moment to read what was
// sent: it stops writing and drains what the peer still sends briefly, so
// the close does not reset the connection under the last message. Once
// helen shuts down, the moment ends for all at once (ShutdownDrain after
// Shutdown), so that 10,000 agents slow to close do not hold the
// shutdown for a second; an agent whose connection is reset then sees
// helen's restart all the same (a broken session).
func (h *Hub) closeGently(c net.Conn) {
	type closeWriter interface{ CloseWrite() error }
	if cw, ok := c.(closeWriter); ok {
		cw.CloseWrite()
		deadline := time.Now().Add(time.Second)
		if end := h.drainEnd.Load(); end != 0 {
			deadline = time.Unix(0, min(end, deadline.UnixNano()))
		}
		c.SetReadDeadline(deadline)
		var buf [512]byte
		for {
			if _, err := c.Read(buf[:]); err != nil {
				break
			}
		}
	}
	c.Close()
}

// ShutdownDrain is how long after Shutdown the agents' connections stay
// open for them to read shutting_down and close first.
const ShutdownDrain = 250 * time.Millisecond

// connListener is a net.Listener of connections handed over by the accept
// loop once ALPN chose HTTPS.
type connListener struct {
	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

func newConnListener() *connListener {
	return &connListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *connListener) put(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return &net.TCPAddr{} }

// admitAgent moves c, whose handshake showed the valid certificate of
// agent name, from the admission's count to name's, or reports false
// when name has all its connections open already: the caller closes c,
// which the admission then stops counting.
func (h *Hub) admitAgent(c net.Conn, name string) bool {
	release, ok := h.agentConns.Acquire(name)
	if !ok {
		h.metrics.conns.Refused.With("agents", "per_agent").Inc()
		h.plog.For(name).Warn("connection refused: the agent has too many connections open", "agent", name,
			"remote", c.RemoteAddr().String(), "bound", h.agentConns.Max)
		return false
	}
	if !netlimit.HandOver(c, release) {
		// Not from an admission's listener: nothing closes it through
		// here, so nothing is counted.
		release()
	}
	return true
}
