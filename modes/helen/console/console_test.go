package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/state"
)

const hostile = `<script>alert(1)</script>"'&`

// Every page renders over a real store, escaping what agents and
// operators wrote, under the strict CSP, with no script.
func TestPagesRender(t *testing.T) {
	r := newRig(t)
	r.agent("web-1", true,
		state.Status{Schedule: "disk", Check: "disk", Status: "critical", Message: "full " + hostile, LongOutput: "detail " + hostile},
		state.Status{Schedule: "load", Check: "load", Status: "ok", Message: "fine"})
	r.graphs.names["web-1/disk"] = []string{"used", "free"}
	if err := r.db.PutSchedule(state.Schedule{Name: "disk", Check: "disk", Every: time.Minute, Timeout: time.Second}); err != nil {
		t.Fatal(err)
	}
	warn := 80.0
	err := r.db.AddResult(t.Context(), state.Result{Agent: "web-1", Check: "disk", Schedule: "disk", Time: r.now, Status: "critical", Message: "full " + hostile,
		Metrics: []state.Metric{{Name: "used", Value: 91, Unit: "%", Warn: &warn}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.db.AddEvents(state.Event{Time: r.now, Agent: "web-1", Schedule: "disk", From: "ok", To: "critical", Message: "event " + hostile}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.db.AddSilence(state.Silence{Agents: "web-1", Schedules: "load", Start: r.now, End: r.now.Add(time.Hour), Comment: "silence " + hostile, Author: "bob", Created: r.now}); err != nil {
		t.Fatal(err)
	}
	err = r.db.AddEventsWithNotifications(state.EventNotifications{Event: state.Event{Time: r.now, Agent: "web-1", Schedule: "disk", To: "critical"},
		Notify: []state.Outgoing{{Route: "ops", Doc: json.RawMessage(`{"kind":"problem","status":"critical"}`)}}})
	if err != nil {
		t.Fatal(err)
	}
	ns, _, _ := r.db.Notifications(state.NotificationQuery{})
	if err := r.db.RecordAttempt(ns[0].ID, state.Attempt{Time: r.now, Error: "503 " + hostile}, state.Retry, r.now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	cookie, _ := r.login("", adminToken)
	for path, wants := range map[string][]string{
		"/":                            {"<b>1</b> critical", "full &lt;script&gt;", "detail &lt;script&gt;", `href="/agents/web-1/schedules/disk"`, "silenced by bob"},
		"/agents/web-1":                {"1.2.3", "10.0.0.1:4000", `data-metric="used"`, `data-span="6h0m0s"`, "silence &lt;script&gt;", "event &lt;script&gt;", "503 &lt;script&gt;", `id="silence"`, `id="enroll-token"`, `id="forget"`},
		"/agents/web-1/schedules/disk": {`aria-label="used"`, `aria-label="free"`, `data-warn="80"`, "used=91%", `id="run-now"`, `id="ack"`, `id="silence"`, "hard 1/1"},
		"/events":                      {"event &lt;script&gt;", `id="events-filter"`},
		"/notifications":               {"503 &lt;script&gt;", "retrying", `id="notifications-filter"`},
	} {
		w := r.do(http.MethodGet, path, nil, cookie)
		body := w.Body.String()
		if w.Code != http.StatusOK {
			t.Errorf("GET %s: %d\n%s", path, w.Code, body)
			continue
		}
		if csp := w.Header().Get("Content-Security-Policy"); csp != "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'" {
			t.Errorf("GET %s: CSP %q", path, csp)
		}
		if strings.Contains(body, "<script") {
			t.Errorf("GET %s: a script, or something agents or operators wrote unescaped", path)
		}
		for _, want := range wants {
			if !strings.Contains(body, want) {
				t.Errorf("GET %s lacks %q", path, want)
			}
		}
		t.Logf("GET %s: %d bytes", path, len(body))
	}
	if w := r.do(http.MethodGet, "/agents/nobody", nil, cookie); w.Code != http.StatusNotFound {
		t.Errorf("GET /agents/nobody: %d", w.Code)
	}
	if w := r.do(http.MethodGet, "/agents/web-1/schedules/nothing", nil, cookie); w.Code != http.StatusNotFound {
		t.Errorf("GET a schedule of nothing: %d", w.Code)
	}
	// The range picker: 7d asks the grapher for 7 days; a range of none is 400.
	r.do(http.MethodGet, "/agents/web-1/schedules/disk?range=7d", nil, cookie)
	r.graphs.mu.Lock()
	last := r.graphs.asked[len(r.graphs.asked)-1]
	r.graphs.mu.Unlock()
	if last.To.Sub(last.From) != 7*24*time.Hour || last.Width != graphWidth {
		t.Errorf("range=7d drew %v over %v", last.Metric, last.To.Sub(last.From))
	}
	if w := r.do(http.MethodGet, "/agents/web-1/schedules/disk?range=1y", nil, cookie); w.Code != http.StatusBadRequest {
		t.Errorf("range=1y: %d", w.Code)
	}
	// Without a login, each page is the login form and says nothing.
	for _, path := range []string{"/", "/agents/web-1", "/agents/web-1/schedules/disk", "/events", "/notifications"} {
		body := r.do(http.MethodGet, path, nil, nil).Body.String()
		if !strings.Contains(body, `id="login"`) || strings.Contains(body, "web-1") {
			t.Errorf("GET %s without a login: no login form, or the agent named", path)
		}
	}
}

// The overview: problems not seen to first, then those silenced or
// acknowledged, then agents down, then the rest; filtered and paged by
// its query string.
func TestOverviewFilterPaging(t *testing.T) {
	r := newRig(t)
	for i := range 25 {
		r.agent(fmt.Sprintf("web-%02d", i), true, state.Status{Schedule: "load", Check: "load", Status: "ok", Message: "fine"})
	}
	r.agent("db-1", true, state.Status{Schedule: "disk", Check: "disk", Status: "critical", Message: "full"},
		state.Status{Schedule: "mem", Check: "mem", Status: "warning", Message: "swapping"})
	r.agent("db-2", true, state.Status{Schedule: "disk", Check: "disk", Status: "critical", Message: "full too"})
	if err := r.db.Ack(state.Ack{Agent: "db-1", Schedule: "disk", Comment: "on it", Author: "alice", Time: r.now}); err != nil {
		t.Fatal(err)
	}
	cookie, _ := r.login("", adminToken)
	body := r.do(http.MethodGet, "/", nil, cookie).Body.String()
	order := []string{">db-2<", ">db-1</a></td><td data-label=\"Schedule\"><a href=\"/agents/db-1/schedules/mem\"", "acknowledged by alice", ">web-00<"}
	at := -1
	for _, s := range order {
		i := strings.Index(body, s)
		if i < at {
			t.Fatalf("overview order: %q at %d, before the one before it (%d)", s, i, at)
		}
		at = i
	}
	rows := func(query string) (int, string) {
		w := r.do(http.MethodGet, "/"+query, nil, cookie)
		b := w.Body.String()
		return strings.Count(b, "<tr") - 1, b
	}
	for _, tc := range []struct {
		query string
		rows  int
	}{
		{"?agent=db-*", 3}, {"?status=critical", 2}, {"?status=problem", 3}, {"?schedule=mem", 1},
		{"?q=SWAPPING", 1}, {"?agent=web-1*", 10}, {"?per=10", 10}, {"?per=10&page=3", 8}, {"?per=10&page=9", -1},
	} {
		n, b := rows(tc.query)
		if tc.rows == -1 {
			if strings.Contains(b, "<table") {
				t.Errorf("%s: a page past the last has rows", tc.query)
			}
			continue
		}
		if n != tc.rows {
			t.Errorf("%s: %d rows, want %d", tc.query, n, tc.rows)
		}
	}
	_, b := rows("?agent=web-*&per=10&page=2")
	if !strings.Contains(b, `href="/?agent=web-%2A&amp;per=10"`) || !strings.Contains(b, `href="/?agent=web-%2A&amp;page=3&amp;per=10"`) {
		t.Errorf("page 2's links do not keep the filter:\n%s", b[strings.Index(b, `class="pager"`):])
	}
	if !strings.Contains(b, `name="agent" value="web-*"`) {
		t.Error("the filter form does not show the filter")
	}
	for _, bad := range []string{"?per=501", "?per=0", "?page=0", "?agent=[", "?status=fine", "?q=" + strings.Repeat("x", 300)} {
		if w := r.do(http.MethodGet, "/"+bad, nil, cookie); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), `class="error"`) {
			t.Errorf("%s: %d, want 400 and what was wrong", bad, w.Code)
		}
	}
}

// A POST without the session's token, with another session's, or with
// the bearer token alone is 403 and changes nothing; with it, it acts.
func TestCSRF(t *testing.T) {
	r := newRig(t)
	r.agent("web-1", true, state.Status{Schedule: "disk", Check: "disk", Status: "critical", Message: "full"})
	r.addUser("alice", state.RoleOperator, "alice's password")
	mine, csrf := r.login("alice", "alice's password")
	_, other := r.login("", adminToken)
	form := func(token string) url.Values {
		v := url.Values{"agent": {"web-1"}, "for": {"1h"}, "comment": {"maintenance"}}
		if token != "" {
			v.Set("csrf", token)
		}
		return v
	}
	for name, tc := range map[string]struct {
		form   url.Values
		cookie *http.Cookie
		bearer bool
	}{
		"no-token":      {form(""), mine, false},
		"other-session": {form(other), mine, false},
		"no-session":    {form(csrf), nil, false},
		"bearer":        {form(csrf), nil, true},
	} {
		req := newPost("/silences", tc.form, tc.cookie)
		if tc.bearer {
			req.Header.Set("Authorization", "Bearer "+adminToken)
		}
		w := serve(r.h, req)
		if w.Code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, w.Code)
		}
	}
	for path, f := range map[string]url.Values{
		"/acks":                            {"agent": {"web-1"}, "schedule": {"disk"}, "comment": {"x"}},
		"/agents/web-1/forget":             {"confirm": {"yes"}},
		"/agents/web-1/token":              {},
		"/agents/web-1/schedules/disk/run": {},
	} {
		if w := r.do(http.MethodPost, path, f, mine); w.Code != http.StatusForbidden {
			t.Errorf("POST %s without the token: %d", path, w.Code)
		}
	}
	if w := r.do(http.MethodPost, "/logout", url.Values{"csrf": {other}}, mine); w.Code != http.StatusForbidden {
		t.Errorf("logout with another session's token: %d", w.Code)
	}
	if ss, _ := r.db.Silences(); len(ss) != 0 {
		t.Fatalf("a refused POST added %d silences", len(ss))
	}
	if acks, _ := r.db.Acks(); len(acks) != 0 || len(r.backend.runs)+len(r.backend.forgot)+len(r.backend.tokens) != 0 {
		t.Fatal("a refused POST acted")
	}
	if w := r.do(http.MethodPost, "/silences", form(csrf), mine); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/agents/web-1" {
		t.Fatalf("with the session's token: %d %s", w.Code, w.Header().Get("Location"))
	}
	if ss, _ := r.db.Silences(); len(ss) != 1 || ss[0].Author != "alice" || ss[0].Agents != "web-1" || ss[0].End.Sub(ss[0].Start) != time.Hour {
		t.Errorf("silences %+v", ss)
	}
}

// A read-only account sees the pages without their forms, and each
// action is refused.
func TestReadOnly(t *testing.T) {
	r := newRig(t)
	r.agent("web-1", false, state.Status{Schedule: "disk", Check: "disk", Status: "critical", Message: "full"})
	if err := r.db.PutSchedule(state.Schedule{Name: "disk", Check: "disk", Every: time.Minute, Timeout: time.Second}); err != nil {
		t.Fatal(err)
	}
	r.addUser("viewer", state.RoleReadOnly, "viewer's password")
	cookie, csrf := r.login("viewer", "viewer's password")
	for _, path := range []string{"/", "/agents/web-1", "/agents/web-1/schedules/disk"} {
		body := r.do(http.MethodGet, path, nil, cookie).Body.String()
		if !strings.Contains(body, "viewer (read-only)") || !strings.Contains(body, "web-1") {
			t.Errorf("GET %s: the read-only account does not see it as itself", path)
		}
		for _, form := range []string{`id="silence"`, `id="ack"`, `id="run-now"`, `id="forget"`, `id="enroll-token"`} {
			if strings.Contains(body, form) {
				t.Errorf("GET %s shows the read-only account the form %s", path, form)
			}
		}
	}
	for path, f := range map[string]url.Values{
		"/silences":                        {"agent": {"web-1"}, "for": {"1h"}, "comment": {"x"}},
		"/acks":                            {"agent": {"web-1"}, "schedule": {"disk"}, "comment": {"x"}},
		"/agents/web-1/forget":             {"confirm": {"yes"}},
		"/agents/web-1/token":              {},
		"/agents/web-1/schedules/disk/run": {},
	} {
		f.Set("csrf", csrf)
		if w := r.do(http.MethodPost, path, f, cookie); w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "read-only") {
			t.Errorf("POST %s as read-only: %d %s", path, w.Code, w.Body)
		}
	}
	ss, _ := r.db.Silences()
	acks, _ := r.db.Acks()
	if len(ss)+len(acks)+len(r.backend.runs)+len(r.backend.forgot)+len(r.backend.tokens) != 0 {
		t.Error("a read-only account acted")
	}
	if evs, _ := r.db.Events(time.Time{}, time.Time{}, 0); len(evs) != 0 {
		t.Errorf("refused actions recorded events: %+v", evs)
	}
}

// TestSessionEventsListed: a shell session's start and end are on the
// events page like every event, and filtered by their state.
func TestSessionEventsListed(t *testing.T) {
	r := newRig(t)
	seven := 7
	for _, e := range []state.Event{
		{Time: r.now, Agent: "web-1", From: "", To: "session-started", Message: "shell session abc opened by alice as root: sh",
			Session: &state.Session{ID: "abc", Who: "alice", User: "root", Command: []string{"sh"}}},
		{Time: r.now.Add(time.Minute), Agent: "web-1", From: "session-started", To: "session-ended", Message: "shell session abc ended: exit status 7",
			Session: &state.Session{ID: "abc", Who: "alice", User: "root", Command: []string{"sh"}, Duration: time.Minute, ExitStatus: &seven}},
	} {
		if err := r.db.AddEvents(e); err != nil {
			t.Fatal(err)
		}
	}
	cookie, _ := r.login("", adminToken)
	body := r.do(http.MethodGet, "/events", nil, cookie).Body.String()
	for _, want := range []string{"shell session abc opened by alice as root: sh", "shell session abc ended: exit status 7"} {
		if !strings.Contains(body, want) {
			t.Errorf("/events does not list %q", want)
		}
	}
	body = r.do(http.MethodGet, "/events?state=session-ended", nil, cookie).Body.String()
	if !strings.Contains(body, "ended: exit status 7") || strings.Contains(body, "opened by alice") {
		t.Errorf("/events?state=session-ended lists the wrong events:\n%s", body)
	}
}
