package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/equus-monitoring/equus/internal/browsertest"
)

// consoleHelen is a helen whose operators' port a browser of the run
// trusts, with an agent connected and schedules that have history.
type consoleHelen struct {
	*helen
	base  string // https://ADDR of the operators' port
	token string // the admin token
	http  *http.Client
}

var opsRE = regexp.MustCompile(`operators on (https://\S+)`)

// startConsoleHelen runs helen with its operators' port on loopback and
// the run's browser key as its server key (helen keeps a key it finds in
// its data directory and has its CA sign it), and with no agent yet.
func startConsoleHelen(t *testing.T) *consoleHelen {
	t.Helper()
	data := filepath.Join(t.TempDir(), "helen")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "server-key.pem"), browsertest.KeyPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	h := startHelenIn(t, built[v100], data, nil, "--http=127.0.0.1:0")
	m := opsRE.FindStringSubmatch(h.output())
	if m == nil {
		t.Fatalf("helen printed no operators' address:\n%s", h.output())
	}
	token, err := os.ReadFile(filepath.Join(data, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(data, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("helen's ca.pem holds no certificate")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	t.Cleanup(tr.CloseIdleConnections)
	return &consoleHelen{helen: h, base: strings.TrimSuffix(m[1], "/"), token: strings.TrimSpace(string(token)),
		http: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// withHistory schedules a file check on a file that exists (file-log,
// whose age and size make a graph) and one on a file that does not
// (file-gone: critical), every second, connects an agent, and waits until
// file-log has a few results.
func (h *consoleHelen) withHistory(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	if err := os.WriteFile(log, []byte("started\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, path := range map[string]string{"file-log": log, "file-gone": filepath.Join(dir, "gone")} {
		h.cli(t, "schedule", "add", "--check", "file", "--args", `{"path":"`+path+`"}`, "--every", "1s", name)
	}
	startStage0(t, installAgent(t, v100), filepath.Join(t.TempDir(), "agent"), h.helen)
	h.agentReady(t, agentName, v100, time.Minute)
	poll(t, "file-log ok and file-gone critical", time.Minute, func() bool {
		st := h.statuses(t)
		return st["file-log"] == "ok" && st["file-gone"] == "critical"
	})
	poll(t, "file-log to have 3 results", 30*time.Second, func() bool {
		var results []json.RawMessage
		out := h.cli(t, "history", agentName, "file-log", "--json", "--limit", "3")
		return json.Unmarshal([]byte(out), &results) == nil && len(results) >= 3
	})
}

// get answers GET path of the operators' port with the admin token, as
// a Go client that checks helen's certificate against its CA.
func (h *consoleHelen) get(t *testing.T, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+h.token)
	resp, err := h.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(body)
}

// login logs the tab in with the admin token through the login form (no
// name, the token as the password), and
// waits for the logged-in page.
func (h *consoleHelen) login(t *testing.T, ctx context.Context) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(h.base+"/"), chromedp.WaitVisible(`form#login input[name="password"]`)); err != nil {
		t.Fatalf("the login form: %v", err)
	}
	browsertest.Check(t, ctx, "login")
	resp, err := chromedp.RunResponse(ctx,
		chromedp.SendKeys(`form#login input[name="password"]`, h.token),
		chromedp.Submit(`form#login input[name="password"]`))
	if err != nil {
		t.Fatalf("log in: %v", err)
	}
	if resp.Status != http.StatusOK || !strings.HasSuffix(resp.URL, "/") {
		t.Fatalf("log in: %d %s, want 200 at /", resp.Status, resp.URL)
	}
	if !h.loggedIn(t, ctx) {
		t.Fatal("log in: the page has no logout form")
	}
}

// loggedIn reports whether the tab's page is one of a logged-in session:
// it has the logout form, with the session's token.
func (h *consoleHelen) loggedIn(t *testing.T, ctx context.Context) bool {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('form[action="/logout"] input[name="csrf"]').length`))
	if err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// open navigates the tab to path and returns the document's status.
func (h *consoleHelen) open(t *testing.T, ctx context.Context, path string) int64 {
	t.Helper()
	resp, err := chromedp.RunResponse(ctx, chromedp.Navigate(h.base+path))
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	return resp.Status
}

// post submits the form of the tab's page that sel selects, after script
// (JavaScript run on the page first, "" for none), and returns the
// status of the page it leads to.
func post(t *testing.T, ctx context.Context, sel, script string) int64 {
	t.Helper()
	steps := []chromedp.Action[chromedp.Void]{}
	if script != "" {
		steps = append(steps, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](script+`; true`)(ctx, tg)
			return err
		}))
	}
	steps = append(steps, chromedp.Submit(sel))
	resp, err := chromedp.RunResponse(ctx, steps...)
	if err != nil {
		t.Fatalf("submit %s: %v", sel, err)
	}
	return resp.Status
}

// dataPage is a page of no site of helen's (a data: URL), that posts a
// form to action with the fields given, when its button #go is clicked.
func dataPage(action string, fields map[string]string) string {
	var b strings.Builder
	b.WriteString(`<!DOCTYPE html><form id="f" method="post" action="` + action + `">`)
	for k, v := range fields {
		b.WriteString(`<input type="hidden" name="` + k + `" value="` + v + `">`)
	}
	b.WriteString(`<button id="go">go</button></form>`)
	return "data:text/html," + url.PathEscape(b.String())
}
