package agentapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"aead.dev/minisign"
	"github.com/equus-monitoring/equus/modes/helen/offers"
	"github.com/equus-monitoring/equus/modes/helen/peerlog"
	"github.com/equus-monitoring/equus/modes/helen/reply"
	"k8s.io/utils/clock"

	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/update"
)

// Config is what the agents' endpoints serve.
type Config struct {
	// ChecksDir is the check directory served as the bundle ("": none).
	ChecksDir string
	// UpdateKey, when not nil, is the key releases and bundles are signed
	// with, given to agents in the bootstrap script.
	UpdateKey *minisign.PublicKey
	// CertLifetime is how long the agent certificates helen issues are
	// valid: agents renew at two thirds of it.
	CertLifetime time.Duration
	// Clock tells the time of certificates.
	Clock clock.PassiveClock
	// DownloadTimeout bounds a download's whole response (0:
	// MaxDownloadTime).
	DownloadTimeout time.Duration
}

// Certs is told of the certificates the endpoints issue, so that a
// session with an older one ends.
type Certs interface {
	CertReplaced(name, fingerprint string)
}

// API serves the agents' HTTPS endpoints: enrollment and renewal, the
// release binaries and the check bundle, and the bootstrap script.
type API struct {
	cfg    Config
	store  state.Store
	ca     *pki.CA
	offers *offers.Catalog
	bundle offers.Bundle
	certs  Certs
	plog   *peerlog.Limiter
	// downloads holds a place for each release binary being served.
	downloads chan struct{}
}

// New returns the agents' endpoints of store and ca, serving cat's
// release.
func New(cfg Config, store state.Store, ca *pki.CA, cat *offers.Catalog, certs Certs, plog *peerlog.Limiter) *API {
	if cfg.DownloadTimeout <= 0 {
		cfg.DownloadTimeout = MaxDownloadTime
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	return &API{cfg: cfg, store: store, ca: ca, offers: cat, certs: certs, plog: plog,
		downloads: make(chan struct{}, MaxDownloads)}
}

// Timeouts of the agents' endpoints.
const (
	// WriteTimeout bounds a response, and each 32 KiB of a download (a
	// release binary, the check bundle), so that a slow link gets the file
	// and a stalled one is cut.
	WriteTimeout = 30 * time.Second
	// MaxDownloadTime bounds a download's whole response however it goes
	// on: a 30 MB binary in it needs some 35 KB/s, and a reader slower
	// than that holds a download slot no longer.
	MaxDownloadTime = 15 * time.Minute
)

// MaxDownloads bounds the downloads of a release binary served at once,
// with or without an agent certificate (the bootstrap script has none):
// each hashes the whole binary again, so that what helen serves is what it
// verified, and holds it in memory when it comes out of an archive (at most
// update.MaxBinary). A download past it is answered 503 with Retry-After
// downloadRetryAfter.
const (
	MaxDownloads       = 8
	downloadRetryAfter = 10 * time.Second
)

// maxEnrollBody bounds an enrollment request.
const maxEnrollBody = 64 << 10

// Handler serves the agents' HTTPS endpoints on the agents' port.
func (s *API) Handler() http.Handler {
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
func (s *API) handleEnroll(w http.ResponseWriter, r *http.Request) {
	var req pki.EnrollRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxEnrollBody)).Decode(&req); err != nil {
		reply.Error(w, http.StatusBadRequest, "bad enrollment request: %v", err)
		return
	}
	if req.Token == "" || req.CSR == "" {
		reply.Error(w, http.StatusBadRequest, "enrollment needs a token and a csr")
		return
	}
	// Sign before spending a use of the token, so that a bad request
	// costs none; a certificate not handed out is harmless.
	now := s.cfg.Clock.Now()
	certPEM, name, err := s.ca.SignCSR([]byte(req.CSR), now)
	if err != nil {
		reply.Error(w, http.StatusBadRequest, "bad certificate request: %v", err)
		return
	}
	certs, err := pki.ParseCertsPEM(certPEM)
	if err != nil || len(certs) == 0 {
		reply.Error(w, http.StatusInternalServerError, "enrollment failed")
		return
	}
	// The token is spent and the agent recorded in one transaction.
	fp := pki.Fingerprint(certs[0])
	err = s.store.Enroll(req.Token, state.Agent{Name: name, Fingerprint: fp, Addr: r.RemoteAddr}, now)
	if err != nil {
		s.plog.For(peerlog.Addr(r.RemoteAddr)).Info("enrollment refused", "agent", name, "remote", r.RemoteAddr, "err", err)
		switch {
		case errors.Is(err, state.ErrTokenUnknown), errors.Is(err, state.ErrTokenExpired), errors.Is(err, state.ErrTokenUsedUp):
			reply.Error(w, http.StatusUnauthorized, "token refused: %v", err)
		case errors.Is(err, state.ErrTokenOtherAgent):
			reply.Error(w, http.StatusForbidden, "token refused: it enrolls another agent, not %s", name)
		case errors.Is(err, state.ErrRevoked):
			reply.Error(w, http.StatusForbidden, "agent %s is revoked", name)
		case errors.Is(err, state.ErrEnrolled):
			reply.Error(w, http.StatusConflict, "agent %s is enrolled already; to enroll it again (a machine set up anew), use a token made for it: equus helen token --agent %s", name, name)
		default:
			reply.Error(w, http.StatusInternalServerError, "enrollment failed")
		}
		return
	}
	s.certs.CertReplaced(name, fp)
	s.plog.For(peerlog.Addr(r.RemoteAddr)).Info("agent enrolled", "agent", name, "remote", r.RemoteAddr)
	reply.JSON(w, http.StatusOK, pki.EnrollResponse{Name: name, Cert: string(certPEM), CA: string(s.ca.CertPEM)})
}

// agentOnly lets through requests with a verified, unrevoked agent
// certificate.
func (s *API) agentOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			reply.Error(w, http.StatusUnauthorized, "agent certificate required")
			return
		}
		name, err := pki.AgentName(*r.TLS)
		if err != nil {
			reply.Error(w, http.StatusUnauthorized, "agent certificate required")
			return
		}
		if err := s.store.CheckCert(name, pki.Fingerprint(r.TLS.VerifiedChains[0][0])); err != nil {
			reply.Error(w, http.StatusForbidden, "agent %s refused: %s", name, state.WhyRefused(err))
			return
		}
		h(w, r)
	}
}

// platformAsset returns the offered asset for the platform a request asks.
func (s *API) platformAsset(w http.ResponseWriter, r *http.Request) (update.Release, update.Asset, bool) {
	goos, goarch := r.URL.Query().Get("os"), r.URL.Query().Get("arch")
	if goos == "" || goarch == "" {
		reply.Error(w, http.StatusBadRequest, "os and arch are required")
		return update.Release{}, update.Asset{}, false
	}
	rel, err := s.offers.Current()
	if err != nil {
		if errors.Is(err, offers.ErrDisabled) {
			reply.Error(w, http.StatusNotFound, "%v", err)
		} else {
			reply.Error(w, http.StatusServiceUnavailable, "no release on offer")
		}
		return rel, update.Asset{}, false
	}
	a, ok := rel.Find(goos, goarch)
	if !ok {
		reply.Error(w, http.StatusNotFound, "no %s/%s binary in release %s", goos, goarch, rel.Version)
		return rel, a, false
	}
	return rel, a, true
}

// handleUpdate describes the offered release for the agent's platform.
func (s *API) handleUpdate(w http.ResponseWriter, r *http.Request) {
	rel, a, ok := s.platformAsset(w, r)
	if !ok {
		return
	}
	size, sum, err := s.offers.Binary(a)
	if err != nil {
		s.plog.For(peerlog.Addr(r.RemoteAddr)).Error("open release binary", "asset", a.Name, "err", err)
		reply.Error(w, http.StatusInternalServerError, "release binary unavailable")
		return
	}
	q := "os=" + a.OS + "&arch=" + a.Arch
	reply.JSON(w, http.StatusOK, update.Offer{
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
// MaxDownloads are served at once, each within Config.downloadTimeout.
func (s *API) handleDownload(w http.ResponseWriter, r *http.Request) {
	select {
	case s.downloads <- struct{}{}:
		defer func() { <-s.downloads }()
	default:
		s.plog.For(peerlog.Addr(r.RemoteAddr)).Warn("download refused: too many downloads at once", "remote", r.RemoteAddr, "bound", MaxDownloads)
		w.Header().Set("Retry-After", strconv.Itoa(int(downloadRetryAfter/time.Second)))
		reply.Error(w, http.StatusServiceUnavailable, "helen is serving %d downloads already: try again later", MaxDownloads)
		return
	}
	rel, a, ok := s.platformAsset(w, r)
	if !ok {
		return
	}
	rc, size, sum, err := s.offers.Open(a)
	if err != nil {
		s.plog.For(peerlog.Addr(r.RemoteAddr)).Error("open release binary", "asset", a.Name, "err", err)
		reply.Error(w, http.StatusInternalServerError, "release binary unavailable")
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

func (s *API) progressWriter(w http.ResponseWriter) progressWriter {
	return progressWriter{w, http.NewResponseController(w), time.Now().Add(s.cfg.DownloadTimeout)}
}

// progressChunk is the piece of a download each deadline covers.
const progressChunk = 32 << 10

func (p progressWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		k := min(len(b), progressChunk)
		deadline := time.Now().Add(WriteTimeout)
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
func (s *API) handleBundle(w http.ResponseWriter, r *http.Request) {
	if s.cfg.ChecksDir == "" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	data, sum, err := s.bundle.Get(s.cfg.ChecksDir, s.cfg.UpdateKey)
	if err != nil {
		s.plog.For(peerlog.Addr(r.RemoteAddr)).Error("pack check bundle", "dir", s.cfg.ChecksDir, "err", err)
		reply.Error(w, http.StatusInternalServerError, "check bundle unavailable")
		return
	}
	w.Header().Set("Content-Type", "application/gzip")
	w.Header().Set("X-Equus-Sha256", sum)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	s.progressWriter(w).Write(data)
}

// Downloads returns how many release binaries are being served now.
func (s *API) Downloads() int { return len(s.downloads) }
