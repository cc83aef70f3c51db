package server

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/web"

	"github.com/equus-monitoring/equus/agentname"
	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/state"
)

// The admin socket serves the API (api.go) to the helen commands, without
// the admin token: only helen's user can open it, the socket being 0600
// in a 0700 data directory.

// listenAdmin listens on the unix socket at path, replacing a stale one.
func listenAdmin(path string) (net.Listener, error) {
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("admin socket %s: another helen is serving it", path)
	}
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	return ln, nil
}

var _ web.Backend = (*Server)(nil)

// adminHandler is the API of the admin socket.
func (s *Server) adminHandler() http.Handler { return web.NewAPI(s.DB(), s, s.log, 0) }

// Token makes an enrollment token, and the join command that uses it.
func (s *Server) Token(req web.TokenRequest) (web.TokenResponse, error) {
	return newToken(s.db, req, s.joiner())
}

// Issue issues an agent a certificate, its only one from now on: a
// connection with another is closed.
func (s *Server) Issue(name string) (web.IssueResponse, error) {
	resp, fp, err := issue(s.ca, s.db, name)
	if err != nil {
		return resp, err
	}
	s.hub.CertReplaced(resp.Name, fp)
	return resp, nil
}

// The functions below serve both a running helen and the commands run
// offline, with the data directory opened by the command itself.

func newToken(db state.Store, req web.TokenRequest, join joiner) (web.TokenResponse, error) {
	if req.Uses < 1 {
		return web.TokenResponse{}, fmt.Errorf("--uses must be at least 1, not %d", req.Uses)
	}
	if req.TTL <= 0 {
		return web.TokenResponse{}, fmt.Errorf("--ttl must be positive, not %s", time.Duration(req.TTL))
	}
	if req.Agent != "" {
		if err := agentname.Check(req.Agent); err != nil {
			return web.TokenResponse{}, fmt.Errorf("--agent: %w", err)
		}
		if revoked, err := db.Revoked(req.Agent); err != nil {
			return web.TokenResponse{}, err
		} else if revoked {
			return web.TokenResponse{}, fmt.Errorf("agent %s is revoked: no token can enroll it", req.Agent)
		}
	}
	secret, t, err := db.CreateToken(state.TokenSpec{Uses: req.Uses, TTL: time.Duration(req.TTL), Agent: req.Agent}, time.Now())
	if err != nil {
		return web.TokenResponse{}, err
	}
	cmd := join.command(secret)
	if t.Agent != "" {
		cmd += " --name " + shellQuote(t.Agent)
	}
	return web.TokenResponse{Token: secret, ID: t.ID, Uses: t.Uses, Expires: t.Expires, Agent: t.Agent, Join: cmd,
		Helen: join.helen.Addr, HelenFrom: join.helen.From, Helens: join.helens()}, nil
}

// shellQuote quotes s for a POSIX shell where it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:@/+=,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func issue(ca *pki.CA, db state.Store, name string) (web.IssueResponse, string, error) {
	if err := agentname.Check(name); err != nil {
		return web.IssueResponse{}, "", err
	}
	if revoked, err := db.Revoked(name); err != nil {
		return web.IssueResponse{}, "", err
	} else if revoked {
		return web.IssueResponse{}, "", fmt.Errorf("agent %s is revoked", name)
	}
	now := time.Now()
	certPEM, keyPEM, err := ca.IssueClient(name, now)
	if err != nil {
		return web.IssueResponse{}, "", err
	}
	// The new certificate is the agent's only one from now on.
	certs, err := pki.ParseCertsPEM(certPEM)
	if err != nil || len(certs) == 0 {
		return web.IssueResponse{}, "", fmt.Errorf("issue %s: %v", name, err)
	}
	fp := pki.Fingerprint(certs[0])
	if err := db.PinCert(name, fp, now); err != nil {
		return web.IssueResponse{}, "", err
	}
	return web.IssueResponse{Name: name, CA: string(ca.CertPEM), Cert: string(certPEM), Key: string(keyPEM)}, fp, nil
}

// revoke revokes, offline (no helen runs, so it is not connected), an
// agent helen knows: one enrolled, issued a certificate or seen, or
// revoked already. A name it never knew is refused, most
// likely a typo, which would otherwise print "revoked" and refuse nothing.
func revoke(db state.Store, name string) error {
	return revokeWith(db, revokeEvent(name, "down", time.Now()))
}

// revokeWith revokes the agent of ev, storing ev unless the agent was
// revoked already.
func revokeWith(db state.Store, ev state.Event) error {
	if err := agentname.Check(ev.Agent); err != nil {
		return err
	}
	_, err := db.Agent(ev.Agent)
	if errors.Is(err, state.ErrNotFound) {
		revoked, rerr := db.Revoked(ev.Agent)
		if rerr != nil {
			return rerr
		}
		if !revoked {
			return fmt.Errorf("%w: %s (helen agents lists the agents)", web.ErrNoAgent, ev.Agent)
		}
	} else if err != nil {
		return err
	}
	return db.Revoke(ev.Agent, ev.Time, ev)
}

// revokeEvent is the event of a revocation of an agent that was up or
// down.
func revokeEvent(name, from string, now time.Time) state.Event {
	return state.Event{Time: now, Agent: name, From: from, To: "revoked", Message: "agent revoked: refused from now on"}
}
