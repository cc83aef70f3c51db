package agentapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/reply"
	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/state"
)

// RenewIntervals is how many renewals an agent may make in one certificate
// lifetime at most: a renewal sooner than a hundredth of the lifetime
// after the last (3.65 days of a year) is refused with 429.
const RenewIntervals = 100

// renewInterval is the shortest time between two renewals of one agent.
func (s *API) renewInterval() time.Duration {
	return s.cfg.CertLifetime / RenewIntervals
}

// handleRenew gives an agent a new certificate for a new key, over mutual
// TLS with its current one: POST /v1/renew with a pki.RenewRequest. The
// handshake has verified the certificate (helen's CA, ClientAuth, valid
// now); helen checks it is the agent's (pinned, or its pending successor)
// and records the new one as pending in the same transaction (see
// state.DB.RenewCert). The agent's session, which uses the old
// certificate, goes on: the agent reconnects with the new one when it has
// it on disk, and that first use pins it.
func (s *API) handleRenew(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil {
		reply.Error(w, http.StatusUnauthorized, "renewal needs the agent's current certificate")
		return
	}
	name, err := pki.AgentName(*r.TLS)
	if err != nil {
		reply.Error(w, http.StatusUnauthorized, "renewal needs the agent's current certificate")
		return
	}
	current := r.TLS.VerifiedChains[0][0]
	var req pki.RenewRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxEnrollBody)).Decode(&req); err != nil {
		reply.Error(w, http.StatusBadRequest, "bad renewal request: %v", err)
		return
	}
	if req.CSR == "" {
		reply.Error(w, http.StatusBadRequest, "renewal needs a csr")
		return
	}
	// Refuse a certificate that may not renew before signing anything.
	if err := s.store.CheckCert(name, pki.Fingerprint(current)); err != nil {
		s.renewRefused(w, name, r.RemoteAddr, err)
		return
	}
	now := s.cfg.Clock.Now()
	certPEM, err := s.ca.RenewCSR([]byte(req.CSR), current, now)
	switch {
	case errors.Is(err, pki.ErrRenewOtherName):
		reply.Error(w, http.StatusForbidden, "agent %s can renew only its own certificate: %v", name, err)
		return
	case err != nil:
		reply.Error(w, http.StatusBadRequest, "bad certificate request: %v", err)
		return
	}
	certs, err := pki.ParseCertsPEM(certPEM)
	if err != nil {
		reply.Error(w, http.StatusInternalServerError, "renewal failed")
		return
	}
	if err := s.store.RenewCert(name, pki.Fingerprint(current), pki.Fingerprint(certs[0]), now, s.renewInterval()); err != nil {
		s.renewRefused(w, name, r.RemoteAddr, err)
		return
	}
	s.plog.For(name).Info("agent certificate renewed", "agent", name, "remote", r.RemoteAddr,
		"old_expires", current.NotAfter.UTC().Format(time.RFC3339), "expires", certs[0].NotAfter.UTC().Format(time.RFC3339))
	reply.JSON(w, http.StatusOK, pki.EnrollResponse{Name: name, Cert: string(certPEM), CA: string(s.ca.CertPEM)})
}

// renewRefused answers a renewal that the store refused.
func (s *API) renewRefused(w http.ResponseWriter, name, remote string, err error) {
	s.plog.For(name).Info("certificate renewal refused", "agent", name, "remote", remote, "err", err)
	switch {
	case errors.Is(err, state.ErrRenewTooSoon):
		w.Header().Set("Retry-After", strconv.Itoa(int(max(s.renewInterval(), time.Second)/time.Second)))
		reply.Error(w, http.StatusTooManyRequests, "agent %s renewed its certificate less than %v ago", name, s.renewInterval())
	case errors.Is(err, state.ErrNotFound):
		reply.Error(w, http.StatusForbidden, "agent %s refused: helen has no record of it", name)
	case errors.Is(err, state.ErrRevoked), errors.Is(err, state.ErrCertReplaced):
		reply.Error(w, http.StatusForbidden, "agent %s refused: %s", name, state.WhyRefused(err))
	default:
		reply.Error(w, http.StatusInternalServerError, "renewal failed")
	}
}
