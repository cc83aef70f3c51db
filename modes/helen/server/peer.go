package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/netlimit"
	"github.com/equus-monitoring/equus/modes/helen/web"
	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/state/pgstore"
)

// The peer listener: where the other helens of a shared store ask this one
// what needs an agent's live session (runs, reloads, shell sessions) for
// the agents it holds (forward.go is the asking side). Mutual TLS: the
// client presents a peer certificate of the CA that names a helen
// (pki.PeerServerConfig); an agent's certificate, or none, ends the
// handshake. The API's own handlers serve it (web.NewPeerAPI) over a
// backend that never forwards again.

// DefaultPeerListen is the peer listener's address of a helen whose store
// is shared (state.Cluster) and that was given none: the port after the
// operators'.
const DefaultPeerListen = ":7482"

// MaxPeerConns bounds the connections of the peer listener open at once;
// more wait their turn.
const MaxPeerConns = 256

// peerAlpn are the protocols of the peer listener: HTTP/2 for the runs and
// reloads, HTTP/1.1 for a shell session's upgrade.
var peerAlpn = []string{"h2", "http/1.1"}

// setupPeers makes this helen one of those of a shared store, when it is:
// its ID, its peer certificate, and the directory and client of the
// others. A helen on a store of its own makes none of it, unless told to
// listen for peers (PeerListen).
func (s *Server) setupPeers() error {
	dir := s.cfg.directory
	if s.cluster != nil && dir == nil {
		dir = &clusterDirectory{store: s.cluster, now: time.Now}
	}
	if dir == nil && s.cfg.PeerListen == "" {
		return nil
	}
	s.id = s.cfg.HelenID // checked by checkPeers
	if cd, ok := dir.(*clusterDirectory); ok {
		cd.self = s.id
	}
	var err error
	if s.peerCert, err = pki.LoadOrCreatePeer(s.cfg.DataDir, s.ca, s.id); err != nil {
		return err
	}
	if dir != nil {
		s.peers = newPeers(s.id, dir, s.ca, s.peerCert)
	}
	s.peerListen = s.cfg.PeerListen
	if s.peerListen == "" {
		s.peerListen = DefaultPeerListen
	}
	return nil
}

// checkPeers reports what is wrong with cfg's settings of peers, before
// anything is opened: the helen ID that its peer certificate would name,
// and --peer-advertise.
func checkPeers(cfg Config) error {
	if pgstore.IsURL(cfg.Store) || cfg.PeerListen != "" || cfg.directory != nil {
		if err := pki.CheckHelenID(cfg.HelenID); err != nil {
			return fmt.Errorf("%w (give another with --helen-id)", err)
		}
	}
	if cfg.PeerAdvertise != "" {
		return checkPeerAdvertise(cfg.PeerAdvertise)
	}
	return nil
}

// checkPeerAdvertise reports what is wrong with a --peer-advertise value:
// HOST:PORT, a host to dial (the others verify this helen by its ID, not
// by the host).
func checkPeerAdvertise(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--peer-advertise %q: want HOST:PORT: %w", addr, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("--peer-advertise %q: port %q is not a number from 1 to 65535", addr, port)
	}
	if err := pki.CheckSAN(host); err != nil || strings.HasPrefix(host, "*") {
		return fmt.Errorf("--peer-advertise %q: %q is not a host to dial", addr, host)
	}
	return nil
}

// ID returns this helen's ID among those of a shared store ("" for a
// helen with no peers).
func (s *Server) ID() string { return s.id }

// PeerAddr returns the address the other helens reach this one's peer
// listener at, for its row among the helens (state.Helen.Addr): "" until
// it listens, and for a helen with no peer listener.
func (s *Server) PeerAddr() string { return s.peerAdvertised }

// peerAdvertise returns the address of the peer listener ln for the other
// helens: --peer-advertise as it is, else the listener's own address when
// it is a specific one, else the first --san or the host name, with the
// listener's port.
func (s *Server) peerAdvertise(ln net.Addr) string {
	if s.cfg.PeerAdvertise != "" {
		return s.cfg.PeerAdvertise
	}
	ta, ok := ln.(*net.TCPAddr)
	if !ok {
		return ln.String()
	}
	port := strconv.Itoa(ta.Port)
	if !ta.IP.IsUnspecified() {
		return net.JoinHostPort(ta.IP.String(), port)
	}
	for _, san := range s.cfg.SANs {
		if !strings.HasPrefix(san, "*") {
			return net.JoinHostPort(san, port)
		}
	}
	return net.JoinHostPort(pki.DefaultSANs()[0], port)
}

// peerServer is the server of the peer listener.
func (s *Server) peerServer() *http.Server {
	return &http.Server{
		Handler:           web.NewPeerAPI(peerBackend{Backend: s, s: s}, s.log),
		ErrorLog:          s.plog.HTTPErrorLog(),
		ReadHeaderTimeout: readHeaderTimeout, // and the TLS handshake
		// No write timeout: a run takes as long as it is asked to, which
		// the forwarding helen bounds.
		IdleTimeout: s.cfg.HTTPIdleTimeout,
	}
}

// peerShutdownGrace is how long a stopping helen lets the calls of other
// helens end, its agents' sessions ended already (so that those calls
// answer at once), before it closes their connections: an HTTP/2
// connection that another helen keeps would hold the shutdown a second
// more otherwise.
const peerShutdownGrace = 250 * time.Millisecond

// shutdownPeers shuts the peer listener's server down, within
// peerShutdownGrace.
func shutdownPeers(srv *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), peerShutdownGrace)
	defer cancel()
	srv.Shutdown(ctx)
	srv.Close()
}

func (s *Server) peerListener(ln net.Listener) net.Listener {
	return tls.NewListener(netlimit.NewLimitListener(ln, MaxPeerConns), pki.PeerServerConfig(s.ca, s.peerCert, peerAlpn))
}

// peerBackend is the backend of the peer listener: this helen's, whose
// actions on agents are on its own sessions only. Its Backend is an
// interface, so that it has no method of Server's but those (it is no
// web.RunsForwarder).
type peerBackend struct {
	web.Backend
	s *Server
}

func (b peerBackend) Run(ctx context.Context, agent, check string, args []byte, timeout time.Duration) (result.Doc, error) {
	ss, ok := b.s.hub.Session(agent)
	if !ok {
		return result.Doc{}, b.s.notHeld(agent)
	}
	return b.s.monitor.Run(ctx, ss, check, args, timeout)
}

func (b peerBackend) Reload(ctx context.Context, agent string) error {
	if _, ok := b.s.hub.Session(agent); !ok {
		return b.s.notHeld(agent)
	}
	return b.s.reloadHere(ctx, agent)
}

func (b peerBackend) OpenShell(ctx context.Context, who, agent string, req web.ShellRequest) (web.Shell, error) {
	if _, ok := b.s.hub.Session(agent); !ok {
		return nil, b.s.notHeld(agent)
	}
	return b.s.openShellHere(ctx, who, agent, req)
}

// notHeld is the error of a call from another helen for an agent this one
// holds no session of: the claim moved since it looked, and this helen
// forwards no further.
func (s *Server) notHeld(agent string) error {
	return fmt.Errorf("%w: %s (helen %s, asked by another helen, holds no session of it and forwards no further)", ErrNotConnected, agent, s.id)
}

// holder returns the helen to forward a call for agent to, which this
// helen holds no session of: ErrNotConnected when there is none, as on a
// helen alone.
func (s *Server) holder(ctx context.Context, agent string) (state.Helen, error) {
	if s.peers == nil {
		return state.Helen{}, fmt.Errorf("%w: %s", ErrNotConnected, agent)
	}
	h, err := s.peers.dir.holder(ctx, agent)
	switch {
	case errors.Is(err, errNoHolder):
		return state.Helen{}, fmt.Errorf("%w: %s", ErrNotConnected, agent)
	case err != nil:
		return state.Helen{}, err
	}
	return h, nil
}

var _ web.RunsForwarder = (*Server)(nil)

// ForwardRuns sends a batch of runs on an agent another helen holds to
// that helen, whole; forwarded is false for an agent this helen holds, or
// that no helen does (whose runs then fail here one by one, as they
// would on a helen alone).
func (s *Server) ForwardRuns(ctx context.Context, agent string, runs []web.RunRequest) (io.ReadCloser, bool, error) {
	if _, ok := s.hub.Session(agent); ok || s.peers == nil {
		return nil, false, nil
	}
	h, err := s.holder(ctx, agent)
	if errors.Is(err, ErrNotConnected) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	body, err := s.peers.runs(ctx, h, agent, runs)
	return body, err == nil, err
}
