package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/wire"
)

// connWrites counts the writes of the agents' connection bookkeeping, each
// a transaction of its own.
type connWrites struct {
	state.Store
	mu            sync.Mutex
	disconnects   int // SetConnected(false)
	disconnectAll int
}

func (c *connWrites) SetConnected(name string, connected bool, at time.Time) error {
	if !connected {
		c.mu.Lock()
		c.disconnects++
		c.mu.Unlock()
	}
	return c.Store.SetConnected(name, connected, at)
}

func (c *connWrites) DisconnectAll(at time.Time) error {
	c.mu.Lock()
	c.disconnectAll++
	c.mu.Unlock()
	return c.Store.DisconnectAll(at)
}

// TestShutdownRecordsEndsTogether shuts down a helen with many sessions:
// every agent is told shutting_down and recorded disconnected, in one
// transaction for them all rather than one each.
func TestShutdownRecordsEndsTogether(t *testing.T) {
	const n = 60
	writes := &connWrites{}
	h := startHelen(t, Config{wrapStore: func(s state.Store) state.Store { writes.Store = s; return writes }})
	agents := make([]*fakeAgent, n)
	for i := range agents {
		agents[i] = startAgent(t, h, fmt.Sprintf("web-%d", i), behavior{})
	}
	for _, a := range agents {
		a.Ready()
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	for _, a := range agents {
		ms, _ := a.WaitClosed()
		if m := lastMessage(ms); m.Kind != wire.KindError || m.Text != string(wire.CodeShuttingDown) {
			t.Fatalf("%s: last message %+v, want error shutting_down", a.Name(), m)
		}
	}
	writes.mu.Lock()
	got := writes.disconnects + writes.disconnectAll
	writes.mu.Unlock()
	if got != 1 {
		t.Errorf("%d transactions recorded %d sessions' ends (%d SetConnected, %d DisconnectAll), want 1",
			got, n, writes.disconnects, writes.disconnectAll)
	}
	all, err := h.srv.DB().Agents()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != n {
		t.Fatalf("%d agents recorded, want %d", len(all), n)
	}
	for _, a := range all {
		if a.Connected {
			t.Errorf("%s recorded connected after the shutdown", a.Name)
		}
	}
}

// resumingAgent dials h as name with the TLS session cache cache, says
// hello and returns the connection and the first message helen sends.
func resumingAgent(t *testing.T, h *testHelen, cert *tls.Certificate, cache tls.ClientSessionCache) (*tls.Conn, wire.Message) {
	t.Helper()
	cfg, err := pki.ClientConfig(pki.Trust{CA: h.CA().Cert}, "127.0.0.1", cert, []string{wire.ALPN})
	if err != nil {
		t.Fatal(err)
	}
	cfg.ClientSessionCache = cache
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	d := tls.Dialer{Config: cfg}
	nc, err := d.DialContext(ctx, "tcp", h.addr())
	if err != nil {
		t.Fatal(err)
	}
	c := nc.(*tls.Conn)
	t.Cleanup(func() { c.Close() })
	w := wire.NewWriter(c)
	if err := w.Write(wire.Hello("1.0.0")); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(waitFor))
	// Reading takes in the session ticket helen sent after the handshake.
	m, err := wire.NewReader(c).Read()
	if err != nil {
		t.Fatal(err)
	}
	return c, m
}

// TestResumeAcrossRestart: an agent that reconnects to a restarted helen
// resumes its TLS session, and is then recorded as any; revoked, it
// resumes no session into a wire session.
func TestResumeAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	h := startHelen(t, Config{DataDir: dir})
	cert := agentCert(t, h.srv, "web-1")
	cache := tls.NewLRUClientSessionCache(4)
	c, m := resumingAgent(t, h, cert, cache)
	if m.Kind != wire.KindCheck || c.ConnectionState().DidResume {
		t.Fatalf("first connection: %+v, resumed %v", m, c.ConnectionState().DidResume)
	}
	c.Close()
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	h.srv.Close()

	h2 := startHelen(t, Config{DataDir: dir})
	c, m = resumingAgent(t, h2, cert, cache)
	if !c.ConnectionState().DidResume {
		t.Fatal("no TLS session resumed across helen's restart")
	}
	if m.Kind != wire.KindCheck || m.Name != wire.InfoCheck {
		t.Fatalf("resumed connection: first message %+v, want equus.info", m)
	}
	c.Close()

	if err := h2.srv.DB().Revoke("web-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	c, m = resumingAgent(t, h2, cert, cache)
	if !c.ConnectionState().DidResume {
		t.Fatal("the revoked agent's session was not resumed: this test no longer tests resumption")
	}
	if m.Kind != wire.KindError || m.Text != string(wire.CodeNotAuthorized) {
		t.Fatalf("revoked agent on a resumed session: %+v, want error not_authorized", m)
	}
}
