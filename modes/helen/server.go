// Package helen is the server mode: it accepts agents over mutual TLS,
// speaks the wire protocol with them, keeps their results in the state
// store and serves the HTTPS endpoints of agents and operators and the admin
// socket of the helen commands.
package helen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/monitor"
	"github.com/equus-monitoring/equus/modes/helen/netlimit"
	"github.com/equus-monitoring/equus/modes/helen/offers"
	"github.com/equus-monitoring/equus/modes/helen/peerlog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/wire"
)

// File names in helen's data directory.
const (
	dbFile     = "helen.db"
	socketFile = "helen.sock"
)

// Server is a running helen.
type Server struct {
	cfg     Config
	log     *slog.Logger
	db      *state.DB
	ca      *pki.CA
	cert    tls.Certificate
	tlsConf *tls.Config
	offers  *offers.Catalog
	rollout *rollout
	bundle  offers.Bundle
	// downloads holds a place for each release binary being served.
	downloads chan struct{}

	mu       sync.Mutex
	sessions map[string]*session
	// connMu orders the bookkeeping of agents connecting and
	// disconnecting (store, status, schedules), so that an agent that
	// reconnects while its old session ends is never left recorded as
	// disconnected, nor declared down.
	connMu sync.Mutex

	httpConns    *connListener // agents' HTTPS connections, after ALPN
	limits       netlimit.Limits
	agentsAdm    *netlimit.Admission  // the agents' port's connections without a valid certificate
	agentConns   *netlimit.AgentConns // and those with one, by agent name
	opsAdm       *netlimit.Admission  // the operators' port's connections
	plog         *peerlog.Limiter
	dash         *dashSessions // the dashboard's login sessions
	advertised   advertisement // the address in join commands, once listening
	closing      atomic.Bool
	wg           sync.WaitGroup
	metrics      *metrics
	monitor      *monitor.Monitor // schedules, statuses, events
	adminToken   string           // the operators' admin token
	tokenCreated bool             // reports whether this start created it
}

// Listeners are the sockets a Server serves. Ops and Admin may be nil.
type Listeners struct {
	Agents net.Listener // the wire protocol and the agents' HTTPS endpoints
	Ops    net.Listener // the operators' HTTPS port (TLS is added by Serve)
	Admin  net.Listener // the unix socket of the helen commands
}

// New opens helen's data directory: the database, and the CA and server
// certificate, made on first start.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if cfg.DataDir == "" {
		return nil, errors.New("helen: no data directory")
	}
	// Names first: a bad one changes nothing in the data directory.
	for _, san := range cfg.SANs {
		if err := pki.CheckSAN(san); err != nil {
			return nil, fmt.Errorf("helen: --san: %w", err)
		}
	}
	var advertiseHost string
	if cfg.Advertise != "" {
		var err error
		if advertiseHost, err = checkAdvertise(cfg.Advertise); err != nil {
			return nil, fmt.Errorf("helen: %w", err)
		}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("helen: data directory: %w", err)
	}
	// It holds the CA key and the admin socket: helen's user alone.
	if err := os.Chmod(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("helen: data directory: %w", err)
	}
	// The database first: on a first start it is made before the CA, so
	// that a CA never stands without its database (openStore).
	db, err := openStore(cfg.DataDir, state.Options{
		HistoryMaxAge:      cfg.HistoryMaxAge,
		HistoryMaxPerCheck: cfg.HistoryMaxPerCheck,
		CheckTimeout:       cfg.DBCheckTimeout,
		OnCorrupt:          (&corruptLog{log: cfg.Log, now: time.Now}).report,
	})
	if err != nil {
		return nil, fmt.Errorf("helen: %w", err)
	}
	msg, level, args := checkLine(db)
	cfg.Log.Log(context.Background(), level, msg, args...)
	ca, err := pki.LoadOrCreateCA(cfg.DataDir)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("helen: CA: %w", err)
	}
	if err := ca.SetClientLifetime(cfg.CertLifetime); err != nil {
		return nil, fmt.Errorf("helen: --cert-lifetime: %w", err)
	}
	// The address agents are told to dial (--advertise) is one the
	// certificate they verify names.
	sans := pki.DefaultSANs()
	for _, san := range append(slices.Clone(cfg.SANs), advertiseHost) {
		if san != "" && !slices.Contains(sans, san) {
			sans = append(sans, san)
		}
	}
	cert, err := pki.LoadOrCreateServer(cfg.DataDir, ca, sans)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("helen: server certificate: %w", err)
	}
	if err := db.DisconnectAll(time.Now()); err != nil {
		db.Close()
		return nil, fmt.Errorf("helen: %w", err)
	}
	s := &Server{
		cfg:       cfg,
		log:       cfg.Log,
		db:        db,
		ca:        ca,
		cert:      cert,
		tlsConf:   pki.ServerConfig(ca, cert, []string{wire.ALPN, "http/1.1"}),
		sessions:  map[string]*session{},
		httpConns: newConnListener(),
		downloads: make(chan struct{}, maxDownloads),
		metrics:   newMetrics(),
	}
	s.plog = peerlog.New(cfg.Log, cfg.logClock)
	s.dash = newDashSessions(cfg.dashClock)
	s.limits = netlimit.Budget(netlimit.FDLimit(), netlimit.Bounds{MaxUnauthenticated: cfg.MaxUnauthenticated, MaxUnauthenticatedPerAddress: cfg.MaxUnauthenticatedPerAddress, MaxOpsConns: cfg.MaxOpsConns})
	s.agentsAdm = netlimit.NewAdmission("agents", s.limits.Unauth, s.limits.UnauthPerAddr, s.metrics.conns, s.logRefusal("agents"))
	s.agentConns = netlimit.NewAgentConns(netlimit.MaxConnsPerAgent)
	s.opsAdm = netlimit.NewAdmission("operators", s.limits.Ops, s.limits.OpsPerAddr, s.metrics.conns, s.logRefusal("operators"))
	s.tlsConf.Time = cfg.Clock.Now
	s.offers = offers.New(offers.Config{Version: cfg.Version, Executable: cfg.Executable, ReleasesDir: cfg.ReleasesDir, UpdateKey: cfg.UpdateKey, Disabled: cfg.UpdateDisabled, Recheck: cfg.offersRecheck}, s.log)
	s.rollout = newRollout(cfg.RolloutSpread)
	if s.adminToken, s.tokenCreated, err = loadOrCreateAdminToken(cfg.DataDir); err != nil {
		db.Close()
		return nil, fmt.Errorf("helen: %w", err)
	}
	s.monitor, err = monitor.New(db, monitor.Config{
		Log: s.log, DownAfter: cfg.DownAfter, HistoryMaxAge: cfg.HistoryMaxAge, GraceClock: cfg.downClock,
	}, s.metrics.reg)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("helen: %w", err)
	}
	s.metrics.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "helen_database_bytes", Help: "Size of helen's database file.",
	}, func() float64 {
		n, err := db.Size()
		if err != nil {
			return 0
		}
		return float64(n)
	}))
	return s, nil
}

// Close closes the database. Call it after Serve has returned.
func (s *Server) Close() error { return s.db.Close() }

// CA returns helen's certificate authority.
func (s *Server) CA() *pki.CA { return s.ca }

// DB returns helen's store.
func (s *Server) DB() *state.DB { return s.db }

// Listen opens the listeners of a Server: the agents' port, the operators'
// port (none when httpAddr is empty) and the admin socket in the data
// directory.
func (s *Server) Listen(agentsAddr, httpAddr string) (Listeners, error) {
	var ls Listeners
	var err error
	if ls.Agents, err = net.Listen("tcp", agentsAddr); err != nil {
		return ls, fmt.Errorf("agents' port: %w", err)
	}
	if s.cfg.InsecurePlaintext && !isLoopback(ls.Agents.Addr()) {
		ls.Agents.Close()
		return ls, fmt.Errorf("--insecure-plaintext needs a loopback --listen address, not %s", agentsAddr)
	}
	if httpAddr != "" {
		if ls.Ops, err = net.Listen("tcp", httpAddr); err != nil {
			ls.Agents.Close()
			return ls, fmt.Errorf("operators' port: %w", err)
		}
	}
	if ls.Admin, err = listenAdmin(filepath.Join(s.cfg.DataDir, socketFile)); err != nil {
		ls.Agents.Close()
		if ls.Ops != nil {
			ls.Ops.Close()
		}
		return ls, err
	}
	// Recorded once every listener is open: a helen that could not listen
	// leaves the record as it was.
	s.advertised = s.advertise(ls.Agents.Addr())
	if err := recordAdvertised(s.cfg.DataDir, s.advertised); err != nil {
		ls.Agents.Close()
		ls.Admin.Close()
		if ls.Ops != nil {
			ls.Ops.Close()
		}
		return ls, err
	}
	return ls, nil
}

func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// Serve serves ls until ctx ends, then shuts down: it stops accepting,
// tells every agent `error shutting_down`, and waits for the handlers. The
// listeners are closed when it returns.
func (s *Server) Serve(ctx context.Context, ls Listeners) error {
	s.log.Info("connection limits", "file_descriptors", s.limits.NoFile,
		"unauthenticated", s.limits.Unauth, "unauthenticated_per_address", s.limits.UnauthPerAddr,
		"operators", s.limits.Ops, "operators_per_address", s.limits.OpsPerAddr, "admin", s.limits.Admin)
	agentHTTP := &http.Server{
		Handler:           s.agentsHandler(),
		ErrorLog:          s.plog.HTTPErrorLog(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       s.cfg.HTTPIdleTimeout,
		ConnState:         netlimit.ConnState,
	}
	servers := []*http.Server{agentHTTP}
	errc := make(chan error, 4)
	go func() { errc <- serveHTTP("agents' https", agentHTTP, s.httpConns) }()
	if ls.Ops != nil {
		ops := &http.Server{
			Handler:           s.opsHandler(),
			ErrorLog:          s.plog.HTTPErrorLog(),
			ReadHeaderTimeout: readHeaderTimeout, // and the TLS handshake
			ReadTimeout:       readTimeout,
			WriteTimeout:      opsWriteTimeout,
			IdleTimeout:       s.cfg.HTTPIdleTimeout,
			ConnState:         netlimit.ConnState,
		}
		servers = append(servers, ops)
		opsTLS := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{s.cert}, NextProtos: []string{"h2", "http/1.1"}}
		go func() {
			errc <- serveHTTP("operators' https", ops, tls.NewListener(s.opsAdm.Listener(ls.Ops), opsTLS))
		}()
	}
	if ls.Admin != nil {
		// No write timeout: helen run waits for its check as long as it
		// asks.
		admin := &http.Server{
			Handler:           s.adminHandler(),
			ErrorLog:          slogErrorLog(s.log),
			ReadHeaderTimeout: readHeaderTimeout,
			IdleTimeout:       s.cfg.HTTPIdleTimeout,
		}
		servers = append(servers, admin)
		go func() { errc <- serveHTTP("admin socket", admin, netlimit.NewLimitListener(ls.Admin, s.limits.Admin)) }()
	}
	// The loops end with loopCtx, which also ends when a listener fails:
	// shutdown waits for them.
	loopCtx, stopLoops := context.WithCancel(ctx)
	defer stopLoops()
	s.wg.Add(3)
	go func() { defer s.wg.Done(); s.acceptLoop(s.agentsAdm.Listener(ls.Agents)) }()
	go func() { defer s.wg.Done(); s.rolloutLoop(loopCtx) }()
	go func() { defer s.wg.Done(); s.plog.Run(loopCtx) }()
	s.monitor.Start(loopCtx)

	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	stopLoops()
	s.shutdown(ls, servers)
	s.monitor.Stop()
	s.plog.Flush()
	return err
}

func serveHTTP(name string, srv *http.Server, ln net.Listener) error {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

func (s *Server) shutdown(ls Listeners, servers []*http.Server) {
	s.closing.Store(true)
	ls.Agents.Close()
	s.httpConns.Close()
	for _, ss := range s.openSessions() {
		ss.fail(wire.CodeShuttingDown, "helen shutting down")
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range servers {
		srv.Shutdown(sctx)
	}
	s.wg.Wait()
}

func (s *Server) acceptLoop(ln net.Listener) {
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.closing.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait, as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("accept", "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handleConn(c)
		}()
	}
}

// handleConn does the TLS handshake and hands the connection to the agents'
// HTTPS server or to a wire session, by ALPN.
func (s *Server) handleConn(c net.Conn) {
	if s.cfg.InsecurePlaintext {
		name := "insecure-" + strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '.' {
				return r
			}
			return '-'
		}, c.RemoteAddr().String())
		s.plog.For(name).Warn("plaintext agent connection: no TLS, no authentication", "agent", name)
		netlimit.Authenticated(c)
		s.serveSession(c, name, "")
		return
	}
	tc := tls.Server(c, s.tlsConf)
	c.SetDeadline(time.Now().Add(s.cfg.HelloTimeout))
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.HelloTimeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		s.plog.For(peerlog.Addr(c.RemoteAddr().String())).Debug("tls handshake failed", "remote", c.RemoteAddr().String(), "err", err)
		s.metrics.handshakeFailures.Inc()
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
		if name, err := pki.AgentName(st); err == nil && s.db.CheckCert(name, pki.Fingerprint(st.PeerCertificates[0])) == nil {
			if !s.admitAgent(c, name) {
				tc.Close()
				return
			}
		}
		if !s.httpConns.put(tc) {
			tc.Close()
		}
		return
	}
	name, err := pki.AgentName(st)
	if err != nil {
		s.plog.For(peerlog.Addr(c.RemoteAddr().String())).Info("agent refused: no valid client certificate", "remote", c.RemoteAddr().String(), "err", err)
		s.refuse(tc, wire.CodeNotAuthorized)
		return
	}
	fp := pki.Fingerprint(st.PeerCertificates[0])
	if err := s.db.CheckCert(name, fp); err != nil {
		s.plog.For(name).Info("agent refused: "+certRefusal(err), "agent", name, "remote", c.RemoteAddr().String(), "err", err)
		s.refuse(tc, wire.CodeNotAuthorized)
		return
	}
	if !s.admitAgent(c, name) {
		// No error on the wire: the protocol has no code for it, and the
		// agent retries with backoff after a connection closed under it.
		tc.Close()
		return
	}
	// The session runs on a new goroutine: this one's stack grew deep in
	// the handshake's cryptography, and an idle session would keep it.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.serveSession(tc, name, fp)
	}()
}

// logRefusal returns the log of the connections an admission of port
// refuses.
func (s *Server) logRefusal(port string) func(net.Conn, string) {
	return func(c net.Conn, bound string) {
		remote := c.RemoteAddr().String()
		if bound == "per_address" {
			s.plog.For(peerlog.Addr(remote)).Warn("connection refused: its address has too many connections open", "port", port, "remote", remote)
			return
		}
		s.plog.For(port+" port").Warn("connection refused: too many connections open", "port", port, "remote", remote)
	}
}

// certRefusal says why state.CheckCert refused an agent's certificate.
func certRefusal(err error) string {
	switch {
	case errors.Is(err, state.ErrRevoked):
		return "revoked"
	case errors.Is(err, state.ErrCertReplaced):
		return "its certificate was replaced by a later enrollment, renewal or helen issue"
	}
	return "cannot check its certificate"
}

// refuse sends error code and closes c.
func (s *Server) refuse(c net.Conn, code wire.Code) {
	s.metrics.protocolErrors.WithLabelValues(string(code)).Inc()
	c.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	w := wire.NewWriter(c)
	if w.Write(wire.Error(code)) == nil {
		w.Flush()
	}
	closeGently(c)
}

// closeGently closes c after giving the peer a moment to read what was
// sent: it stops writing and drains what the peer still sends briefly, so
// the close does not reset the connection under the last message.
func closeGently(c net.Conn) {
	type closeWriter interface{ CloseWrite() error }
	if cw, ok := c.(closeWriter); ok {
		cw.CloseWrite()
		c.SetReadDeadline(time.Now().Add(time.Second))
		var buf [512]byte
		for {
			if _, err := c.Read(buf[:]); err != nil {
				break
			}
		}
	}
	c.Close()
}

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
func (s *Server) admitAgent(c net.Conn, name string) bool {
	release, ok := s.agentConns.Acquire(name)
	if !ok {
		s.metrics.conns.Refused.WithLabelValues("agents", "per_agent").Inc()
		s.plog.For(name).Warn("connection refused: the agent has too many connections open", "agent", name,
			"remote", c.RemoteAddr().String(), "bound", s.agentConns.Max)
		return false
	}
	if !netlimit.HandOver(c, release) {
		// Not from an admission's listener: nothing closes it through
		// here, so nothing is counted.
		release()
	}
	return true
}
