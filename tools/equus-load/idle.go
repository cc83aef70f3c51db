package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/wire"
)

// The idle mode (-idle N) plays a client without a certificate that holds
// connections open: each does a TLS handshake with ALPN http/1.1 and no
// client certificate, sends one GET /healthz and then stays idle (with
// -refresh, sends it again every so often, as a client keeping its
// connections alive would). It spreads them over the source addresses of
// -sources, so that helen's per-address bound does not stop them all.
// With -probe it then connects one agent with a valid certificate and says
// how long it took to get its first check.

// idleConn is one connection held open.
type idleConn struct {
	c      *tls.Conn
	r      *bufio.Reader
	closed atomic.Bool
}

func runIdle(ctx context.Context, o options, ca *pki.CA) error {
	sources, err := sourceAddrs(o.sources, o.idle)
	if err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(o.helen)
	if err != nil {
		return err
	}
	cfg, err := pki.ClientConfig(pki.Trust{CA: ca.Cert}, host, nil, []string{"http/1.1"})
	if err != nil {
		return err
	}
	start := time.Now()
	conns := make([]*idleConn, o.idle)
	var failed atomic.Int64
	var firstErr error
	var errOnce sync.Once
	sem := make(chan struct{}, o.dialers)
	var wg sync.WaitGroup
	for i := range o.idle {
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ic, err := openIdle(ctx, o.helen, sources[i%len(sources)], cfg)
			if err != nil {
				failed.Add(1)
				errOnce.Do(func() { firstErr = err })
				return
			}
			conns[i] = ic
		}()
	}
	wg.Wait()
	var open []*idleConn
	for _, ic := range conns {
		if ic != nil {
			open = append(open, ic)
		}
	}
	defer func() {
		for _, ic := range open {
			ic.c.Close()
		}
	}()
	fmt.Printf("%d idle connections open to %s from %d source addresses in %.1f s; %d failed",
		len(open), o.helen, len(sources), time.Since(start).Seconds(), failed.Load())
	if firstErr != nil {
		fmt.Printf(" (first: %v)", firstErr)
	}
	fmt.Println()
	// One reader each notices when helen closes its connection.
	var readers sync.WaitGroup
	for _, ic := range open {
		readers.Add(1)
		go func() { defer readers.Done(); ic.watch(o.refresh) }()
	}
	if o.probe {
		d, err := probeAgent(ctx, o, ca, host)
		if err != nil {
			fmt.Printf("probe agent: %v\n", err)
		} else {
			fmt.Printf("probe agent: connected and got its first check in %d ms\n", d.Milliseconds())
		}
	}
	select {
	case <-ctx.Done():
	case <-time.After(o.duration):
	}
	closed := 0
	for _, ic := range open {
		if ic.closed.Load() {
			closed++
		}
	}
	fmt.Printf("after %s: %d still open, %d closed by helen\n", o.duration, len(open)-closed, closed)
	for _, ic := range open {
		ic.c.Close()
	}
	readers.Wait()
	return nil
}

// sourceAddrs returns n addresses of the prefix (none: the system's
// choice), skipping its network address.
func sourceAddrs(prefix string, n int) ([]net.IP, error) {
	if prefix == "" {
		return []net.IP{nil}, nil
	}
	p, err := netip.ParsePrefix(prefix)
	if err != nil || !p.Addr().IsLoopback() {
		return nil, fmt.Errorf("-sources %q: want a loopback prefix such as 127.1.0.0/16", prefix)
	}
	var out []net.IP
	for a := p.Masked().Addr().Next(); p.Contains(a) && len(out) < n; a = a.Next() {
		out = append(out, net.IP(a.AsSlice()))
	}
	return out, nil
}

func openIdle(ctx context.Context, addr string, src net.IP, cfg *tls.Config) (*idleConn, error) {
	d := &net.Dialer{Timeout: 30 * time.Second}
	if src != nil {
		d.LocalAddr = &net.TCPAddr{IP: src}
	}
	td := tls.Dialer{NetDialer: d, Config: cfg}
	c, err := td.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	ic := &idleConn{c: c.(*tls.Conn), r: bufio.NewReader(c)}
	if err := ic.get(); err != nil {
		c.Close()
		return nil, err
	}
	return ic, nil
}

// get sends GET /healthz and reads the answer.
func (ic *idleConn) get() error {
	ic.c.SetDeadline(time.Now().Add(30 * time.Second))
	defer ic.c.SetDeadline(time.Time{})
	if _, err := io.WriteString(ic.c, "GET /healthz HTTP/1.1\r\nHost: helen\r\n\r\n"); err != nil {
		return err
	}
	resp, err := http.ReadResponse(ic.r, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// watch waits until the connection ends; with refresh, it asks again
// every refresh.
func (ic *idleConn) watch(refresh time.Duration) {
	defer ic.closed.Store(true)
	for {
		var dl time.Time
		if refresh > 0 {
			dl = time.Now().Add(refresh)
		}
		ic.c.SetReadDeadline(dl)
		_, err := ic.r.Peek(1)
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			return // closed, or helen said something unasked
		}
		if ic.get() != nil {
			return
		}
	}
}

// probeAgent connects one agent with a fresh certificate and returns the
// time from dialing to its first check (equus.info).
func probeAgent(ctx context.Context, o options, ca *pki.CA, host string) (time.Duration, error) {
	certPEM, keyPEM, err := ca.IssueClient(o.prefix+"probe", time.Now())
	if err != nil {
		return 0, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return 0, err
	}
	cfg, err := pki.ClientConfig(pki.Trust{CA: ca.Cert}, host, &cert, []string{wire.ALPN})
	if err != nil {
		return 0, err
	}
	dctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	start := time.Now()
	d := tls.Dialer{Config: cfg}
	c, err := d.DialContext(dctx, "tcp", o.helen)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	w := wire.NewWriter(c)
	if err := w.Write(wire.Hello(o.version)); err != nil {
		return 0, err
	}
	if err := w.Flush(); err != nil {
		return 0, err
	}
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	m, err := wire.NewReader(c).Read()
	if err != nil {
		return 0, err
	}
	if m.Kind != wire.KindCheck {
		return 0, fmt.Errorf("helen sent %s first", m.Kind)
	}
	return time.Since(start), nil
}
