package equus

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/leakcheck"
	"github.com/equus-monitoring/equus/internal/shellwire"
	"github.com/equus-monitoring/equus/internal/wait"
	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/wire"
)

// waitFor is how long a test waits for something that should happen.
const waitFor = 10 * time.Second

// checkGoroutines fails the test if it leaves goroutines behind. Call it
// first, so that its cleanup runs after every other.
func checkGoroutines(t testing.TB) { leakcheck.Test(t, waitFor) }

// TestMain fails the run when the tests leave a goroutine of the agent or
// of its Lua runtime behind, such as a session of an agent not stopped.
func TestMain(m *testing.M) { leakcheck.Main(m, "equus/modes/equus.", "equus/lua.") }

// poll waits until cond holds, failing the test after waitFor.
func poll(t testing.TB, what string, cond func() bool) {
	t.Helper()
	wait.Until(t, what, waitFor, 5*time.Millisecond, cond)
}

// logBuffer keeps the agent's log, for tests that wait for a line, and
// echoes it to the test log.
type logBuffer struct {
	t  testing.TB
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.t.Logf("agent: %s", bytes.TrimRight(p, "\n"))
	return l.b.Write(p)
}

func (l *logBuffer) contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Contains(l.b.String(), s)
}

func (l *logBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// testPKI is an in-memory CA with helen's server certificate, and files
// for the agent: the CA certificate and an agent certificate and key.
type testPKI struct {
	ca       *pki.CA
	server   tls.Certificate
	caFile   string
	certFile string
	keyFile  string
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	now := time.Now()
	ca, err := pki.NewCA("test CA", now)
	if err != nil {
		t.Fatal(err)
	}
	server, err := ca.IssueServer([]string{"127.0.0.1"}, now)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.IssueClient("web-1", now)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := &testPKI{
		ca:       ca,
		server:   server,
		caFile:   filepath.Join(dir, "ca.pem"),
		certFile: filepath.Join(dir, "web-1.pem"),
		keyFile:  filepath.Join(dir, "web-1-key.pem"),
	}
	for path, data := range map[string][]byte{p.caFile: ca.CertPEM, p.certFile: certPEM, p.keyFile: keyPEM} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// fakeHelen is a wire server on 127.0.0.1:0 that requires client
// certificates from the test CA and hands each connection to the test.
type fakeHelen struct {
	t     testing.TB
	ln    net.Listener
	conns chan *helenConn
	// shells receives the connections that chose the shell's ALPN, their
	// handshake done.
	shells chan *tls.Conn
	wg     sync.WaitGroup
}

func startHelen(t testing.TB, p *testPKI) *fakeHelen {
	t.Helper()
	var cfg *tls.Config
	if p != nil {
		cfg = pki.ServerConfig(p.ca, p.server, []string{wire.ALPN, shellwire.ALPN})
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &fakeHelen{t: t, ln: ln, conns: make(chan *helenConn, 16), shells: make(chan *tls.Conn, 16)}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.wg.Add(1)
			go func() {
				defer h.wg.Done()
				if cfg != nil {
					tc := tls.Server(c, cfg)
					tc.SetDeadline(time.Now().Add(waitFor))
					if err := tc.Handshake(); err != nil {
						tc.Close()
						return
					}
					tc.SetDeadline(time.Time{})
					if tc.ConnectionState().NegotiatedProtocol == shellwire.ALPN {
						h.shells <- tc
						return
					}
					c = tc
				}
				hc := &helenConn{t: t, c: c, msgs: make(chan wire.Message, 256), done: make(chan struct{})}
				hc.serve(h.conns)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for {
			select {
			case hc := <-h.conns:
				hc.c.Close()
				continue
			case c := <-h.shells:
				c.Close()
				continue
			default:
			}
			break
		}
		h.wg.Wait()
	})
	return h
}

func (h *fakeHelen) addr() string { return h.ln.Addr().String() }

// accept returns the next connection whose hello was read.
func (h *fakeHelen) accept() *helenConn {
	h.t.Helper()
	select {
	case hc := <-h.conns:
		h.t.Cleanup(func() { hc.c.Close() })
		return hc
	case <-time.After(waitFor):
		h.t.Fatal("no agent connected")
		return nil
	}
}

// helenConn is one agent's connection seen from helen.
type helenConn struct {
	t     testing.TB
	c     net.Conn
	hello []byte // the exact bytes of the first line
	w     *wire.Writer
	wmu   sync.Mutex
	msgs  chan wire.Message
	done  chan struct{} // closed when the agent's side is read to the end
	err   error         // why reading ended, once done is closed
}

// serve reads the hello line raw, hands the connection over, then reads
// messages until the connection ends.
func (hc *helenConn) serve(conns chan<- *helenConn) {
	defer close(hc.done)
	hc.c.SetDeadline(time.Now().Add(waitFor))
	br := bufio.NewReader(hc.c)
	line, err := br.ReadBytes('\n')
	if err != nil {
		hc.c.Close()
		return
	}
	hc.c.SetDeadline(time.Time{})
	hc.hello = line
	hc.w = wire.NewWriter(hc.c)
	conns <- hc
	r := wire.NewReader(br)
	for {
		m, err := r.Read()
		if err != nil {
			hc.err = err
			return
		}
		hc.msgs <- m
	}
}

// send writes messages to the agent.
func (hc *helenConn) send(ms ...wire.Message) {
	hc.t.Helper()
	hc.wmu.Lock()
	defer hc.wmu.Unlock()
	for _, m := range ms {
		if err := hc.w.Write(m); err != nil {
			hc.t.Fatal(err)
		}
	}
	if err := hc.w.Flush(); err != nil {
		hc.t.Fatal(err)
	}
}

// next returns the next message from the agent.
func (hc *helenConn) next() wire.Message {
	hc.t.Helper()
	select {
	case m := <-hc.msgs:
		return m
	case <-hc.done:
		select {
		case m := <-hc.msgs:
			return m
		default:
		}
		hc.t.Fatalf("connection ended: %v", hc.err)
	case <-time.After(waitFor):
		hc.t.Fatal("no message from the agent")
	}
	return wire.Message{}
}

// waitClosed waits until the agent has closed its side.
func (hc *helenConn) waitClosed() {
	hc.t.Helper()
	select {
	case <-hc.done:
		if hc.err != nil && !errors.Is(hc.err, io.EOF) {
			hc.t.Logf("connection ended with %v", hc.err)
		}
	case <-time.After(waitFor):
		hc.t.Fatal("agent did not close the connection")
	}
}

// testConfig returns a Config for an agent of the test PKI talking to h,
// with the testdata checks copied to a directory of its own.
func testConfig(t testing.TB, p *testPKI, h *fakeHelen) Config {
	t.Helper()
	checks := t.TempDir()
	for _, f := range []string{"gate.lua", "fast.lua"} {
		data, err := os.ReadFile(filepath.Join("testdata", "checks", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(checks, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := Config{
		Version:    "0.0.0-dev",
		Helens:     []string{h.addr()},
		DataDir:    t.TempDir(),
		ChecksDir:  checks,
		BackoffMin: 10 * time.Millisecond,
		BackoffMax: 50 * time.Millisecond,
	}
	if p != nil {
		cfg.CAFile, cfg.CertFile, cfg.KeyFile = p.caFile, p.certFile, p.keyFile
	} else {
		cfg.InsecurePlaintext = true
	}
	return cfg
}

// runningAgent is Run in a goroutine.
type runningAgent struct {
	log    *logBuffer
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// startAgent runs the agent until the test ends.
func startAgent(t testing.TB, cfg Config) *runningAgent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a := &runningAgent{log: &logBuffer{t: t}, cancel: cancel, done: make(chan struct{})}
	log := slog.New(slog.NewTextHandler(a.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	go func() {
		defer close(a.done)
		a.err = Run(ctx, cfg, log)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-a.done:
		case <-time.After(waitFor):
			t.Error("agent did not stop")
		}
	})
	return a
}

// wait waits for Run to return and returns its error.
func (a *runningAgent) wait(t testing.TB) error {
	t.Helper()
	select {
	case <-a.done:
		return a.err
	case <-time.After(waitFor):
		t.Fatal("agent did not return")
		return nil
	}
}
