package helen

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/monitor"
	"github.com/equus-monitoring/equus/state"
)

// browser is an HTTPS client of the operators' port that keeps cookies
// and does not follow redirects, as a test wants to see them.
func browser(t *testing.T, h *testHelen) *opsClient {
	c := newOpsClient(t, h)
	c.hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

func (c *opsClient) page(method, path string, form url.Values, cookie *http.Cookie) (*http.Response, string) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	resp, data := c.send(req)
	return resp, string(data)
}

// TestDashboard: the page shows nothing but a login form without the admin
// token; a login with the token sets a session cookie that is not the
// token; with it the page shows the agents, the statuses worst first and
// the events, with what agents send escaped.
func TestDashboard(t *testing.T) {
	h := startHelen(t, Config{})
	a := startAgent(t, h, "web-1", behavior{})
	a.ready()
	args, _ := json.Marshal(map[string]string{"status": "critical", "tag": "<script>alert(1)</script>"})
	if _, err := h.srv.PutSchedule(state.Schedule{Name: "disk-root", Check: "disk", Every: 100 * time.Millisecond, Args: args}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.srv.PutSchedule(state.Schedule{Name: "load", Check: "load", Every: 100 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	poll(t, "both schedules' first events", func() bool {
		evs, err := h.srv.DB().Events(time.Time{}, time.Time{}, 0)
		return err == nil && len(evs) == 2
	})

	c := browser(t, h)
	resp, body := c.page(http.MethodGet, "/", nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `action="/login"`) || strings.Contains(body, "web-1") {
		t.Fatalf("page without a session: %d, login form %v, names the agent %v", resp.StatusCode,
			strings.Contains(body, `action="/login"`), strings.Contains(body, "web-1"))
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}

	resp, body = c.page(http.MethodPost, "/login", url.Values{"token": {"eqa_wrong"}}, nil)
	if resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 || !strings.Contains(body, "not the admin token") {
		t.Fatalf("login with a wrong token: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	resp, _ = c.page(http.MethodPost, "/login", url.Values{"token": {c.token}}, nil)
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 {
		t.Fatalf("login: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	cookie := resp.Cookies()[0]
	if cookie.Value == "" || strings.Contains(cookie.Value, c.token) || !cookie.HttpOnly || !cookie.Secure || cookie.SameSite != http.SameSiteStrictMode {
		t.Errorf("session cookie %+v: want HttpOnly, Secure, SameSite=Strict, and not the token", cookie)
	}

	resp, body = c.page(http.MethodGet, "/", nil, cookie)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("page with a session: %d", resp.StatusCode)
	}
	csrf := csrfOf(t, body)
	for _, want := range []string{"web-1", "disk-root", "CRITICAL", "1 of 1 agents", "&lt;script&gt;alert(1)&lt;/script&gt;", "NEW</span> → <span class=\"critical\">CRITICAL"} {
		if !strings.Contains(body, strings.ReplaceAll(want, "1 of 1 agents", "<b>1</b> of 1 agents")) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "<script>") {
		t.Error("page holds an agent's message unescaped")
	}
	if i, j := strings.Index(body, ">disk-root<"), strings.Index(body, ">load<"); i < 0 || j < 0 || i > j {
		t.Errorf("statuses not worst first: critical at %d, ok at %d", i, j)
	}

	// The bearer token works too, as for the API; a forged cookie does not.
	req, _ := http.NewRequest(http.MethodGet, c.base+"/", nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	if resp, err := c.hc.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("page with the bearer token: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	_, body = c.page(http.MethodGet, "/", nil, &http.Cookie{Name: sessionCookie, Value: c.token})
	if strings.Contains(body, "web-1") {
		t.Error("the token itself as the cookie opened the page")
	}

	resp, _ = c.page(http.MethodPost, "/logout", url.Values{"csrf": {csrf}}, cookie)
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 || resp.Cookies()[0].MaxAge >= 0 {
		t.Errorf("logout: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	if resp, css := c.page(http.MethodGet, "/dashboard.css", nil, nil); resp.StatusCode != http.StatusOK || !strings.Contains(css, ".critical") {
		t.Errorf("dashboard.css: %d", resp.StatusCode)
	}
	if resp, _ := c.page(http.MethodGet, "/nope", nil, cookie); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nope: %d, want 404", resp.StatusCode)
	}
}

// csrfOf returns the token of the logout form of a dashboard page.
func csrfOf(t testing.TB, page string) string {
	t.Helper()
	m := regexp.MustCompile(`<input type="hidden" name="csrf" value="([^"]+)">`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no logout form with a csrf token in the page:\n%.300s", page)
	}
	return m[1]
}

// login logs c in and returns the session cookie and the page's csrf
// token.
func (c *opsClient) login() (*http.Cookie, string) {
	c.t.Helper()
	resp, _ := c.page(http.MethodPost, "/login", url.Values{"token": {c.token}}, nil)
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 {
		c.t.Fatalf("login: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	cookie := resp.Cookies()[0]
	resp, body := c.page(http.MethodGet, "/", nil, cookie)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "agents connected") {
		c.t.Fatalf("page right after login: %d, logged in %v", resp.StatusCode, strings.Contains(body, "agents connected"))
	}
	return cookie, csrfOf(c.t, body)
}

// opens reports whether cookie opens the dashboard, rather than its
// login form.
func (c *opsClient) opens(cookie *http.Cookie) bool {
	c.t.Helper()
	resp, body := c.page(http.MethodGet, "/", nil, cookie)
	in, form := strings.Contains(body, "agents connected"), strings.Contains(body, `action="/login"`)
	if resp.StatusCode != http.StatusOK || in == form {
		c.t.Fatalf("page: %d, logged in %v, login form %v", resp.StatusCode, in, form)
	}
	return in
}

// TestDashboardSessionExpires: a session ends on the server 12 hours after
// its login, however long the browser keeps the cookie.
func TestDashboardSessionExpires(t *testing.T) {
	clock := newFakeClock()
	h := startHelen(t, Config{dashClock: clock.Now})
	c := browser(t, h)
	cookie, _ := c.login()
	if cookie.MaxAge != int(sessionLifetime/time.Second) {
		t.Errorf("cookie MaxAge %d, want %d", cookie.MaxAge, int(sessionLifetime/time.Second))
	}
	clock.Step(sessionLifetime - time.Second)
	if !c.opens(cookie) {
		t.Fatal("the session ended before 12 hours")
	}
	clock.Step(time.Second)
	if c.opens(cookie) {
		t.Fatal("a cookie kept by the browser opens the page 12 hours after its login")
	}
	if n := h.srv.dash.len(); n != 0 {
		t.Errorf("%d sessions kept after expiry", n)
	}
	resp, _ := c.page(http.MethodGet, "/", nil, cookie)
	if cs := resp.Cookies(); len(cs) != 1 || cs[0].MaxAge >= 0 {
		t.Errorf("the page did not tell the browser to forget the expired cookie: %v", cs)
	}
}

// TestDashboardLogout: logout ends the session on the server, so a copy
// of the cookie stops working too; a logout without the session's own
// form token (a page of another site) ends nothing.
func TestDashboardLogout(t *testing.T) {
	h := startHelen(t, Config{})
	c := browser(t, h)
	cookie, csrf := c.login()
	copied := &http.Cookie{Name: cookie.Name, Value: cookie.Value}
	other, otherCSRF := c.login()

	for _, bad := range []url.Values{nil, {"csrf": {""}}, {"csrf": {"x" + csrf}}, {"csrf": {otherCSRF}}} {
		resp, _ := c.page(http.MethodPost, "/logout", bad, cookie)
		if resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
			t.Errorf("logout with csrf %q: %d, cookies %v; want 403 and the cookie kept", bad.Get("csrf"), resp.StatusCode, resp.Cookies())
		}
	}
	if !c.opens(copied) {
		t.Fatal("a refused logout ended the session")
	}
	if resp, _ := c.page(http.MethodGet, "/logout", nil, cookie); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /logout: %d, want 405", resp.StatusCode)
	}

	resp, _ := c.page(http.MethodPost, "/logout", url.Values{"csrf": {csrf}}, cookie)
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 || resp.Cookies()[0].MaxAge >= 0 || resp.Cookies()[0].Value != "" {
		t.Fatalf("logout: %d, cookies %v; want 303 and the cookie cleared", resp.StatusCode, resp.Cookies())
	}
	if c.opens(copied) {
		t.Fatal("a copy of the cookie opens the page after logout")
	}
	if !c.opens(other) {
		t.Error("logging out one session ended another")
	}
	// Logging out again, with nothing to end, only clears the cookie.
	if resp, _ := c.page(http.MethodPost, "/logout", url.Values{"csrf": {csrf}}, cookie); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("second logout: %d, want 303", resp.StatusCode)
	}
}

// TestDashboardForgedCookie: only an id helen gave out opens the page: not
// a made-up one, a changed one, the token itself or the cookie earlier
// helens derived from the token.
func TestDashboardForgedCookie(t *testing.T) {
	h := startHelen(t, Config{})
	c := browser(t, h)
	cookie, _ := c.login()
	flip := []byte(cookie.Value)
	flip[len(flip)/2] ^= 1
	mac := hmac.New(sha256.New, []byte(c.token))
	mac.Write([]byte("helen dashboard session v1"))
	for name, v := range map[string]string{
		"made-up":   rand.Text(),
		"changed":   string(flip),
		"longer":    cookie.Value + "A",
		"shorter":   cookie.Value[:len(cookie.Value)-1],
		"empty":     "",
		"the-token": c.token,
		"old-mac":   base64.RawURLEncoding.EncodeToString(mac.Sum(nil)),
	} {
		if c.opens(&http.Cookie{Name: sessionCookie, Value: v}) {
			t.Errorf("a %s cookie %q opens the page", name, v)
		}
	}
	if !c.opens(cookie) {
		t.Error("the real cookie stopped working")
	}
}

// TestDashboardSessionBound: the table holds at most maxDashSessions; a
// login past it ends the session used longest ago, and no other.
func TestDashboardSessionBound(t *testing.T) {
	clock := newFakeClock()
	h := startHelen(t, Config{dashClock: clock.Now})
	c := browser(t, h)
	cookies := make([]*http.Cookie, maxDashSessions)
	for i := range cookies {
		cookies[i], _ = c.login()
		clock.Step(time.Second)
	}
	// The first is used again: the second is now the one used longest ago.
	if !c.opens(cookies[0]) {
		t.Fatal("first session refused")
	}
	clock.Step(time.Second)
	last, _ := c.login()
	if n := h.srv.dash.len(); n != maxDashSessions {
		t.Fatalf("%d sessions, want the bound %d", n, maxDashSessions)
	}
	if c.opens(cookies[1]) {
		t.Error("the session used longest ago survived a login past the bound")
	}
	for i, ck := range append(append([]*http.Cookie{cookies[0]}, cookies[2:]...), last) {
		if !c.opens(ck) {
			t.Errorf("session %d ended by a login past the bound", i)
		}
	}
}

// BenchmarkDashboardRender renders a full page: 500 statuses, 500 agents
// and 25 events, the most the page shows.
func BenchmarkDashboardRender(b *testing.B) {
	now := time.Now()
	page := dashboardPage{LoggedIn: true, Version: "1.0.0", Now: now, Refresh: dashboardRefresh, Agents: 1000, Connected: 990,
		Counts: map[string]int{"ok": 3990, "warning": 6, "critical": 4}}
	for i := range dashboardRows {
		name := fmt.Sprintf("web-%04d", i)
		page.Statuses = append(page.Statuses, monitor.StatusView{Status: state.Status{Agent: name, Schedule: "disk", Check: "disk", Status: "ok",
			Since: now.Add(-time.Hour), Time: now, Message: "/ 20.4% used (18.5 GiB of 252.0 GiB)"}})
		page.AgentList = append(page.AgentList, AgentView{Agent: state.Agent{Name: name, Version: "1.0.0", Addr: "10.0.0.1:40000",
			Connected: true, FirstSeen: now.Add(-24 * time.Hour), LastSeen: now}})
	}
	for range dashboardEvents {
		page.Events = append(page.Events, state.Event{Time: now, Agent: "web-0001", Schedule: "load", From: "ok", To: "warning", Message: "load 4.2"})
	}
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := dashboardTemplate.Execute(&buf, page); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len())/1024, "KiB/page")
}

// A status's long output on the page is bounded, cut on a character.
func TestDashboardLongBound(t *testing.T) {
	long := strings.Repeat("é", dashboardLongOutput) // two bytes a character
	got := dashboardLong(long)
	if !strings.HasPrefix(got, long[:dashboardLongOutput]) || !strings.Contains(got, "equus helen history --long") || len(got) > dashboardLongOutput+100 {
		t.Errorf("dashboardLong of %d bytes: %d bytes, ending %q", len(long), len(got), got[len(got)-80:])
	}
	if short := "a\nb"; dashboardLong(short) != short {
		t.Errorf("dashboardLong(%q) = %q", short, dashboardLong(short))
	}
}
