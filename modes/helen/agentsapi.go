package helen

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/hub"
	"github.com/equus-monitoring/equus/modes/helen/offers"
	"github.com/equus-monitoring/equus/modes/helen/peerlog"

	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/update"
)

// maxEnrollBody bounds an enrollment request.
const maxEnrollBody = 64 << 10

// agentsHandler serves the agents' HTTPS endpoints on the agents' port.
func (s *Server) agentsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("POST /v1/enroll", s.handleEnroll)
	mux.HandleFunc("POST /v1/renew", s.handleRenew)
	mux.HandleFunc("GET /bootstrap.sh", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/x-shellscript")
		w.Write(s.bootstrapScript())
	})
	mux.HandleFunc("GET /v1/download", s.handleDownload)
	mux.HandleFunc("GET /v1/download/signature", s.handleDownloadSignature)
	mux.HandleFunc("GET /v1/update", s.agentOnly(s.handleUpdate))
	mux.HandleFunc("GET /v1/update/binary", s.agentOnly(s.handleDownload))
	mux.HandleFunc("GET /v1/bundle", s.agentOnly(s.handleBundle))
	return mux
}

// handleEnroll signs an agent's certificate request for a valid token.
func (s *Server) handleEnroll(w http.ResponseWriter, r *http.Request) {
	var req pki.EnrollRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxEnrollBody)).Decode(&req); err != nil {
		httpError(w, http.StatusBadRequest, "bad enrollment request: %v", err)
		return
	}
	if req.Token == "" || req.CSR == "" {
		httpError(w, http.StatusBadRequest, "enrollment needs a token and a csr")
		return
	}
	// Sign before spending a use of the token, so that a bad request
	// costs none; a certificate not handed out is harmless.
	now := s.cfg.Clock.Now()
	certPEM, name, err := s.ca.SignCSR([]byte(req.CSR), now)
	if err != nil {
		httpError(w, http.StatusBadRequest, "bad certificate request: %v", err)
		return
	}
	certs, err := pki.ParseCertsPEM(certPEM)
	if err != nil || len(certs) == 0 {
		httpError(w, http.StatusInternalServerError, "enrollment failed")
		return
	}
	// The token is spent and the agent recorded in one transaction.
	fp := pki.Fingerprint(certs[0])
	err = s.db.Enroll(req.Token, state.Agent{Name: name, Fingerprint: fp, Addr: r.RemoteAddr}, now)
	if err != nil {
		s.plog.For(peerlog.Addr(r.RemoteAddr)).Info("enrollment refused", "agent", name, "remote", r.RemoteAddr, "err", err)
		switch {
		case errors.Is(err, state.ErrTokenUnknown), errors.Is(err, state.ErrTokenExpired), errors.Is(err, state.ErrTokenUsedUp):
			httpError(w, http.StatusUnauthorized, "token refused: %v", err)
		case errors.Is(err, state.ErrTokenOtherAgent):
			httpError(w, http.StatusForbidden, "token refused: it enrolls another agent, not %s", name)
		case errors.Is(err, state.ErrRevoked):
			httpError(w, http.StatusForbidden, "agent %s is revoked", name)
		case errors.Is(err, state.ErrEnrolled):
			httpError(w, http.StatusConflict, "agent %s is enrolled already; to enroll it again (a machine set up anew), use a token made for it: equus helen token --agent %s", name, name)
		default:
			httpError(w, http.StatusInternalServerError, "enrollment failed")
		}
		return
	}
	s.hub.CertReplaced(name, fp)
	s.plog.For(peerlog.Addr(r.RemoteAddr)).Info("agent enrolled", "agent", name, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, pki.EnrollResponse{Name: name, Cert: string(certPEM), CA: string(s.ca.CertPEM)})
}

// agentOnly lets through requests with a verified, unrevoked agent
// certificate.
func (s *Server) agentOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			httpError(w, http.StatusUnauthorized, "agent certificate required")
			return
		}
		name, err := pki.AgentName(*r.TLS)
		if err != nil {
			httpError(w, http.StatusUnauthorized, "agent certificate required")
			return
		}
		if err := s.db.CheckCert(name, pki.Fingerprint(r.TLS.VerifiedChains[0][0])); err != nil {
			httpError(w, http.StatusForbidden, "agent %s refused: %s", name, hub.CertRefusal(err))
			return
		}
		h(w, r)
	}
}

// platformAsset returns the offered asset for the platform a request asks.
func (s *Server) platformAsset(w http.ResponseWriter, r *http.Request) (update.Release, update.Asset, bool) {
	goos, goarch := r.URL.Query().Get("os"), r.URL.Query().Get("arch")
	if goos == "" || goarch == "" {
		httpError(w, http.StatusBadRequest, "os and arch are required")
		return update.Release{}, update.Asset{}, false
	}
	rel, err := s.offers.Current()
	if err != nil {
		if errors.Is(err, offers.ErrDisabled) {
			httpError(w, http.StatusNotFound, "%v", err)
		} else {
			httpError(w, http.StatusServiceUnavailable, "no release on offer")
		}
		return rel, update.Asset{}, false
	}
	a, ok := rel.Find(goos, goarch)
	if !ok {
		httpError(w, http.StatusNotFound, "no %s/%s binary in release %s", goos, goarch, rel.Version)
		return rel, a, false
	}
	return rel, a, true
}

// handleUpdate describes the offered release for the agent's platform.
func (s *Server) handleUpdate(w http.ResponseWriter, r *http.Request) {
	rel, a, ok := s.platformAsset(w, r)
	if !ok {
		return
	}
	size, sum, err := s.offers.Binary(a)
	if err != nil {
		s.plog.For(peerlog.Addr(r.RemoteAddr)).Error("open release binary", "asset", a.Name, "err", err)
		httpError(w, http.StatusInternalServerError, "release binary unavailable")
		return
	}
	q := "os=" + a.OS + "&arch=" + a.Arch
	writeJSON(w, http.StatusOK, update.Offer{
		Version:   rel.Version,
		OS:        a.OS,
		Arch:      a.Arch,
		SHA256:    sum,
		Size:      size,
		URL:       "/v1/update/binary?" + q,
		Signature: a.BinarySignature(),
	})
}

// handleDownload serves the offered binary for a platform. Its SHA-256 is
// in the X-Equus-Sha256 header; the bootstrap script checks it. At most
// maxDownloads are served at once, each within Config.downloadTimeout.
func (s *Server) handleDownload(w http.ResponseWriter, r *http.Request) {
	select {
	case s.downloads <- struct{}{}:
		defer func() { <-s.downloads }()
	default:
		s.plog.For(peerlog.Addr(r.RemoteAddr)).Warn("download refused: too many downloads at once", "remote", r.RemoteAddr, "bound", maxDownloads)
		w.Header().Set("Retry-After", strconv.Itoa(int(downloadRetryAfter/time.Second)))
		httpError(w, http.StatusServiceUnavailable, "helen is serving %d downloads already: try again later", maxDownloads)
		return
	}
	rel, a, ok := s.platformAsset(w, r)
	if !ok {
		return
	}
	rc, size, sum, err := s.offers.Open(a)
	if err != nil {
		s.plog.For(peerlog.Addr(r.RemoteAddr)).Error("open release binary", "asset", a.Name, "err", err)
		httpError(w, http.StatusInternalServerError, "release binary unavailable")
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	w.Header().Set("X-Equus-Version", rel.Version)
	w.Header().Set("X-Equus-Sha256", sum)
	io.Copy(s.progressWriter(w), rc)
}

// progressWriter writes a response in pieces, each under its own write
// deadline, all before an end: a download may take longer than
// writeTimeout in all, as long as it goes on, but no longer than
// Config.downloadTimeout.
type progressWriter struct {
	w   io.Writer
	rc  *http.ResponseController
	end time.Time
}

func (s *Server) progressWriter(w http.ResponseWriter) progressWriter {
	return progressWriter{w, http.NewResponseController(w), time.Now().Add(s.cfg.downloadTimeout)}
}

// progressChunk is the piece of a download each deadline covers.
const progressChunk = 32 << 10

func (p progressWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		k := min(len(b), progressChunk)
		deadline := time.Now().Add(writeTimeout)
		if deadline.After(p.end) {
			deadline = p.end
		}
		p.rc.SetWriteDeadline(deadline)
		m, err := p.w.Write(b[:k])
		n += m
		if err != nil {
			return n, err
		}
		b = b[k:]
	}
	return n, nil
}

// handleBundle serves the check bundle: helen's check directory as a
// tar.gz, with its SHA-256 in X-Equus-Sha256.
func (s *Server) handleBundle(w http.ResponseWriter, r *http.Request) {
	if s.cfg.ChecksDir == "" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	data, sum, err := s.bundle.Get(s.cfg.ChecksDir, s.cfg.UpdateKey)
	if err != nil {
		s.plog.For(peerlog.Addr(r.RemoteAddr)).Error("pack check bundle", "dir", s.cfg.ChecksDir, "err", err)
		httpError(w, http.StatusInternalServerError, "check bundle unavailable")
		return
	}
	w.Header().Set("Content-Type", "application/gzip")
	w.Header().Set("X-Equus-Sha256", sum)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	s.progressWriter(w).Write(data)
}

// httpError writes a JSON error.
func httpError(w http.ResponseWriter, code int, format string, a ...any) {
	writeJSON(w, code, map[string]string{"error": fmt.Sprintf(format, a...)})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
