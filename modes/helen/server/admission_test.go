package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/logtest"
	"github.com/equus-monitoring/equus/modes/helen/netlimit"
	"github.com/equus-monitoring/equus/modes/helen/peerlog"
	"github.com/equus-monitoring/equus/modes/helen/web"

	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/wire"
)

// hostile is a client of the agents' port without a certificate: a raw
// TCP connection, or an HTTPS keep-alive connection after one request.
type hostile struct {
	t testing.TB
	c net.Conn
	r *bufio.Reader
}

// dialFrom connects to addr from the loopback address src.
func dialFrom(t testing.TB, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: waitFor}
	c, err := d.Dial("tcp", addr)
	if errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Skipf("cannot connect from %s: %v (only Linux routes all of 127.0.0.0/8 to loopback)", src, err)
	}
	if err != nil {
		t.Fatalf("dial from %s: %v", src, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// rawFrom opens a TCP connection that sends nothing.
func rawFrom(t testing.TB, src, addr string) *hostile {
	c := dialFrom(t, src, addr)
	return &hostile{t: t, c: c, r: bufio.NewReader(c)}
}

// idleFrom opens an HTTPS connection to the agents' port from src, with
// ALPN http/1.1 and no certificate, sends one GET /healthz and leaves it
// idle.
func idleFrom(t testing.TB, h *testHelen, src string, cert *tls.Certificate) *hostile {
	t.Helper()
	cfg, err := pki.ClientConfig(pki.Trust{CA: h.srv.CA().Cert}, "127.0.0.1", cert, []string{"http/1.1"})
	if err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(dialFrom(t, src, h.addr()), cfg)
	tc.SetDeadline(time.Now().Add(waitFor))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake from %s: %v", src, err)
	}
	hc := &hostile{t: t, c: tc, r: bufio.NewReader(tc)}
	if err := hc.get(); err != nil {
		t.Fatalf("GET from %s: %v", src, err)
	}
	return hc
}

// get sends GET /healthz on the connection and reads the answer.
func (hc *hostile) get() error {
	hc.c.SetDeadline(time.Now().Add(waitFor))
	defer hc.c.SetDeadline(time.Time{})
	if _, err := io.WriteString(hc.c, "GET /healthz HTTP/1.1\r\nHost: helen\r\n\r\n"); err != nil {
		return err
	}
	resp, err := http.ReadResponse(hc.r, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /healthz: %s", resp.Status)
	}
	return nil
}

// expectClosed fails the test unless helen closes the connection.
func (hc *hostile) expectClosed(what string) {
	hc.t.Helper()
	hc.c.SetReadDeadline(time.Now().Add(waitFor))
	_, err := hc.r.ReadByte()
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		hc.t.Fatalf("%s: helen did not close the connection (read: %v)", what, err)
	}
}

// TestUnauthenticatedBounds: a client without a certificate that opens
// connections past the per-address and total bounds gets the excess
// closed, and an agent with a valid certificate still connects, and the
// admin socket still answers.
func TestUnauthenticatedBounds(t *testing.T) {
	// A long hello timeout: the handshakes left hanging stay open for the
	// whole test.
	h := startHelen(t, Config{MaxUnauthenticated: 8, MaxUnauthenticatedPerAddress: 3, HelloTimeout: time.Minute})
	adm := h.srv.agentsAdm
	refused := func() int {
		return int(float64(h.srv.metrics.conns.Refused.Get("agents", "per_address")))
	}
	evicted := func() int { return int(float64(h.srv.metrics.conns.Evicted.Get("agents"))) }

	// Connections that never start their handshake: past 3 from one
	// address, refused at once.
	var raw []*hostile
	for range 5 {
		raw = append(raw, rawFrom(t, "127.0.0.2", h.addr()))
	}
	poll(t, "two connections refused", func() bool { return refused() == 2 })
	raw[3].expectClosed("4th connection from one address")
	raw[4].expectClosed("5th connection from one address")
	poll(t, "3 counted", func() bool { return adm.Count() == 3 })

	// Idle keep-alive connections: past 3 from one address, the ones idle
	// the longest are closed to make room.
	var idle []*hostile
	for i := range 5 {
		idle = append(idle, idleFrom(t, h, "127.0.0.3", nil))
		poll(t, "the connection idle", func() bool { return adm.IdleCount() == min(i+1, 3) })
	}
	idle[0].expectClosed("the first idle connection of an address, past its bound")
	idle[1].expectClosed("the second idle connection of an address, past its bound")
	for i, hc := range idle[2:] {
		if err := hc.get(); err != nil {
			t.Fatalf("idle connection %d, within the bound: %v", i+2, err)
		}
		poll(t, "the connection idle again", func() bool { return adm.IdleCount() == 3 })
	}
	if adm.Count() != 6 || evicted() != 2 {
		t.Fatalf("%d counted and %d closed to make room, want 6 and 2", adm.Count(), evicted())
	}

	// Past the total bound of 8, from another address.
	for i := range 3 {
		idle = append(idle, idleFrom(t, h, "127.0.0.4", nil))
		poll(t, "the connection idle", func() bool { return adm.IdleCount() == min(4+i, 5) })
	}
	idle[2].expectClosed("the connection idle the longest, past the total bound")
	if adm.Count() != 8 {
		t.Fatalf("%d counted, want 8", adm.Count())
	}

	// An agent with a valid certificate connects, with the bound reached:
	// the connection idle the longest makes room for its handshake, after
	// which it is not counted.
	a := startAgent(t, h, "web-1", behavior{})
	a.Ready()
	idle[3].expectClosed("the connection idle the longest, for the agent")
	poll(t, "the agent not counted", func() bool { return adm.Count() == 7 })

	// HTTPS with a valid agent certificate (stage0 fetching its update)
	// is not counted either: more than 3 from one address stay open.
	cert := agentCert(t, h.srv, "web-2")
	for range 4 {
		idleFrom(t, h, "127.0.0.5", cert)
	}
	poll(t, "the agent's HTTPS connections not counted", func() bool { return adm.Count() == 7 })

	// The admin socket answers.
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	var views []web.AgentView
	if err := adminFor(t, h).do(ctx, http.MethodGet, "/v1/agents", nil, &views); err != nil || len(views) != 1 {
		t.Fatalf("admin socket: %v, %v", views, err)
	}
	if refused() != 2 {
		t.Errorf("%d refused by the per-address bound, want 2", refused())
	}
}

// TestHTTPIdleTimeout: idle keep-alive connections are closed, on the
// agents' port and on the operators'.
func TestHTTPIdleTimeout(t *testing.T) {
	h := startHelen(t, Config{HTTPIdleTimeout: 50 * time.Millisecond})
	idleFrom(t, h, "127.0.0.1", nil).expectClosed("idle on the agents' port")

	ops := tls.Client(dialFrom(t, "127.0.0.1", h.ls.Ops.Addr().String()),
		&tls.Config{RootCAs: h.srv.CA().Pool(), ServerName: "127.0.0.1", NextProtos: []string{"http/1.1"}})
	hc := &hostile{t: t, c: ops, r: bufio.NewReader(ops)}
	if err := hc.get(); err != nil {
		t.Fatal(err)
	}
	hc.expectClosed("idle on the operators' port")
}

// TestOpsConnBound: the operators' port refuses connections past its own
// bound at once, and the agents' port and the admin socket go on.
func TestOpsConnBound(t *testing.T) {
	h := startHelen(t, Config{MaxOpsConns: 2})
	ops := h.ls.Ops.Addr().String()
	held := []*hostile{rawFrom(t, "127.0.0.1", ops), rawFrom(t, "127.0.0.1", ops)}
	poll(t, "2 counted", func() bool { return h.srv.opsAdm.Count() == 2 })
	rawFrom(t, "127.0.0.1", ops).expectClosed("3rd connection to the operators' port")
	if got := float64(h.srv.metrics.conns.Refused.Get("operators", "per_address")); got != 1 {
		t.Errorf("%v refused, want 1", got)
	}
	startAgent(t, h, "web-1", behavior{}).Ready()
	var views []web.AgentView
	if err := adminFor(t, h).do(context.Background(), http.MethodGet, "/v1/agents", nil, &views); err != nil {
		t.Fatal(err)
	}
	for _, hc := range held {
		hc.c.Close()
	}
	poll(t, "the operators' port free", func() bool { return h.srv.opsAdm.Count() == 0 })
	if code, _ := newOpsClient(t, h).Do(http.MethodGet, "/healthz", "", nil); code != http.StatusOK {
		t.Errorf("operators' port after the connections closed: %d", code)
	}
}

// TestAgentConnBound: a client holding a valid agent certificate that
// opens connections past the agent's bound, keep-alive HTTPS and wire
// connections that never say hello, gets the excess closed after the
// handshake, a handful of log lines for it, and a connection again once
// one of its own is closed; another agent is not held back.
func TestAgentConnBound(t *testing.T) {
	clock := newFakeClock()
	var out logtest.Buffer
	h := startHelen(t, Config{HelloTimeout: time.Minute, Log: slog.New(slog.NewJSONHandler(&out, nil)), logClock: clock.Now})
	cert := issued(t, h, "web-1", time.Now())
	refused := func() int {
		return int(float64(h.srv.metrics.conns.Refused.Get("agents", "per_agent")))
	}
	wireConn := func() *hostile {
		c, err := dialTLS(t, h, &cert, []string{wire.ALPN})
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		return &hostile{t: t, c: c, r: bufio.NewReader(c)}
	}
	var conns []*hostile
	for range netlimit.MaxConnsPerAgent / 2 {
		conns = append(conns, idleFrom(t, h, "127.0.0.1", &cert), wireConn())
	}
	poll(t, "the agent's connections counted", func() bool { return h.srv.agentConns.Count("web-1") == netlimit.MaxConnsPerAgent })

	const excess = 2 * peerlog.Lines
	for i := range excess {
		if i%2 == 0 {
			wireConn().expectClosed("a wire connection past the agent's bound")
			continue
		}
		cfg, err := pki.ClientConfig(pki.Trust{CA: h.srv.CA().Cert}, "127.0.0.1", &cert, []string{"http/1.1"})
		if err != nil {
			t.Fatal(err)
		}
		tc := tls.Client(dialFrom(t, "127.0.0.1", h.addr()), cfg)
		hc := &hostile{t: t, c: tc, r: bufio.NewReader(tc)}
		if err := hc.get(); err == nil {
			t.Fatal("an HTTPS connection past the agent's bound was served")
		}
	}
	poll(t, "the excess refused", func() bool { return refused() == excess })
	if got := len(logtest.WithMsg(out.Lines(t), "connection refused: the agent has too many connections open")); got != peerlog.Lines {
		t.Errorf("%d refusals made %d lines, want %d", excess, got, peerlog.Lines)
	}
	if err := conns[0].get(); err != nil {
		t.Fatalf("an HTTPS connection within the bound: %v", err)
	}
	// A refused connection leaves the admission's count as helen closes
	// it, which the client may see first.
	poll(t, "no connection counted as without a certificate", func() bool { return h.srv.agentsAdm.Count() == 0 })

	// Another agent connects; web-1 does again once one of its own closed.
	other := startAgent(t, h, "web-2", behavior{})
	other.Ready()
	conns[1].c.Close()
	poll(t, "the closed connection released", func() bool { return h.srv.agentConns.Count("web-1") == netlimit.MaxConnsPerAgent-1 })
	idleFrom(t, h, "127.0.0.1", &cert)
	if refused() != excess {
		t.Errorf("%d refused, want %d", refused(), excess)
	}
}
