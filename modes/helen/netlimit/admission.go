package netlimit

import (
	"container/list"
	"crypto/tls"
	"net"
	"net/http"
	"net/netip"
	"sync"

	"github.com/VictoriaMetrics/metrics"

	"github.com/equus-monitoring/equus/internal/metricset"
)

// An admission bounds the connections of a port that have not proved who
// they are, in all and per source address, so that clients without a
// certificate cannot take the descriptors that agents with one, the admin
// socket and the operators need. On the agents' port a connection counts
// from accept until its TLS handshake shows a valid agent certificate
// (authenticated), or for its whole life when it shows none: the HTTPS
// clients of enrollment and the bootstrap script. On the operators' port
// every connection counts for its whole life: the admin token is checked
// per request, not per connection.
//
// When a bound is reached, the connection that has been idle the longest
// among those the bound covers (an HTTP keep-alive connection between
// requests, which HTTP lets a server close at any time) is closed to make
// room; when there is none, the new connection is refused: closed at once,
// before its TLS handshake. Connections still in their handshake or in a
// request are never closed to make room: their timeouts bound them.
type Admission struct {
	port           string // "agents" or "operators", in metrics
	total, perAddr int
	refused        *metricset.CounterVec // by port and bound
	evicted        *metrics.Counter
	// onRefuse logs a refusal, by bound: "per_address" or "total".
	onRefuse func(c net.Conn, bound string)

	mu    sync.Mutex
	n     int
	addrs map[netip.Prefix]*addrConns
	idle  list.List // of *admitted, idle the longest first
}

// addrConns are the connections counted of one source address.
type addrConns struct {
	n    int
	idle list.List // of *admitted, idle the longest first
}

// admitted is a connection an admission let in. Closing it, or
// authenticated, gives its place back.
type admitted struct {
	net.Conn
	adm      *Admission
	addr     netip.Prefix
	released bool          // under adm.mu
	closed   bool          // under adm.mu
	onClose  func()        // under adm.mu: gives its agent's place back (AgentConns)
	idleAll  *list.Element // in adm.idle while idle
	idleAddr *list.Element // in its addrConns' idle while idle
}

// NewAdmission returns the admission of port (its name in metrics and
// logs), with total and perAddr connections at most; onRefuse, when not
// nil, logs each refusal.
func NewAdmission(port string, total, perAddr int, m *Metrics, onRefuse func(net.Conn, string)) *Admission {
	a := &Admission{
		port:     port,
		total:    total,
		perAddr:  min(perAddr, total),
		refused:  m.Refused,
		evicted:  m.Evicted.With(port),
		onRefuse: onRefuse,
		addrs:    map[netip.Prefix]*addrConns{},
	}
	m.set.Gauge(`helen_unauthenticated_connections{port="`+port+`"}`,
		"Connections counted against the port's bounds: on the agents' port those without a valid agent certificate, on the operators' port all.",
		func() float64 { return float64(a.Count()) })
	return a
}

// addrKey is the source that per-address bound counts: an IPv4 address,
// or the /64 of an IPv6 one, which one host usually has whole.
func addrKey(a net.Addr) netip.Prefix {
	var ip netip.Addr
	switch a := a.(type) {
	case *net.TCPAddr:
		ip = a.AddrPort().Addr().Unmap()
	default:
		// A unix socket or a test's pipe: one source.
		return netip.Prefix{}
	}
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}

// admit counts c in, making room as the bounds require, or reports false
// when it cannot: the caller closes c.
func (a *Admission) admit(c net.Conn) (*admitted, bool) {
	key := addrKey(c.RemoteAddr())
	a.mu.Lock()
	ac := a.addrs[key]
	var victim *admitted
	switch {
	case ac != nil && ac.n >= a.perAddr:
		if victim = front(&ac.idle); victim == nil {
			a.mu.Unlock()
			a.refuse(c, "per_address")
			return nil, false
		}
	case a.n >= a.total:
		if victim = front(&a.idle); victim == nil {
			a.mu.Unlock()
			a.refuse(c, "total")
			return nil, false
		}
	}
	if victim != nil {
		a.releaseLocked(victim)
		if ac != nil && ac.n == 0 {
			ac = nil // released with the victim
		}
	}
	if ac == nil {
		ac = &addrConns{}
		a.addrs[key] = ac
	}
	ac.n++
	a.n++
	e := &admitted{Conn: c, adm: a, addr: key}
	a.mu.Unlock()
	if victim != nil {
		a.evicted.Inc()
		victim.Conn.Close()
	}
	return e, true
}

func (a *Admission) refuse(c net.Conn, bound string) {
	a.refused.With(a.port, bound).Inc()
	if a.onRefuse != nil {
		a.onRefuse(c, bound)
	}
}

func front(l *list.List) *admitted {
	if f := l.Front(); f != nil {
		return f.Value.(*admitted)
	}
	return nil
}

func (a *Admission) releaseLocked(e *admitted) {
	if e.released {
		return
	}
	e.released = true
	a.n--
	ac := a.addrs[e.addr]
	a.setIdleLocked(e, ac, false)
	if ac.n--; ac.n == 0 {
		delete(a.addrs, e.addr)
	}
}

func (a *Admission) setIdleLocked(e *admitted, ac *addrConns, idle bool) {
	switch {
	case idle && e.idleAll == nil:
		e.idleAll = a.idle.PushBack(e)
		e.idleAddr = ac.idle.PushBack(e)
	case !idle && e.idleAll != nil:
		a.idle.Remove(e.idleAll)
		ac.idle.Remove(e.idleAddr)
		e.idleAll, e.idleAddr = nil, nil
	}
}

// Count returns how many connections are counted now.
func (a *Admission) Count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n
}

// IdleCount returns how many of them are idle.
func (a *Admission) IdleCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.idle.Len()
}

// authenticated gives e's place back: it has shown a valid agent
// certificate.
func (e *admitted) authenticated() {
	e.adm.mu.Lock()
	e.adm.releaseLocked(e)
	e.adm.mu.Unlock()
}

func (e *admitted) setIdle(idle bool) {
	e.adm.mu.Lock()
	if !e.released {
		e.adm.setIdleLocked(e, e.adm.addrs[e.addr], idle)
	}
	e.adm.mu.Unlock()
}

// authenticatedAs gives e's place back, as authenticated does, and
// calls release when e is closed: it has shown a valid agent certificate,
// and release gives its place among its agent's connections back.
func (e *admitted) authenticatedAs(release func()) {
	e.adm.mu.Lock()
	e.adm.releaseLocked(e)
	closed := e.closed
	if !closed {
		e.onClose = release
	}
	e.adm.mu.Unlock()
	if closed {
		release()
	}
}

func (e *admitted) Close() error {
	e.adm.mu.Lock()
	e.adm.releaseLocked(e)
	e.closed = true
	release := e.onClose
	e.onClose = nil
	e.adm.mu.Unlock()
	err := e.Conn.Close()
	if release != nil {
		release()
	}
	return err
}

// CloseWrite keeps the half-close of a TCP connection, which closeGently
// uses on plaintext sessions.
func (e *admitted) CloseWrite() error {
	if cw, ok := e.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return e.Conn.Close()
}

// HandOver moves c, if an admission counts it, to the count of release's:
// the admission stops counting it, and closing it calls release. It
// reports whether c was an admission's.
func HandOver(c net.Conn, release func()) bool {
	e, ok := c.(*admitted)
	if ok {
		e.authenticatedAs(release)
	}
	return ok
}

// Authenticated gives the place of c back, if an admission counts it.
func Authenticated(c net.Conn) {
	if e, ok := c.(*admitted); ok {
		e.authenticated()
	}
}

// ConnState is the ConnState hook of an HTTP server whose connections an
// admission counts: it tells which are idle, between two requests.
func ConnState(c net.Conn, st http.ConnState) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	e, ok := c.(*admitted)
	if !ok {
		return
	}
	switch st {
	case http.StateIdle:
		e.setIdle(true)
	case http.StateActive:
		e.setIdle(false)
	}
}

// Listener returns ln with its connections counted by a.
func (a *Admission) Listener(ln net.Listener) net.Listener { return admissionListener{ln, a} }

type admissionListener struct {
	net.Listener
	adm *Admission
}

// Accept returns the next connection admitted; it closes those refused.
func (l admissionListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if e, ok := l.adm.admit(c); ok {
			return e, nil
		}
		c.Close()
	}
}
