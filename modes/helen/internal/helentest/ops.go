package helentest

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/metricset"
	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/state"
)

// OpsClient is an HTTPS client of the operators' port that trusts helen's
// CA.
type OpsClient struct {
	t     testing.TB
	HC    *http.Client
	Base  string // https://ADDR
	Token string // the admin token
}

// NewOpsClient is a client of the operators' port at addr that trusts ca
// and knows the admin token.
func NewOpsClient(t testing.TB, addr string, ca *pki.CA, token string) *OpsClient {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}}
	t.Cleanup(tr.CloseIdleConnections)
	return &OpsClient{t: t, HC: &http.Client{Transport: tr, Timeout: WaitFor}, Base: "https://" + addr, Token: token}
}

// Do sends a request with the given bearer token ("" for none) and returns
// the status and body.
func (c *OpsClient) Do(method, path, token string, body any) (int, []byte) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.Base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, data := c.Send(req)
	return resp.StatusCode, data
}

// Send sends req and returns the answer with its whole body.
func (c *OpsClient) Send(req *http.Request) (*http.Response, []byte) {
	c.t.Helper()
	resp, err := c.HC.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp, data
}

// Get sends an authorized request and decodes its 200 answer into out.
func (c *OpsClient) Get(path string, out any) {
	c.t.Helper()
	code, data := c.Do(http.MethodGet, path, c.Token, nil)
	if code != http.StatusOK {
		c.t.Fatalf("GET %s: %d %s", path, code, data)
	}
	if err := json.Unmarshal(data, out); err != nil {
		c.t.Fatalf("GET %s: %v in %s", path, err, data)
	}
}

// IsJSONError reports whether data is exactly {"error": "..."}.
func IsJSONError(data []byte) bool {
	var m map[string]any
	if json.Unmarshal(data, &m) != nil || len(m) != 1 {
		return false
	}
	s, ok := m["error"].(string)
	return ok && s != ""
}

// Browser is an HTTPS client of the operators' port that keeps cookies
// and does not follow redirects, as a test wants to see them.
func Browser(t testing.TB, addr string, ca *pki.CA, token string) *OpsClient {
	c := NewOpsClient(t, addr, ca, token)
	c.HC.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

func (c *OpsClient) Page(method, path string, form url.Values, cookie *http.Cookie) (*http.Response, string) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.Base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	resp, data := c.Send(req)
	return resp, string(data)
}

// CSRFOf returns the token of the logout form of a dashboard page.
func CSRFOf(t testing.TB, page string) string {
	t.Helper()
	m := regexp.MustCompile(`<input type="hidden" name="csrf" value="([^"]+)">`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no logout form with a csrf token in the page:\n%.300s", page)
	}
	return m[1]
}

// Login logs c in and returns the session cookie and the page's csrf
// token.
func (c *OpsClient) Login() (*http.Cookie, string) {
	c.t.Helper()
	resp, _ := c.Page(http.MethodPost, "/login", url.Values{"token": {c.Token}}, nil)
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 {
		c.t.Fatalf("login: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	cookie := resp.Cookies()[0]
	resp, body := c.Page(http.MethodGet, "/", nil, cookie)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "agents connected") {
		c.t.Fatalf("page right after login: %d, logged in %v", resp.StatusCode, strings.Contains(body, "agents connected"))
	}
	return cookie, CSRFOf(c.t, body)
}

// Opens reports whether cookie opens the dashboard, rather than its
// Login form.
func (c *OpsClient) Opens(cookie *http.Cookie) bool {
	c.t.Helper()
	resp, body := c.Page(http.MethodGet, "/", nil, cookie)
	in, form := strings.Contains(body, "agents connected"), strings.Contains(body, `action="/login"`)
	if resp.StatusCode != http.StatusOK || in == form {
		c.t.Fatalf("page: %d, logged in %v, login form %v", resp.StatusCode, in, form)
	}
	return in
}

// Scrape fetches /metrics and parses it as a scraper would.
func Scrape(t testing.TB, c *OpsClient) map[string]*metricset.ParsedFamily {
	t.Helper()
	code, data := c.Do(http.MethodGet, "/metrics", "", nil)
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", code, data)
	}
	fams, err := metricset.Parse(string(data))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// Gauge returns the value of the series of fam whose labels include want.
func Gauge(fam *metricset.ParsedFamily, want map[string]string) (float64, bool) {
	return fam.Value(want)
}

// Enroll posts an enrollment request and returns the status and answer.
func Enroll(t testing.TB, hc *http.Client, addr, token string, csr []byte) (int, pki.EnrollResponse) {
	t.Helper()
	body, err := json.Marshal(pki.EnrollRequest{Token: token, CSR: string(csr)})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Post("https://"+addr+"/v1/enroll", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.TLS == nil || resp.TLS.NegotiatedProtocol != "http/1.1" {
		t.Errorf("enrollment not over ALPN http/1.1: %+v", resp.TLS)
	}
	var er pki.EnrollResponse
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&er); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, er
}

// NewCSR makes a certificate request and its key for agent name.
func NewCSR(t testing.TB, name string) (csr, key []byte) {
	t.Helper()
	csr, key, err := pki.NewCSR(name)
	if err != nil {
		t.Fatal(err)
	}
	return csr, key
}

// WaitEvent waits for the next event on ch that pred accepts, failing the
// test after waitFor.
func WaitEvent(t testing.TB, ch <-chan state.Event, what string, pred func(state.Event) bool) state.Event {
	t.Helper()
	deadline := time.After(WaitFor)
	for {
		select {
		case ev := <-ch:
			if pred(ev) {
				return ev
			}
		case <-deadline:
			t.Fatalf("timed out waiting for the event %s", what)
		}
	}
}
