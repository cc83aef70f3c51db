package server

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"testing"

	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/wire"
)

// stallConn passes its first write (the ClientHello) and holds every
// later one until closed: a client that starts a handshake and never
// finishes it. answered is closed once helen answered the ClientHello.
type stallConn struct {
	net.Conn
	mu       sync.Mutex
	writes   int
	closed   chan struct{}
	once     sync.Once
	answered chan struct{}
	readOnce sync.Once
}

func (c *stallConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.readOnce.Do(func() { close(c.answered) })
	}
	return n, err
}

func (c *stallConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.writes++
	first := c.writes == 1
	c.mu.Unlock()
	if !first {
		<-c.closed
		return 0, net.ErrClosed
	}
	return c.Conn.Write(p)
}

func (c *stallConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// TestHandshakesBounded holds the only handshake slot with a client that
// never finishes its handshake: an agent's handshake waits for it, and
// runs once the slot is free.
func TestHandshakesBounded(t *testing.T) {
	h := startHelen(t, Config{MaxHandshakes: 1})
	ops := newOpsClient(t, h)
	metric := func(name string) float64 { v, _ := gauge(scrape(t, ops)[name], nil); return v }

	cfg, err := pki.ClientConfig(pki.Trust{CA: h.CA().Cert}, "127.0.0.1", agentCert(t, h.srv, "staller"), []string{wire.ALPN})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.Dial("tcp", h.addr())
	if err != nil {
		t.Fatal(err)
	}
	stall := &stallConn{Conn: raw, closed: make(chan struct{}), answered: make(chan struct{})}
	stalled := make(chan error, 1)
	go func() { stalled <- tls.Client(stall, cfg).HandshakeContext(context.Background()) }()
	<-stall.answered // helen is in the staller's handshake

	agentDone := make(chan *fakeAgent, 1)
	go func() { agentDone <- startAgent(t, h, "web-1", behavior{}) }()
	poll(t, "the agent's handshake waiting, or the agent connected", func() bool {
		return metric("helen_tls_handshakes_waiting") == 1 || metric("helen_agents_connected") == 1
	})
	if n := metric("helen_agents_connected"); n != 0 {
		t.Fatalf("%v agents connected while the only handshake slot is held", n)
	}
	if n := metric("helen_tls_handshakes_running"); n != 1 {
		t.Errorf("%v handshakes running, want the staller's alone", n)
	}
	stall.Close()
	<-stalled
	a := <-agentDone
	a.Ready()
	poll(t, "no handshake running nor waiting", func() bool {
		return metric("helen_tls_handshakes_running") == 0 && metric("helen_tls_handshakes_waiting") == 0
	})
}
