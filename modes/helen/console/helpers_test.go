package console

import (
	"context"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/leakcheck"
	"github.com/equus-monitoring/equus/internal/passwd"
	"github.com/equus-monitoring/equus/modes/helen/monitor"
	"github.com/equus-monitoring/equus/modes/helen/peerlog"
	"github.com/equus-monitoring/equus/modes/helen/web"
	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
)

func TestMain(m *testing.M) { leakcheck.Main(m, "equus/state.") }

const adminToken = "eqa_test-admin-token"

// fastParams keep the tests' hashes cheap: Verify reads the parameters
// from the hash, as it does those of passwd.Default.
var fastParams = passwd.Params{Time: 1, Memory: 64, Threads: 1, SaltLen: 16, KeyLen: 32}

// fakeBackend is helen's side of the console over a real store: the
// status list as the store has it (or as statuses gives it), and what
// the actions ask, counted.
type fakeBackend struct {
	web.Backend
	db       state.Store
	statuses []monitor.StatusView // nil: the store's

	mu     sync.Mutex
	runs   []string
	forgot []string
	tokens []web.TokenRequest
}

func (b *fakeBackend) Statuses(unfold bool) []monitor.StatusView {
	if b.statuses != nil {
		return b.statuses
	}
	v, _ := monitor.StoredStatuses(b.db, unfold)
	return v
}

func (b *fakeBackend) Ack(a state.Ack) (state.Ack, error) {
	return monitor.StoredAck(b.db, a, slog.New(slog.DiscardHandler))
}

func (b *fakeBackend) Run(ctx context.Context, agent, check string, args []byte, timeout time.Duration) (result.Doc, error) {
	b.mu.Lock()
	b.runs = append(b.runs, agent+" "+check)
	b.mu.Unlock()
	return result.Doc{Status: "warning", Message: "ran <b>now</b>"}, nil
}

func (b *fakeBackend) Token(req web.TokenRequest) (web.TokenResponse, error) {
	b.mu.Lock()
	b.tokens = append(b.tokens, req)
	b.mu.Unlock()
	return web.TokenResponse{Token: "eqt_secret-once", ID: "t1", Uses: req.Uses, Agent: req.Agent, Join: "equus join ...", Expires: time.Now().Add(time.Duration(req.TTL))}, nil
}

func (b *fakeBackend) Forget(name string) error {
	b.mu.Lock()
	b.forgot = append(b.forgot, name)
	b.mu.Unlock()
	return b.db.Forget(name, time.Now())
}

// fakeGrapher draws what a test can find: the names of the series it is
// given, and one point a bucket of the metric, as a polyline.
type fakeGrapher struct {
	names map[string][]string // by agent/schedule
	mu    sync.Mutex
	asked []Graph
}

func (g *fakeGrapher) SeriesNames(agent, schedule string) ([]string, error) {
	return g.names[agent+"/"+schedule], nil
}

func (g *fakeGrapher) Graph(w io.Writer, gr Graph) error {
	g.mu.Lock()
	g.asked = append(g.asked, gr)
	g.mu.Unlock()
	warn := ""
	if gr.Warn != nil {
		warn = fmt.Sprintf(` data-warn="%g"`, *gr.Warn)
	}
	_, err := fmt.Fprintf(w, `<svg role="img" aria-label="%s"%s><title>%s</title><polyline points="0,1 1,2"/></svg>`,
		html.EscapeString(gr.Metric), warn, html.EscapeString(gr.Title))
	return err
}

func (g *fakeGrapher) Sparkline(w io.Writer, agent, schedule, metric string, from, to time.Time, width, height int) error {
	_, err := fmt.Fprintf(w, `<svg class="sparkline" data-metric="%s" data-span="%v"></svg>`, html.EscapeString(metric), to.Sub(from))
	return err
}

// rig is a console over a store in a fresh bbolt file.
type rig struct {
	t       testing.TB
	db      *state.DB
	backend *fakeBackend
	graphs  *fakeGrapher
	console *Console
	h       http.Handler
	now     time.Time
}

func newRig(t testing.TB) *rig {
	t.Helper()
	db, err := state.Open(filepath.Join(t.TempDir(), "helen.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	r := &rig{t: t, db: db, backend: &fakeBackend{db: db}, graphs: &fakeGrapher{names: map[string][]string{}}, now: time.Now()}
	log := slog.New(slog.DiscardHandler)
	r.console = New(Config{Log: log, Peers: peerlog.New(log, nil), Token: adminToken, Version: "1.0.0", Graphs: r.graphs}, db, r.backend)
	r.h = r.console.Handler()
	return r
}

// addUser adds an account with password pw.
func (r *rig) addUser(name, role, pw string) {
	r.t.Helper()
	h, err := passwd.Hash(pw, fastParams)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.db.AddUser(state.User{Name: name, Role: role, Hash: h, Created: r.now}); err != nil {
		r.t.Fatal(err)
	}
}

// do sends a request with cookie (nil: none) and form (nil: a GET).
func (r *rig) do(method, target string, form url.Values, cookie *http.Cookie) *httptest.ResponseRecorder {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, target, body)
	req.RemoteAddr = "192.0.2.1:5000"
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	w := httptest.NewRecorder()
	r.h.ServeHTTP(w, req)
	return w
}

// login logs name in with secret ("" name: the admin token) and returns
// its cookie and csrf token.
func (r *rig) login(name, secret string) (*http.Cookie, string) {
	r.t.Helper()
	w := r.do(http.MethodPost, "/login", url.Values{"name": {name}, "password": {secret}}, nil)
	if w.Code != http.StatusSeeOther || len(w.Result().Cookies()) != 1 {
		r.t.Fatalf("login %q: %d %s", name, w.Code, w.Body)
	}
	c := w.Result().Cookies()[0]
	page := r.do(http.MethodGet, "/", nil, c).Body.String()
	m := regexp.MustCompile(`<input type="hidden" name="csrf" value="([^"]+)">`).FindStringSubmatch(page)
	if m == nil {
		r.t.Fatalf("no csrf token on the page after login:\n%.500s", page)
	}
	return c, m[1]
}

// agent adds an agent with a status of schedule sched.
func (r *rig) agent(name string, connected bool, statuses ...state.Status) {
	r.t.Helper()
	if err := r.db.AgentSeen(state.Agent{Name: name, Version: "1.2.3", Addr: "10.0.0.1:4000", LastSeen: r.now}); err != nil {
		r.t.Fatal(err)
	}
	if err := r.db.SetConnected(name, connected, r.now); err != nil {
		r.t.Fatal(err)
	}
	for i := range statuses {
		statuses[i].Agent = name
		if statuses[i].Time.IsZero() {
			statuses[i].Time, statuses[i].Since = r.now, r.now.Add(-time.Hour)
		}
		if statuses[i].StateType == "" {
			statuses[i].StateType, statuses[i].Attempt, statuses[i].MaxAttempts = state.Hard, 1, 1
		}
	}
	if len(statuses) > 0 {
		if err := r.db.PutStatuses(statuses...); err != nil {
			r.t.Fatal(err)
		}
	}
}

func newPost(target string, form url.Values, cookie *http.Cookie) *http.Request {
	req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	req.RemoteAddr = "192.0.2.1:5000"
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if cookie != nil {
		req.AddCookie(cookie)
	}
	return req
}

func serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}
