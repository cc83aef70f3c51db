package web

import (
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/peerlog"
	"github.com/equus-monitoring/equus/state"
)

// Package web is the operators' port: the /v1/ API (api.go), the
// dashboard (dashboard.go) and /metrics. It sees helen only through the
// store and the Backend it declares.

// Config is the operators' port's configuration.
type Config struct {
	Log   *slog.Logger
	Peers *peerlog.Limiter // the log of what clients can make helen write
	// Token is the admin token that the API, the dashboard's login and,
	// with MetricsAuth, /metrics ask for.
	Token       string
	MetricsAuth bool
	// Metrics are what /metrics serves.
	Metrics Metrics
	// Version is helen's, which the dashboard shows.
	Version string
	// Now is the clock of the dashboard's sessions (nil: time.Now).
	Now func() time.Time
}

// WriteTimeout bounds a response of the operators' port, which may be a
// long history.
const WriteTimeout = 60 * time.Second

// Web serves the operators' port.
type Web struct {
	cfg     Config
	store   state.Store
	backend Backend
	dash    *dashSessions // the dashboard's login sessions
}

// New returns the operators' port of store and backend.
func New(cfg Config, store state.Store, backend Backend) *Web {
	dashboardTemplate()
	return &Web{cfg: cfg, store: store, backend: backend, dash: newDashSessions(cfg.Now)}
}

// Handler serves the operators' port: /healthz, /metrics, the API behind
// the token, and the dashboard.
func (s *Web) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	var metrics http.Handler = metricsHandler(s.cfg.Metrics)
	if s.cfg.MetricsAuth {
		metrics = RequireToken(s.cfg.Token, metrics)
	}
	mux.Handle("GET /metrics", metrics)
	mux.Handle("/v1/", RequireToken(s.cfg.Token, NewAPI(s.store, s.backend, s.cfg.Log, opsRunTimeoutMax)))
	s.dashboardRoutes(mux)
	return mux
}

// Sessions returns how many dashboard sessions are open.
func (s *Web) Sessions() int { return s.dash.len() }
