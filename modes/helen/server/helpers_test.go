package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/equus-monitoring/equus/internal/logtest"
	"github.com/equus-monitoring/equus/modes/helen/internal/helentest"
	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/result"

	"github.com/equus-monitoring/equus/internal/leakcheck"
	"github.com/equus-monitoring/equus/internal/wait"
)

// waitFor is how long a test waits for something that should happen.
const waitFor = helentest.WaitFor

// TestMain fails the run when goroutines started by the tests outlive them.
func TestMain(m *testing.M) { leakcheck.Main(m, "equus/modes/helen", "equus/state.") }

// newFakeClock returns a clock that moves only when the test moves it.
func newFakeClock() *clocktesting.FakeClock {
	return clocktesting.NewFakeClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
}

// poll waits until cond holds, failing the test after waitFor.
func poll(t testing.TB, what string, cond func() bool) {
	t.Helper()
	wait.Until(t, what, waitFor, 5*time.Millisecond, cond)
}

// testHelen is a helen serving on loopback for one test.
type testHelen struct {
	srv    *Server
	ls     Listeners
	dir    string
	cancel context.CancelFunc
	done   chan error
}

// startHelen starts a helen in a fresh data directory, with cfg's fields
// that are set overriding the defaults of tests. It is stopped and closed
// when the test ends.
func startHelen(t testing.TB, cfg Config) *testHelen {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.Version == "" {
		cfg.Version = "1.0.0"
	}
	if cfg.Executable == "" {
		// A small stand-in for helen's own binary, so that offering it
		// does not hash the test binary.
		cfg.Executable = filepath.Join(t.TempDir(), "equus")
		if err := os.WriteFile(cfg.Executable, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(logtest.Writer{T: t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := srv.Listen("127.0.0.1:0", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &testHelen{srv: srv, ls: ls, dir: cfg.DataDir, cancel: cancel, done: make(chan error, 1)}
	go func() { h.done <- srv.Serve(ctx, ls) }()
	t.Cleanup(func() {
		if err := h.stop(); err != nil {
			t.Errorf("Serve: %v", err)
		}
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h
}

// stop ends Serve and waits for it. Calling it again is harmless.
func (h *testHelen) stop() error {
	h.cancel()
	err, ok := <-h.done
	if ok {
		close(h.done)
	}
	return err
}

// addr is the agents' port.
func (h *testHelen) addr() string { return h.ls.Agents.Addr().String() }

// The shared test agent and raw clients (helentest), under the names the
// tests use.
type (
	behavior  = helentest.Behavior
	fakeAgent = helentest.Agent
	rawConn   = helentest.RawConn
)

var (
	lastMessage      = helentest.LastMessage
	endedCleanly     = helentest.EndedCleanly
	checkErrorEnding = helentest.CheckErrorEnding
)

// startAgent connects an agent named name to h and says hello. It does
// not wait for helen to accept it: see Ready.
func startAgent(t testing.TB, h *testHelen, name string, beh behavior) *fakeAgent {
	t.Helper()
	return helentest.StartAgent(t, h.addr(), h.srv.CA(), name, beh)
}

// startAgentWith is startAgent with the certificate given.
func startAgentWith(t testing.TB, h *testHelen, name string, cert *tls.Certificate, beh behavior) *fakeAgent {
	t.Helper()
	return helentest.StartAgentWith(t, h.addr(), h.srv.CA(), name, cert, beh)
}

// agentCert issues an agent certificate from helen's CA.
func agentCert(t testing.TB, srv *Server, name string) *tls.Certificate {
	t.Helper()
	return helentest.AgentCert(t, srv.CA(), name)
}

// dialTLS connects to the agents' port trusting helen's CA, presenting
// cert (none when nil) and offering alpn.
func dialTLS(t testing.TB, h *testHelen, cert *tls.Certificate, alpn []string) (*tls.Conn, error) {
	t.Helper()
	return helentest.DialTLS(t, h.addr(), h.srv.CA(), cert, alpn)
}

// dialRaw connects like dialTLS, failing the test if it cannot.
func dialRaw(t testing.TB, h *testHelen, cert *tls.Certificate, alpn []string) *rawConn {
	t.Helper()
	return helentest.DialRaw(t, h.addr(), h.srv.CA(), cert, alpn)
}

// socketClient asks helen's API through its admin socket.
type socketClient struct{ hc *http.Client }

// adminFor returns a client of h's admin socket.
func adminFor(t testing.TB, h *testHelen) *socketClient {
	t.Helper()
	path := filepath.Join(h.dir, SocketFile)
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &socketClient{hc: &http.Client{Transport: tr}}
}

// do sends in as JSON and decodes the answer into out, or returns the
// answer's error.
func (c *socketClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://helen"+path, body)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("helen: %s", resp.Status)
	}
	return json.Unmarshal(data, out)
}

// httpsClient is a client of h's agents' HTTPS endpoints presenting cert
// (none when nil).
func httpsClient(t testing.TB, h *testHelen, cert *tls.Certificate) *http.Client {
	t.Helper()
	return helentest.HTTPSClient(t, h.srv.CA(), cert)
}

// get fetches path from h's agents' port with hc.
func get(t testing.TB, hc *http.Client, h *testHelen, path string) (int, []byte) {
	t.Helper()
	return helentest.Get(t, hc, h.addr(), path)
}

// The shared clients and helpers of helentest, under the names the tests
// use.
type opsClient = helentest.OpsClient

var (
	isJSONError = helentest.IsJSONError
	csrfOf      = helentest.CSRFOf
	scrape      = helentest.Scrape
	gauge       = helentest.Gauge
	newCSR      = helentest.NewCSR
	waitEvent   = helentest.WaitEvent
)

// newOpsClient is a client of h's operators' port.
func newOpsClient(t testing.TB, h *testHelen) *opsClient {
	t.Helper()
	token, _ := h.srv.AdminToken()
	return helentest.NewOpsClient(t, h.ls.Ops.Addr().String(), h.srv.CA(), token)
}

// browser is a client of h's operators' port that keeps cookies and does
// not follow redirects.
func browser(t testing.TB, h *testHelen) *opsClient {
	t.Helper()
	token, _ := h.srv.AdminToken()
	return helentest.Browser(t, h.ls.Ops.Addr().String(), h.srv.CA(), token)
}

// enroll posts an enrollment request to h and returns the status and
// answer.
func enroll(t testing.TB, hc *http.Client, h *testHelen, token string, csr []byte) (int, pki.EnrollResponse) {
	t.Helper()
	return helentest.Enroll(t, hc, h.addr(), token, csr)
}

// runCheck is srv.Run with a test's context and a generous timeout.
func runCheck(t testing.TB, h *testHelen, agent, check, args string) result.Doc {
	t.Helper()
	doc, err := h.srv.Run(context.Background(), agent, check, []byte(args), waitFor)
	if err != nil {
		t.Fatalf("run %s on %s: %v", check, agent, err)
	}
	return doc
}
