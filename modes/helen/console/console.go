package console

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/peerlog"
	"github.com/equus-monitoring/equus/modes/helen/web"
	"github.com/equus-monitoring/equus/state"
)

// Config is the console's configuration.
type Config struct {
	Log   *slog.Logger
	Peers *peerlog.Limiter // the log of what clients can make helen write
	// Token is the admin token, the way in that needs no account.
	Token string
	// Version is helen's, which the pages show.
	Version string
	// Now is the clock of the sessions (nil: time.Now).
	Now func() time.Time
}

// Console serves the operators' pages.
type Console struct {
	cfg     Config
	store   state.Store
	backend web.Backend
	dash    *dashSessions // the login sessions
}

// New returns the console over store and backend (the API's: what the
// pages do goes through the same calls). It parses its templates, so that
// a broken one stops helen at its start.
func New(cfg Config, store state.Store, backend web.Backend) *Console {
	dashboardTemplate()
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Console{cfg: cfg, store: store, backend: backend, dash: newDashSessions(cfg.Now)}
}

// Handler serves the pages.
func (s *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	s.dashboardRoutes(mux)
	return mux
}

// Sessions returns how many login sessions are open.
func (s *Console) Sessions() int { return s.dash.len() }
