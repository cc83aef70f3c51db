package helen

import (
	"io"
	"log"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// opsHandler serves the operators' port.
func (s *Server) opsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	var metrics http.Handler = promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{})
	if s.cfg.MetricsAuth {
		metrics = requireToken(s.adminToken, metrics)
	}
	mux.Handle("GET /metrics", metrics)
	mux.Handle("/v1/", requireToken(s.adminToken, s.apiHandler()))
	s.dashboardRoutes(mux)
	return mux
}

// slogErrorLog routes net/http's own error log to l at debug level: it
// reports what clients did wrong (bad handshakes, resets), not helen.
func slogErrorLog(l *slog.Logger) *log.Logger {
	return slog.NewLogLogger(l.Handler(), slog.LevelDebug)
}
