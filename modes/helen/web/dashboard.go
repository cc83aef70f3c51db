package web

import (
	"cmp"
	"embed"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/equus-monitoring/equus/internal/tty"
	"github.com/equus-monitoring/equus/modes/helen/monitor"
	"github.com/equus-monitoring/equus/modes/helen/peerlog"

	"github.com/equus-monitoring/equus/state"
)

// The dashboard: one page on the operators' port, at /, that shows what
// `helen status`, `helen agents` and `helen events` show, and refreshes
// itself. It is read-only. A browser logs in once with the admin token and
// then carries a session cookie, the id of a session in helen's memory
// (dashsession.go) that ends 12 hours after the login, at logout, or with
// helen.

//go:embed dashboard.html dashboard.css
var dashboardFiles embed.FS

// dashboardTemplate is the page's template, parsed when first asked for
// rather than when the package starts: every command of the executable
// links this package, and only a serving helen renders the page (New asks
// for it, so that a broken template still stops helen at its start).
var dashboardTemplate = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("dashboard.html").Funcs(template.FuncMap{
		"ago":        tty.Ago,
		"oneLine":    tty.OneLine,
		"longOutput": dashboardLong,
		"upper":      strings.ToUpper,
		"clock":      func(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05") },
	}).ParseFS(dashboardFiles, "dashboard.html"))
})

const (
	SessionCookie    = "helen_session"
	maxLoginForm     = 4 << 10 // bytes of a login or logout form
	dashboardEvents  = 25      // the newest events the page shows
	dashboardRows    = 500     // statuses and agents the page shows at most
	dashboardRefresh = 10      // seconds between reloads of the page
	// dashboardLongOutput is the most bytes of a status's long output the
	// page shows, so that 500 statuses make a page of a few MiB at most.
	dashboardLongOutput = 4 << 10
)

// dashboardLong is a long output as the page shows it: its first
// dashboardLongOutput bytes, saying where the rest is.
func dashboardLong(s string) string {
	if len(s) <= dashboardLongOutput {
		return s
	}
	cut := dashboardLongOutput
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "\n… (cut: equus helen history --long and /v1/status show it all)"
}

// dashboardPage is what the template shows.
type dashboardPage struct {
	LoggedIn bool
	Failed   bool   // a login with a wrong token
	CSRF     string // the session's token for its logout form; "" for the bearer token
	Version  string
	Now      time.Time
	Refresh  int

	Agents, Connected int
	Counts            map[string]int       // lines by status, and agent_down: the agents down
	Statuses          []monitor.StatusView // the worst dashboardRows
	MoreStatuses      int                  // how many more there are
	AgentList         []AgentView          // the disconnected first, at most dashboardRows
	MoreAgents        int
	Events            []state.Event // newest first
}

// sessionCookieOf returns the session cookie with value, kept by the
// browser for maxAge seconds (negative: removed).
func sessionCookieOf(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: SessionCookie, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode,
	}
}

// sessionID is the id r's session cookie carries, "" for none.
func sessionID(r *http.Request) string {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return ""
	}
	return c.Value
}

func (s *Web) dashboardRoutes(mux *http.ServeMux) {
	token := s.cfg.Token
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		var csrf string
		switch sess, ok := s.dash.use(sessionID(r)); {
		case token != "" && authorized(r, token):
		case token != "" && ok:
			csrf = sess.csrf
		default:
			if sessionID(r) != "" {
				// Expired, ended, or never one: the browser forgets it.
				http.SetCookie(w, sessionCookieOf("", -1))
			}
			s.renderDashboard(w, http.StatusOK, dashboardPage{})
			return
		}
		page, err := s.dashboardPage()
		if err != nil {
			s.cfg.Log.Error("dashboard", "err", err)
			http.Error(w, "dashboard: "+err.Error(), http.StatusInternalServerError)
			return
		}
		page.CSRF = csrf
		s.renderDashboard(w, http.StatusOK, page)
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxLoginForm)
		if !isToken(r.PostFormValue("token"), token) {
			s.cfg.Peers.For(peerlog.Addr(r.RemoteAddr)).Info("dashboard: login with a wrong token", "remote", r.RemoteAddr)
			s.renderDashboard(w, http.StatusUnauthorized, dashboardPage{Failed: true})
			return
		}
		id, _ := s.dash.create()
		http.SetCookie(w, sessionCookieOf(id, int(SessionLifetime/time.Second)))
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxLoginForm)
		id := sessionID(r)
		if !s.dash.end(id, r.PostFormValue("csrf")) {
			if _, live := s.dash.use(id); live {
				// The session's own page sends its token: this request
				// came from somewhere else.
				http.Error(w, "logout: the form is not this session's; log out from the dashboard's own page", http.StatusForbidden)
				return
			}
		}
		http.SetCookie(w, sessionCookieOf("", -1))
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /dashboard.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		http.ServeFileFS(w, r, dashboardFiles, "dashboard.css")
	})
}

// dashboardPage gathers what the page shows.
func (s *Web) dashboardPage() (dashboardPage, error) {
	agents, err := AgentViews(s.store)
	if err != nil {
		return dashboardPage{}, err
	}
	evs, err := s.store.Events(time.Time{}, time.Time{}, dashboardEvents)
	if err != nil {
		return dashboardPage{}, err
	}
	slices.Reverse(evs)
	page := dashboardPage{
		LoggedIn:  true,
		Version:   s.cfg.Version,
		Now:       time.Now(),
		Refresh:   dashboardRefresh,
		Agents:    len(agents),
		Counts:    map[string]int{},
		Statuses:  s.backend.Statuses(false),
		AgentList: agents,
		Events:    evs,
	}
	for _, a := range agents {
		if a.Connected {
			page.Connected++
		}
	}
	for _, st := range page.Statuses {
		page.Counts[st.Status.Status]++
		if st.Kind == monitor.KindAgentDown {
			page.Counts[monitor.KindAgentDown]++
		}
	}
	// What needs a look comes first: statuses are worst first, and agents
	// not connected go before those that are.
	slices.SortStableFunc(page.AgentList, func(a, b AgentView) int {
		return cmp.Compare(b2i(a.Connected), b2i(b.Connected))
	})
	if n := len(page.Statuses); n > dashboardRows {
		page.Statuses, page.MoreStatuses = page.Statuses[:dashboardRows], n-dashboardRows
	}
	if n := len(page.AgentList); n > dashboardRows {
		page.AgentList, page.MoreAgents = page.AgentList[:dashboardRows], n-dashboardRows
	}
	return page, nil
}

func (s *Web) renderDashboard(w http.ResponseWriter, code int, page dashboardPage) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// No script at all, styles from this server only, and no framing.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(code)
	if err := dashboardTemplate().Execute(w, page); err != nil {
		s.cfg.Log.Debug("dashboard: render", "err", err)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
