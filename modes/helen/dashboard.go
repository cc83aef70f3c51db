package helen

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/equus-monitoring/equus/state"
)

// The dashboard: one page on the operators' port, at /, that shows what
// `helen status`, `helen agents` and `helen events` show, and refreshes
// itself. It is read-only. A browser logs in once with the admin token and
// then carries a session cookie derived from it, so that a new token
// (DATA/admin-token removed, helen restarted) logs every browser out.

//go:embed dashboard.html dashboard.css
var dashboardFiles embed.FS

var dashboardTemplate = template.Must(template.New("dashboard.html").Funcs(template.FuncMap{
	"ago":        since,
	"oneLine":    oneLine,
	"longOutput": dashboardLong,
	"upper":      strings.ToUpper,
	"clock":      func(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05") },
}).ParseFS(dashboardFiles, "dashboard.html"))

const (
	sessionCookie    = "helen_session"
	sessionLifetime  = 12 * time.Hour
	dashboardEvents  = 25  // the newest events the page shows
	dashboardRows    = 500 // statuses and agents the page shows at most
	dashboardRefresh = 10  // seconds between reloads of the page
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
	Failed   bool // a login with a wrong token
	Version  string
	Now      time.Time
	Refresh  int

	Agents, Connected int
	Counts            map[string]int // lines by status, and agent_down: the agents down
	Statuses          []StatusView   // the worst dashboardRows
	MoreStatuses      int            // how many more there are
	AgentList         []AgentView    // the disconnected first, at most dashboardRows
	MoreAgents        int
	Events            []state.Event // newest first
}

// sessionValue is the cookie's value for the admin token: a MAC of it, so
// that the cookie is not the token itself.
func sessionValue(token string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("helen dashboard session v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// loggedIn reports whether r carries a valid session cookie or the admin
// token as a bearer token.
func loggedIn(r *http.Request, token string) bool {
	if token == "" {
		return false
	}
	if authorized(r, token) {
		return true
	}
	c, err := r.Cookie(sessionCookie)
	return err == nil && hmac.Equal([]byte(c.Value), []byte(sessionValue(token)))
}

func (s *Server) dashboardRoutes(mux *http.ServeMux) {
	token := s.monitor.token
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		if !loggedIn(r, token) {
			s.renderDashboard(w, http.StatusOK, dashboardPage{})
			return
		}
		page, err := s.dashboardPage()
		if err != nil {
			s.log.Error("dashboard", "err", err)
			http.Error(w, "dashboard: "+err.Error(), http.StatusInternalServerError)
			return
		}
		s.renderDashboard(w, http.StatusOK, page)
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
		if !isToken(r.PostFormValue("token"), token) {
			s.peerLog(addrPeer(r.RemoteAddr)).Info("dashboard: login with a wrong token", "remote", r.RemoteAddr)
			s.renderDashboard(w, http.StatusUnauthorized, dashboardPage{Failed: true})
			return
		}
		http.SetCookie(w, &http.Cookie{
			Name: sessionCookie, Value: sessionValue(token), Path: "/",
			MaxAge: int(sessionLifetime / time.Second), HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode,
		})
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: sessionCookie, Path: "/", MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /dashboard.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		http.ServeFileFS(w, r, dashboardFiles, "dashboard.css")
	})
}

// dashboardPage gathers what the page shows.
func (s *Server) dashboardPage() (dashboardPage, error) {
	agents, err := agentViews(s.db)
	if err != nil {
		return dashboardPage{}, err
	}
	evs, err := s.db.Events(time.Time{}, time.Time{}, dashboardEvents)
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
		Statuses:  s.Statuses(false),
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
		if st.Kind == KindAgentDown {
			page.Counts[KindAgentDown]++
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

func (s *Server) renderDashboard(w http.ResponseWriter, code int, page dashboardPage) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// No script at all, styles from this server only, and no framing.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(code)
	if err := dashboardTemplate.Execute(w, page); err != nil {
		s.log.Debug("dashboard: render", "err", err)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
