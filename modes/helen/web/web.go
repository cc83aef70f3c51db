package web

import (
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/peerlog"
	"github.com/equus-monitoring/equus/state"
)

// Package web is the operators' port: the /v1/ API (api.go), /healthz
// and /metrics, and beside them the console (modes/helen/console), whose
// handler it is given. It sees helen only through the store and the
// Backend it declares.

// Config is the operators' port's configuration.
type Config struct {
	Log   *slog.Logger
	Peers *peerlog.Limiter // the log of what clients can make helen write
	// Token is the admin token that the API and, with MetricsAuth,
	// /metrics ask for.
	Token       string
	MetricsAuth bool
	// Metrics are what /metrics serves.
	Metrics Metrics
	// Console serves every path the port serves nothing else at (the
	// operators' console); nil: none, a 404.
	Console http.Handler
}

// WriteTimeout bounds a response of the operators' port, which may be a
// long history.
const WriteTimeout = 60 * time.Second

// Web serves the operators' port.
type Web struct {
	cfg     Config
	store   state.Store
	backend Backend
}

// New returns the operators' port of store and backend.
func New(cfg Config, store state.Store, backend Backend) *Web {
	return &Web{cfg: cfg, store: store, backend: backend}
}

// Handler serves the operators' port: /healthz, /metrics, the API behind
// the token, and the console.
func (s *Web) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	var metrics http.Handler = metricsHandler(s.cfg.Metrics)
	if s.cfg.MetricsAuth {
		metrics = RequireToken(s.cfg.Token, metrics)
	}
	mux.Handle("GET /metrics", metrics)
	mux.Handle("/v1/", RequireToken(s.cfg.Token, NewAPI(s.store, s.backend, s.cfg.Log, opsRunTimeoutMax)))
	if s.cfg.Console != nil {
		mux.Handle("/", s.cfg.Console)
	}
	return mux
}
