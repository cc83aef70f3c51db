package netlimit

import (
	"net"
	"net/netip"
	"testing"

	"github.com/equus-monitoring/equus/internal/metricset"
)

func TestConnBudget(t *testing.T) {
	for _, tc := range []struct {
		name   string
		nofile int
		cfg    Bounds
		want   Limits
	}{
		{"20000", 20000, Bounds{},
			Limits{NoFile: 20000, Unauth: 9792, UnauthPerAddr: 256, Ops: 256, OpsPerAddr: 64, Admin: 32}},
		{"systemd-unit", 65536, Bounds{},
			Limits{NoFile: 65536, Unauth: maxUnauthDefault, UnauthPerAddr: 256, Ops: 256, OpsPerAddr: 64, Admin: 32}},
		{"1024", 1024, Bounds{},
			Limits{NoFile: 1024, Unauth: 304, UnauthPerAddr: 256, Ops: 256, OpsPerAddr: 64, Admin: 32}},
		{"tiny", 100, Bounds{},
			Limits{NoFile: 100, Unauth: minUnauthenticated, UnauthPerAddr: minUnauthenticated, Ops: 256, OpsPerAddr: 64, Admin: 32}},
		{"configured", 20000, Bounds{MaxUnauthenticated: 5000, MaxUnauthenticatedPerAddress: 10, MaxOpsConns: 8},
			Limits{NoFile: 20000, Unauth: 5000, UnauthPerAddr: 10, Ops: 8, OpsPerAddr: 8, Admin: 32}},
		{"per-address-over-total", 20000, Bounds{MaxUnauthenticated: 5, MaxUnauthenticatedPerAddress: 10},
			Limits{NoFile: 20000, Unauth: 5, UnauthPerAddr: 5, Ops: 256, OpsPerAddr: 64, Admin: 32}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Budget(tc.nofile, tc.cfg); got != tc.want {
				t.Errorf("Budget(%d) = %+v, want %+v", tc.nofile, got, tc.want)
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
	m := NewMetrics(metricset.New(false))
	var refusals []string
	a := NewAdmission("test", 4, 2, m, func(c net.Conn, bound string) { refusals = append(refusals, bound) })
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
	if a.Count() != 3 {
		t.Fatalf("count %d, want 3", a.Count())
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
	if a.Count() != 3 {
		t.Fatalf("count %d after a close, want 3", a.Count())
	}
	e1.setIdle(true) // after its close: nothing
	if a.IdleCount() != 0 {
		t.Fatalf("%d idle, want 0", a.IdleCount())
	}

	// IPv6: a /64 is one source.
	v6 := NewAdmission("v6", 10, 1, m, nil)
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
