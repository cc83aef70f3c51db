package server

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/console"
	"github.com/equus-monitoring/equus/state"
)

// TestDashboard: the page shows nothing but a login form without the admin
// token; a login with the token sets a session cookie that is not the
// token; with it the page shows the agents, the statuses worst first and
// the events, with what agents send escaped.
func TestDashboard(t *testing.T) {
	h := startHelen(t, Config{})
	a := startAgent(t, h, "web-1", behavior{})
	a.Ready()
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
	resp, body := c.Page(http.MethodGet, "/", nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `action="/login"`) || strings.Contains(body, "web-1") {
		t.Fatalf("page without a session: %d, login form %v, names the agent %v", resp.StatusCode,
			strings.Contains(body, `action="/login"`), strings.Contains(body, "web-1"))
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}

	resp, body = c.Page(http.MethodPost, "/login", url.Values{"token": {"eqa_wrong"}}, nil)
	if resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 || !strings.Contains(body, "nor the admin token") {
		t.Fatalf("login with a wrong token: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	resp, _ = c.Page(http.MethodPost, "/login", url.Values{"token": {c.Token}}, nil)
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 {
		t.Fatalf("login: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	cookie := resp.Cookies()[0]
	if cookie.Value == "" || strings.Contains(cookie.Value, c.Token) || !cookie.HttpOnly || !cookie.Secure || cookie.SameSite != http.SameSiteStrictMode {
		t.Errorf("session cookie %+v: want HttpOnly, Secure, SameSite=Strict, and not the token", cookie)
	}

	resp, body = c.Page(http.MethodGet, "/", nil, cookie)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("page with a session: %d", resp.StatusCode)
	}
	csrf := csrfOf(t, body)
	for _, want := range []string{"web-1", "disk-root", "CRITICAL", "1 of 1 agents", "&lt;script&gt;alert(1)&lt;/script&gt;"} {
		if !strings.Contains(body, strings.ReplaceAll(want, "1 of 1 agents", "<b>1</b> of 1 agents")) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "<script>") {
		t.Error("page holds an agent's message unescaped")
	}
	_, events := c.Page(http.MethodGet, "/events", nil, cookie)
	if want := `<span class="critical">CRITICAL</span>`; !strings.Contains(events, want) || strings.Contains(events, "<script>") {
		t.Errorf("/events lacks %q, or holds a message unescaped:\n%s", want, events)
	}
	if i, j := strings.Index(body, ">disk-root<"), strings.Index(body, ">load<"); i < 0 || j < 0 || i > j {
		t.Errorf("statuses not worst first: critical at %d, ok at %d", i, j)
	}

	// The bearer token works too, as for the API; a forged cookie does not.
	req, _ := http.NewRequest(http.MethodGet, c.Base+"/", nil)
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if resp, err := c.HC.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("page with the bearer token: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	_, body = c.Page(http.MethodGet, "/", nil, &http.Cookie{Name: console.SessionCookie, Value: c.Token})
	if strings.Contains(body, "web-1") {
		t.Error("the token itself as the cookie opened the page")
	}

	resp, _ = c.Page(http.MethodPost, "/logout", url.Values{"csrf": {csrf}}, cookie)
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 || resp.Cookies()[0].MaxAge >= 0 {
		t.Errorf("logout: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	if resp, css := c.Page(http.MethodGet, "/console.css", nil, nil); resp.StatusCode != http.StatusOK || !strings.Contains(css, ".critical") {
		t.Errorf("console.css: %d", resp.StatusCode)
	}
	if resp, _ := c.Page(http.MethodGet, "/nope", nil, cookie); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nope: %d, want 404", resp.StatusCode)
	}
}

// TestDashboardSessionExpires: a session ends on the server 12 hours after
// its login, however long the browser keeps the cookie.
func TestDashboardSessionExpires(t *testing.T) {
	clock := newFakeClock()
	h := startHelen(t, Config{dashClock: clock.Now})
	c := browser(t, h)
	cookie, _ := c.Login()
	if cookie.MaxAge != int(console.SessionLifetime/time.Second) {
		t.Errorf("cookie MaxAge %d, want %d", cookie.MaxAge, int(console.SessionLifetime/time.Second))
	}
	clock.Step(console.SessionLifetime - time.Second)
	if !c.Opens(cookie) {
		t.Fatal("the session ended before 12 hours")
	}
	clock.Step(time.Second)
	if c.Opens(cookie) {
		t.Fatal("a cookie kept by the browser opens the page 12 hours after its login")
	}
	if n := h.srv.console.Sessions(); n != 0 {
		t.Errorf("%d sessions kept after expiry", n)
	}
	resp, _ := c.Page(http.MethodGet, "/", nil, cookie)
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
	cookie, csrf := c.Login()
	copied := &http.Cookie{Name: cookie.Name, Value: cookie.Value}
	other, otherCSRF := c.Login()

	for _, bad := range []url.Values{nil, {"csrf": {""}}, {"csrf": {"x" + csrf}}, {"csrf": {otherCSRF}}} {
		resp, _ := c.Page(http.MethodPost, "/logout", bad, cookie)
		if resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
			t.Errorf("logout with csrf %q: %d, cookies %v; want 403 and the cookie kept", bad.Get("csrf"), resp.StatusCode, resp.Cookies())
		}
	}
	if !c.Opens(copied) {
		t.Fatal("a refused logout ended the session")
	}
	if resp, _ := c.Page(http.MethodGet, "/logout", nil, cookie); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /logout: %d, want 405", resp.StatusCode)
	}

	resp, _ := c.Page(http.MethodPost, "/logout", url.Values{"csrf": {csrf}}, cookie)
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 || resp.Cookies()[0].MaxAge >= 0 || resp.Cookies()[0].Value != "" {
		t.Fatalf("logout: %d, cookies %v; want 303 and the cookie cleared", resp.StatusCode, resp.Cookies())
	}
	if c.Opens(copied) {
		t.Fatal("a copy of the cookie opens the page after logout")
	}
	if !c.Opens(other) {
		t.Error("logging out one session ended another")
	}
	// Logging out again, with nothing to end, only clears the cookie.
	if resp, _ := c.Page(http.MethodPost, "/logout", url.Values{"csrf": {csrf}}, cookie); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("second logout: %d, want 303", resp.StatusCode)
	}
}

// TestDashboardForgedCookie: only an id helen gave out opens the page: not
// a made-up one, a changed one, the token itself or the cookie earlier
// helens derived from the token.
func TestDashboardForgedCookie(t *testing.T) {
	h := startHelen(t, Config{})
	c := browser(t, h)
	cookie, _ := c.Login()
	flip := []byte(cookie.Value)
	flip[len(flip)/2] ^= 1
	mac := hmac.New(sha256.New, []byte(c.Token))
	mac.Write([]byte("helen dashboard session v1"))
	for name, v := range map[string]string{
		"made-up":   rand.Text(),
		"changed":   string(flip),
		"longer":    cookie.Value + "A",
		"shorter":   cookie.Value[:len(cookie.Value)-1],
		"empty":     "",
		"the-token": c.Token,
		"old-mac":   base64.RawURLEncoding.EncodeToString(mac.Sum(nil)),
	} {
		if c.Opens(&http.Cookie{Name: console.SessionCookie, Value: v}) {
			t.Errorf("a %s cookie %q opens the page", name, v)
		}
	}
	if !c.Opens(cookie) {
		t.Error("the real cookie stopped working")
	}
}

// TestDashboardSessionBound: the table holds at most console.MaxSessions; a
// login past it ends the session used longest ago, and no other.
func TestDashboardSessionBound(t *testing.T) {
	clock := newFakeClock()
	h := startHelen(t, Config{dashClock: clock.Now})
	c := browser(t, h)
	cookies := make([]*http.Cookie, console.MaxSessions)
	for i := range cookies {
		cookies[i], _ = c.Login()
		clock.Step(time.Second)
	}
	// The first is used again: the second is now the one used longest ago.
	if !c.Opens(cookies[0]) {
		t.Fatal("first session refused")
	}
	clock.Step(time.Second)
	last, _ := c.Login()
	if n := h.srv.console.Sessions(); n != console.MaxSessions {
		t.Fatalf("%d sessions, want the bound %d", n, console.MaxSessions)
	}
	if c.Opens(cookies[1]) {
		t.Error("the session used longest ago survived a login past the bound")
	}
	for i, ck := range append(append([]*http.Cookie{cookies[0]}, cookies[2:]...), last) {
		if !c.Opens(ck) {
			t.Errorf("session %d ended by a login past the bound", i)
		}
	}
}
