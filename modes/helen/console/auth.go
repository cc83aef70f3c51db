package console

import (
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/equus-monitoring/equus/internal/passwd"
	"github.com/equus-monitoring/equus/modes/helen/peerlog"
	"github.com/equus-monitoring/equus/modes/helen/web"
	"github.com/equus-monitoring/equus/state"
)

// Who is at the console. A browser logs in with an account's name and
// password (or token), or with the admin token alone (who: admin), and
// then carries a session cookie (session.go). The bearer admin token is
// let in to read pages too, as the API lets it in, but not to act: a
// POST needs a session and its token (csrf), besides SameSite=Strict.

const (
	SessionCookie = "helen_session"
	maxForm       = 16 << 10 // bytes of a form
	// maxHashing bounds the password checks running at once: each takes
	// passwd.Default's 64 MiB.
	maxHashing = 2
	// Logins that failed are counted per address (the host, without the
	// port): past maxFailures in loginWindow the address is answered 429
	// until the window ends. The table holds at most maxLoginAddrs.
	maxFailures   = 10
	loginWindow   = time.Minute
	maxLoginAddrs = 4096
)

// viewer is who asks for a page.
type viewer struct {
	User string
	Role string
	CSRF string // "" for the bearer token, which cannot act
}

// CanAct reports whether the viewer may use the action forms.
func (v viewer) CanAct() bool { return v.CSRF != "" && v.Role != state.RoleReadOnly }

// ReadOnly reports whether the viewer is an account that only sees.
func (v viewer) ReadOnly() bool { return v.Role == state.RoleReadOnly }

// who returns the viewer of r and true, or false for no login.
func (s *Console) who(w http.ResponseWriter, r *http.Request) (viewer, bool) {
	token := s.cfg.Token
	if token != "" && web.Authorized(r, token) {
		return viewer{User: state.UserAdmin, Role: state.RoleOperator}, true
	}
	id := sessionID(r)
	sess, ok := s.dash.use(id)
	if !ok {
		if id != "" {
			// Expired, ended, or never one: the browser forgets it.
			http.SetCookie(w, sessionCookieOf("", -1))
		}
		return viewer{}, false
	}
	role := sess.role
	if sess.user != state.UserAdmin {
		// The account as it is now: removed, its session ends.
		u, err := s.store.User(sess.user)
		if err != nil {
			s.dash.drop(id)
			http.SetCookie(w, sessionCookieOf("", -1))
			return viewer{}, false
		}
		role = u.Role
	}
	return viewer{User: sess.user, Role: role, CSRF: sess.csrf}, true
}

// page serves h to a logged-in viewer, and the login form to the others.
func (s *Console) page(h func(http.ResponseWriter, *http.Request, viewer)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, ok := s.who(w, r)
		if !ok {
			s.render(w, http.StatusOK, "login", loginPage{frame: s.frame(viewer{}, "Log in", "", "")})
			return
		}
		h(w, r, v)
	}
}

// action serves h to a POST of a session's own page: its csrf token, an
// account that may act. Any other is 403 and changes nothing.
func (s *Console) action(h func(http.ResponseWriter, *http.Request, viewer)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
			return
		}
		sess, ok := s.dash.use(sessionID(r))
		v, in := s.who(w, r)
		switch {
		case !ok || !in || v.CSRF == "":
			http.Error(w, "forbidden: log in to the console to act", http.StatusForbidden)
		case !csrfOK(sess, r.PostForm.Get("csrf")):
			s.cfg.Peers.For(peerlog.Addr(r.RemoteAddr)).Info("console: a form without its session's token", "remote", r.RemoteAddr, "path", r.URL.Path, "user", v.User)
			http.Error(w, "forbidden: the form is not this session's; act from the console's own page", http.StatusForbidden)
		case !v.CanAct():
			http.Error(w, "forbidden: "+v.User+" is read-only", http.StatusForbidden)
		default:
			h(w, r, v)
		}
	}
}

type loginPage struct {
	frame
	Failed  bool
	Limited bool
}

func (s *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	addr := hostOf(r.RemoteAddr)
	name, secret := r.PostFormValue("name"), r.PostFormValue("password")
	if t := r.PostFormValue("token"); t != "" && secret == "" {
		secret = t // the admin token's field of the form before accounts
	}
	if !s.logins.allowed(addr) {
		s.render(w, http.StatusTooManyRequests, "login", loginPage{frame: s.frame(viewer{}, "Log in", "", ""), Limited: true})
		return
	}
	user, role, err := s.check(name, secret)
	if err != nil {
		s.logins.failed(addr)
		s.cfg.Peers.For(peerlog.Addr(r.RemoteAddr)).Info("console: login refused", "remote", r.RemoteAddr, "user", name, "err", err)
		s.render(w, http.StatusUnauthorized, "login", loginPage{frame: s.frame(viewer{}, "Log in", "", ""), Failed: true})
		return
	}
	id, _ := s.dash.create(user, role)
	http.SetCookie(w, sessionCookieOf(id, int(SessionLifetime/time.Second)))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

var errLogin = errors.New("not an account's password, nor the admin token")

// dummyHash is checked against for a name of no account, so that a login
// takes as long whether the name is one or not; made at the first login,
// not when any command of the executable starts.
var dummyHash = sync.OnceValue(func() string { h, _ := passwd.Hash("no account", passwd.Default); return h })

// check returns who logs in with name and secret: the admin token (with
// no name, or admin's), or an account's password or token.
func (s *Console) check(name, secret string) (user, role string, err error) {
	if name == "" || name == state.UserAdmin {
		if s.cfg.Token != "" && web.IsToken(secret, s.cfg.Token) {
			return state.UserAdmin, state.RoleOperator, nil
		}
		return "", "", errLogin
	}
	u, err := s.store.User(name)
	hash := u.Hash
	if err != nil {
		hash = dummyHash()
	}
	s.hashing <- struct{}{}
	ok := passwd.Verify(hash, secret)
	<-s.hashing
	if err != nil || !ok {
		return "", "", errLogin
	}
	return u.Name, u.Role, nil
}

func (s *Console) logout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	id := sessionID(r)
	if !s.dash.end(id, r.PostFormValue("csrf")) {
		if _, live := s.dash.use(id); live {
			// The session's own page sends its token: this request
			// came from somewhere else.
			http.Error(w, "logout: the form is not this session's; log out from the console's own page", http.StatusForbidden)
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

func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// loginLimit counts the failed logins of each address in its window.
type loginLimit struct {
	now func() time.Time
	mu  sync.Mutex
	by  map[string]*failures
}

type failures struct {
	start time.Time
	n     int
}

func newLoginLimit(now func() time.Time) *loginLimit {
	return &loginLimit{now: now, by: map[string]*failures{}}
}

// allowed reports whether addr may try a login now.
func (l *loginLimit) allowed(addr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.by[addr]
	return !ok || l.now().Sub(f.start) >= loginWindow || f.n < maxFailures
}

// failed counts a failed login of addr. At the table's bound it drops the
// windows ended, then the one begun longest ago.
func (l *loginLimit) failed(addr string) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.by[addr]
	if ok && now.Sub(f.start) < loginWindow {
		f.n++
		return
	}
	if !ok && len(l.by) >= maxLoginAddrs {
		var oldest string
		for a, g := range l.by {
			if now.Sub(g.start) >= loginWindow {
				delete(l.by, a)
			} else if oldest == "" || g.start.Before(l.by[oldest].start) {
				oldest = a
			}
		}
		if len(l.by) >= maxLoginAddrs {
			delete(l.by, oldest)
		}
	}
	l.by[addr] = &failures{start: now, n: 1}
}

// len is how many addresses the table holds.
func (l *loginLimit) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.by)
}
