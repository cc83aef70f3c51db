// Package helen is the server mode: it accepts agents over mutual TLS,
// speaks the wire protocol with them, keeps their results in the state
// store and serves the HTTPS endpoints of agents and operators and the admin
// socket of the helen commands.
package server

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
	"sync"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/agentapi"
	"github.com/equus-monitoring/equus/modes/helen/console"
	"github.com/equus-monitoring/equus/modes/helen/hub"
	"github.com/equus-monitoring/equus/modes/helen/monitor"
	"github.com/equus-monitoring/equus/modes/helen/netlimit"
	"github.com/equus-monitoring/equus/modes/helen/offers"
	"github.com/equus-monitoring/equus/modes/helen/peerlog"
	"github.com/equus-monitoring/equus/modes/helen/recording"
	"github.com/equus-monitoring/equus/modes/helen/web"

	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/state/pgstore"
	"github.com/equus-monitoring/equus/wire"
)

// File names in helen's data directory.
const (
	DBFile     = "helen.db"
	SocketFile = "helen.sock"
)

// Server is a running helen.
type Server struct {
	cfg    Config
	log    *slog.Logger
	db     state.Store
	ca     *pki.CA
	cert   tls.Certificate
	offers *offers.Catalog
	bundle offers.Bundle

	hub          *hub.Hub      // the agents' link
	agents       *agentapi.API // the agents' HTTPS endpoints
	limits       netlimit.Limits
	agentsAdm    *netlimit.Admission  // the agents' port's connections without a valid certificate
	agentConns   *netlimit.AgentConns // and those with one, by agent name
	opsAdm       *netlimit.Admission  // the operators' port's connections
	plog         *peerlog.Limiter
	web          *web.Web         // the operators' port
	console      *console.Console // the operators' pages, which web serves
	advertised   advertisement    // the address in join commands, once listening
	wg           sync.WaitGroup
	metrics      *metrics
	monitor      *monitor.Monitor // schedules, statuses, events
	adminToken   string           // the operators' admin token
	ticketSecret []byte           // the TLS session ticket keys' (tickets.go)
	tokenCreated bool             // reports whether this start created it

	// cluster is the store shared with other helens (cluster.go), nil
	// for a helen alone on bbolt; started is when this helen started in it.
	cluster state.Cluster
	started time.Time

	// Of a helen that forwards to others and is forwarded to (peer.go,
	// forward.go).
	id             string          // its ID among the helens
	peerCert       tls.Certificate // its certificate as a helen's peer
	peers          *peers          // the others; nil on a store of its own
	peerListen     string          // the peer listener's address; "" for none
	peerAdvertised string          // where the others reach it, once listening

	recordings    *recording.Dir // of the shell sessions; nil when it could not open
	recordingsErr error          // why it could not
	shellSlots    chan struct{}  // of the shell sessions open, at most MaxShellSessions
}

// Listeners are the sockets a Server serves. Ops and Admin may be nil.
type Listeners struct {
	Agents net.Listener // the wire protocol and the agents' HTTPS endpoints
	Ops    net.Listener // the operators' HTTPS port (TLS is added by Serve)
	Admin  net.Listener // the unix socket of the helen commands
	Peer   net.Listener // the other helens' of a shared store (TLS is added by Serve)
}

// New opens helen's data directory: the database, and the CA and server
// certificate, made on first start.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if cfg.DataDir == "" {
		return nil, errors.New("helen: no data directory")
	}
	if err := CheckPingInterval(cfg.PingInterval, cfg.DownAfter); err != nil {
		return nil, fmt.Errorf("helen: %w", err)
	}
	if err := checkPeers(cfg); err != nil {
		return nil, fmt.Errorf("helen: %w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Log, metrics: newMetrics()}
	var db state.Store
	if pgstore.IsURL(cfg.Store) {
		sh, err := openShared(cfg)
		if err != nil {
			return nil, err
		}
		db, s.cluster, s.ca, s.cert = sh.store, sh.store, sh.ca, sh.cert
		s.adminToken, s.tokenCreated, s.started = sh.adminToken, sh.tokenCreated, sh.started
	} else {
		bolt, ca, cert, err := openDataDir(cfg)
		if err != nil {
			return nil, err
		}
		db, s.ca, s.cert = bolt, ca, cert
	}
	s.db = db
	if cfg.wrapStore != nil {
		s.db = cfg.wrapStore(db)
	}
	if err := s.setupPeers(); err != nil {
		db.Close()
		return nil, fmt.Errorf("helen: %w", err)
	}
	if s.cluster != nil && s.cfg.Helens == nil {
		// The others' agents' addresses, from their rows, for join
		// commands and agents sent elsewhere.
		l := &helenList{store: s.cluster, self: cfg.HelenID, now: time.Now, log: s.log}
		s.cfg.Helens = func() []string { return l.agents(s.advertised.Addr) }
	}
	if err := s.buildRooms(); err != nil {
		db.Close()
		return nil, fmt.Errorf("helen: %w", err)
	}
	return s, nil
}

// openDataDir checks the names cfg gives, then opens (on a first start,
// makes) the data directory: the database, the CA and the server
// certificate.
func openDataDir(cfg Config) (*state.DB, *pki.CA, tls.Certificate, error) {
	var none tls.Certificate
	advertiseHost, err := prepareDataDir(cfg)
	if err != nil {
		return nil, nil, none, err
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
		return nil, nil, none, fmt.Errorf("helen: %w", err)
	}
	// Its state in the directory again, should it have been on a store.
	if err := forgetShared(cfg.DataDir); err != nil {
		db.Close()
		return nil, nil, none, err
	}
	msg, level, args := checkLine(db)
	cfg.Log.Log(context.Background(), level, msg, args...)
	ca, err := pki.LoadOrCreateCA(cfg.DataDir)
	if err != nil {
		db.Close()
		return nil, nil, none, fmt.Errorf("helen: CA: %w", err)
	}
	cert, err := serverCert(cfg, ca, advertiseHost)
	if err != nil {
		db.Close()
		return nil, nil, none, err
	}
	if err := db.DisconnectAll(time.Now()); err != nil {
		db.Close()
		return nil, nil, none, fmt.Errorf("helen: %w", err)
	}
	return db, ca, cert, nil
}

// prepareDataDir checks the names cfg gives, and makes the data directory
// if need be, helen's user's alone. It returns the host of --advertise.
func prepareDataDir(cfg Config) (advertiseHost string, err error) {
	if advertiseHost, err = checkNames(cfg); err != nil {
		return "", err
	}
	return advertiseHost, makeDataDir(cfg.DataDir)
}

// checkNames checks the names cfg gives (--san, --advertise), first: a
// bad one changes nothing. It returns the host of --advertise.
func checkNames(cfg Config) (advertiseHost string, err error) {
	for _, san := range cfg.SANs {
		if err := pki.CheckSAN(san); err != nil {
			return "", fmt.Errorf("helen: --san: %w", err)
		}
	}
	if cfg.Advertise != "" {
		if advertiseHost, err = checkAdvertise(cfg.Advertise); err != nil {
			return "", fmt.Errorf("helen: %w", err)
		}
	}
	return advertiseHost, nil
}

// makeDataDir makes dir if need be; it holds the CA key and the admin
// socket: helen's user's alone.
func makeDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("helen: data directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("helen: data directory: %w", err)
	}
	return nil
}

// serverCert sets the lifetime of the agent certificates ca issues, and
// loads the server certificate of the data directory, issued by ca anew
// when ca did not issue it or its names changed.
func serverCert(cfg Config, ca *pki.CA, advertiseHost string) (tls.Certificate, error) {
	if err := ca.SetClientLifetime(cfg.CertLifetime); err != nil {
		return tls.Certificate{}, fmt.Errorf("helen: --cert-lifetime: %w", err)
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
		return tls.Certificate{}, fmt.Errorf("helen: server certificate: %w", err)
	}
	return cert, nil
}

// buildRooms makes the rooms of a server whose data directory is open:
// the connection bounds, the monitor, the hub, the agents' endpoints and
// the operators' port.
func (s *Server) buildRooms() error {
	cfg, db := s.cfg, s.db
	var err error
	s.plog = peerlog.New(cfg.Log, cfg.logClock)
	s.limits = netlimit.Budget(netlimit.FDLimit(), netlimit.Bounds{MaxUnauthenticated: cfg.MaxUnauthenticated, MaxUnauthenticatedPerAddress: cfg.MaxUnauthenticatedPerAddress, MaxOpsConns: cfg.MaxOpsConns})
	s.agentsAdm = netlimit.NewAdmission("agents", s.limits.Unauth, s.limits.UnauthPerAddr, s.metrics.conns, s.logRefusal("agents"))
	s.agentConns = netlimit.NewAgentConns(netlimit.MaxConnsPerAgent)
	s.opsAdm = netlimit.NewAdmission("operators", s.limits.Ops, s.limits.OpsPerAddr, s.metrics.conns, s.logRefusal("operators"))
	s.offers = offers.New(offers.Config{Version: cfg.Version, Executable: cfg.Executable, ReleasesDir: cfg.ReleasesDir, UpdateKey: cfg.UpdateKey, Disabled: cfg.UpdateDisabled, Recheck: cfg.offersRecheck}, s.log)
	if s.cluster == nil {
		// A cluster's is in the store (openShared).
		if s.adminToken, s.tokenCreated, err = loadOrCreateAdminToken(cfg.DataDir); err != nil {
			return err
		}
	}
	s.monitor, err = monitor.New(db, monitor.Config{
		Log: s.log, DownAfter: cfg.DownAfter, HistoryMaxAge: cfg.HistoryMaxAge, Flapping: cfg.Flapping, Clock: cfg.monitorClock,
		Notify: &monitor.NotifyConfig{MaxAge: cfg.NotifyMaxAge, RootCAs: cfg.receiverRoots},
	}, s.metrics.reg)
	if err != nil {
		return err
	}
	s.metrics.reg.Gauge("helen_database_bytes", "Size of helen's database file.", func() float64 {
		n, err := db.Size()
		if err != nil {
			return 0
		}
		return float64(n)
	})
	if s.ticketSecret, err = loadOrCreateTicketSecret(cfg.DataDir); err != nil {
		return err
	}
	tlsConf := pki.ServerConfig(s.ca, s.cert, []string{wire.ALPN, "http/1.1", hub.ShellALPN})
	tlsConf.Time = cfg.Clock.Now
	tlsConf.SetSessionTicketKeys(ticketKeys(s.ticketSecret, cfg.Clock.Now()))
	s.hub = hub.New(hub.Config{
		Log: s.log, Peers: s.plog,
		HelloTimeout: cfg.HelloTimeout, PingInterval: cfg.PingInterval, WriteTimeout: cfg.WriteTimeout,
		RolloutSpread: cfg.RolloutSpread, InsecurePlaintext: cfg.InsecurePlaintext, Clock: cfg.hubClock,
		ShellJoinTimeout: cfg.shellJoinTimeout,
		TLS:              tlsConf, MaxHandshakes: cfg.MaxHandshakes, Admission: s.agentsAdm, AgentConns: s.agentConns, Conns: s.metrics.conns,
		MaxSessions: cfg.MaxSessions, Elsewhere: s.elsewhere,
		Cluster: s.cluster, Helen: cfg.HelenID,
	}, db, s.offers, watcher{s.monitor}, s.metrics.reg)
	s.agents = agentapi.New(agentapi.Config{
		ChecksDir: cfg.ChecksDir, UpdateKey: cfg.UpdateKey, CertLifetime: cfg.CertLifetime,
		Clock: cfg.Clock, DownloadTimeout: cfg.downloadTimeout,
	}, db, s.ca, s.offers, s.hub, s.plog)
	s.shellSlots = make(chan struct{}, MaxShellSessions)
	// Helen serves without its recordings' directory: only shell
	// sessions are refused, each saying why.
	if s.recordings, s.recordingsErr = recording.Open(filepath.Join(cfg.DataDir, SessionsDir), cfg.SessionMaxBytes); s.recordingsErr != nil {
		s.log.Error("shell sessions' recordings: sessions are refused", "err", s.recordingsErr)
	}
	s.console = console.New(console.Config{
		Log: s.log, Peers: s.plog, Token: s.adminToken, Version: cfg.Version, Now: cfg.dashClock,
		Graphs: console.StoreGrapher(db),
	}, db, s)
	s.web = web.New(web.Config{
		Log: s.log, Peers: s.plog, Token: s.adminToken, MetricsAuth: cfg.MetricsAuth,
		Metrics: s.metrics.reg, Console: s.console.Handler(),
	}, db, s)
	return nil
}

// watcher tells the monitor of the hub's sessions.
type watcher struct{ m *monitor.Monitor }

func (w watcher) Connected(ss *hub.Session) { w.m.Connected(ss) }

func (w watcher) Disconnected(ss *hub.Session, current bool) { w.m.Disconnected(ss, current) }

// Close closes the database. Call it after Serve has returned.
func (s *Server) Close() error { return s.db.Close() }

// CA returns helen's certificate authority.
func (s *Server) CA() *pki.CA { return s.ca }

// DB returns helen's store.
func (s *Server) DB() state.Store { return s.db }

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
	if ls.Admin, err = listenAdmin(filepath.Join(s.cfg.DataDir, SocketFile)); err != nil {
		ls.Agents.Close()
		if ls.Ops != nil {
			ls.Ops.Close()
		}
		return ls, err
	}
	closeAll := func() {
		ls.Agents.Close()
		ls.Admin.Close()
		if ls.Ops != nil {
			ls.Ops.Close()
		}
		if ls.Peer != nil {
			ls.Peer.Close()
		}
	}
	if s.peerListen != "" {
		if ls.Peer, err = net.Listen("tcp", s.peerListen); err != nil {
			closeAll()
			return ls, fmt.Errorf("peer listener: %w", err)
		}
		s.peerAdvertised = s.peerAdvertise(ls.Peer.Addr())
	}
	// Recorded once every listener is open: a helen that could not listen
	// leaves the record as it was.
	s.advertised = s.advertise(ls.Agents.Addr())
	if err := recordAdvertised(s.cfg.DataDir, s.advertised); err != nil {
		closeAll()
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
		Handler:           s.agents.Handler(),
		ErrorLog:          s.plog.HTTPErrorLog(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      agentapi.WriteTimeout,
		IdleTimeout:       s.cfg.HTTPIdleTimeout,
		ConnState:         netlimit.ConnState,
	}
	servers := []*http.Server{agentHTTP}
	errc := make(chan error, 5)
	go func() { errc <- serveHTTP("agents' https", agentHTTP, s.hub.HTTPS()) }()
	if ls.Ops != nil {
		ops := &http.Server{
			Handler:           s.web.Handler(),
			ErrorLog:          s.plog.HTTPErrorLog(),
			ReadHeaderTimeout: readHeaderTimeout, // and the TLS handshake
			ReadTimeout:       readTimeout,
			WriteTimeout:      web.WriteTimeout,
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
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug), // what clients did wrong, not helen
			ReadHeaderTimeout: readHeaderTimeout,
			IdleTimeout:       s.cfg.HTTPIdleTimeout,
		}
		servers = append(servers, admin)
		go func() { errc <- serveHTTP("admin socket", admin, netlimit.NewLimitListener(ls.Admin, s.limits.Admin)) }()
	}
	var peer *http.Server
	if ls.Peer != nil {
		peer = s.peerServer()
		go func() { errc <- serveHTTP("peer listener", peer, s.peerListener(ls.Peer)) }()
	}
	// The loops end with loopCtx, which also ends when a listener fails:
	// shutdown waits for them.
	loopCtx, stopLoops := context.WithCancel(ctx)
	defer stopLoops()
	s.wg.Add(4)
	if s.cluster != nil {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.beatLoop(loopCtx) }()
	}
	go func() { defer s.wg.Done(); s.rotateTicketKeys(loopCtx) }()
	go func() { defer s.wg.Done(); s.pruneRecordings(loopCtx) }()
	go func() { defer s.wg.Done(); s.hub.Serve(loopCtx, ls.Agents) }()
	go func() { defer s.wg.Done(); s.plog.Run(loopCtx) }()
	s.monitor.Start(loopCtx)

	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	stopLoops()
	s.shutdown(ls, peer, servers)
	start := time.Now()
	s.monitor.Stop()
	s.plog.Flush()
	s.log.Info("monitor stopped", "took", time.Since(start).Round(time.Millisecond))
	if s.cluster != nil {
		s.beatStopped()
	}
	return err
}

func serveHTTP(name string, srv *http.Server, ln net.Listener) error {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// shutdown closes the agents' port first: an agent that comes back
// meanwhile has its dial refused, which it retries, rather than its
// handshake reset by the close of the port, which also drops its TLS
// session. Then it tells the agents shutting_down and waits for the
// sessions and the servers.
func (s *Server) shutdown(ls Listeners, peer *http.Server, servers []*http.Server) {
	start := time.Now()
	ls.Agents.Close()
	s.hub.Shutdown()
	if s.peers != nil {
		s.peers.close()
	}
	told := time.Since(start)
	if peer != nil {
		shutdownPeers(peer)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range servers {
		srv.Shutdown(sctx)
	}
	s.wg.Wait()
	s.log.Info("agents told and their sessions ended", "told", told.Round(time.Millisecond), "took", time.Since(start).Round(time.Millisecond))
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
