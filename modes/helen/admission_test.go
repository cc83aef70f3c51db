package helen

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
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/logtest"
	"github.com/equus-monitoring/equus/modes/helen/peerlog"

	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/wire"
)

func TestConnBudget(t *testing.T) {
	for _, tc := range []struct {
		name   string
		nofile int
		cfg    Config
		want   connLimits
	}{
		{"20000", 20000, Config{},
			connLimits{nofile: 20000, unauth: 9792, unauthPerAddr: 256, ops: 256, opsPerAddr: 64, admin: 32}},
		{"systemd-unit", 65536, Config{},
			connLimits{nofile: 65536, unauth: maxUnauthDefault, unauthPerAddr: 256, ops: 256, opsPerAddr: 64, admin: 32}},
		{"1024", 1024, Config{},
			connLimits{nofile: 1024, unauth: 304, unauthPerAddr: 256, ops: 256, opsPerAddr: 64, admin: 32}},
		{"tiny", 100, Config{},
			connLimits{nofile: 100, unauth: minUnauthenticated, unauthPerAddr: minUnauthenticated, ops: 256, opsPerAddr: 64, admin: 32}},
		{"configured", 20000, Config{MaxUnauthenticated: 5000, MaxUnauthenticatedPerAddress: 10, MaxOpsConns: 8},
			connLimits{nofile: 20000, unauth: 5000, unauthPerAddr: 10, ops: 8, opsPerAddr: 8, admin: 32}},
		{"per-address-over-total", 20000, Config{MaxUnauthenticated: 5, MaxUnauthenticatedPerAddress: 10},
			connLimits{nofile: 20000, unauth: 5, unauthPerAddr: 5, ops: 256, opsPerAddr: 64, admin: 32}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := connBudget(tc.nofile, tc.cfg); got != tc.want {
				t.Errorf("connBudget(%d) = %+v, want %+v", tc.nofile, got, tc.want)
			}
		})
	}
}

// stubConn is a connection from addr, for the admission's bookkeeping.
type stubConn struct {
	net.Conn
	addr   net.Addr
	closed bool
}

func (c *stubConn) RemoteAddr() net.Addr { return c.addr }
func (c *stubConn) Close() error         { c.closed = true; return nil }

func from(addr string) *stubConn {
	return &stubConn{addr: net.TCPAddrFromAddrPort(netip.MustParseAddrPort(addr))}
}

func TestAdmission(t *testing.T) {
	m := newMetrics()
	var refusals []string
	a := newAdmission("test", 4, 2, m, func(c net.Conn, bound string) { refusals = append(refusals, bound) })
	admit := func(c *stubConn) *admitted {
		t.Helper()
		e, ok := a.admit(c)
		if !ok {
			t.Fatalf("%s refused", c.addr)
		}
		return e
	}
	refused := func(c *stubConn, bound string) {
		t.Helper()
		if _, ok := a.admit(c); ok {
			t.Fatalf("%s admitted past the %s bound", c.addr, bound)
		}
		if last := refusals[len(refusals)-1]; last != bound {
			t.Fatalf("refused by %s, want %s", last, bound)
		}
	}

	// Per address: busy connections are never closed to make room.
	a1, a2 := from("192.0.2.1:1"), from("192.0.2.1:2")
	e1, e2 := admit(a1), admit(a2)
	refused(from("192.0.2.1:3"), "per_address")
	// An idle one is, the one idle the longest.
	e2.setIdle(true)
	e1.setIdle(true)
	a3 := from("192.0.2.1:3")
	e3 := admit(a3)
	if !a2.closed || a1.closed {
		t.Fatalf("closed to make room: first %v, second %v; want the second, idle the longest", a1.closed, a2.closed)
	}
	// In all: the one idle the longest of any address.
	b1, b2 := from("192.0.2.2:1"), from("192.0.2.2:2")
	admit(b1).setIdle(true)
	e1.setIdle(false) // a request on it
	if a.count() != 3 {
		t.Fatalf("count %d, want 3", a.count())
	}
	admit(b2)
	c1 := from("192.0.2.3:1")
	admit(c1) // a1 is busy, b1 idle
	if !b1.closed || a1.closed {
		t.Fatalf("closed to make room in all: b1 %v a1 %v", b1.closed, a1.closed)
	}
	refused(from("192.0.2.4:1"), "total")

	// A connection that authenticates, or closes, gives its place back.
	e3.authenticated()
	admit(from("192.0.2.4:1"))
	e1.Close()
	e1.Close() // once only
	if a.count() != 3 {
		t.Fatalf("count %d after a close, want 3", a.count())
	}
	e1.setIdle(true) // after its close: nothing
	if a.idleCount() != 0 {
		t.Fatalf("%d idle, want 0", a.idleCount())
	}

	// IPv6: a /64 is one source.
	v6 := newAdmission("v6", 10, 1, m, nil)
	if _, ok := v6.admit(from("[2001:db8:1:2::1]:1")); !ok {
		t.Fatal("first of a /64 refused")
	}
	if _, ok := v6.admit(from("[2001:db8:1:2:ffff::9]:1")); ok {
		t.Fatal("second address of the same /64 admitted past the per-address bound of 1")
	}
	if _, ok := v6.admit(from("[2001:db8:1:3::1]:1")); !ok {
		t.Fatal("another /64 refused")
	}
	if got := len(v6.addrs); got != 2 {
		t.Errorf("%d sources tracked, want 2", got)
	}
}

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
		return int(counterValue(t, h.srv.metrics.connsRefused.WithLabelValues("agents", "per_address")))
	}
	evicted := func() int { return int(counterValue(t, h.srv.metrics.connsEvicted.WithLabelValues("agents"))) }

	// Connections that never start their handshake: past 3 from one
	// address, refused at once.
	var raw []*hostile
	for range 5 {
		raw = append(raw, rawFrom(t, "127.0.0.2", h.addr()))
	}
	poll(t, "two connections refused", func() bool { return refused() == 2 })
	raw[3].expectClosed("4th connection from one address")
	raw[4].expectClosed("5th connection from one address")
	poll(t, "3 counted", func() bool { return adm.count() == 3 })

	// Idle keep-alive connections: past 3 from one address, the ones idle
	// the longest are closed to make room.
	var idle []*hostile
	for i := range 5 {
		idle = append(idle, idleFrom(t, h, "127.0.0.3", nil))
		poll(t, "the connection idle", func() bool { return adm.idleCount() == min(i+1, 3) })
	}
	idle[0].expectClosed("the first idle connection of an address, past its bound")
	idle[1].expectClosed("the second idle connection of an address, past its bound")
	for i, hc := range idle[2:] {
		if err := hc.get(); err != nil {
			t.Fatalf("idle connection %d, within the bound: %v", i+2, err)
		}
		poll(t, "the connection idle again", func() bool { return adm.idleCount() == 3 })
	}
	if adm.count() != 6 || evicted() != 2 {
		t.Fatalf("%d counted and %d closed to make room, want 6 and 2", adm.count(), evicted())
	}

	// Past the total bound of 8, from another address.
	for i := range 3 {
		idle = append(idle, idleFrom(t, h, "127.0.0.4", nil))
		poll(t, "the connection idle", func() bool { return adm.idleCount() == min(4+i, 5) })
	}
	idle[2].expectClosed("the connection idle the longest, past the total bound")
	if adm.count() != 8 {
		t.Fatalf("%d counted, want 8", adm.count())
	}

	// An agent with a valid certificate connects, with the bound reached:
	// the connection idle the longest makes room for its handshake, after
	// which it is not counted.
	a := startAgent(t, h, "web-1", behavior{})
	a.ready()
	idle[3].expectClosed("the connection idle the longest, for the agent")
	poll(t, "the agent not counted", func() bool { return adm.count() == 7 })

	// HTTPS with a valid agent certificate (stage0 fetching its update)
	// is not counted either: more than 3 from one address stay open.
	cert := agentCert(t, h.srv, "web-2")
	for range 4 {
		idleFrom(t, h, "127.0.0.5", cert)
	}
	poll(t, "the agent's HTTPS connections not counted", func() bool { return adm.count() == 7 })

	// The admin socket answers.
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	var views []AgentView
	if err := adminFor(t, h).do(ctx, http.MethodGet, "/agents", nil, &views); err != nil || len(views) != 1 {
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
	poll(t, "2 counted", func() bool { return h.srv.opsAdm.count() == 2 })
	rawFrom(t, "127.0.0.1", ops).expectClosed("3rd connection to the operators' port")
	if got := counterValue(t, h.srv.metrics.connsRefused.WithLabelValues("operators", "per_address")); got != 1 {
		t.Errorf("%v refused, want 1", got)
	}
	startAgent(t, h, "web-1", behavior{}).ready()
	var views []AgentView
	if err := adminFor(t, h).do(context.Background(), http.MethodGet, "/agents", nil, &views); err != nil {
		t.Fatal(err)
	}
	for _, hc := range held {
		hc.c.Close()
	}
	poll(t, "the operators' port free", func() bool { return h.srv.opsAdm.count() == 0 })
	if code, _ := newOpsClient(t, h).do(http.MethodGet, "/healthz", "", nil); code != http.StatusOK {
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
		return int(counterValue(t, h.srv.metrics.connsRefused.WithLabelValues("agents", "per_agent")))
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
	for range maxConnsPerAgent / 2 {
		conns = append(conns, idleFrom(t, h, "127.0.0.1", &cert), wireConn())
	}
	poll(t, "the agent's connections counted", func() bool { return h.srv.agentConns.count("web-1") == maxConnsPerAgent })

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
	poll(t, "no connection counted as without a certificate", func() bool { return h.srv.agentsAdm.count() == 0 })

	// Another agent connects; web-1 does again once one of its own closed.
	other := startAgent(t, h, "web-2", behavior{})
	other.ready()
	conns[1].c.Close()
	poll(t, "the closed connection released", func() bool { return h.srv.agentConns.count("web-1") == maxConnsPerAgent-1 })
	idleFrom(t, h, "127.0.0.1", &cert)
	if refused() != excess {
		t.Errorf("%d refused, want %d", refused(), excess)
	}
}
