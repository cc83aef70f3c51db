package helen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/equus-monitoring/equus/internal/logtest"

	"github.com/equus-monitoring/equus/internal/leakcheck"
	"github.com/equus-monitoring/equus/internal/wait"
	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/wire"
)

// waitFor is how long a test waits for something that should happen.
const waitFor = 10 * time.Second

// TestMain fails the run when goroutines started by the tests outlive them.
func TestMain(m *testing.M) { leakcheck.Main(m, "equus/modes/helen.", "equus/state.") }

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

// agentCert issues an agent certificate from helen's CA.
func agentCert(t testing.TB, srv *Server, name string) *tls.Certificate {
	t.Helper()
	certPEM, keyPEM, err := srv.CA().IssueClient(name, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return &cert
}

// dialTLS connects to the agents' port trusting helen's CA, presenting
// cert (none when nil) and offering alpn.
func dialTLS(t testing.TB, h *testHelen, cert *tls.Certificate, alpn []string) (*tls.Conn, error) {
	t.Helper()
	cfg, err := pki.ClientConfig(pki.Trust{CA: h.srv.CA().Cert}, "127.0.0.1", cert, alpn)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	d := tls.Dialer{Config: cfg}
	c, err := d.DialContext(ctx, "tcp", h.addr())
	if err != nil {
		return nil, err
	}
	return c.(*tls.Conn), nil
}

// rawConn is a client that writes bytes of its choosing and reads what
// helen answers, for the cases a well-behaved agent never provokes.
type rawConn struct {
	t testing.TB
	c *tls.Conn
}

// dialRaw connects like dialTLS, failing the test if it cannot.
func dialRaw(t testing.TB, h *testHelen, cert *tls.Certificate, alpn []string) *rawConn {
	t.Helper()
	c, err := dialTLS(t, h, cert, alpn)
	if err != nil {
		t.Fatalf("dial helen: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(waitFor))
	return &rawConn{t: t, c: c}
}

// write sends s as it is. An error is not fatal: helen may have closed the
// connection already, and what it said is what the test looks at.
func (rc *rawConn) write(s string) {
	if _, err := io.WriteString(rc.c, s); err != nil {
		rc.t.Logf("write: %v", err)
	}
}

// readAll returns everything helen sends until it closes the connection.
func (rc *rawConn) readAll() ([]byte, error) {
	return io.ReadAll(rc.c)
}

// expectClosedWith checks that helen sent, after any checks, exactly
// "error <code>\n" and then closed the connection.
func (rc *rawConn) expectClosedWith(code wire.Code) {
	rc.t.Helper()
	got, err := rc.readAll()
	if err != nil {
		rc.t.Fatalf("read until close: %v (got %q)", err, got)
	}
	if err := checkErrorEnding(got, code); err != nil {
		rc.t.Fatal(err)
	}
}

// checkErrorEnding reports whether data is zero or more check messages
// followed by exactly "error <code>\n".
func checkErrorEnding(data []byte, code wire.Code) error {
	want := "error " + string(code) + "\n"
	if !strings.HasSuffix(string(data), want) {
		return fmt.Errorf("helen sent %q, want it to end with %q", data, want)
	}
	r := wire.NewReader(strings.NewReader(string(data)))
	for {
		m, err := r.Read()
		if err != nil {
			return fmt.Errorf("helen sent %q: %v", data, err)
		}
		if m.Kind == wire.KindError {
			if _, err := r.Read(); !errors.Is(err, io.EOF) {
				return fmt.Errorf("helen sent %q: more after the error", data)
			}
			return nil
		}
		if m.Kind != wire.KindCheck {
			return fmt.Errorf("helen sent %q: a %s before the error", data, m.Kind)
		}
	}
}
