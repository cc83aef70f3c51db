package console

import (
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/equus-monitoring/equus/internal/tty"
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
	// Now is the clock of the sessions, the pages and the actions (nil:
	// time.Now).
	Now func() time.Time
	// Graphs draws the graphs and sparklines; nil: the pages have none.
	Graphs Grapher
}

// Console serves the operators' pages.
type Console struct {
	cfg     Config
	store   state.Store
	backend web.Backend
	dash    *dashSessions // the login sessions
	logins  *loginLimit
	hashing chan struct{} // one token a password check running (maxHashing)
}

// New returns the console over store and backend (the API's: what the
// pages do goes through the same calls). It parses its templates, so that
// a broken one stops helen at its start.
func New(cfg Config, store state.Store, backend web.Backend) *Console {
	templates()
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Console{cfg: cfg, store: store, backend: backend, dash: newDashSessions(cfg.Now),
		logins: newLoginLimit(cfg.Now), hashing: make(chan struct{}, maxHashing)}
}

// Handler serves the pages.
func (s *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.page(s.overview))
	mux.HandleFunc("GET /agents/{name}", s.page(s.agentPage))
	mux.HandleFunc("GET /agents/{name}/schedules/{schedule}", s.page(s.schedulePage))
	mux.HandleFunc("GET /events", s.page(s.eventsPage))
	mux.HandleFunc("GET /notifications", s.page(s.notificationsPage))
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.logout)
	mux.HandleFunc("POST /agents/{name}/schedules/{schedule}/run", s.action(s.runNow))
	mux.HandleFunc("POST /silences", s.action(s.addSilence))
	mux.HandleFunc("POST /silences/{id}/delete", s.action(s.deleteSilence))
	mux.HandleFunc("POST /acks", s.action(s.ack))
	mux.HandleFunc("POST /agents/{name}/token", s.action(s.enrollToken))
	mux.HandleFunc("POST /agents/{name}/forget", s.action(s.forget))
	mux.HandleFunc("GET /console.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		http.ServeFileFS(w, r, files, "console.css")
	})
	return mux
}

// Sessions returns how many login sessions are open.
func (s *Console) Sessions() int { return s.dash.len() }

//go:embed console.css pages/*.html
var files embed.FS

// The pages, each the layout with its own "content", parsed when first
// asked for (New asks) rather than when the package starts: every command
// of the executable links this package, and only a serving helen renders.
var templates = sync.OnceValue(func() map[string]*template.Template {
	base := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(files, "pages/layout.html"))
	out := map[string]*template.Template{}
	names, _ := fs.Glob(files, "pages/*.html")
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "pages/"), ".html")
		if name == "layout" {
			continue
		}
		out[name] = template.Must(template.Must(base.Clone()).ParseFS(files, n))
	}
	return out
})

var funcs = template.FuncMap{
	"ago":            tty.Ago,
	"oneLine":        tty.OneLine,
	"longOutput":     longOutput,
	"upper":          func(s any) string { return strings.ToUpper(fmt.Sprint(s)) },
	"clock":          func(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05") },
	"refreshSeconds": func() int { return overviewRefresh },
	"percent":        func(f float64) string { return strconv.FormatFloat(f, 'f', 0, 64) + "%" },
	"icon":           statusIcon,
	"num":            func(f float64) string { return strconv.FormatFloat(f, 'g', 6, 64) },
	"pathEscape":     pathEscape,
}

// statusIcon is a sign of a status beside its word, so that the page
// reads without its colours.
func statusIcon(status any) string {
	switch fmt.Sprint(status) {
	case "ok":
		return "✓"
	case "warning":
		return "▲"
	case "critical":
		return "✕"
	case "unknown":
		return "?"
	}
	return "•"
}

// csp allows no script, styles from helen, SVG inline and images of
// data: URLs only, and no framing.
// overviewRefresh is how often, in seconds, a browser reloads the
// overview (its URL, filter and page with it); the other pages stay as
// they are, so that a form being filled in is never lost.
const overviewRefresh = 30

const csp = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// frame is what the layout shows around every page.
type frame struct {
	Title   string
	Version string
	Now     time.Time
	Viewer  viewer
	Nav     string // the page's place in the menu
	Flash   string // what the last action did, said once
	Error   string // what was wrong with what was asked
}

// render writes the page name with data (which embeds a frame).
func (s *Console) render(w http.ResponseWriter, code int, name string, data any) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(code)
	if err := templates()[name].ExecuteTemplate(w, "layout.html", data); err != nil {
		s.cfg.Log.Debug("console: render", "page", name, "err", err)
	}
}

// fail answers an error of the store or the backend on a page.
func (s *Console) fail(w http.ResponseWriter, v viewer, code int, what string, err error) {
	if code >= 500 {
		s.cfg.Log.Error("console: "+what, "err", err)
	}
	s.render(w, code, "error", struct{ frame }{s.frame(v, "Error", "", what+": "+err.Error())})
}

func (s *Console) frame(v viewer, title, nav, errText string) frame {
	return frame{Title: title, Version: s.cfg.Version, Now: s.cfg.Now(), Viewer: v, Nav: nav, Error: errText}
}
