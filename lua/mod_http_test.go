package lua

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	glua "github.com/yuin/gopher-lua"
)

// newTLSTestServer starts a TLS server for the http module's tests and
// returns it with a CA file trusting its certificate.
func newTLSTestServer(t *testing.T) (srv *httptest.Server, caFile string) {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Method", r.Method)
		w.Header().Add("X-Twice", "a")
		w.Header().Add("X-Twice", "b")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, "%s %s %s", r.Method, r.Header.Get("X-Token"), body)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("x", 10000)))
	})
	// /slow answers only when the test ends: not even when the client
	// gives up, since a handler returning then may still have its empty
	// response read by a client whose deadline has just passed.
	done := make(chan struct{})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
		}
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/echo", http.StatusFound)
	})
	srv = httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(done) }) // before srv.Close, which waits for handlers
	return srv, serverCAFile(t, srv)
}

func TestHTTP(t *testing.T) {
	srv, caFile := newTLSTestServer(t)
	L := newModState(t, nil)
	L.SetGlobal("URL", glua.LString(srv.URL))
	L.SetGlobal("CA", glua.LString(caFile))

	res := mustSucceed(t, evalLua(t, L, `return require('http').get(URL .. '/echo', {ca_file = CA, headers = {["X-Token"] = "t1"}})`))
	if got := number(t, res, "status"); got != 201 {
		t.Errorf("status = %v", got)
	}
	if got := field(t, res, "body").String(); got != "GET t1 " {
		t.Errorf("body = %q", got)
	}
	headers := field(t, res, "headers")
	if field(t, headers, "x-method").String() != "GET" || field(t, headers, "x-twice").String() != "a, b" {
		t.Errorf("headers: x-method %v, x-twice %v", field(t, headers, "x-method"), field(t, headers, "x-twice"))
	}
	if l := number(t, res, "latency_ms"); l <= 0 || l > 10000 {
		t.Errorf("latency_ms = %v", l)
	}
	if field(t, res, "truncated") != glua.LFalse {
		t.Errorf("truncated = %v", field(t, res, "truncated"))
	}

	res = mustSucceed(t, evalLua(t, L, `return require('http').post(URL .. '/echo', 'payload', {ca_file = CA})`))
	if got := field(t, res, "body").String(); got != "POST  payload" {
		t.Errorf("post body = %q", got)
	}

	res = mustSucceed(t, evalLua(t, L, `return require('http').get(URL .. '/big', {ca_file = CA, max_body = 100})`))
	if got := field(t, res, "body").String(); len(got) != 100 || field(t, res, "truncated") != glua.LTrue {
		t.Errorf("max_body 100: got %d bytes, truncated %v", len(got), field(t, res, "truncated"))
	}
	res = mustSucceed(t, evalLua(t, L, `return require('http').get(URL .. '/big', {ca_file = CA})`))
	if got := field(t, res, "body").String(); len(got) != 10000 {
		t.Errorf("default max_body: got %d bytes", len(got))
	}

	res = mustSucceed(t, evalLua(t, L, `return require('http').get(URL .. '/moved', {ca_file = CA})`))
	if got := number(t, res, "status"); got != 201 {
		t.Errorf("followed redirect: status %v", got)
	}
	res = mustSucceed(t, evalLua(t, L, `return require('http').get(URL .. '/moved', {ca_file = CA, follow_redirects = false})`))
	if got := number(t, res, "status"); got != 302 {
		t.Errorf("redirect not followed: status %v", got)
	}
}

func TestHTTPFailures(t *testing.T) {
	srv, caFile := newTLSTestServer(t)
	L := newModState(t, nil)
	L.SetGlobal("URL", glua.LString(srv.URL))
	L.SetGlobal("CA", glua.LString(caFile))
	tests := []struct{ name, call, want string }{
		{"untrusted", `get(URL .. '/echo')`, "certificate"},
		{"timeout", `get(URL .. '/slow', {ca_file = CA, timeout_ms = 100})`, "no response within 100ms"},
		{"scheme", `get('ftp://example.com/')`, "scheme"},
		{"bad-url", `get('http://[::1')`, "GET http://[::1"},
		{"no-ca-file", `get(URL, {ca_file = CA .. '.missing'})`, "ca_file"},
		{"ca-file-not-pem", `get(URL, {ca_file = URL_FILE})`, "no PEM certificate"},
		{"closed-port", `get('http://127.0.0.1:' .. CLOSED .. '/')`, "refused"},
	}
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	L.SetGlobal("URL_FILE", glua.LString(notPEM))
	L.SetGlobal("CLOSED", glua.LNumber(closedPort(t)))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			vals := evalLua(t, L, "return require('http')."+tt.call)
			if len(vals) != 2 || vals[0] != glua.LNil || !strings.Contains(vals[1].String(), tt.want) {
				t.Errorf("%s = %v, want nil and an error with %q", tt.call, vals, tt.want)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

func TestHTTPDeadline(t *testing.T) {
	srv, caFile := newTLSTestServer(t)
	L := newModState(t, nil)
	L.SetGlobal("URL", glua.LString(srv.URL))
	L.SetGlobal("CA", glua.LString(caFile))
	ctx, cancel := contextWithTimeout(t, 200*time.Millisecond)
	defer cancel()
	L.SetContext(ctx)
	start := time.Now()
	vals, err := tryLua(L, `return require('http').get(URL .. '/slow', {ca_file = CA})`)
	if err == nil && (len(vals) < 1 || vals[0] != glua.LNil) {
		t.Errorf("request outlived the check's deadline: %v", vals)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("returned after %v, past its 200ms deadline", d)
	}
}

func TestHTTPMisuse(t *testing.T) {
	L := newModState(t, nil)
	for _, call := range []string{
		"get()",
		"get('https://x/', 5)",
		"get('https://x/', {timeout_ms = 'soon'})",
		"get('https://x/', {timeout_ms = 0})",
		"get('https://x/', {headers = 'X: y'})",
		"get('https://x/', {headers = {X = {}}})",
		"get('https://x/', {max_body = -1})",
		"get('https://x/', {ca_file = 1})",
		"get('https://x/', {follow_redirects = 'no'})",
		"post('https://x/')",
	} {
		if _, err := tryLua(L, "return require('http')."+call); err == nil {
			t.Errorf("http.%s was not refused", call)
		}
	}
}
