package server

import (
	"bytes"
	"context"
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
	"github.com/equus-monitoring/equus/internal/pgtest"
	"github.com/equus-monitoring/equus/modes/helen/internal/helentest"
	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/result"

	"github.com/equus-monitoring/equus/internal/leakcheck"
	"github.com/equus-monitoring/equus/internal/wait"
)

// waitFor is how long a test waits for something that should happen.
const waitFor = helentest.WaitFor

// TestMain fails the run when goroutines started by the tests outlive them.
// The PostgreSQL server of the tests of helens that share a store
// (pgtest) is stopped after.
func TestMain(m *testing.M) {
	code := leakcheck.Run(m, "equus/modes/helen", "equus/state.", "equus/state/pgstore.")
	pgtest.Stop()
	os.Exit(code)
}

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
	if cfg.Store != "" && cfg.PeerListen == "" {
		// Not DefaultPeerListen: tests listen on free ports.
		cfg.PeerListen = "127.0.0.1:0"
	}
	if cfg.Executable == "" {
		cfg.Executable = helentest.Executable(t)
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

// What helentest's helpers ask of a helen (helentest.Helen).
func (h *testHelen) AgentsAddr() string { return h.addr() }
func (h *testHelen) OpsAddr() string    { return h.ls.Ops.Addr().String() }
func (h *testHelen) CA() *pki.CA        { return h.srv.CA() }
func (h *testHelen) AdminToken() string { t, _ := h.srv.AdminToken(); return t }
func (h *testHelen) Run(ctx context.Context, agent, check string, args []byte, timeout time.Duration) (result.Doc, error) {
	return h.srv.Run(ctx, agent, check, args, timeout)
}

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

// The helpers of helentest for this package's helen.
var (
	startAgent     = helentest.StartAgentOn
	startAgentWith = helentest.StartAgentWithOn
	agentCert      = helentest.AgentCertOf
	dialTLS        = helentest.DialTLSTo
	dialRaw        = helentest.DialRawTo
	httpsClient    = helentest.HTTPSClientOf
	get            = helentest.GetFrom
	newOpsClient   = helentest.OpsClientOf
	browser        = helentest.BrowserOf
	enroll         = helentest.EnrollAt
	runCheck       = helentest.RunCheck
)

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
