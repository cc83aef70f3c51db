package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/equus-monitoring/equus/internal/browsertest"
)

// TestConsoleLogin drives a real browser through the console of a real
// helen with an agent and schedules: the login form with the admin
// token, the dashboard at a phone's and a laptop's width, forms posted
// without the session's token refused, and the logout.
func TestConsoleLogin(t *testing.T) {
	ctx := browsertest.Tab(t)
	h := startConsoleHelen(t)
	h.withHistory(t)

	h.login(t, ctx)
	page := text(t, ctx, "main")
	for _, want := range []string{agentName, "file-log", "file-gone", "CRITICAL"} {
		if !strings.Contains(page, want) {
			t.Errorf("the dashboard does not show %q:\n%s", want, page)
		}
	}
	browsertest.Check(t, ctx, "dashboard")

	// The logout form of the session's own page, without its token and
	// then with another: refused, and the session lives on.
	const logout = `form[action="/logout"]`
	if code := post(t, ctx, logout, `document.querySelector('`+logout+` input[name="csrf"]').remove()`); code != http.StatusForbidden {
		t.Errorf("logout without the session's token: %d, want 403", code)
	}
	if h.open(t, ctx, "/"); !h.loggedIn(t, ctx) {
		t.Fatal("a logout without the session's token ended the session")
	}
	if code := post(t, ctx, logout, `document.querySelector('`+logout+` input[name="csrf"]').value = 'another'`); code != http.StatusForbidden {
		t.Errorf("logout with another token: %d, want 403", code)
	}
	if h.open(t, ctx, "/"); !h.loggedIn(t, ctx) {
		t.Fatal("a logout with another token ended the session")
	}

	// A page of another site posting to helen: the browser does not send
	// the session's cookie with it (SameSite=Strict), and whatever helen
	// answers, the session lives on.
	if err := chromedp.Do(ctx, chromedp.Navigate(dataPage(h.base+"/logout", map[string]string{"csrf": "forged"}))); err != nil {
		t.Fatal(err)
	}
	resp, err := chromedp.RunResponse(ctx, chromedp.Click("#go"))
	if err != nil {
		t.Fatalf("the other site's form: %v", err)
	}
	t.Logf("the other site's logout: %d %s", resp.Status, resp.URL)
	if h.open(t, ctx, "/"); !h.loggedIn(t, ctx) {
		t.Fatal("another site's form ended the session")
	}

	// The logout itself, from the page.
	if code := post(t, ctx, logout, ""); code != http.StatusOK || h.loggedIn(t, ctx) {
		t.Fatalf("logout: %d, logged in %v; want the login form", code, h.loggedIn(t, ctx))
	}
	if h.open(t, ctx, "/"); h.loggedIn(t, ctx) {
		t.Fatal("still logged in after the logout")
	}
}
