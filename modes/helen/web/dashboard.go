package web

import (
	"cmp"
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
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
// helen. Beside the statuses it shows what alerting makes of them: each
// problem soft or hard, flapping, silenced or acknowledged; the
// silences in force and the acknowledgements; and the deliveries of the
// outbox, a page of them at /notifications.

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
		"in":         func(t time.Time) string { return "in " + time.Until(t).Round(time.Second).String() },
		"percent":    func(f float64) string { return strconv.FormatFloat(f, 'f', 0, 64) + "%" },
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
	// dashboardSilences and dashboardAcks are the most silences in force
	// and acknowledgements the page lists (the status list marks every
	// line they cover whatever their number).
	dashboardSilences = 100
	dashboardAcks     = 100
	// dashboardDeliveries is how many of the newest deliveries the page
	// shows; notificationsPage how many a page of /notifications shows.
	dashboardDeliveries = 10
	notificationsPage   = 50
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
	Counts            map[string]int // lines by status, and agent_down: the agents down
	Statuses          []statusLine   // the worst dashboardRows
	MoreStatuses      int            // how many more there are
	AgentList         []AgentView    // the disconnected first, at most dashboardRows
	MoreAgents        int
	Events            []state.Event // newest first

	Silences     []state.Silence // in force, ending first, at most dashboardSilences
	MoreSilences int
	Acks         []state.Ack // newest first, at most dashboardAcks
	MoreAcks     int
	Outbox       outboxView

	// View is "" for the main page, "notifications" for a page of
	// deliveries (Outbox.List).
	View string
}

// statusLine is a line of the status list with what alerting makes of
// it: the silence in force over it, if any (the one ending last, and how
// many others), and its acknowledgement.
type statusLine struct {
	monitor.StatusView
	Silence      *state.Silence
	MoreSilences int
	Ack          *state.Ack
}

// Problem reports whether the line is a problem, which is soft or hard.
func (l statusLine) Problem() bool {
	return l.Kind != monitor.KindAgentDown && l.StateType != "" && l.Status.Status != "ok"
}

// outboxView is the outbox as the page shows it: its counts, the age of
// its oldest open delivery, and a list of deliveries, newest first.
type outboxView struct {
	Count      map[state.NotificationState]int
	States     []state.NotificationState // in the order the page lists them
	OldestOpen time.Time
	List       []deliveryLine
	// State is the state the list is of ("" for every state); Cursor the
	// page's own; Next the cursor of the older page, "" for none.
	State        state.NotificationState
	Cursor, Next string
	Error        string    // what was wrong with the page asked for
	Now          time.Time // the page's
}

// deliveryLine is a delivery of the list, with the kind and status its
// document tells.
type deliveryLine struct {
	state.Notification
	Kind, Status string
}

// deliveryLineOf returns n as the list shows it.
func deliveryLineOf(n state.Notification) deliveryLine {
	var doc struct{ Kind, Status string }
	if json.Unmarshal(n.Doc, &doc) != nil {
		doc.Kind = "?"
	}
	return deliveryLine{Notification: n, Kind: doc.Kind, Status: doc.Status}
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
		csrf, ok := s.dashboardLogin(w, r)
		if !ok {
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
	mux.HandleFunc("GET /notifications", func(w http.ResponseWriter, r *http.Request) {
		csrf, ok := s.dashboardLogin(w, r)
		if !ok {
			return
		}
		page, code, err := s.notificationsPage(r.URL.Query())
		if err != nil {
			s.cfg.Log.Error("dashboard: notifications", "err", err)
			http.Error(w, "dashboard: "+err.Error(), http.StatusInternalServerError)
			return
		}
		page.CSRF = csrf
		s.renderDashboard(w, code, page)
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
		if id != "" {
			// Only a request that carries the cookie clears it: one from
			// another site's page carries none (SameSite=Strict), and the
			// browser would still apply the clearing to the session's
			// cookie, logging its operator out.
			http.SetCookie(w, sessionCookieOf("", -1))
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /dashboard.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		http.ServeFileFS(w, r, dashboardFiles, "dashboard.css")
	})
}

// dashboardLogin returns the csrf token of r's session ("" for the
// bearer token) and true when r may see the dashboard; otherwise it
// answers the login form, and false.
func (s *Web) dashboardLogin(w http.ResponseWriter, r *http.Request) (string, bool) {
	token := s.cfg.Token
	switch sess, ok := s.dash.use(sessionID(r)); {
	case token != "" && authorized(r, token):
		return "", true
	case token != "" && ok:
		return sess.csrf, true
	}
	if sessionID(r) != "" {
		// Expired, ended, or never one: the browser forgets it.
		http.SetCookie(w, sessionCookieOf("", -1))
	}
	s.renderDashboard(w, http.StatusOK, dashboardPage{})
	return "", false
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
		AgentList: agents,
		Events:    evs,
	}
	if err := s.alerting(&page); err != nil {
		return dashboardPage{}, err
	}
	if page.Outbox, err = s.outbox(state.NotificationQuery{Query: state.Query{Limit: dashboardDeliveries}}, page.Now); err != nil {
		return dashboardPage{}, err
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
	if n := len(page.Silences); n > dashboardSilences {
		page.Silences, page.MoreSilences = page.Silences[:dashboardSilences], n-dashboardSilences
	}
	if n := len(page.Acks); n > dashboardAcks {
		page.Acks, page.MoreAcks = page.Acks[:dashboardAcks], n-dashboardAcks
	}
	if n := len(page.Statuses); n > dashboardRows {
		page.Statuses, page.MoreStatuses = page.Statuses[:dashboardRows], n-dashboardRows
	}
	if n := len(page.AgentList); n > dashboardRows {
		page.AgentList, page.MoreAgents = page.AgentList[:dashboardRows], n-dashboardRows
	}
	return page, nil
}

// alerting fills in the status list with what silences and
// acknowledgements say of each line, and lists those in force.
func (s *Web) alerting(page *dashboardPage) error {
	silences, err := s.store.Silences()
	if err != nil {
		return err
	}
	acks, err := s.store.Acks()
	if err != nil {
		return err
	}
	for _, sl := range silences {
		if sl.Active(page.Now) {
			page.Silences = append(page.Silences, sl)
		}
	}
	slices.SortStableFunc(page.Silences, func(a, b state.Silence) int { return a.End.Compare(b.End) })
	byPair := make(map[[2]string]*state.Ack, len(acks))
	for i, a := range acks {
		byPair[[2]string{a.Agent, a.Schedule}] = &acks[i]
	}
	slices.SortStableFunc(acks, func(a, b state.Ack) int { return b.Time.Compare(a.Time) })
	page.Acks = acks
	// The silences whose agents pattern matches each agent, matched
	// once an agent: a page has up to dashboardRows lines, and up to
	// state.MaxSilences may be in force.
	byAgent := map[string][]int{}
	for _, st := range s.backend.Statuses(false) {
		l := statusLine{StatusView: st}
		ss, ok := byAgent[st.Agent]
		if !ok {
			for i, sl := range page.Silences {
				if monitor.Covers(state.Silence{Agents: sl.Agents}, st.Agent, "") {
					ss = append(ss, i)
				}
			}
			byAgent[st.Agent] = ss
		}
		for _, i := range ss {
			sl := &page.Silences[i]
			switch {
			case !monitor.Covers(*sl, st.Agent, st.Schedule):
			case l.Silence == nil:
				l.Silence = sl
			default:
				l.MoreSilences++
				if sl.End.After(l.Silence.End) {
					l.Silence = sl
				}
			}
		}
		l.Ack = byPair[[2]string{st.Agent, st.Schedule}]
		page.Statuses = append(page.Statuses, l)
	}
	return nil
}

// outbox returns the counts of the outbox and the page of deliveries q
// selects.
func (s *Web) outbox(q state.NotificationQuery, now time.Time) (outboxView, error) {
	stats, err := s.store.OutboxStats()
	if err != nil {
		return outboxView{}, err
	}
	v := outboxView{Count: stats.Count, OldestOpen: stats.OldestOpen, State: q.State, Cursor: q.After, Now: now,
		States: []state.NotificationState{state.NotifyPending, state.NotifyRetrying, state.NotifyDelivered, state.NotifyExpired}}
	limit := q.Limit
	q.Limit++ // one more says that an older page follows
	ns, cursors, err := s.store.Notifications(q)
	if err != nil {
		return outboxView{}, err
	}
	if len(ns) > limit {
		ns, v.Next = ns[:limit], cursors[limit-1]
	}
	for _, n := range ns {
		v.List = append(v.List, deliveryLineOf(n))
	}
	return v, nil
}

// notificationsPage gathers a page of /notifications: the deliveries in
// the state asked for (all by default), notificationsPage of them from
// the cursor asked for, and the answer's code: 400 for a state or a
// cursor that is not one, said on the page.
func (s *Web) notificationsPage(v url.Values) (dashboardPage, int, error) {
	page := dashboardPage{LoggedIn: true, Version: s.cfg.Version, Now: time.Now(), Refresh: dashboardRefresh, View: "notifications"}
	q := state.NotificationQuery{Query: state.Query{Limit: notificationsPage, After: v.Get("cursor")}, State: state.NotificationState(v.Get("state"))}
	var err error
	page.Outbox, err = s.outbox(q, page.Now)
	if errors.Is(err, state.ErrInvalid) {
		q.State, q.After = "", ""
		if page.Outbox, err = s.outbox(q, page.Now); err == nil {
			page.Outbox.Error = "No such page: a state is pending, retrying, delivered or expired, and a cursor one of this page's links."
			return page, http.StatusBadRequest, nil
		}
	}
	return page, http.StatusOK, err
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
